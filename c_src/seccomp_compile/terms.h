/* terms.h - checked ETF decoding helpers over ei.
 *
 * Every helper takes a `what` describing where in the request the term
 * sits ("policy.rules[2].conds[0]") so a malformed frame is answered with a
 * message naming the offending place, never a crash.
 */
#ifndef LINX_SC_TERMS_H
#define LINX_SC_TERMS_H

#include <stddef.h>
#include <stdint.h>

#include "sc_error.h"

/**
 * term_check() - walk a whole external-format frame within its bounds
 * @buf:	frame (starting with the version byte)
 * @len:	its length
 * @err:	names the problem and its byte offset
 *
 * ei's decoders trust the lengths inside the term and do not know the
 * buffer's end, so a truncated or lying frame would make them read past
 * it. Every frame is walked here first: each length must fit in the frame,
 * nesting is at most 64 deep, only plain data types are accepted (no pids,
 * refs, funs or compressed terms), and the term must end exactly at @len.
 *
 * Return: 0 or -1.
 */
int term_check(const char *buf, size_t len, struct sc_error *err);

/* tuple header with exactly @arity elements */
int term_tuple(const char *buf, int *idx, int arity, const char *what, struct sc_error *err);
/* proper-list header; *len elements follow (then call term_list_end if *len > 0) */
int term_list(const char *buf, int *idx, int *len, const char *what, struct sc_error *err);
/* the tail of a non-empty list must be [] */
int term_list_end(const char *buf, int *idx, const char *what, struct sc_error *err);
/* an atom into @out (at least 256 bytes) */
int term_atom(const char *buf, int *idx, char *out, const char *what, struct sc_error *err);
/* an integer in [0, max] */
int term_u64(const char *buf, int *idx, uint64_t max, uint64_t *out, const char *what,
	     struct sc_error *err);
/* a binary without NUL bytes, 1..4096 bytes, as a malloc'd C string */
int term_cstring(const char *buf, int *idx, char **out, const char *what, struct sc_error *err);
/* the ETF type tag of the next term, for dispatch */
int term_type(const char *buf, int idx);

#endif
