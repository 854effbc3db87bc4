// SPDX-License-Identifier: GPL-2.0
/*
 * snd-pcm-anondup: file operations of the restricted files.
 *
 * FULL files forward every operation to the source PCM file. BUFFER files
 * apply the policy documented in README.md: data mmap (read-only for
 * capture, never past the DMA buffer), read-only status mmap, poll, HWSYNC,
 * PVERSION and ANONDUP_IOCTL_POSITION; everything else is refused with
 * EPERM before it reaches ALSA.
 */

#include <linux/compat.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <sound/core.h>
#include <sound/pcm.h>

#include "anondup_priv.h"

/* vm_flags became read-only (with setters) in 6.3; Kbuild probes it. */
static void anondup_vm_flags_clear(struct vm_area_struct *vma,
				   unsigned long flags)
{
#ifdef ANONDUP_HAVE_VM_FLAGS_SETTERS
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

static struct anondup_ctx *anondup_ctx(struct file *file)
{
	return file->private_data;
}

static int anondup_release(struct inode *inode, struct file *file)
{
	struct anondup_ctx *ctx = anondup_ctx(file);

	fput(ctx->src);
	kfree(ctx);
	return 0;
}

static long anondup_src_ioctl(struct anondup_ctx *ctx, unsigned int cmd,
			      unsigned long arg)
{
	return ctx->src->f_op->unlocked_ioctl(ctx->src, cmd, arg);
}

/* ANONDUP_IOCTL_POSITION: a consistent snapshot after a hwsync. */
static long anondup_position(struct anondup_ctx *ctx, void __user *argp)
{
	struct snd_pcm_substream *substream = ctx->substream;
	struct snd_pcm_mmap_status *status;
	struct anondup_position pos;

	/* Errors only say the stream is not running: report its state. */
	anondup_src_ioctl(ctx, SNDRV_PCM_IOCTL_HWSYNC, 0);

	memset(&pos, 0, sizeof(pos));
	snd_pcm_stream_lock_irq(substream);
	status = substream->runtime->status;
	pos.state = status->state;
	pos.hw_ptr = status->hw_ptr;
	pos.tstamp_sec = status->tstamp.tv_sec;
	pos.tstamp_nsec = status->tstamp.tv_nsec;
	pos.audio_tstamp_sec = status->audio_tstamp.tv_sec;
	pos.audio_tstamp_nsec = status->audio_tstamp.tv_nsec;
	snd_pcm_stream_unlock_irq(substream);

	if (copy_to_user(argp, &pos, sizeof(pos)))
		return -EFAULT;
	return 0;
}

static __poll_t anondup_poll(struct file *file, poll_table *wait)
{
	struct file *src = anondup_ctx(file)->src;

	return src->f_op->poll(src, wait);
}

/* ---- FULL: forward everything to the source file ---- */

static ssize_t anondup_full_read(struct file *file, char __user *buf,
				 size_t count, loff_t *ppos)
{
	struct file *src = anondup_ctx(file)->src;

	if (!src->f_op->read)
		return -EINVAL;
	return src->f_op->read(src, buf, count, ppos);
}

static ssize_t anondup_full_write(struct file *file, const char __user *buf,
				  size_t count, loff_t *ppos)
{
	struct file *src = anondup_ctx(file)->src;

	if (!src->f_op->write)
		return -EINVAL;
	return src->f_op->write(src, buf, count, ppos);
}

static ssize_t anondup_full_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *src = anondup_ctx(iocb->ki_filp)->src;
	struct kiocb kiocb;
	ssize_t ret;

	if (!src->f_op->read_iter)
		return -EINVAL;
	init_sync_kiocb(&kiocb, src);
	kiocb.ki_pos = iocb->ki_pos;
	ret = src->f_op->read_iter(&kiocb, to);
	iocb->ki_pos = kiocb.ki_pos;
	return ret;
}

static ssize_t anondup_full_write_iter(struct kiocb *iocb,
				       struct iov_iter *from)
{
	struct file *src = anondup_ctx(iocb->ki_filp)->src;
	struct kiocb kiocb;
	ssize_t ret;

	if (!src->f_op->write_iter)
		return -EINVAL;
	init_sync_kiocb(&kiocb, src);
	kiocb.ki_pos = iocb->ki_pos;
	ret = src->f_op->write_iter(&kiocb, from);
	iocb->ki_pos = kiocb.ki_pos;
	return ret;
}

static long anondup_full_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);

	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(ctx, (void __user *)arg);
	return anondup_src_ioctl(ctx, cmd, arg);
}

#ifdef CONFIG_COMPAT
static long anondup_full_compat_ioctl(struct file *file, unsigned int cmd,
				      unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);

	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(ctx, compat_ptr(arg));
	if (!ctx->src->f_op->compat_ioctl)
		return -ENOTTY;
	return ctx->src->f_op->compat_ioctl(ctx->src, cmd, arg);
}
#endif

static int anondup_full_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct file *src = anondup_ctx(file)->src;

	/* vma->vm_file stays this file, which pins the source. */
	return src->f_op->mmap(src, vma);
}

static int anondup_full_fasync(int fd, struct file *file, int on)
{
	struct snd_pcm_runtime *runtime = anondup_ctx(file)->substream->runtime;

	/* Register this file, so SIGIO goes to its owner (F_SETOWN). */
	return snd_fasync_helper(fd, file, on, &runtime->fasync);
}

const struct file_operations anondup_full_fops = {
	.owner		= THIS_MODULE,
	.release	= anondup_release,
	.read		= anondup_full_read,
	.write		= anondup_full_write,
	.read_iter	= anondup_full_read_iter,
	.write_iter	= anondup_full_write_iter,
	.poll		= anondup_poll,
	.unlocked_ioctl	= anondup_full_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= anondup_full_compat_ioctl,
#endif
	.mmap		= anondup_full_mmap,
	.fasync		= anondup_full_fasync,
};

/* ---- BUFFER: the restricted policy ---- */

static ssize_t anondup_buf_read(struct file *file, char __user *buf,
				size_t count, loff_t *ppos)
{
	return -EPERM;
}

static ssize_t anondup_buf_write(struct file *file, const char __user *buf,
				 size_t count, loff_t *ppos)
{
	return -EPERM;
}

static ssize_t anondup_buf_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return -EPERM;
}

static ssize_t anondup_buf_write_iter(struct kiocb *iocb,
				      struct iov_iter *from)
{
	return -EPERM;
}

static bool anondup_buf_ioctl_allowed(unsigned int cmd)
{
	switch (cmd) {
	case SNDRV_PCM_IOCTL_HWSYNC:
	case SNDRV_PCM_IOCTL_PVERSION:
#ifdef ANONDUP_TEST_HOLE_PREPARE
	case SNDRV_PCM_IOCTL_PREPARE:
#endif
		return true;
	default:
		return false;
	}
}

static long anondup_buf_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);

	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(ctx, (void __user *)arg);
#ifdef ANONDUP_TEST_HOLE_SILENT_DROP
	if (cmd == SNDRV_PCM_IOCTL_DROP) {
		anondup_src_ioctl(ctx, cmd, arg);
		return -EPERM;
	}
#endif
	if (!anondup_buf_ioctl_allowed(cmd))
		return -EPERM;
	return anondup_src_ioctl(ctx, cmd, arg);
}

#ifdef CONFIG_COMPAT
static long anondup_buf_compat_ioctl(struct file *file, unsigned int cmd,
				     unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);

	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(ctx, compat_ptr(arg));
	if (!anondup_buf_ioctl_allowed(cmd))
		return -EPERM;
	if (!ctx->src->f_op->compat_ioctl)
		return -ENOTTY;
	return ctx->src->f_op->compat_ioctl(ctx->src, cmd, arg);
}
#endif

static int anondup_buf_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	struct snd_pcm_substream *substream = ctx->substream;
	unsigned long len = vma->vm_end - vma->vm_start;
	bool read_only;
	int err;

	if (vma->vm_pgoff > (ULONG_MAX >> PAGE_SHIFT))
		return -EPERM;
	switch (vma->vm_pgoff << PAGE_SHIFT) {
	case 0:
		/*
		 * The data ring. The size is checked again by ALSA under its
		 * buffer lock; this check is the policy, not the safety net.
		 */
		if (len > PAGE_ALIGN(substream->runtime->dma_bytes))
			return -EPERM;
		read_only = substream->stream == SNDRV_PCM_STREAM_CAPTURE;
		break;
	case SNDRV_PCM_MMAP_OFFSET_STATUS_OLD:
	case SNDRV_PCM_MMAP_OFFSET_STATUS_NEW:
		read_only = true;
		break;
	default:
		/* Control pages, data at other offsets, anything else. */
		return -EPERM;
	}
	if (read_only && (vma->vm_flags & VM_WRITE))
		return -EPERM;

	err = ctx->src->f_op->mmap(ctx->src, vma);
	if (err)
		return err;
	/* Read-only for good: mprotect(PROT_WRITE) must fail too. */
	if (read_only)
		anondup_vm_flags_clear(vma, VM_WRITE | VM_MAYWRITE);
	return 0;
}

static int anondup_buf_fasync(int fd, struct file *file, int on)
{
	return -EPERM;
}

const struct file_operations anondup_buffer_fops = {
	.owner		= THIS_MODULE,
	.release	= anondup_release,
	.read		= anondup_buf_read,
	.write		= anondup_buf_write,
	.read_iter	= anondup_buf_read_iter,
	.write_iter	= anondup_buf_write_iter,
	.poll		= anondup_poll,
	.unlocked_ioctl	= anondup_buf_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= anondup_buf_compat_ioctl,
#endif
	.mmap		= anondup_buf_mmap,
	.fasync		= anondup_buf_fasync,
};
