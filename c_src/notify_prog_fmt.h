/*
 * notify_prog_fmt.h - what the decoder (notify_prog.c) and the
 * interpreter (notify_prog_eval.c) of a compiled notify program share:
 * the opcodes of the format (docs/notify.md, "The program format"), its
 * limits, and the bounds-checked little-endian reader both walk it with.
 *
 * PRIVATE to those two files; the API is notify_prog.h.
 */
#ifndef LINX_NOTIFY_PROG_FMT_H
#define LINX_NOTIFY_PROG_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes of predicates */
enum {
	OP_TRUE = 0x01,
	OP_AND = 0x02,
	OP_OR = 0x03,
	OP_NOT = 0x04,
	OP_ARG = 0x10,
	OP_INT = 0x11,
	OP_STR = 0x12,
	OP_SA_FAMILY = 0x13,
	OP_SA_PATH = 0x14,
	OP_SA_PORT = 0x15,
	OP_SA_ADDR = 0x16,
	OP_OPEN_ACCESS = 0x17,
	OP_OPEN_MASK = 0x18,
	OP_OPEN_ANY = 0x19,
};

/* Integer tests */
enum { IT_EQ = 1, IT_IN, IT_CMP, IT_MASK, IT_ANY };
/* Comparisons of IT_CMP */
enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
/* String tests */
enum { ST_EQ = 1, ST_PREFIX, ST_SUFFIX, ST_CONTAINS, ST_UNDER, ST_IN };
/* Actions and their steps */
enum { ACT_BEAM = 0, ACT_STEPS = 1 };
enum { SOP_CONTINUE = 1, SOP_RETURN, SOP_ERRNO, SOP_WRITE_ARG,
       SOP_WRITE_ADDR };

#define MAX_LIST 1024		/* IN lists */
#define MAX_CIDRS 64
#define PATH_BUF 8192		/* :under normalises at most this much */

/* ------------------------------------------------------------- reader */

/**
 * struct rd - a reader over a program
 * @b:		the bytes
 * @len:	their count
 * @pos:	the next byte to read
 * @bad:	a read went past the end (every later read fails too)
 */
struct rd {
	const uint8_t *b;
	size_t len, pos;
	bool bad;
};

static inline bool rd_take(struct rd *r, size_t n, const uint8_t **p)
{
	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		return false;
	}
	*p = r->b + r->pos;
	r->pos += n;
	return true;
}

/* @n bytes (1..8) as a little-endian number */
static inline uint64_t rd_le(struct rd *r, size_t n)
{
	const uint8_t *p;
	uint64_t v = 0;
	size_t i;

	if (n > 8 || !rd_take(r, n, &p))
		return 0;
	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline unsigned rd_u8(struct rd *r)
{
	return (unsigned)rd_le(r, 1);
}

static inline unsigned rd_u16(struct rd *r)
{
	return (unsigned)rd_le(r, 2);
}

#endif
