/* policy.h - the decoded policy term (wire grammar in docs/seccomp.md).
 *
 *   {:policy, default_action, bad_arch_action, arches, rules, unknown}
 *     default_action, bad_arch_action :: u32 kernel action (SECCOMP_RET_*)
 *     arches  :: [binary]          libseccomp arch names ("native", "x86_64", "x32")
 *     rules   :: [{action :: u32, syscall :: binary | 0..4095, conds}]
 *     conds   :: [{arg :: 0..5, op :: atom, a :: u64, b :: u64}]
 *                op: eq ne lt le gt ge masked_eq (masked_eq: a = mask, b = value)
 *     unknown :: :error | :ignore
 *
 * Owns decoding and validation of that shape only; building the filter is
 * build.c's job.
 */
#ifndef LINX_SC_POLICY_H
#define LINX_SC_POLICY_H

#include <stdint.h>

#include <seccomp.h>

#include "sc_error.h"

#define SC_MAX_CONDS 6
#define SC_MAX_ARCHES 16
#define SC_MAX_RULES 65536

struct sc_cond {
	unsigned int arg;
	enum scmp_compare op;
	uint64_t a, b;
};

struct sc_rule {
	uint32_t action;
	char *name;	/* NULL when the rule names a raw number */
	int nr;		/* raw syscall number when name == NULL */
	unsigned int ncond;
	struct sc_cond cond[SC_MAX_CONDS];
};

struct sc_policy {
	uint32_t default_action;
	uint32_t bad_arch_action;
	unsigned int narch;
	char *arches[SC_MAX_ARCHES];
	unsigned int nrule;
	struct sc_rule *rules;
	int ignore_unknown;	/* 1: skip names libseccomp cannot resolve, 0: fail */
};

/**
 * policy_decode() - decode a policy term at @buf/@idx
 * @buf:	ETF buffer
 * @idx:	index of the policy term; advanced past it
 * @p:		filled (release with policy_free even on failure)
 * @err:	names the offending part on failure
 *
 * Return: 0 or -1.
 */
int policy_decode(const char *buf, int *idx, struct sc_policy *p, struct sc_error *err);

/**
 * policy_free() - release what policy_decode() allocated
 * @p:		policy
 */
void policy_free(struct sc_policy *p);

#endif
