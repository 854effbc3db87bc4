/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * snd-pcm-anondup: restricted duplicates of ALSA PCM file descriptors.
 *
 * The module registers /dev/snd/anondup. ANONDUP_IOCTL_DUP on that device
 * takes a PCM fd the caller already holds and returns a new fd:
 *
 *   ANONDUP_MODE_FULL    anon_inode:snd-pcm, same rights as the source
 *   ANONDUP_MODE_BUFFER  anon_inode:snd-pcm-buf: data mmap (read-only for
 *                        capture), read-only status mmap, poll,
 *                        SNDRV_PCM_IOCTL_HWSYNC, SNDRV_PCM_IOCTL_PVERSION
 *                        and ANONDUP_IOCTL_POSITION; everything else fails
 *                        with EPERM.
 *
 * ANONDUP_IOCTL_REVOKE (ABI 2) on that device takes the source PCM fd and
 * revokes every fd made from it: their mappings are torn down (later
 * accesses get SIGBUS) and every later operation fails with ENODEV.
 *
 * All structures have the same layout for 32-bit and 64-bit processes.
 */
#ifndef _UAPI_SOUND_ANONDUP_H
#define _UAPI_SOUND_ANONDUP_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* ABI version reported by ANONDUP_IOCTL_VERSION. */
#define ANONDUP_ABI_VERSION	2

/* Path of the device node (misc device "snd/anondup"). */
#define ANONDUP_DEVICE_PATH	"/dev/snd/anondup"

/* Permission modes; the values match the 2019 ALSA anonymous dup series. */
#define ANONDUP_MODE_FULL	0
#define ANONDUP_MODE_BUFFER	1

/* No flags are defined yet: any set bit fails with EINVAL. */
#define ANONDUP_FLAGS_ALL	0

/**
 * struct anondup_dup - argument of ANONDUP_IOCTL_DUP
 * @fd: a PCM fd of the caller, or an fd this module returned earlier
 * @mode: ANONDUP_MODE_FULL or ANONDUP_MODE_BUFFER
 * @flags: must be 0
 * @reserved: must be 0
 *
 * On success the ioctl returns the new fd (O_CLOEXEC set; access mode and
 * O_NONBLOCK copied from @fd). The structure is only read.
 */
struct anondup_dup {
	__s32 fd;
	__u32 mode;
	__u32 flags;
	__u32 reserved[5];
};

/**
 * struct anondup_position - result of ANONDUP_IOCTL_POSITION
 * @state: SNDRV_PCM_STATE_* of the stream
 * @reserved0: 0
 * @hw_ptr: hardware pointer in frames, wrapping at the boundary
 * @tstamp_sec: time of the last hw_ptr update (tstamp_type clock), seconds
 * @tstamp_nsec: nanoseconds part of @tstamp_sec
 * @audio_tstamp_sec: driver audio timestamp, seconds
 * @audio_tstamp_nsec: nanoseconds part of @audio_tstamp_sec
 * @reserved: 0
 *
 * The module refreshes the hardware pointer (as HWSYNC does, ignoring its
 * errors: a stopped stream just reports its state) and copies the fields
 * under the stream lock, so the snapshot is consistent.
 */
struct anondup_position {
	__s32 state;
	__u32 reserved0;
	__u64 hw_ptr;
	__s64 tstamp_sec;
	__s64 tstamp_nsec;
	__s64 audio_tstamp_sec;
	__s64 audio_tstamp_nsec;
	__u64 reserved[4];
};

/* No revoke flags are defined yet: any set bit fails with EINVAL. */
#define ANONDUP_REVOKE_FLAGS_ALL	0

/**
 * struct anondup_revoke - argument of ANONDUP_IOCTL_REVOKE
 * @fd: the source PCM fd the restricted fds were made from (not one of
 *	this module's fds: EPERM)
 * @flags: must be 0
 * @reserved: must be 0
 *
 * Every fd made from @fd, directly or through another restricted fd, is
 * revoked: each of its mappings, in every process, is unmapped and faults
 * with SIGBUS when touched; mmap, ioctl, read, write and fasync fail with
 * ENODEV and poll reports EPOLLERR | EPOLLHUP. The source fd and the
 * stream are untouched. Returns how many restricted fds of @fd are still
 * open, all of them now revoked (revoking again is harmless: ones revoked
 * before are counted and torn down again).
 */
struct anondup_revoke {
	__s32 fd;
	__u32 flags;
	__u32 reserved[6];
};

#define ANONDUP_IOCTL_MAGIC	0xAD

/* On /dev/snd/anondup: writes ANONDUP_ABI_VERSION. */
#define ANONDUP_IOCTL_VERSION	_IOR(ANONDUP_IOCTL_MAGIC, 0x40, __u32)
/* On /dev/snd/anondup: returns the new fd. */
#define ANONDUP_IOCTL_DUP	_IOW(ANONDUP_IOCTL_MAGIC, 0x41, struct anondup_dup)
/* On an fd returned by ANONDUP_IOCTL_DUP (either mode). */
#define ANONDUP_IOCTL_POSITION	_IOR(ANONDUP_IOCTL_MAGIC, 0x42, struct anondup_position)
/* On /dev/snd/anondup (ABI 2): returns the number of fds revoked. */
#define ANONDUP_IOCTL_REVOKE	_IOW(ANONDUP_IOCTL_MAGIC, 0x43, struct anondup_revoke)

/*
 * The native ioctl of the 2019 series (kernels carrying
 * kernel/patches/): on a PCM fd, the int goes in as the mode and comes
 * back as the new fd.
 */
#ifndef SNDRV_PCM_IOCTL_ANONYMOUS_DUP
#define SNDRV_PCM_IOCTL_ANONYMOUS_DUP	_IOWR('A', 0x05, int)
#endif

#endif /* _UAPI_SOUND_ANONDUP_H */
