// SPDX-License-Identifier: GPL-2.0
/*
 * snd-pcm-anondup: the /dev/snd/anondup misc device.
 *
 * ANONDUP_IOCTL_DUP turns a PCM fd the caller already holds into a new
 * anonymous-inode fd, either a full view (anon_inode:snd-pcm) or the
 * restricted buffer view (anon_inode:snd-pcm-buf). A view of an fd the
 * caller holds grants nothing new, so the device is world-usable.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/compat.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <sound/core.h>
#include <sound/minors.h>
#include <sound/pcm.h>

#include "anondup_priv.h"

/*
 * snd_pcm_f_ops is not exported, so a PCM file is recognised by the
 * owner of its file operations: in snd-pcm, pcm_native.c holds the only
 * file_operations (the playback and capture PCM ops).
 */
#if !IS_MODULE(CONFIG_SND_PCM)
#error "snd-pcm-anondup needs snd-pcm built as a module (CONFIG_SND_PCM=m)"
#endif

static bool anondup_fops_are_pcm(const struct file_operations *fops)
{
	return fops && fops->owner && fops->mmap && fops->unlocked_ioctl &&
	       !strcmp(fops->owner->name, "snd_pcm");
}

/*
 * Find the substream of an ALSA PCM file: a character device of the ALSA
 * major whose minor is registered as a PCM playback or capture device, and
 * whose open file is a snd_pcm_file of that very PCM and direction.
 */
static struct snd_pcm_substream *anondup_pcm_substream(struct file *file)
{
	static const int types[] = {
		[SNDRV_PCM_STREAM_PLAYBACK] = SNDRV_DEVICE_TYPE_PCM_PLAYBACK,
		[SNDRV_PCM_STREAM_CAPTURE] = SNDRV_DEVICE_TYPE_PCM_CAPTURE,
	};
	struct inode *inode = file_inode(file);
	struct snd_pcm_substream *substream = NULL;
	struct snd_pcm_file *pcm_file;
	struct snd_pcm *pcm;
	int stream;

	if (!S_ISCHR(inode->i_mode) || imajor(inode) != snd_major)
		return NULL;
	if (!anondup_fops_are_pcm(file->f_op))
		return NULL;
	for (stream = 0; stream < ARRAY_SIZE(types); stream++) {
		/* Takes a card reference when it finds the device. */
		pcm = snd_lookup_minor_data(iminor(inode), types[stream]);
		if (!pcm)
			continue;
		pcm_file = file->private_data;
		if (pcm_file && pcm_file->substream &&
		    pcm_file->substream->pcm == pcm &&
		    pcm_file->substream->stream == stream &&
		    pcm_file->substream->runtime)
			substream = pcm_file->substream;
		snd_card_unref(pcm->card);
		break;
	}
	return substream;
}

/* Buffer state check: the stream must have a buffer (hw_params done). */
static int anondup_check_state(struct snd_pcm_substream *substream)
{
	struct snd_pcm_runtime *runtime = substream->runtime;

	if (runtime->status->state == SNDRV_PCM_STATE_OPEN ||
	    runtime->status->state == SNDRV_PCM_STATE_DISCONNECTED ||
	    !runtime->dma_bytes)
		return -EBADFD;
	return 0;
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

static long anondup_dup(const struct anondup_dup *req)
{
	struct snd_pcm_substream *substream;
	struct anondup_ctx *ctx;
	struct file *file, *src, *nfile;
	unsigned int have_mode;
	long ret;
	int fd;

	if (req->flags & ~ANONDUP_FLAGS_ALL)
		return -EINVAL;
	if (memchr_inv(req->reserved, 0, sizeof(req->reserved)))
		return -EINVAL;
	if (req->mode != ANONDUP_MODE_FULL && req->mode != ANONDUP_MODE_BUFFER)
		return -EINVAL;
	if (req->fd < 0)
		return -EBADF;

	file = fget(req->fd);
	if (!file)
		return -EBADF;

	if (anondup_is_ours(file)) {
		/* Re-dup of one of our files: unwrap to the source PCM. */
		struct anondup_ctx *had = file->private_data;

		src = had->src;
		substream = had->substream;
		have_mode = had->mode;
	} else {
		src = file;
		substream = anondup_pcm_substream(file);
		have_mode = ANONDUP_MODE_FULL;
		if (!substream) {
			ret = -EINVAL;
			goto out_fput;
		}
	}
	if (have_mode == ANONDUP_MODE_BUFFER && req->mode == ANONDUP_MODE_FULL) {
		ret = -EPERM;
		goto out_fput;
	}
	ret = anondup_check_state(substream);
	if (ret)
		goto out_fput;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx) {
		ret = -ENOMEM;
		goto out_fput;
	}
	ctx->src = get_file(src);
	ctx->substream = substream;
	ctx->mode = req->mode;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto out_free;
	}
	if (req->mode == ANONDUP_MODE_FULL)
		nfile = anon_inode_getfile("snd-pcm", &anondup_full_fops, ctx,
					   anondup_open_flags(file));
	else
		nfile = anon_inode_getfile("snd-pcm-buf", &anondup_buffer_fops,
					   ctx, anondup_open_flags(file));
	if (IS_ERR(nfile)) {
		ret = PTR_ERR(nfile);
		put_unused_fd(fd);
		goto out_free;
	}
	fd_install(fd, nfile);
	fput(file);
	return fd;

out_free:
	fput(ctx->src);
	kfree(ctx);
out_fput:
	fput(file);
	return ret;
}

static long anondup_dev_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	void __user *argp = (void __user *)arg;
	struct anondup_dup req;

	switch (cmd) {
	case ANONDUP_IOCTL_VERSION:
		return put_user(ANONDUP_ABI_VERSION, (__u32 __user *)argp);
	case ANONDUP_IOCTL_DUP:
		if (copy_from_user(&req, argp, sizeof(req)))
			return -EFAULT;
		return anondup_dup(&req);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations anondup_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= anondup_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice anondup_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "snd/anondup",
	.fops	= &anondup_dev_fops,
	.mode	= 0666,
};

static int __init anondup_init(void)
{
	int err = misc_register(&anondup_misc);

	if (err)
		return err;
#ifdef ANONDUP_TEST_HOLE_PREPARE
	pr_warn("TEST BUILD: the BUFFER policy forwards PREPARE (deliberate hole)\n");
#endif
#ifdef ANONDUP_TEST_HOLE_SILENT_DROP
	pr_warn("TEST BUILD: the BUFFER policy forwards DROP and says EPERM (deliberate hole)\n");
#endif
	return 0;
}

static void __exit anondup_exit(void)
{
	misc_deregister(&anondup_misc);
}

module_init(anondup_init);
module_exit(anondup_exit);

MODULE_DESCRIPTION("Restricted anonymous duplicates of ALSA PCM file descriptors");
MODULE_AUTHOR("pcmring project");
MODULE_LICENSE("GPL");
