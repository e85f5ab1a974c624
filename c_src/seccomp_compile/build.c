/* build.c - policy -> libseccomp filter -> BPF bytes (see build.h).
 *
 * Why libseccomp rather than hand-written BPF: it knows every arch's
 * syscall table, checks the arch field (and, on x86_64, refuses x32
 * numbers unless x32 is one of the filter's arches), and emits the
 * argument comparisons on 64-bit values correctly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"

static int names_add(struct sc_names *l, const char *name)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], name))
			return 0;
	if (l->n == l->cap) {
		unsigned int cap = l->cap ? l->cap * 2 : 16;
		const char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = name;
	return 0;
}

void report_free(struct sc_report *rep)
{
	free(rep->unknown.v);
	free(rep->absent.v);
	memset(rep, 0, sizeof(*rep));
}

/* setup_arches() - make the filter's arch set exactly the policy's */
static int setup_arches(scmp_filter_ctx ctx, const struct sc_policy *p, uint32_t *tokens,
			struct sc_error *err)
{
	uint32_t native = seccomp_arch_native();
	int want_native = 0, rc;
	unsigned int i;

	for (i = 0; i < p->narch; i++) {
		uint32_t tok = strcmp(p->arches[i], "native") ? seccomp_arch_resolve_name(p->arches[i])
							      : native;

		if (tok == 0)
			return sc_fail(err, "policy.arches[%u]: libseccomp does not know the arch '%s'",
				       i, p->arches[i]);
		tokens[i] = tok;
		if (tok == native) {
			want_native = 1;
			continue;
		}
		rc = seccomp_arch_add(ctx, tok);
		if (rc < 0 && rc != -EEXIST)
			return sc_fail(err, "policy.arches[%u]: seccomp_arch_add(%s): %s", i,
				       p->arches[i], strerror(-rc));
	}
	/* seccomp_init() put the native arch in; drop it if the policy did not list it. */
	if (!want_native) {
		rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
		if (rc < 0)
			return sc_fail(err, "policy.arches: removing the native arch: %s",
				       strerror(-rc));
	}
	return 0;
}

/* resolve() - syscall number of @r for libseccomp, or -1 with @rep updated */
static int resolve(const struct sc_rule *r, const struct sc_policy *p, const uint32_t *tokens,
		   struct sc_report *rep, struct sc_error *err)
{
	unsigned int i;
	int nr;

	if (!r->name)
		return r->nr;
	/* The native number, or a negative pseudo number when the call exists
	 * only on other arches; libseccomp translates it for each filter arch. */
	nr = seccomp_syscall_resolve_name(r->name);
	if (nr == __NR_SCMP_ERROR) {
		if (names_add(&rep->unknown, r->name) < 0)
			return sc_fail(err, "out of memory"), -2;
		return -1;
	}
	for (i = 0; i < p->narch; i++)
		if (seccomp_syscall_resolve_name_arch(tokens[i], r->name) >= 0)
			return nr;
	if (names_add(&rep->absent, r->name) < 0)
		return sc_fail(err, "out of memory"), -2;
	return -1;
}

static int add_rule(scmp_filter_ctx ctx, unsigned int n, const struct sc_rule *r,
		    uint32_t action, int nr, struct sc_error *err)
{
	struct scmp_arg_cmp cmp[SC_MAX_CONDS];
	unsigned int i;
	int rc;

	for (i = 0; i < r->ncond; i++) {
		cmp[i].arg = r->cond[i].arg;
		cmp[i].op = r->cond[i].op;
		cmp[i].datum_a = r->cond[i].a;
		cmp[i].datum_b = r->cond[i].b;
	}
	rc = seccomp_rule_add_array(ctx, action, nr, r->ncond, cmp);
	if (rc == 0)
		return 0;
	if (rc == -EEXIST)
		return sc_fail(err, "policy.rules[%u] (%s): conflicts with an earlier rule for the "
			       "same syscall with another action (one filter holds one unconditional "
			       "action per syscall; stack filters to layer decisions)",
			       n, r->name ? r->name : "raw number");
	if (r->name)
		return sc_fail(err, "policy.rules[%u] (%s): seccomp_rule_add: %s", n, r->name,
			       strerror(-rc));
	return sc_fail(err, "policy.rules[%u] (syscall %d): seccomp_rule_add: %s", n, r->nr,
		       strerror(-rc));
}

/* action_used() - does any action of @p equal @a? */
static int action_used(const struct sc_policy *p, uint32_t a)
{
	unsigned int i;

	if (p->default_action == a || p->bad_arch_action == a)
		return 1;
	for (i = 0; i < p->nrule; i++)
		if (p->rules[i].action == a)
			return 1;
	return 0;
}

/* lib_action() - the action to hand libseccomp for @a (see struct sc_trap_fix) */
static int lib_action(const struct sc_policy *p, uint32_t a, struct sc_report *rep,
		      uint32_t *out, struct sc_error *err)
{
	uint32_t candidate = 0x7ff0ffffu;
	unsigned int i;

	*out = a;
	if ((a & 0xffff0000u) != 0x00030000u || a == 0x00030000u)
		return 0;
	for (i = 0; i < rep->ntrap; i++)
		if (rep->trap[i].real == a) {
			*out = rep->trap[i].placeholder;
			return 0;
		}
	if (rep->ntrap == SC_MAX_TRAPS)
		return sc_fail(err, "more than %d distinct TRAP data values", SC_MAX_TRAPS);
	for (;; candidate--) {
		int taken = action_used(p, candidate);

		for (i = 0; i < rep->ntrap && !taken; i++)
			taken = rep->trap[i].placeholder == candidate;
		if (!taken)
			break;
	}
	rep->trap[rep->ntrap].real = a;
	rep->trap[rep->ntrap].placeholder = candidate;
	rep->ntrap++;
	*out = candidate;
	return 0;
}

int build_filter(const struct sc_policy *p, scmp_filter_ctx *out, struct sc_report *rep,
		 struct sc_error *err)
{
	uint32_t def, badarch;
	uint32_t tokens[SC_MAX_ARCHES];
	scmp_filter_ctx ctx;
	unsigned int i;
	int rc;

	*out = NULL;
	if (lib_action(p, p->default_action, rep, &def, err) < 0 ||
	    lib_action(p, p->bad_arch_action, rep, &badarch, err) < 0)
		return -1;
	ctx = seccomp_init(def);
	if (!ctx)
		return sc_fail(err, "policy.default: libseccomp refused the default action 0x%08x",
			       p->default_action);
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch);
	if (rc < 0) {
		seccomp_release(ctx);
		return sc_fail(err, "policy.bad_arch: libseccomp refused the action 0x%08x: %s",
			       p->bad_arch_action, strerror(-rc));
	}
	if (setup_arches(ctx, p, tokens, err) < 0)
		goto fail;
	for (i = 0; i < p->nrule; i++) {
		const struct sc_rule *r = &p->rules[i];
		uint32_t action;
		int nr;

		/* libseccomp refuses a rule whose action is the default one (it
		 * would change nothing): skip it rather than fail. */
		if (r->action == p->default_action)
			continue;
		nr = resolve(r, p, tokens, rep, err);
		if (nr == -2)
			goto fail;
		if (nr == -1 && r->name)
			continue; /* reported in rep; the caller decides */
		if (lib_action(p, r->action, rep, &action, err) < 0 ||
		    add_rule(ctx, i, r, action, nr, err) < 0)
			goto fail;
	}
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

/* fix_traps() - rewrite RET K placeholders back to TRAP with data */
static void fix_traps(unsigned char *bpf, size_t len, const struct sc_report *rep)
{
	size_t off;
	unsigned int i;

	for (off = 0; off + 8 <= len; off += 8) {
		uint16_t code = (uint16_t)(bpf[off] | bpf[off + 1] << 8);
		uint32_t k = (uint32_t)bpf[off + 4] | (uint32_t)bpf[off + 5] << 8 |
			     (uint32_t)bpf[off + 6] << 16 | (uint32_t)bpf[off + 7] << 24;

		if (code != 0x06) /* BPF_RET | BPF_K */
			continue;
		for (i = 0; i < rep->ntrap; i++)
			if (k == rep->trap[i].placeholder) {
				k = rep->trap[i].real;
				bpf[off + 4] = (unsigned char)k;
				bpf[off + 5] = (unsigned char)(k >> 8);
				bpf[off + 6] = (unsigned char)(k >> 16);
				bpf[off + 7] = (unsigned char)(k >> 24);
				break;
			}
	}
}

int export_filter(scmp_filter_ctx ctx, const struct sc_report *rep, int pfc, char **out,
		  size_t *len, struct sc_error *err)
{
	struct stat st;
	char *buf;
	int fd, rc;

	*out = NULL;
	*len = 0;
	fd = memfd_create("linx_seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return sc_fail(err, "memfd_create: %s", strerror(errno));
	rc = pfc ? seccomp_export_pfc(ctx, fd) : seccomp_export_bpf(ctx, fd);
	if (rc < 0) {
		close(fd);
		return sc_fail(err, "%s: %s", pfc ? "seccomp_export_pfc" : "seccomp_export_bpf",
			       strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return sc_fail(err, "fstat on the export memfd: %s", strerror(errno));
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return sc_fail(err, "allocating %lld bytes for the export", (long long)st.st_size);
	}
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		close(fd);
		return sc_fail(err, "reading the export memfd: short read");
	}
	close(fd);
	if (!pfc)
		fix_traps((unsigned char *)buf, (size_t)st.st_size, rep);
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}
