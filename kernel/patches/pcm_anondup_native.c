// SPDX-License-Identifier: GPL-2.0
/*
 * Anonymous duplicates of PCM file descriptors: the native ioctls
 * SNDRV_PCM_IOCTL_ANONYMOUS_DUP and SNDRV_PCM_IOCTL_ANONYMOUS_REVOKE on a
 * PCM fd. The file operations and the revocable mappings are in
 * pcm_anondup_file.c and pcm_anondup_mm.c (shared with the out-of-tree
 * snd-pcm-anondup module).
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <sound/core.h>
#include <sound/pcm.h>

#include "pcm_local.h"
#include "pcm_anondup.h"

/* The restricted files, for REVOKE; also orders DUP against REVOKE. */
static DEFINE_MUTEX(anondup_list_lock);
static LIST_HEAD(anondup_files);

void anondup_unlist(struct anondup_ctx *ctx)
{
	mutex_lock(&anondup_list_lock);
	list_del_init(&ctx->node);
	mutex_unlock(&anondup_list_lock);
}

static int anondup_open_flags(const struct file *file)
{
	int flags = file->f_flags & O_NONBLOCK;

	if ((file->f_mode & FMODE_READ) && (file->f_mode & FMODE_WRITE))
		flags |= O_RDWR;
	else if (file->f_mode & FMODE_WRITE)
		flags |= O_WRONLY;
	else
		flags |= O_RDONLY;
	return flags;
}

int snd_pcm_anonymous_dup(struct file *file,
			  struct snd_pcm_substream *substream,
			  int __user *arg)
{
	const struct file_operations *pcm_fops;
	struct anondup_ctx *ctx, *had = NULL;
	const struct snd_pcm_file *from;
	struct file *src, *nfile;
	unsigned int have_mode;
	int mode, fd, err;

	if (get_user(mode, arg))
		return -EFAULT;
	if (mode != ANONDUP_MODE_FULL && mode != ANONDUP_MODE_BUFFER)
		return -EINVAL;
	if (anondup_is_ours(file)) {
		had = anondup_ctx(file);
		if (READ_ONCE(had->revoked))
			return -ENODEV;
		src = had->src;
		pcm_fops = had->pcm_fops;
		have_mode = had->mode;
		from = &had->pcm_file;
	} else {
		src = file;
		pcm_fops = &snd_pcm_f_ops[substream->stream];
		have_mode = ANONDUP_MODE_FULL;
		from = file->private_data;
	}
	if (have_mode == ANONDUP_MODE_BUFFER && mode == ANONDUP_MODE_FULL)
		return -EPERM;
	scoped_guard(pcm_stream_lock_irq, substream) {
		if (substream->runtime->state == SNDRV_PCM_STATE_DISCONNECTED)
			return -ENODEV;
		if (substream->runtime->state == SNDRV_PCM_STATE_OPEN ||
		    !substream->runtime->dma_bytes)
			return -EBADFD;
	}

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	kref_init(&ctx->ref);
	INIT_LIST_HEAD(&ctx->node);
	mutex_init(&ctx->fasync_lock);
	anondup_mm_init(ctx);
	ctx->src = get_file(src);
	ctx->pcm_fops = pcm_fops;
	ctx->substream = substream;
	ctx->mode = mode;
	ctx->pcm_file.substream = substream;
	ctx->pcm_file.no_compat_mmap = from->no_compat_mmap;
	ctx->pcm_file.user_pversion = from->user_pversion;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto out_free;
	}
	nfile = anon_inode_getfile(mode == ANONDUP_MODE_FULL ?
				   "snd-pcm" : "snd-pcm-buf",
				   mode == ANONDUP_MODE_FULL ?
				   &anondup_full_fops : &anondup_buffer_fops,
				   &ctx->pcm_file, anondup_open_flags(file));
	if (IS_ERR(nfile)) {
		err = PTR_ERR(nfile);
		put_unused_fd(fd);
		goto out_free;
	}
	ctx->mapping.host = file_inode(nfile);
	ctx->mapping.a_ops = file_inode(nfile)->i_mapping->a_ops;
	nfile->f_mapping = &ctx->mapping;

	mutex_lock(&anondup_list_lock);
	if (had && READ_ONCE(had->revoked)) {
		mutex_unlock(&anondup_list_lock);
		err = -ENODEV;
		goto out_file;
	}
	list_add(&ctx->node, &anondup_files);
	mutex_unlock(&anondup_list_lock);
	if (put_user(fd, arg)) {
		err = -EFAULT;
		goto out_file;
	}
	fd_install(fd, nfile);
	return 0;

out_file:
	put_unused_fd(fd);
	fput(nfile);
	return err;
out_free:
	fput(ctx->src);
	kfree(ctx);
	return err;
}

int snd_pcm_anonymous_revoke(struct file *file)
{
	struct anondup_ctx *ctx, *tmp;
	LIST_HEAD(victims);
	int n = 0;

	if (anondup_is_ours(file))
		return -EPERM;
	mutex_lock(&anondup_list_lock);
	list_for_each_entry(ctx, &anondup_files, node) {
		if (ctx->src != file)
			continue;
		WRITE_ONCE(ctx->revoked, true);
		kref_get(&ctx->ref);
		list_add_tail(&ctx->revoke_node, &victims);
		n++;
	}
	mutex_unlock(&anondup_list_lock);
	list_for_each_entry_safe(ctx, tmp, &victims, revoke_node) {
		anondup_fasync_stop(ctx);
		anondup_mm_revoke(ctx);
		anondup_ctx_put(ctx);
	}
	return n;
}
