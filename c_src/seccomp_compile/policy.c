/* policy.c - decoding and validating the policy term (see policy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ei.h>

#include "policy.h"
#include "terms.h"

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
	{ "eq", SCMP_CMP_EQ }, { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT },
	{ "le", SCMP_CMP_LE }, { "gt", SCMP_CMP_GT }, { "ge", SCMP_CMP_GE },
	{ "masked_eq", SCMP_CMP_MASKED_EQ },
};

/* action_valid() - is @a one of the kernel's SECCOMP_RET_* actions? */
static int action_valid(uint32_t a)
{
	switch (a & 0xffff0000u) {
	case 0x80000000u: /* KILL_PROCESS */
	case 0x00000000u: /* KILL_THREAD */
	case 0x7fc00000u: /* USER_NOTIF */
	case 0x7ffc0000u: /* LOG */
	case 0x7fff0000u: /* ALLOW */
		return (a & 0xffffu) == 0;
	case 0x00030000u: /* TRAP */
	case 0x7ff00000u: /* TRACE */
		return 1;
	case 0x00050000u: /* ERRNO */
		return (a & 0xffffu) <= 4095;
	default:
		return 0;
	}
}

static int decode_action(const char *buf, int *idx, uint32_t *out, const char *what,
			 struct sc_error *err)
{
	uint64_t v;

	if (term_u64(buf, idx, UINT32_MAX, &v, what, err) < 0)
		return -1;
	if (!action_valid((uint32_t)v))
		return sc_fail(err, "%s: 0x%08llx is not a seccomp action", what,
			       (unsigned long long)v);
	*out = (uint32_t)v;
	return 0;
}

static int decode_cond(const char *buf, int *idx, struct sc_cond *c, const char *what,
		       struct sc_error *err)
{
	char path[256], atom[MAXATOMLEN_UTF8];
	uint64_t arg;
	size_t i;

	if (term_tuple(buf, idx, 4, what, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s.arg", what);
	if (term_u64(buf, idx, 5, &arg, path, err) < 0)
		return -1;
	c->arg = (unsigned int)arg;
	snprintf(path, sizeof(path), "%s.op", what);
	if (term_atom(buf, idx, atom, path, err) < 0)
		return -1;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(atom, ops[i].name))
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return sc_fail(err, "%s: unknown comparison '%s' (eq ne lt le gt ge masked_eq)",
			       path, atom);
	c->op = ops[i].op;
	snprintf(path, sizeof(path), "%s.a", what);
	if (term_u64(buf, idx, UINT64_MAX, &c->a, path, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s.b", what);
	return term_u64(buf, idx, UINT64_MAX, &c->b, path, err);
}

static int decode_rule(const char *buf, int *idx, unsigned int n, struct sc_rule *r,
		       struct sc_error *err)
{
	char what[96], path[128];
	int type, len, i;

	snprintf(what, sizeof(what), "policy.rules[%u]", n);
	if (term_tuple(buf, idx, 3, what, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s.action", what);
	if (decode_action(buf, idx, &r->action, path, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s.syscall", what);
	type = term_type(buf, *idx);
	if (type == ERL_BINARY_EXT) {
		if (term_cstring(buf, idx, &r->name, path, err) < 0)
			return -1;
	} else {
		uint64_t nr;

		if (term_u64(buf, idx, 4095, &nr, path, err) < 0)
			return sc_fail(err, "%s: expected a name (binary) or a number 0..4095",
				       path);
		r->nr = (int)nr;
	}
	snprintf(path, sizeof(path), "%s.conds", what);
	if (term_list(buf, idx, &len, path, err) < 0)
		return -1;
	if (len > SC_MAX_CONDS)
		return sc_fail(err, "%s: %d conditions, at most %d", path, len, SC_MAX_CONDS);
	for (i = 0; i < len; i++) {
		char cpath[160];

		snprintf(cpath, sizeof(cpath), "%s[%d]", path, i);
		if (decode_cond(buf, idx, &r->cond[i], cpath, err) < 0)
			return -1;
	}
	r->ncond = (unsigned int)len;
	return len ? term_list_end(buf, idx, path, err) : 0;
}

int policy_decode(const char *buf, int *idx, struct sc_policy *p, struct sc_error *err)
{
	char atom[MAXATOMLEN_UTF8];
	int len, i;

	memset(p, 0, sizeof(*p));
	if (term_tuple(buf, idx, 6, "policy", err) < 0)
		return -1;
	if (term_atom(buf, idx, atom, "policy[0]", err) < 0)
		return -1;
	if (strcmp(atom, "policy"))
		return sc_fail(err, "policy[0]: expected the atom policy, got '%s'", atom);
	if (decode_action(buf, idx, &p->default_action, "policy.default", err) < 0 ||
	    decode_action(buf, idx, &p->bad_arch_action, "policy.bad_arch", err) < 0)
		return -1;

	if (term_list(buf, idx, &len, "policy.arches", err) < 0)
		return -1;
	if (len < 1 || len > SC_MAX_ARCHES)
		return sc_fail(err, "policy.arches: expected 1..%d arches, got %d",
			       SC_MAX_ARCHES, len);
	for (i = 0; i < len; i++) {
		char path[64];

		snprintf(path, sizeof(path), "policy.arches[%d]", i);
		if (term_cstring(buf, idx, &p->arches[i], path, err) < 0)
			return -1;
		p->narch = (unsigned int)i + 1;
	}
	if (term_list_end(buf, idx, "policy.arches", err) < 0)
		return -1;

	if (term_list(buf, idx, &len, "policy.rules", err) < 0)
		return -1;
	if (len > SC_MAX_RULES)
		return sc_fail(err, "policy.rules: %d rules, at most %d", len, SC_MAX_RULES);
	p->rules = calloc(len ? (size_t)len : 1, sizeof(*p->rules));
	if (!p->rules)
		return sc_fail(err, "policy.rules: out of memory");
	for (i = 0; i < len; i++) {
		p->nrule = (unsigned int)i + 1; /* so policy_free sees a partial rule */
		if (decode_rule(buf, idx, (unsigned int)i, &p->rules[i], err) < 0)
			return -1;
	}
	if (len && term_list_end(buf, idx, "policy.rules", err) < 0)
		return -1;

	if (term_atom(buf, idx, atom, "policy.unknown", err) < 0)
		return -1;
	if (!strcmp(atom, "ignore"))
		p->ignore_unknown = 1;
	else if (strcmp(atom, "error"))
		return sc_fail(err, "policy.unknown: expected error or ignore, got '%s'", atom);
	return 0;
}

void policy_free(struct sc_policy *p)
{
	unsigned int i;

	for (i = 0; i < p->narch; i++)
		free(p->arches[i]);
	for (i = 0; i < p->nrule; i++)
		free(p->rules[i].name);
	free(p->rules);
	memset(p, 0, sizeof(*p));
}
