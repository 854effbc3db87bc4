// SPDX-License-Identifier: GPL-2.0
/*
 * snd-pcm-anondup: file operations of the restricted files.
 *
 * FULL files forward every operation to ALSA; BUFFER files apply the policy
 * documented in README.md: data mmap (read-only for capture, never past the
 * DMA buffer), read-only status mmap, poll, HWSYNC, PVERSION and
 * ANONDUP_IOCTL_POSITION; everything else is refused with EPERM before it
 * reaches ALSA.
 *
 * Isolation of the source file: ALSA's file operations are called with the
 * restricted file, never with the source. The restricted file's
 * private_data is its own struct snd_pcm_file, so ALSA's per-open state
 * (the compat flag a 32-bit caller sets, USER_PVERSION, O_NONBLOCK, f_pos)
 * is the restricted file's; SIGIO has its own receiver list (FULL only).
 *
 * A revoked file, or one whose card was disconnected, fails every operation
 * with ENODEV (poll reports EPOLLERR | EPOLLHUP).
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

/* -ENODEV once revoked or once ALSA swapped the source's operations. */
static int anondup_dead(struct anondup_ctx *ctx)
{
	if (READ_ONCE(ctx->revoked) ||
	    READ_ONCE(ctx->src->f_op) != ctx->pcm_fops)
		return -ENODEV;
	return 0;
}

static void anondup_ctx_free(struct kref *ref)
{
	struct anondup_ctx *ctx = container_of(ref, struct anondup_ctx, ref);

	anondup_mm_release(ctx);
	kfree(ctx);
}

void anondup_ctx_put(struct anondup_ctx *ctx)
{
	kref_put(&ctx->ref, anondup_ctx_free);
}

static int anondup_release(struct inode *inode, struct file *file)
{
	struct anondup_ctx *ctx = anondup_ctx(file);

	anondup_unlist(ctx);
	anondup_fasync_stop(ctx);
	/* ctx->mapping may outlive the file (a revocation in progress). */
	file->f_mapping = inode->i_mapping;
	fput(ctx->src);
	anondup_ctx_put(ctx);
	return 0;
}

/* ANONDUP_IOCTL_POSITION: a consistent snapshot after a hwsync. */
static long anondup_position(struct file *file, void __user *argp)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	struct snd_pcm_substream *substream = ctx->substream;
	struct snd_pcm_mmap_status *status;
	struct anondup_position pos;

	/* Errors only say the stream is not running: report its state. */
	ctx->pcm_fops->unlocked_ioctl(file, SNDRV_PCM_IOCTL_HWSYNC, 0);

	memset(&pos, 0, sizeof(pos));
	snd_pcm_stream_lock_irq(substream);
	status = substream->runtime->status;
	pos.state = substream->runtime->state;
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
	struct anondup_ctx *ctx = anondup_ctx(file);

	if (anondup_dead(ctx))
		return EPOLLERR | EPOLLHUP;
	return ctx->pcm_fops->poll(file, wait);
}

/* ---- FULL: forward everything to ALSA, with the restricted file ---- */

static ssize_t anondup_full_read(struct file *file, char __user *buf,
				 size_t count, loff_t *ppos)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (!ctx->pcm_fops->read)
		return -EINVAL;
	return ctx->pcm_fops->read(file, buf, count, ppos);
}

static ssize_t anondup_full_write(struct file *file, const char __user *buf,
				  size_t count, loff_t *ppos)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (!ctx->pcm_fops->write)
		return -EINVAL;
	return ctx->pcm_fops->write(file, buf, count, ppos);
}

static ssize_t anondup_full_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct anondup_ctx *ctx = anondup_ctx(iocb->ki_filp);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (!ctx->pcm_fops->read_iter)
		return -EINVAL;
	return ctx->pcm_fops->read_iter(iocb, to);
}

static ssize_t anondup_full_write_iter(struct kiocb *iocb,
				       struct iov_iter *from)
{
	struct anondup_ctx *ctx = anondup_ctx(iocb->ki_filp);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (!ctx->pcm_fops->write_iter)
		return -EINVAL;
	return ctx->pcm_fops->write_iter(iocb, from);
}

static long anondup_full_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(file, (void __user *)arg);
	return ctx->pcm_fops->unlocked_ioctl(file, cmd, arg);
}

#ifdef CONFIG_COMPAT
/* ALSA's compat path marks the restricted file, never the source. */
static long anondup_full_compat_ioctl(struct file *file, unsigned int cmd,
				      unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(file, compat_ptr(arg));
	if (!ctx->pcm_fops->compat_ioctl)
		return -ENOTTY;
	return ctx->pcm_fops->compat_ioctl(file, cmd, arg);
}
#endif

static int anondup_full_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* vma->vm_file stays this file, which pins the source. */
	return anondup_mmap(anondup_ctx(file), file, vma, false);
}

/*
 * SIGIO of a FULL file: its own receiver list, signalled from the stream's
 * wait queue (the wake-up poll sees: a period with avail >= avail_min, or a
 * state change). ALSA's own list has one on/off switch per stream, which a
 * dup must not flip for the source's owner.
 */
static int anondup_fasync_wake(struct wait_queue_entry *wait,
			       unsigned int mode, int sync, void *key)
{
	struct anondup_ctx *ctx =
		container_of(wait, struct anondup_ctx, fasync_wait);

	kill_fasync(&ctx->fasync, SIGIO, POLL_IN);
	return 0;
}

void anondup_fasync_stop(struct anondup_ctx *ctx)
{
	mutex_lock(&ctx->fasync_lock);
	if (ctx->fasync_wait_on) {
		remove_wait_queue(&ctx->substream->runtime->sleep,
				  &ctx->fasync_wait);
		ctx->fasync_wait_on = false;
	}
	mutex_unlock(&ctx->fasync_lock);
}

static int anondup_full_fasync(int fd, struct file *file, int on)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	int ret;

	if (on && anondup_dead(ctx))
		return -ENODEV;
	mutex_lock(&ctx->fasync_lock);
	ret = fasync_helper(fd, file, on, &ctx->fasync);
	if (ret >= 0 && ctx->fasync && !ctx->fasync_wait_on &&
	    !READ_ONCE(ctx->revoked)) {
		init_waitqueue_func_entry(&ctx->fasync_wait,
					  anondup_fasync_wake);
		add_wait_queue(&ctx->substream->runtime->sleep,
			       &ctx->fasync_wait);
		ctx->fasync_wait_on = true;
	} else if (!ctx->fasync && ctx->fasync_wait_on) {
		remove_wait_queue(&ctx->substream->runtime->sleep,
				  &ctx->fasync_wait);
		ctx->fasync_wait_on = false;
	}
	mutex_unlock(&ctx->fasync_lock);
	return ret;
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
	return anondup_dead(anondup_ctx(file)) ?: -EPERM;
}

static ssize_t anondup_buf_write(struct file *file, const char __user *buf,
				 size_t count, loff_t *ppos)
{
	return anondup_dead(anondup_ctx(file)) ?: -EPERM;
}

static ssize_t anondup_buf_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return anondup_dead(anondup_ctx(iocb->ki_filp)) ?: -EPERM;
}

static ssize_t anondup_buf_write_iter(struct kiocb *iocb,
				      struct iov_iter *from)
{
	return anondup_dead(anondup_ctx(iocb->ki_filp)) ?: -EPERM;
}

/* The ioctls a BUFFER file forwards; both have one layout in compat. */
static bool anondup_buf_ioctl_allowed(unsigned int cmd)
{
	switch (cmd) {
	case SNDRV_PCM_IOCTL_HWSYNC:
	case SNDRV_PCM_IOCTL_PVERSION:
		return true;
#ifdef ANONDUP_NATIVE
	/*
	 * Inside ALSA (kernel/patches/): more restricted fds of this one;
	 * snd_pcm_anonymous_dup() refuses a FULL one.
	 */
	case SNDRV_PCM_IOCTL_ANONYMOUS_DUP:
		return true;
#endif
	default:
		return false;
	}
}

static long anondup_buf_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(file, (void __user *)arg);
	if (!anondup_buf_ioctl_allowed(cmd))
		return -EPERM;
	return ctx->pcm_fops->unlocked_ioctl(file, cmd, arg);
}

#ifdef CONFIG_COMPAT
static long anondup_buf_compat_ioctl(struct file *file, unsigned int cmd,
				     unsigned long arg)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	int err = anondup_dead(ctx);

	if (err)
		return err;
	if (cmd == ANONDUP_IOCTL_POSITION)
		return anondup_position(file, compat_ptr(arg));
	if (!anondup_buf_ioctl_allowed(cmd))
		return -EPERM;
	/* ALSA's compat path marks the restricted file, never the source. */
	return ctx->pcm_fops->compat_ioctl(file, cmd, arg);
}
#endif

static int anondup_buf_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct anondup_ctx *ctx = anondup_ctx(file);
	struct snd_pcm_substream *substream = ctx->substream;
	unsigned long len = vma->vm_end - vma->vm_start;
	bool read_only;
	int err = anondup_dead(ctx);

	if (err)
		return err;
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
	/* Read-only for good: mprotect(PROT_WRITE) must fail too. */
	return anondup_mmap(ctx, file, vma, read_only);
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
