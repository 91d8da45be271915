// SPDX-License-Identifier: GPL-2.0-only
/*
 * mmap of a segment through the module's own vm_operations: the fault
 * handler finds (or allocates, or swaps in) the page in the segment's shmem
 * file, a touch past the segment's end gets SIGBUS. Only shared mappings
 * (VM_MAYSHARE, so a read-only MAP_SHARED of an O_RDONLY descriptor works): a
 * private copy-on-write view of a shared segment is not what anyone means.
 *
 * The VMA's vm_file is the segment's shmem file, as ashmem does it, so that
 * the pages' reverse map finds the VMA: reclaim can unmap and swap them,
 * migration can move them, and unmap_mapping_range() on the shmem mapping
 * zaps them. vm_private_data holds a reference to the /dev/rams file the
 * mapping was made from, hence to the handle, its segment and the module, so
 * mappings survive close() and fork.
 */
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/version.h>

#include "rams_internal.h"

static struct rams_segment *rams_vma_segment(struct vm_area_struct *vma)
{
	struct file *file = vma->vm_private_data;

	return rams_handle_segment(file->private_data);
}

static vm_fault_t rams_vm_fault(struct vm_fault *vmf)
{
	struct rams_segment *seg = rams_vma_segment(vmf->vma);
	struct page *page;

	if (vmf->pgoff >= seg->npages)
		return VM_FAULT_SIGBUS;
	page = rams_segment_page(seg, vmf->pgoff, true);
	if (IS_ERR(page))
		return PTR_ERR(page) == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	vmf->page = page; /* with the reference rams_segment_page() took */
	return 0;
}

/* A copy of the VMA (split, fork, mremap) takes its own reference. */
static void rams_vm_open(struct vm_area_struct *vma)
{
	get_file(vma->vm_private_data);
}

static void rams_vm_close(struct vm_area_struct *vma)
{
	fput(vma->vm_private_data);
}

static const struct vm_operations_struct rams_vm_ops = {
	.open = rams_vm_open,
	.close = rams_vm_close,
	.fault = rams_vm_fault,
};

/* A remote segment's pages come through the control channel (rams_remote.c). */
static vm_fault_t rams_remote_vm_fault(struct vm_fault *vmf)
{
	struct rams_segment *seg = rams_vma_segment(vmf->vma);

	if (vmf->pgoff >= seg->npages)
		return VM_FAULT_SIGBUS;
	return rams_remote_fault(vmf, seg);
}

static vm_fault_t rams_remote_vm_page_mkwrite(struct vm_fault *vmf)
{
	return rams_remote_page_mkwrite(vmf, rams_vma_segment(vmf->vma));
}

/* page_mkwrite makes shared writable mappings map pages read-only first (write-notify). */
static const struct vm_operations_struct rams_remote_vm_ops = {
	.open = rams_vm_open,
	.close = rams_vm_close,
	.fault = rams_remote_vm_fault,
	.page_mkwrite = rams_remote_vm_page_mkwrite,
};

/*
 * The longest mapping: room past the end (up to the size limit) faults with
 * SIGBUS, like a file; a segment made under a higher limit still maps whole.
 */
static u64 rams_mmap_limit_bytes(struct rams_segment *seg)
{
	u64 limit = READ_ONCE(rams_max_segment_bytes);

	limit = limit > U64_MAX - PAGE_SIZE ? U64_MAX & PAGE_MASK : PAGE_ALIGN(limit);
	return max_t(u64, limit, seg->npages << PAGE_SHIFT);
}

int rams_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rams_handle *h = file->private_data;
	struct rams_segment *seg = rams_handle_segment(h);
	unsigned long len = vma->vm_end - vma->vm_start;

	if (!seg)
		return -ENOTCONN;
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= seg->npages || len > rams_mmap_limit_bytes(seg))
		return -EINVAL;
	if (!h->writable) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
		vm_flags_clear(vma, VM_MAYWRITE);
#else
		vma->vm_flags &= ~VM_MAYWRITE;
#endif
	}
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_DONTEXPAND);
#else
	vma->vm_flags |= VM_DONTEXPAND;
#endif
	vma->vm_private_data = get_file(file);
	vma_set_file(vma, seg->shm);
	vma->vm_ops = seg->remote ? &rams_remote_vm_ops : &rams_vm_ops;
	return 0;
}
