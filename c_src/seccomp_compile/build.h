/* build.h - turning a decoded policy into BPF with libseccomp.
 *
 * Owns every libseccomp call: arch set-up, name resolution, rule adding,
 * export to bytes (BPF) or text (PFC). Knows nothing about ETF.
 */
#ifndef LINX_SC_BUILD_H
#define LINX_SC_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <seccomp.h>

#include "policy.h"
#include "sc_error.h"

/* A list of distinct syscall names (pointers into the policy). */
struct sc_names {
	unsigned int n, cap;
	const char **v;
};

/* libseccomp 2.5 refuses TRAP with data (the kernel passes it in si_errno):
 * such actions are built as unused TRACE placeholders, rewritten in the
 * exported BPF's RET instructions. */
#define SC_MAX_TRAPS 64
struct sc_trap_fix {
	uint32_t real;		/* 0x00030000 | data */
	uint32_t placeholder;	/* 0x7ff00000 | unused data */
};

struct sc_report {
	struct sc_names unknown;	/* libseccomp does not know the name at all */
	struct sc_names absent;		/* known, but on none of the filter's arches */
	unsigned int ntrap;
	struct sc_trap_fix trap[SC_MAX_TRAPS];
};

/**
 * build_filter() - build a libseccomp filter from @p
 * @p:		decoded policy
 * @ctx:	set to the new filter on success (caller releases it)
 * @rep:	names that could not be resolved (rules naming them are skipped)
 * @err:	what failed, naming the arch or rule
 *
 * Return: 0 on success, -1 on failure. Unresolved names are not a failure
 * here: the caller decides from @rep and p->ignore_unknown.
 */
int build_filter(const struct sc_policy *p, scmp_filter_ctx *ctx, struct sc_report *rep,
		 struct sc_error *err);

/**
 * export_filter() - export @ctx as BPF bytes or as PFC text
 * @ctx:	filter
 * @rep:	its build report (TRAP placeholders to rewrite)
 * @pfc:	0 for BPF (struct sock_filter array), 1 for libseccomp's PFC text
 * @out:	set to a malloc'd buffer
 * @len:	set to its length
 * @err:	filled on failure
 *
 * Return: 0 or -1. Goes through a memfd, as seccomp_export_*() write to fds.
 */
int export_filter(scmp_filter_ctx ctx, const struct sc_report *rep, int pfc, char **out, size_t *len, struct sc_error *err);

/**
 * report_free() - release the lists of a report
 * @rep:	report
 */
void report_free(struct sc_report *rep);

#endif
