/*
 * notify_prog_eval.c - run a compiled notify program: nprog_eval()
 * decides one notification (see notify_prog.h; the format is
 * docs/notify.md, "The program format").
 *
 * It runs only what nprog_decode() (notify_prog.c) accepted, so it needs
 * no checks of its own beyond the reader's (kept anyway: cheap, and a
 * second line of defence). No I/O, no allocation.
 *
 * The semantics mirror Linx.Seccomp.Notify.Match exactly; the
 * differential test (test/linx/seccomp/notify_program_test.exs) decides
 * thousands of random rule lists both ways.
 */
#define _GNU_SOURCE
#include <string.h>

#include "notify_prog.h"
#include "notify_prog_fmt.h"

/*
 * The value an integer test sees: @v compared (sign-extended for :int),
 * @bits masked (the low word for :int)
 */
struct ival {
	uint64_t v, bits;
	bool is_signed;
};

static bool cmp_i(unsigned op, const struct ival *a, uint64_t x)
{
	bool lt = a->is_signed ? (int64_t)a->v < (int64_t)x : a->v < x;
	bool eq = a->v == x;

	switch (op) {
	case CMP_EQ: return eq;
	case CMP_NE: return !eq;
	case CMP_LT: return lt;
	case CMP_LE: return lt || eq;
	case CMP_GT: return !lt && !eq;
	default: return !lt;	/* CMP_GE */
	}
}

static bool eval_itest(struct rd *r, const struct ival *a)
{
	unsigned kind = rd_u8(r), n, op;
	uint64_t m, x;
	bool hit = false;

	switch (kind) {
	case IT_EQ:
		return a->v == rd_le(r, 8);
	case IT_IN:
		n = rd_u16(r);
		while (n--)
			hit |= a->v == rd_le(r, 8);
		return hit;
	case IT_CMP:
		op = rd_u8(r);
		return cmp_i(op, a, rd_le(r, 8));
	case IT_MASK:
		m = rd_le(r, 8);
		x = rd_le(r, 8);
		return (a->bits & m) == x;
	default:		/* IT_ANY */
		return (a->bits & rd_le(r, 8)) != 0;
	}
}

struct str {
	const uint8_t *s;
	size_t len;
	const uint8_t *t;	/* the test's operand */
	size_t tlen;
};

static void rd_str(struct rd *r, struct str *x)
{
	x->tlen = rd_u16(r);
	if (!rd_take(r, x->tlen, &x->t))
		x->tlen = 0;
}

/*
 * normalise() - Rules.normalize_path/1: drop "." and empty segments, ".."
 * removes the segment before it (never above /), no trailing slash
 *
 * Return: the length written to @out (>= 1, "/" alone for the root)
 */
static size_t normalise(const uint8_t *s, size_t len, uint8_t *out)
{
	size_t olen = 1, i = 0, j, n;

	out[0] = '/';
	while (i < len) {
		while (i < len && s[i] == '/')
			i++;
		for (j = i; j < len && s[j] != '/'; j++)
			;
		n = j - i;
		if (!n || (n == 1 && s[i] == '.')) {
			/* nothing */
		} else if (n == 2 && s[i] == '.' && s[i + 1] == '.') {
			while (olen > 1 && out[olen - 1] != '/')
				olen--;
			if (olen > 1)
				olen--;	/* the '/' before it */
		} else {
			if (olen > 1)
				out[olen++] = '/';
			memcpy(out + olen, s + i, n);
			olen += n;
		}
		i = j;
	}
	return olen;
}

static bool under(const struct str *x)
{
	uint8_t path[PATH_BUF];
	size_t plen;

	if (!x->len || x->s[0] != '/' || x->len > PATH_BUF - 2)
		return false;
	if (x->tlen == 1)
		return true;	/* under "/" */
	plen = normalise(x->s, x->len, path);
	if (plen < x->tlen || memcmp(path, x->t, x->tlen))
		return false;
	return plen == x->tlen || path[x->tlen] == '/';
}

static bool str_is(const struct str *x)
{
	return x->len == x->tlen && !memcmp(x->s, x->t, x->len);
}

/*
 * eval_stest() - a string test on @s (@len bytes); a string cut at the
 * read limit (!@complete) passes only a prefix test
 */
static bool eval_stest(struct rd *r, const uint8_t *s, size_t len,
		       bool complete)
{
	struct str x = { .s = s, .len = len };
	unsigned kind = rd_u8(r), n;
	bool hit = false;

	if (kind == ST_IN) {
		n = rd_u16(r);
		while (n--) {
			rd_str(r, &x);
			hit |= str_is(&x);
		}
		return hit && complete;
	}
	rd_str(r, &x);
	if (kind == ST_PREFIX)
		return len >= x.tlen && !memcmp(s, x.t, x.tlen);
	if (!complete)
		return false;
	switch (kind) {
	case ST_EQ:
		return str_is(&x);
	case ST_SUFFIX:
		return len >= x.tlen && !memcmp(s + len - x.tlen, x.t, x.tlen);
	case ST_CONTAINS:
		return memmem(s, len, x.t, x.tlen) != NULL;
	default:		/* ST_UNDER */
		return under(&x);
	}
}

/* A parsed struct sockaddr (Match.sockaddr/1) */
struct sa {
	bool ok;
	unsigned family;
	const uint8_t *path;	/* AF_UNIX */
	size_t path_len;
	bool has_port;		/* AF_INET, AF_INET6 */
	unsigned port;
	const uint8_t *addr;
	size_t addr_len;
};

static void parse_sa(const struct nprog_mem *m, struct sa *sa)
{
	const uint8_t *d = m->data, *nul;

	memset(sa, 0, sizeof(*sa));
	if (!m->present || m->err || m->len < 2)
		return;
	sa->ok = true;
	sa->family = d[0] | d[1] << 8;
	if (sa->family == 1) {
		sa->path = d + 2;
		sa->path_len = m->len - 2;
		/* an abstract name (leading NUL) is every byte */
		if (sa->path_len && sa->path[0])
			if ((nul = memchr(sa->path, 0, sa->path_len)))
				sa->path_len = nul - sa->path;
	} else if (sa->family == 2 && m->len >= 8) {
		sa->has_port = true;
		sa->port = d[2] << 8 | d[3];
		sa->addr = d + 4;
		sa->addr_len = 4;
	} else if (sa->family == 10 && m->len >= 24) {
		sa->has_port = true;
		sa->port = d[2] << 8 | d[3];
		sa->addr = d + 8;
		sa->addr_len = 16;
	}
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, whole))
		return false;
	if (!rest)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

static bool eval_cidrs(struct rd *r, const struct sa *sa)
{
	unsigned n = rd_u8(r), fam, bits;
	const uint8_t *net;
	bool hit = false;

	while (n--) {
		fam = rd_u8(r);
		bits = rd_u8(r);
		if (!rd_take(r, 16, &net))
			return false;
		if (sa->addr && fam == sa->family &&
		    prefix_eq(sa->addr, net, bits))
			hit = true;
	}
	return hit;
}

struct ctx {
	const uint64_t *args;
	const struct nprog_mem *mem;
};

static bool eval_pred(struct rd *r, const struct ctx *c);

static bool eval_string(struct rd *r, const struct nprog_mem *m)
{
	const uint8_t *nul;
	size_t len;
	bool complete;

	if (!m->present || m->err) {
		eval_stest(r, (const uint8_t *)"", 0, false);
		return false;
	}
	len = m->len;
	nul = len ? memchr(m->data, 0, len) : NULL;
	complete = nul || len < NPROG_CSTRING_MAX;
	if (nul)
		len = nul - m->data;
	return eval_stest(r, len ? m->data : (const uint8_t *)"", len,
			  complete);
}

static bool eval_sa(struct rd *r, unsigned op, const struct nprog_mem *m)
{
	struct sa sa;
	struct ival port;
	unsigned fam;
	bool hit;

	parse_sa(m, &sa);
	switch (op) {
	case OP_SA_FAMILY:
		fam = rd_u16(r);
		return sa.ok && sa.family == fam;
	case OP_SA_PATH:
		hit = eval_stest(r, sa.path ? sa.path : (const uint8_t *)"",
				 sa.path_len, true);
		return sa.ok && sa.path && hit;
	case OP_SA_PORT:
		port = (struct ival){ sa.port, sa.port, false };
		hit = eval_itest(r, &port);
		return sa.ok && sa.has_port && hit;
	default:		/* OP_SA_ADDR */
		return eval_cidrs(r, &sa) && sa.ok;
	}
}

/*
 * eval_pred() - one predicate; every operand is consumed, whatever the
 * outcome, so the reader stays in step (no short-circuit)
 */
static bool eval_pred(struct rd *r, const struct ctx *c)
{
	unsigned op = rd_u8(r), n, i = 0, modes;
	uint64_t a, m;
	struct ival v;
	bool all = true, any = false, hit;

	switch (op) {
	case OP_TRUE:
		return true;
	case OP_AND:
	case OP_OR:
		n = rd_u8(r);
		while (n--) {
			hit = eval_pred(r, c);
			all &= hit;
			any |= hit;
		}
		return op == OP_AND ? all : any;
	case OP_NOT:
		return !eval_pred(r, c);
	default:
		break;
	}
	i = rd_u8(r);
	if (i > 5)
		i = 0;	/* refused by the decoder */
	a = c->args[i];
	switch (op) {
	case OP_ARG:
		v = (struct ival){ a, a, false };
		return eval_itest(r, &v);
	case OP_INT:
		v = (struct ival){ (uint64_t)(int64_t)(int32_t)(uint32_t)a,
				   a & 0xffffffffu, true };
		return eval_itest(r, &v);
	case OP_STR:
		return eval_string(r, &c->mem[i]);
	case OP_OPEN_ACCESS:
		modes = rd_u8(r);
		return (modes >> (a & 3)) & 1;
	case OP_OPEN_MASK:
		m = rd_le(r, 4);
		return ((a & 0xffffffffu) & m) == rd_le(r, 4);
	case OP_OPEN_ANY:
		return ((a & 0xffffffffu) & rd_le(r, 4)) != 0;
	default:
		return eval_sa(r, op, &c->mem[i]);
	}
}

/*
 * take_action() - fill @d from the action at the reader
 */
static void take_action(struct rd *r, const uint64_t args[6],
			struct nprog_decision *d)
{
	struct nprog_step *st;
	unsigned n, i, op, arg;
	uint64_t off;

	d->nsteps = 0;
	d->beam = rd_u8(r) == ACT_BEAM;
	if (d->beam)
		return;
	n = rd_u8(r);
	for (i = 0; i < n && i < NPROG_MAX_STEPS; i++) {
		st = &d->steps[d->nsteps++];
		memset(st, 0, sizeof(*st));
		op = rd_u8(r);
		switch (op) {
		case SOP_CONTINUE:
			st->kind = NPSTEP_CONTINUE;
			break;
		case SOP_RETURN:
			st->kind = NPSTEP_RETURN;
			st->val = (int64_t)rd_le(r, 8);
			break;
		case SOP_ERRNO:
			st->kind = NPSTEP_ERRNO;
			st->err = (int)rd_u16(r);
			break;
		default:	/* SOP_WRITE_ARG, SOP_WRITE_ADDR */
			st->kind = NPSTEP_WRITE;
			if (op == SOP_WRITE_ARG) {
				arg = rd_u8(r);
				off = rd_le(r, 8);
				st->addr = args[arg > 5 ? 0 : arg] + off;
			} else {
				st->addr = rd_le(r, 8);
			}
			st->len = rd_le(r, 4);
			if (!rd_take(r, st->len, &st->data))
				st->len = 0;
			break;
		}
	}
	if (r->bad) {
		/* cannot happen after nprog_decode(): let the BEAM decide */
		d->beam = true;
		d->nsteps = 0;
	}
}

/**
 * nprog_eval() - decide one notification
 * @p:		a program nprog_decode() accepted
 * @nr:		the syscall number
 * @args:	its six arguments
 * @mem:	the declared reads, by argument index
 * @d:		the decision: the first block of @nr whose predicate holds,
 *		else the default action
 */
void nprog_eval(const struct nprog *p, uint32_t nr, const uint64_t args[6],
		const struct nprog_mem mem[6], struct nprog_decision *d)
{
	struct rd r = { .b = p->buf, .len = p->len, .pos = p->blocks };
	const struct ctx c = { .args = args, .mem = mem };
	bool hit;
	unsigned i;

	const uint8_t *skip;
	uint64_t body;

	for (i = 0; i < p->nblocks; i++) {
		hit = (uint32_t)rd_le(&r, 4) == nr;
		body = rd_le(&r, 4);
		if (!hit) {
			/* another syscall's block: step over it */
			if (!rd_take(&r, body, &skip))
				break;
			continue;
		}
		if (eval_pred(&r, &c)) {
			d->rule = (int)i;
			take_action(&r, args, d);
			return;
		}
		take_action(&r, args, d);	/* stepped over */
	}
	d->rule = -1;
	r.pos = p->deflt;
	take_action(&r, args, d);
}
