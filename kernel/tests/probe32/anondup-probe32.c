// SPDX-License-Identifier: GPL-2.0
/*
 * anondup-probe32: the BUFFER and FULL policy of snd-pcm-anondup seen from
 * a 32-bit (compat) process. Built by kernel/vm/run with gcc -m32 -static
 * into the guest's /vm/probe32/; run by engine/tests/vm_anondup.rs, which
 * opens and starts the stream, hands over a BUFFER and a FULL fd and, after
 * this probe, checks that the server's own file is untouched.
 *
 *   anondup-probe32 BUFFER_FD FULL_FD RING_BYTES
 *
 * Prints "PROBE32 ok <what>" or "PROBE32 FAIL <what>: ..." per check and
 * exits 1 if any check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sound/asound.h>

#include "uapi/sound/anondup.h"

static int failures;

static void check(int ok, const char *what, const char *fmt, long a, long b)
{
	if (ok) {
		printf("PROBE32 ok %s\n", what);
		return;
	}
	printf("PROBE32 FAIL %s: ", what);
	printf(fmt, a, b);
	printf("\n");
	failures++;
}

/* The errno of an ioctl, 0 on success. */
static int ioctl_errno(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? errno : 0;
}

static int mmap_errno(int fd, size_t len, int prot, off_t off)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, len);
	return 0;
}

static void want(int fd, const char *what, unsigned long req, int errno_want)
{
	static unsigned char arg[16384];
	int e = ioctl_errno(fd, req, arg);

	check(e == errno_want, what, "errno %ld, want %ld", e, errno_want);
}

static const struct { const char *name; unsigned long req; } refused[] = {
	{ "INFO", SNDRV_PCM_IOCTL_INFO },
	{ "TSTAMP", SNDRV_PCM_IOCTL_TSTAMP },
	{ "TTSTAMP", SNDRV_PCM_IOCTL_TTSTAMP },
	{ "USER_PVERSION", SNDRV_PCM_IOCTL_USER_PVERSION },
	{ "HW_REFINE", SNDRV_PCM_IOCTL_HW_REFINE },
	{ "HW_PARAMS", SNDRV_PCM_IOCTL_HW_PARAMS },
	{ "HW_FREE", SNDRV_PCM_IOCTL_HW_FREE },
	{ "SW_PARAMS", SNDRV_PCM_IOCTL_SW_PARAMS },
	{ "STATUS", SNDRV_PCM_IOCTL_STATUS },
	{ "STATUS_EXT", SNDRV_PCM_IOCTL_STATUS_EXT },
	{ "DELAY", SNDRV_PCM_IOCTL_DELAY },
	{ "SYNC_PTR", SNDRV_PCM_IOCTL_SYNC_PTR },
	{ "CHANNEL_INFO", SNDRV_PCM_IOCTL_CHANNEL_INFO },
	{ "PREPARE", SNDRV_PCM_IOCTL_PREPARE },
	{ "RESET", SNDRV_PCM_IOCTL_RESET },
	{ "START", SNDRV_PCM_IOCTL_START },
	{ "DROP", SNDRV_PCM_IOCTL_DROP },
	{ "DRAIN", SNDRV_PCM_IOCTL_DRAIN },
	{ "PAUSE", SNDRV_PCM_IOCTL_PAUSE },
	{ "REWIND", SNDRV_PCM_IOCTL_REWIND },
	{ "RESUME", SNDRV_PCM_IOCTL_RESUME },
	{ "XRUN", SNDRV_PCM_IOCTL_XRUN },
	{ "FORWARD", SNDRV_PCM_IOCTL_FORWARD },
	{ "WRITEI_FRAMES", SNDRV_PCM_IOCTL_WRITEI_FRAMES },
	{ "READI_FRAMES", SNDRV_PCM_IOCTL_READI_FRAMES },
	{ "WRITEN_FRAMES", SNDRV_PCM_IOCTL_WRITEN_FRAMES },
	{ "READN_FRAMES", SNDRV_PCM_IOCTL_READN_FRAMES },
	{ "LINK", SNDRV_PCM_IOCTL_LINK },
	{ "UNLINK", SNDRV_PCM_IOCTL_UNLINK },
	{ "ANONYMOUS_DUP (native)", SNDRV_PCM_IOCTL_ANONYMOUS_DUP },
};

static int allowed(unsigned long req)
{
	return req == SNDRV_PCM_IOCTL_HWSYNC || req == SNDRV_PCM_IOCTL_PVERSION ||
	       req == ANONDUP_IOCTL_POSITION;
}

static void probe_buffer(int buf, size_t ring)
{
	struct anondup_position pos;
	struct anondup_dup dup;
	char name[96], byte = 0;
	unsigned int nr, dir, size, swept = 0, bad = 0;
	int v = 0, e, dev;
	size_t i;

	e = ioctl_errno(buf, SNDRV_PCM_IOCTL_PVERSION, &v);
	check(!e && v >= SNDRV_PROTOCOL_VERSION(2, 0, 0), "BUFFER PVERSION",
	      "errno %ld, version %#lx", e, v);
	e = ioctl_errno(buf, SNDRV_PCM_IOCTL_HWSYNC, NULL);
	check(!e, "BUFFER HWSYNC", "errno %ld%ld", e, 0);
	memset(&pos, 0xff, sizeof(pos));
	e = ioctl_errno(buf, ANONDUP_IOCTL_POSITION, &pos);
	check(!e && pos.state == SNDRV_PCM_STATE_RUNNING && !pos.reserved0,
	      "BUFFER POSITION", "errno %ld, state %ld", e, pos.state);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(name, sizeof(name), "BUFFER %s refused", refused[i].name);
		want(buf, name, refused[i].req, EPERM);
	}
	/* Every 'A' number in every direction with common sizes. */
	for (nr = 0; nr < 256; nr++)
		for (dir = 0; dir < 4; dir++)
			for (size = 0; size < 1024; size = size ? size * 2 : 4) {
				unsigned long req = _IOC(dir, 'A', nr, dir ? size : 0);
				static unsigned char arg[16384];

				if (allowed(req) || (!dir && size))
					continue;
				swept++;
				e = ioctl_errno(buf, req, arg);
				if (e != EPERM && bad++ < 5)
					printf("PROBE32 FAIL sweep %#lx: errno %d\n", req, e);
			}
	check(!bad, "BUFFER sweep of 'A' ioctls refused", "%ld of %ld not EPERM",
	      bad, swept);
	if (bad)
		failures++;

	check(!mmap_errno(buf, ring, PROT_READ | PROT_WRITE, 0),
	      "BUFFER mmap data", "errno %ld%ld", errno, 0);
	e = mmap_errno(buf, 4096, PROT_READ, SNDRV_PCM_MMAP_OFFSET_STATUS_NEW);
	check(!e, "BUFFER mmap status (new offset)", "errno %ld%ld", e, 0);
	e = mmap_errno(buf, 4096, PROT_READ | PROT_WRITE,
		       SNDRV_PCM_MMAP_OFFSET_STATUS_NEW);
	check(e == EPERM, "BUFFER mmap status writable refused", "errno %ld%ld", e, 0);
	e = mmap_errno(buf, 4096, PROT_READ, SNDRV_PCM_MMAP_OFFSET_CONTROL_NEW);
	check(e == EPERM, "BUFFER mmap control refused", "errno %ld%ld", e, 0);
	e = write(buf, &byte, 1) < 0 ? errno : 0;
	check(e == EPERM, "BUFFER write refused", "errno %ld%ld", e, 0);
	e = read(buf, &byte, 1) < 0 ? errno : 0;
	check(e == EPERM || e == EBADF, "BUFFER read refused", "errno %ld%ld", e, 0);
	e = fcntl(buf, F_SETFL, fcntl(buf, F_GETFL) | O_ASYNC) < 0 ? errno : 0;
	check(e == EPERM, "BUFFER O_ASYNC refused", "errno %ld%ld", e, 0);

	dev = open(ANONDUP_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	check(dev >= 0, "open " ANONDUP_DEVICE_PATH, "errno %ld%ld", errno, 0);
	memset(&dup, 0, sizeof(dup));
	dup.fd = buf;
	dup.mode = ANONDUP_MODE_FULL;
	e = ioctl_errno(dev, ANONDUP_IOCTL_DUP, &dup);
	check(e == EPERM, "FULL dup of a BUFFER fd refused", "errno %ld%ld", e, 0);
	dup.mode = ANONDUP_MODE_BUFFER;
	e = ioctl(dev, ANONDUP_IOCTL_DUP, &dup);
	check(e >= 0, "BUFFER dup of a BUFFER fd", "errno %ld%ld", e < 0 ? errno : 0, 0);
	if (e >= 0)
		close(e);
	{
		struct anondup_revoke rev;

		memset(&rev, 0, sizeof(rev));
		rev.fd = buf;
		e = ioctl_errno(dev, ANONDUP_IOCTL_REVOKE, &rev);
		check(e == EPERM, "REVOKE through a BUFFER fd refused", "errno %ld%ld", e, 0);
	}
	close(dev);
}

static void probe_full(int full)
{
	struct snd_pcm_status st;
	struct snd_pcm_sync_ptr sp;
	struct snd_pcm_info info;
	int v = 0, e;

	e = ioctl_errno(full, SNDRV_PCM_IOCTL_PVERSION, &v);
	check(!e, "FULL PVERSION", "errno %ld%ld", e, 0);
	memset(&info, 0, sizeof(info));
	e = ioctl_errno(full, SNDRV_PCM_IOCTL_INFO, &info);
	check(!e, "FULL INFO", "errno %ld%ld", e, 0);
	memset(&st, 0, sizeof(st));
	e = ioctl_errno(full, SNDRV_PCM_IOCTL_STATUS, &st);
	check(!e && st.state == SNDRV_PCM_STATE_RUNNING, "FULL STATUS (compat)",
	      "errno %ld, state %ld", e, st.state);
	memset(&sp, 0, sizeof(sp));
	sp.flags = SNDRV_PCM_SYNC_PTR_APPL | SNDRV_PCM_SYNC_PTR_AVAIL_MIN;
	e = ioctl_errno(full, SNDRV_PCM_IOCTL_SYNC_PTR, &sp);
	check(!e, "FULL SYNC_PTR (compat)", "errno %ld%ld", e, 0);
	e = mmap_errno(full, 4096, PROT_READ, SNDRV_PCM_MMAP_OFFSET_STATUS_NEW);
	check(!e, "FULL mmap status (new offset)", "errno %ld%ld", e, 0);
	/* ALSA's rule for a file a 32-bit process used: the restricted file's. */
	e = mmap_errno(full, 4096, PROT_READ, SNDRV_PCM_MMAP_OFFSET_STATUS_OLD);
	check(e == ENXIO, "FULL mmap status (old offset) after compat ioctls",
	      "errno %ld%ld", e, 0);
	e = fcntl(full, F_SETFL, fcntl(full, F_GETFL) | O_ASYNC) < 0 ? errno : 0;
	check(!e, "FULL O_ASYNC on", "errno %ld%ld", e, 0);
	e = fcntl(full, F_SETFL, fcntl(full, F_GETFL) & ~O_ASYNC) < 0 ? errno : 0;
	check(!e, "FULL O_ASYNC off", "errno %ld%ld", e, 0);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s BUFFER_FD FULL_FD RING_BYTES\n", argv[0]);
		return 2;
	}
	printf("PROBE32 sizeof(long) = %zu\n", sizeof(long));
	probe_buffer(atoi(argv[1]), strtoul(argv[3], NULL, 0));
	probe_full(atoi(argv[2]));
	printf("PROBE32 %s: %d failed\n", failures ? "FAILED" : "passed", failures);
	return failures ? 1 : 0;
}
