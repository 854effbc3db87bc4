// SPDX-License-Identifier: GPL-2.0
/*
 * snd-pcm-anondup: revocable mappings of the restricted files.
 *
 * Each restricted file has its own address space (file->f_mapping), so
 * unmap_mapping_range() on it reaches every mapping of that file in every
 * process (forks and mremap copies included) and no mapping of any other
 * file: anon_inode_getfile() shares one inode among all anonymous files.
 *
 * A revocation must leave no page mapped and let no page be mapped again:
 *  - mappings whose pages come from a fault handler (the status and
 *    control pages, fault-based data buffers) get a copy of their
 *    vm_operations whose fault handler checks ctx->revoked and inserts the
 *    page itself while holding ctx->rev_sem for reading; a revocation
 *    takes it for writing, so no fault inserts a page after it;
 *  - mappings that ALSA fills completely in ->mmap (vmalloc, contiguous
 *    and coherent DMA buffers) are filled before the core links the vma
 *    into the address space, with the caller's mmap_lock held for writing.
 *    mmap records each address space (mmgrab) while holding ctx->rev_sem
 *    for reading; a revocation takes and drops the mmap_lock of each
 *    recorded address space before unmapping, which waits until every
 *    mmap that passed the check is linked and can be found.
 * After a revocation, mappings fault with SIGBUS and mmap fails (ENODEV).
 */

#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "anondup_priv.h"

/* An address space that mapped a restricted file (pinned by mmgrab). */
struct anondup_mm {
	struct list_head node;
	struct mm_struct *mm;
};

/* vm_flags became read-only (with setters) in 6.3; Kbuild probes it. */
static void anondup_vm_flags_mod(struct vm_area_struct *vma,
				 unsigned long set, unsigned long clear)
{
#ifdef ANONDUP_HAVE_VM_FLAGS_SETTERS
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

void anondup_mm_init(struct anondup_ctx *ctx)
{
	init_rwsem(&ctx->rev_sem);
	address_space_init_once(&ctx->mapping);
	spin_lock_init(&ctx->mm_lock);
	INIT_LIST_HEAD(&ctx->mms);
}

static vm_fault_t anondup_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct anondup_vm_wrap *wrap =
		container_of(vma->vm_ops, struct anondup_vm_wrap, ops);
	struct anondup_ctx *ctx = wrap->ctx;
	vm_fault_t ret;
	int err;

	down_read(&ctx->rev_sem);
	if (ctx->revoked) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	ret = wrap->orig->fault(vmf);
	if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) ||
	    !vmf->page)
		goto out;
	/*
	 * Map the page here, under rev_sem, instead of letting the core do it
	 * after we return: a revocation then finds it. The vma is
	 * VM_MIXEDMAP (anondup_mmap()), so this works under the read lock.
	 */
	if (ret & VM_FAULT_LOCKED)
		unlock_page(vmf->page);
	err = vm_insert_page(vma, vmf->address & PAGE_MASK, vmf->page);
	put_page(vmf->page);
	vmf->page = NULL;
	/* -EBUSY: another thread mapped it first. */
	ret = (err && err != -EBUSY) ? vmf_error(err) : VM_FAULT_NOPAGE;
out:
	up_read(&ctx->rev_sem);
	return ret;
}

/* The wrapper of @orig in @ctx, made on first use; NULL if none is free. */
static const struct vm_operations_struct *
anondup_wrap_ops(struct anondup_ctx *ctx,
		 const struct vm_operations_struct *orig)
{
	struct anondup_vm_wrap *wrap = NULL;
	int i;

	spin_lock(&ctx->mm_lock);
	for (i = 0; i < ANONDUP_VM_WRAPS; i++) {
		if (ctx->wraps[i].orig == orig) {
			wrap = &ctx->wraps[i];
			break;
		}
		if (!ctx->wraps[i].orig) {
			wrap = &ctx->wraps[i];
			wrap->ops = *orig;
			/* Every page goes through the revocation check. */
			wrap->ops.fault = orig->fault ? anondup_vm_fault : NULL;
			wrap->ops.huge_fault = NULL;
			wrap->ops.map_pages = NULL;
			wrap->ops.access = NULL;
			wrap->ctx = ctx;
			wrap->orig = orig;
			break;
		}
	}
	spin_unlock(&ctx->mm_lock);
	return wrap ? &wrap->ops : NULL;
}

/* Remembers @mm until the next revocation; drops dead ones on the way. */
static void anondup_record_mm(struct anondup_ctx *ctx, struct mm_struct *mm,
			      struct anondup_mm *rec)
{
	struct anondup_mm *m, *tmp;
	LIST_HEAD(dead);
	bool found = false;

	spin_lock(&ctx->mm_lock);
	list_for_each_entry_safe(m, tmp, &ctx->mms, node) {
		if (m->mm == mm)
			found = true;
		else if (!atomic_read(&m->mm->mm_users))
			list_move(&m->node, &dead);
	}
	if (!found) {
		mmgrab(mm);
		rec->mm = mm;
		list_add(&rec->node, &ctx->mms);
		rec = NULL;
	}
	spin_unlock(&ctx->mm_lock);
	kfree(rec);
	list_for_each_entry_safe(m, tmp, &dead, node) {
		mmdrop(m->mm);
		kfree(m);
	}
}

/*
 * x86 PAT: remap_pfn_range() marks a VM_PFNMAP vma VM_PAT, and zapping it
 * outside munmap (unmap_mapping_range) "untracks" it, which races with a
 * concurrent munmap of the same vma and warns on 6.1. For RAM (every
 * buffer in the kernel's direct map) PAT tracks nothing: reserving and
 * freeing a RAM range are no-ops, so the flag can go.
 */
static void anondup_untrack_ram(struct anondup_ctx *ctx,
				struct vm_area_struct *vma)
{
#ifdef VM_PAT
	struct snd_pcm_runtime *runtime = ctx->substream->runtime;
	const char *area = runtime->dma_area;

	if ((vma->vm_flags & (VM_PFNMAP | VM_PAT)) == (VM_PFNMAP | VM_PAT) &&
	    !vma->vm_pgoff && area && runtime->dma_bytes &&
	    virt_addr_valid(area) &&
	    virt_addr_valid(area + runtime->dma_bytes - 1))
		anondup_vm_flags_mod(vma, 0, VM_PAT);
#endif
}

/*
 * mmap of a restricted file, either mode: ALSA's mmap with the restricted
 * file (its own snd_pcm_file), then the revocation hooks. @read_only
 * clears VM_MAYWRITE for good.
 */
int anondup_mmap(struct anondup_ctx *ctx, struct file *file,
		 struct vm_area_struct *vma, bool read_only)
{
	const struct vm_operations_struct *ops;
	struct anondup_mm *rec;
	int err;

	rec = kmalloc(sizeof(*rec), GFP_KERNEL);
	if (!rec)
		return -ENOMEM;
	down_read(&ctx->rev_sem);
	if (ctx->revoked || READ_ONCE(ctx->src->f_op) != ctx->pcm_fops) {
		err = -ENODEV;
		goto out;
	}
	err = ctx->pcm_fops->mmap(file, vma);
	if (err)
		goto out;
	if (vma->vm_ops) {
		ops = anondup_wrap_ops(ctx, vma->vm_ops);
		if (!ops) {
			/* The core does not close a vma whose mmap failed. */
			if (vma->vm_ops->close)
				vma->vm_ops->close(vma);
			err = -ENOMEM;
			goto out;
		}
		if (ops->fault && !(vma->vm_flags & VM_PFNMAP))
			anondup_vm_flags_mod(vma, VM_MIXEDMAP, 0);
		vma->vm_ops = ops;
	}
	anondup_untrack_ram(ctx, vma);
	if (read_only)
		anondup_vm_flags_mod(vma, 0, VM_WRITE | VM_MAYWRITE);
	anondup_record_mm(ctx, vma->vm_mm, rec);
	rec = NULL;
out:
	up_read(&ctx->rev_sem);
	kfree(rec);
	return err;
}

/* Tears down every mapping of @ctx's file; ctx->revoked is already set. */
void anondup_mm_revoke(struct anondup_ctx *ctx)
{
	struct anondup_mm *m, *tmp;
	LIST_HEAD(mms);

	/* Waits for mmaps and faults that passed the check before it. */
	down_write(&ctx->rev_sem);
	spin_lock(&ctx->mm_lock);
	list_splice_init(&ctx->mms, &mms);
	spin_unlock(&ctx->mm_lock);
	up_write(&ctx->rev_sem);

	/* Each such mmap links its vma before its mmap_lock is released. */
	list_for_each_entry_safe(m, tmp, &mms, node) {
		mmap_read_lock(m->mm);
		mmap_read_unlock(m->mm);
		mmdrop(m->mm);
		kfree(m);
	}
	/* even_cows: the pages have no mapping, so zap them all. */
	unmap_mapping_range(&ctx->mapping, 0, 0, 1);
}

void anondup_mm_release(struct anondup_ctx *ctx)
{
	struct anondup_mm *m, *tmp;

	list_for_each_entry_safe(m, tmp, &ctx->mms, node) {
		mmdrop(m->mm);
		kfree(m);
	}
	INIT_LIST_HEAD(&ctx->mms);
}
