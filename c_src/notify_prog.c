/*
 * notify_prog.c - decode (strictly) a compiled notify program before it
 * may run (see notify_prog.h; the format is docs/notify.md, "The program
 * format"; the interpreter is notify_prog_eval.c).
 *
 * The decoder walks every byte once: every count, length, index, opcode
 * and nesting depth is checked, and a program that ends early or has
 * bytes left over is refused. nprog_eval() then runs only what the
 * decoder accepted.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "notify_prog.h"
#include "notify_prog_fmt.h"

/* ------------------------------------------------------------ decoder */

/*
 * check_str() - u16 length (<= NPROG_CSTRING_MAX) and the bytes;
 * @nonempty: a length of 0 is refused
 */
static bool check_str(struct rd *r, bool nonempty)
{
	const uint8_t *p;
	unsigned n = rd_u16(r);

	if (n > NPROG_CSTRING_MAX || (nonempty && !n))
		return false;
	return rd_take(r, n, &p);
}

static bool check_itest(struct rd *r)
{
	unsigned n;

	switch (rd_u8(r)) {
	case IT_EQ:
	case IT_ANY:
		rd_le(r, 8);
		return !r->bad;
	case IT_IN:
		n = rd_u16(r);
		if (!n || n > MAX_LIST)
			return false;
		while (n--)
			rd_le(r, 8);
		return !r->bad;
	case IT_CMP:
		if (rd_u8(r) > CMP_GE)
			return false;
		rd_le(r, 8);
		return !r->bad;
	case IT_MASK:
		rd_le(r, 8);	/* mask */
		rd_le(r, 8);	/* value */
		return !r->bad;
	default:
		return false;
	}
}

static bool check_stest(struct rd *r)
{
	unsigned kind = rd_u8(r), n;

	switch (kind) {
	case ST_EQ:
	case ST_PREFIX:
	case ST_SUFFIX:
		return check_str(r, false);
	case ST_CONTAINS:
		return check_str(r, true);
	case ST_UNDER: {
		/* a normalised absolute directory: it starts with '/' */
		size_t at = r->pos + 2;

		if (!check_str(r, true))
			return false;
		return r->b[at] == '/';
	}
	case ST_IN:
		n = rd_u16(r);
		if (!n || n > MAX_LIST)
			return false;
		while (n--)
			if (!check_str(r, false))
				return false;
		return true;
	default:
		return false;
	}
}

static bool check_arg(struct rd *r)
{
	return rd_u8(r) <= 5 && !r->bad;
}

static bool check_cidrs(struct rd *r)
{
	unsigned n = rd_u8(r), fam, bits;
	const uint8_t *p;

	if (!n || n > MAX_CIDRS)
		return false;
	while (n--) {
		fam = rd_u8(r);
		bits = rd_u8(r);
		if (!rd_take(r, 16, &p))
			return false;
		if (!((fam == 2 && bits <= 32) || (fam == 10 && bits <= 128)))
			return false;
	}
	return true;
}

/*
 * check_pred() - one predicate expression, @depth levels deep
 */
static bool check_pred(struct rd *r, int depth)
{
	unsigned op = rd_u8(r), n;

	if (r->bad || depth > NPROG_MAX_DEPTH)
		return false;
	switch (op) {
	case OP_TRUE:
		return true;
	case OP_AND:
	case OP_OR:
		n = rd_u8(r);
		if (!n)
			return false;
		while (n--)
			if (!check_pred(r, depth + 1))
				return false;
		return true;
	case OP_NOT:
		return check_pred(r, depth + 1);
	case OP_ARG:
	case OP_INT:
	case OP_SA_PORT:
		return check_arg(r) && check_itest(r);
	case OP_STR:
	case OP_SA_PATH:
		return check_arg(r) && check_stest(r);
	case OP_SA_FAMILY:
		if (!check_arg(r))
			return false;
		rd_u16(r);
		return !r->bad;
	case OP_SA_ADDR:
		return check_arg(r) && check_cidrs(r);
	case OP_OPEN_ACCESS:
		return check_arg(r) && rd_u8(r) <= 0xf && !r->bad;
	case OP_OPEN_MASK:
		if (!check_arg(r))
			return false;
		rd_le(r, 8);
		return !r->bad;
	case OP_OPEN_ANY:
		if (!check_arg(r))
			return false;
		rd_le(r, 4);
		return !r->bad;
	default:
		return false;
	}
}

/*
 * check_write() - the rest of a write step: u32 length (1..MAX_LEN) and
 * the bytes
 */
static bool check_write(struct rd *r)
{
	const uint8_t *p;
	uint64_t n = rd_le(r, 4);

	return n && n <= NPROG_MAX_LEN && rd_take(r, n, &p);
}

/*
 * check_action() - BEAM, or 1..NPROG_MAX_STEPS steps of which only the
 * last answers
 */
static bool check_action(struct rd *r)
{
	unsigned kind = rd_u8(r), n, i, op;
	uint64_t e;

	if (kind == ACT_BEAM)
		return !r->bad;
	if (kind != ACT_STEPS)
		return false;
	n = rd_u8(r);
	if (!n || n > NPROG_MAX_STEPS)
		return false;
	for (i = 0; i < n; i++) {
		op = rd_u8(r);
		if ((i + 1 < n) != (op == SOP_WRITE_ARG || op == SOP_WRITE_ADDR))
			return false;	/* writes first, one response last */
		switch (op) {
		case SOP_CONTINUE:
			break;
		case SOP_RETURN:
			rd_le(r, 8);
			break;
		case SOP_ERRNO:
			e = rd_u16(r);
			if (!e || e > 4095)
				return false;
			break;
		case SOP_WRITE_ARG:
			if (!check_arg(r))
				return false;
			rd_le(r, 8);
			if (!check_write(r))
				return false;
			break;
		case SOP_WRITE_ADDR:
			if (!rd_le(r, 8))
				return false;
			if (!check_write(r))
				return false;
			break;
		default:
			return false;
		}
		if (r->bad)
			return false;
	}
	return true;
}

static int refuse(char *why, size_t why_len, const char *what, size_t at)
{
	if (why && why_len)
		snprintf(why, why_len, "notify program: %s at byte %zu", what,
			 at);
	return -1;
}

/**
 * nprog_decode() - validate a whole program before it may run
 * @buf:	the program (kept: @p points into it)
 * @len:	its length
 * @p:		filled in on success
 * @why:	on failure, what was wrong and where (may be NULL)
 * @why_len:	its size
 *
 * Return: 0, or -1 (nothing of @buf may be run)
 */
int nprog_decode(const uint8_t *buf, size_t len, struct nprog *p,
		 char *why, size_t why_len)
{
	struct rd r = { .b = buf, .len = len };
	const uint8_t *magic;
	unsigned i, nblocks, version, flags;
	size_t at, start;
	uint64_t body;

	if (!buf || len > NPROG_MAX_LEN)
		return refuse(why, why_len, "longer than 1 MiB", 0);
	if (!rd_take(&r, 4, &magic) || memcmp(magic, "LXNP", 4))
		return refuse(why, why_len, "bad magic (expected LXNP)", 0);
	version = rd_u8(&r);
	flags = rd_u8(&r);
	if (version != 1 || flags != 0)
		return refuse(why, why_len, "unknown version or flags", 4);
	nblocks = rd_u16(&r);
	p->deflt = r.pos;
	if (!check_action(&r))
		return refuse(why, why_len, "bad default action", p->deflt);
	p->blocks = r.pos;
	for (i = 0; i < nblocks; i++) {
		at = r.pos;
		rd_le(&r, 4);
		body = rd_le(&r, 4);
		start = r.pos;
		if (r.bad || !check_pred(&r, 0))
			return refuse(why, why_len, "bad predicate", at);
		if (!check_action(&r))
			return refuse(why, why_len, "bad action", at);
		if (r.pos - start != body)
			return refuse(why, why_len, "bad block length", at);
	}
	if (r.bad || r.pos != len)
		return refuse(why, why_len, "trailing or missing bytes", r.pos);
	p->buf = buf;
	p->len = len;
	p->nblocks = nblocks;
	return 0;
}
