/*
 * caps.h - the per-thread security commands the child applies at the
 * checkpoint: capability sets through libcap, and seccomp filter install.
 */
#ifndef LINX_CAPS_H
#define LINX_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

int caps_drop_bounding(uint64_t mask, struct linx_err *err);
int caps_set_thread(uint64_t eff, uint64_t prm, uint64_t inh,
		    struct linx_err *err);
int caps_set_ambient(uint64_t mask, struct linx_err *err);
int caps_set_ids(uint32_t uid, uint32_t gid, struct linx_err *err);
int caps_query(uint64_t out[5], struct linx_err *err);
int seccomp_check_len(size_t len);
int seccomp_install(const void *bpf, size_t len, struct linx_err *err);
int seccomp_notify_install(const void *bpf, size_t len, int *listener,
			   struct linx_err *err);

#endif /* LINX_CAPS_H */
