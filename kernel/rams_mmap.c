// SPDX-License-Identifier: GPL-2.0
/*
 * mmap of a segment through the module's own vm_operations: pages are
 * allocated on first touch by the fault handler, a touch past the segment's
 * end gets SIGBUS. Only MAP_SHARED: a private copy-on-write view of a shared
 * segment is not what anyone means. The VMA holds a reference to the file,
 * hence to the handle and its segment, so mappings survive close() and fork.
 */
#include <linux/mm.h>
#include <linux/version.h>

#include "rams_internal.h"

static vm_fault_t rams_vm_fault(struct vm_fault *vmf)
{
	struct rams_handle *h = vmf->vma->vm_file->private_data;
	struct rams_segment *seg = rams_handle_segment(h);
	struct page *page;

	if (vmf->pgoff >= seg->npages)
		return VM_FAULT_SIGBUS;
	page = rams_segment_page(seg, vmf->pgoff, true);
	if (IS_ERR(page))
		return PTR_ERR(page) == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct rams_vm_ops = {
	.fault = rams_vm_fault,
};

int rams_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct rams_handle *h = file->private_data;
	struct rams_segment *seg = rams_handle_segment(h);
	unsigned long len = vma->vm_end - vma->vm_start;

	if (!seg)
		return -ENOTCONN;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/* Room past the end (up to the size limit) faults with SIGBUS, like a file. */
	if (vma->vm_pgoff >= seg->npages || len > PAGE_ALIGN(rams_max_segment_bytes))
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
	vma->vm_ops = &rams_vm_ops;
	return 0;
}
