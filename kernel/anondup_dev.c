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
#include <linux/mutex.h>
#include <linux/uaccess.h>
#include <sound/core.h>
#include <sound/minors.h>
#include <sound/pcm.h>

#include "anondup_priv.h"

#if !IS_MODULE(CONFIG_SND_PCM)
#error "snd-pcm-anondup needs snd-pcm built as a module (CONFIG_SND_PCM=m)"
#endif

/*
 * The modules this one links against: snd (snd_lookup_minor_data) and
 * snd-pcm (snd_pcm_stream_lock_irq). snd_pcm_f_ops is not exported, but
 * snd-pcm holds no other file_operations, so a file whose operations lie
 * in snd-pcm's own memory and name snd-pcm as their owner is a PCM file.
 */
static struct module *anondup_snd_mod;
static struct module *anondup_pcm_mod;

/* Our list of restricted files, for REVOKE; also orders DUP vs REVOKE. */
static DEFINE_MUTEX(anondup_list_lock);
static LIST_HEAD(anondup_files);

static struct module *anondup_dependency_holding(const void *addr)
{
	struct module_use *use;

	list_for_each_entry(use, &THIS_MODULE->target_list, target_list)
		if (within_module((unsigned long)addr, use->target))
			return use->target;
	return NULL;
}

static bool anondup_fops_are_pcm(const struct file_operations *fops)
{
	return fops && fops->owner == anondup_pcm_mod &&
	       within_module((unsigned long)fops, anondup_pcm_mod) &&
	       fops->mmap && fops->unlocked_ioctl && fops->poll;
}

/*
 * A file of an ALSA device whose card was disconnected: ALSA replaced its
 * operations with its shutdown operations, which belong to snd and are
 * the only ones there with an mmap (the control device has none).
 */
static bool anondup_fops_are_disconnected(const struct file_operations *fops)
{
	return fops && fops->owner == anondup_snd_mod &&
	       within_module((unsigned long)fops, anondup_snd_mod) &&
	       fops->mmap;
}

/*
 * Find the substream of an ALSA PCM file: a character device of the ALSA
 * major whose minor is registered as a PCM playback or capture device, with
 * snd-pcm's file operations, and whose open file is a snd_pcm_file of that
 * very PCM and direction. -EINVAL if it is not one, -ENODEV if it is an
 * ALSA file of a disconnected card.
 */
static struct snd_pcm_substream *anondup_pcm_substream(struct file *file)
{
	static const int types[] = {
		[SNDRV_PCM_STREAM_PLAYBACK] = SNDRV_DEVICE_TYPE_PCM_PLAYBACK,
		[SNDRV_PCM_STREAM_CAPTURE] = SNDRV_DEVICE_TYPE_PCM_CAPTURE,
	};
	struct inode *inode = file_inode(file);
	struct snd_pcm_substream *substream = ERR_PTR(-EINVAL);
	const struct file_operations *fops = READ_ONCE(file->f_op);
	struct snd_pcm_file *pcm_file;
	struct snd_pcm *pcm;
	int stream;

	if (!S_ISCHR(inode->i_mode) || imajor(inode) != snd_major)
		return ERR_PTR(-EINVAL);
	if (anondup_fops_are_disconnected(fops))
		return ERR_PTR(-ENODEV);
	if (!anondup_fops_are_pcm(fops))
		return ERR_PTR(-EINVAL);
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

/*
 * The stream must have a buffer (hw_params done) and a card: EBADFD in the
 * OPEN state, ENODEV once disconnected. Read under the stream lock, as
 * ALSA's own state checks are.
 */
static int anondup_check_state(struct snd_pcm_substream *substream)
{
	struct snd_pcm_runtime *runtime = substream->runtime;
	int err = 0;

	snd_pcm_stream_lock_irq(substream);
	if (runtime->state == SNDRV_PCM_STATE_DISCONNECTED)
		err = -ENODEV;
	else if (runtime->state == SNDRV_PCM_STATE_OPEN || !runtime->dma_bytes)
		err = -EBADFD;
	snd_pcm_stream_unlock_irq(substream);
	return err;
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

static void anondup_init_ctx(struct anondup_ctx *ctx, struct file *src,
			     struct snd_pcm_substream *substream,
			     const struct file_operations *pcm_fops,
			     const struct snd_pcm_file *from, unsigned int mode)
{
	kref_init(&ctx->ref);
	INIT_LIST_HEAD(&ctx->node);
	mutex_init(&ctx->fasync_lock);
	anondup_mm_init(ctx);
	ctx->src = get_file(src);
	ctx->pcm_fops = pcm_fops;
	ctx->substream = substream;
	ctx->mode = mode;
	/* The new file starts with the per-open state of the one it copies. */
	ctx->pcm_file.substream = substream;
	ctx->pcm_file.no_compat_mmap = from->no_compat_mmap;
	ctx->pcm_file.user_pversion = from->user_pversion;
}

static long anondup_dup(const struct anondup_dup *req)
{
	const struct file_operations *pcm_fops;
	struct snd_pcm_substream *substream;
	struct anondup_ctx *ctx, *had = NULL;
	struct file *file, *src, *nfile;
	const struct snd_pcm_file *from;
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
		had = anondup_ctx(file);
		src = had->src;
		substream = had->substream;
		pcm_fops = had->pcm_fops;
		have_mode = had->mode;
		from = &had->pcm_file;
		if (READ_ONCE(had->revoked) ||
		    READ_ONCE(src->f_op) != pcm_fops) {
			ret = -ENODEV;
			goto out_fput;
		}
	} else {
		src = file;
		pcm_fops = READ_ONCE(file->f_op);
		substream = anondup_pcm_substream(file);
		have_mode = ANONDUP_MODE_FULL;
		if (IS_ERR(substream)) {
			ret = PTR_ERR(substream);
			goto out_fput;
		}
		from = file->private_data;
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
	anondup_init_ctx(ctx, src, substream, pcm_fops, from, req->mode);

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto out_free;
	}
	nfile = anon_inode_getfile(req->mode == ANONDUP_MODE_FULL ?
				   "snd-pcm" : "snd-pcm-buf",
				   req->mode == ANONDUP_MODE_FULL ?
				   &anondup_full_fops : &anondup_buffer_fops,
				   &ctx->pcm_file, anondup_open_flags(file));
	if (IS_ERR(nfile)) {
		ret = PTR_ERR(nfile);
		put_unused_fd(fd);
		goto out_free;
	}
	/* Its own address space: a revocation unmaps this file only. */
	ctx->mapping.host = file_inode(nfile);
	ctx->mapping.a_ops = file_inode(nfile)->i_mapping->a_ops;
	nfile->f_mapping = &ctx->mapping;

	/* A dup of a restricted file that a revocation already reached dies. */
	mutex_lock(&anondup_list_lock);
	if (had && READ_ONCE(had->revoked)) {
		mutex_unlock(&anondup_list_lock);
		put_unused_fd(fd);
		fput(nfile);
		fput(file);
		return -ENODEV;
	}
	list_add(&ctx->node, &anondup_files);
	mutex_unlock(&anondup_list_lock);

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

void anondup_unlist(struct anondup_ctx *ctx)
{
	mutex_lock(&anondup_list_lock);
	list_del_init(&ctx->node);
	mutex_unlock(&anondup_list_lock);
}

/*
 * ANONDUP_IOCTL_REVOKE: revoke every restricted file made from the source
 * file @req->fd (directly or through other restricted files). Only the
 * holder of the source can: a restricted fd is refused with EPERM.
 * Returns how many files it revoked.
 */
static long anondup_revoke(const struct anondup_revoke *req)
{
	struct anondup_ctx *ctx, *tmp;
	LIST_HEAD(victims);
	struct file *file;
	long n = 0;

	if (req->flags & ~ANONDUP_REVOKE_FLAGS_ALL)
		return -EINVAL;
	if (memchr_inv(req->reserved, 0, sizeof(req->reserved)))
		return -EINVAL;
	if (req->fd < 0)
		return -EBADF;
	file = fget(req->fd);
	if (!file)
		return -EBADF;
	if (anondup_is_ours(file)) {
		fput(file);
		return -EPERM;
	}

	mutex_lock(&anondup_list_lock);
	list_for_each_entry_safe(ctx, tmp, &anondup_files, node) {
		if (ctx->src != file)
			continue;
		/* From here on, every operation on it fails. */
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
	fput(file);
	return n;
}

static long anondup_dev_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	void __user *argp = (void __user *)arg;
	struct anondup_revoke rev;
	struct anondup_dup req;

	switch (cmd) {
	case ANONDUP_IOCTL_VERSION:
		return put_user(ANONDUP_ABI_VERSION, (__u32 __user *)argp);
	case ANONDUP_IOCTL_DUP:
		if (copy_from_user(&req, argp, sizeof(req)))
			return -EFAULT;
		return anondup_dup(&req);
	case ANONDUP_IOCTL_REVOKE:
		if (copy_from_user(&rev, argp, sizeof(rev)))
			return -EFAULT;
		return anondup_revoke(&rev);
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
	anondup_snd_mod = anondup_dependency_holding(snd_lookup_minor_data);
	anondup_pcm_mod = anondup_dependency_holding(snd_pcm_stream_lock_irq);
	if (!anondup_snd_mod || !anondup_pcm_mod) {
		pr_err("cannot find the snd and snd-pcm modules\n");
		return -ENOENT;
	}
	return misc_register(&anondup_misc);
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
