/* SPDX-License-Identifier: GPL-2.0 */
/*
 * snd-pcm-anondup: definitions shared by the device and the file operations.
 */
#ifndef _SND_PCM_ANONDUP_PRIV_H
#define _SND_PCM_ANONDUP_PRIV_H

#include <linux/fs.h>
#include <sound/pcm.h>

#include "include/uapi/sound/anondup.h"

/**
 * struct anondup_ctx - private data of a restricted file
 * @src: the source PCM file; the reference keeps the substream open for as
 *	 long as this file (and so every mapping of it) exists
 * @substream: the substream of @src
 * @mode: ANONDUP_MODE_FULL or ANONDUP_MODE_BUFFER
 */
struct anondup_ctx {
	struct file *src;
	struct snd_pcm_substream *substream;
	unsigned int mode;
};

extern const struct file_operations anondup_full_fops;
extern const struct file_operations anondup_buffer_fops;

static inline bool anondup_is_ours(const struct file *file)
{
	return file->f_op == &anondup_full_fops ||
	       file->f_op == &anondup_buffer_fops;
}

#endif /* _SND_PCM_ANONDUP_PRIV_H */
