/* SPDX-License-Identifier: GPL-2.0 */
/*
 * snd-pcm-anondup: definitions shared by the device, the file operations
 * and the revocable mappings.
 */
#ifndef _SND_PCM_ANONDUP_PRIV_H
#define _SND_PCM_ANONDUP_PRIV_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <sound/pcm.h>

#include "include/uapi/sound/anondup.h"

/* Distinct vm_operations a restricted file's mappings can carry. */
#define ANONDUP_VM_WRAPS	4

struct anondup_ctx;

/**
 * struct anondup_vm_wrap - the vm_operations of a restricted mapping
 * @ops: a copy of @orig whose fault handler checks for revocation
 * @orig: the operations ALSA (or the driver) gave the mapping
 * @ctx: the restricted file's context (outlives its mappings)
 */
struct anondup_vm_wrap {
	struct /* a patched copy of *orig: not const */
		vm_operations_struct ops;
	const struct vm_operations_struct *orig;
	struct anondup_ctx *ctx;
};

/**
 * struct anondup_ctx - private data of a restricted file
 * @pcm_file: this file's own ALSA per-open state (substream, compat flag,
 *	      user protocol version). It comes first: ALSA's file operations,
 *	      called with the restricted file, read file->private_data as a
 *	      struct snd_pcm_file, so nothing they set lands on the source
 *	      file.
 * @src: the source PCM file; the reference keeps the substream open for as
 *	 long as this file (and so every mapping of it) exists
 * @pcm_fops: the source's file operations at dup time (snd-pcm's own);
 *	      ALSA swaps @src->f_op when the card is disconnected
 * @substream: the substream of @src
 * @mode: ANONDUP_MODE_FULL or ANONDUP_MODE_BUFFER
 * @ref: held by the file and by a revocation in progress
 * @node: entry in the module's list of restricted files
 * @revoke_node: entry in the list of files a revocation works through
 * @revoked: set once by ANONDUP_IOCTL_REVOKE, under the list lock
 * @rev_sem: write-held by a revocation while it sets @revoked; read-held
 *	     by mmap and by the fault handler while they create mappings
 * @mapping: this file's own address space (file->f_mapping), so a
 *	     revocation unmaps this file's mappings and nobody else's
 * @mm_lock: protects @mms
 * @mms: address spaces that mapped this file since the last revocation,
 *	 each pinned with mmgrab (see anondup_revoke_ctx())
 * @wraps: the vm_operations wrappers of this file's mappings
 * @fasync_lock: protects @fasync_wait_on and the fasync state
 * @fasync: SIGIO receivers of this (FULL) file
 * @fasync_wait: hooked on the stream's wait queue while @fasync_wait_on
 * @fasync_wait_on: @fasync_wait is on runtime->sleep
 */
struct anondup_ctx {
	struct snd_pcm_file pcm_file;
	struct file *src;
	const struct file_operations *pcm_fops;
	struct snd_pcm_substream *substream;
	unsigned int mode;
	struct kref ref;
	struct list_head node;
	struct list_head revoke_node;
	bool revoked;
	struct rw_semaphore rev_sem;
	struct address_space mapping;
	spinlock_t mm_lock;
	struct list_head mms;
	struct anondup_vm_wrap wraps[ANONDUP_VM_WRAPS];
	struct mutex fasync_lock;
	struct fasync_struct *fasync;
	struct wait_queue_entry fasync_wait;
	bool fasync_wait_on;
};

extern const struct file_operations anondup_full_fops;
extern const struct file_operations anondup_buffer_fops;

static inline bool anondup_is_ours(const struct file *file)
{
	return file->f_op == &anondup_full_fops ||
	       file->f_op == &anondup_buffer_fops;
}

static inline struct anondup_ctx *anondup_ctx(const struct file *file)
{
	return container_of(file->private_data, struct anondup_ctx, pcm_file);
}

/* anondup_file.c */
void anondup_ctx_put(struct anondup_ctx *ctx);
void anondup_fasync_stop(struct anondup_ctx *ctx);

/* anondup_mm.c */
void anondup_mm_init(struct anondup_ctx *ctx);
int anondup_mmap(struct anondup_ctx *ctx, struct file *file,
		 struct vm_area_struct *vma, bool read_only);
void anondup_mm_revoke(struct anondup_ctx *ctx);
void anondup_mm_release(struct anondup_ctx *ctx);

/* anondup_dev.c */
void anondup_unlist(struct anondup_ctx *ctx);

#endif /* _SND_PCM_ANONDUP_PRIV_H */
