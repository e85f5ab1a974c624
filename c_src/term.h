/*
 * term.h - ETF decode helpers over erl_interface (ei), with bounds checks
 * and a path for error messages ("opts.argv[2]: expected a binary, got an
 * integer").
 *
 * ei's decoders trust the buffer. Every helper here first checks that the
 * announced size of the next term fits in what is left, and the buffers
 * handed to them carry LINX_FRAME_PAD zero bytes after the end, so fixed
 * headers of a truncated term read zeros. Integers are accepted as
 * SMALL_INTEGER, INTEGER or SMALL/LARGE_BIG; a list of small integers may
 * be a STRING_EXT; atoms in any of the four atom encodings.
 */
#ifndef LINX_TERM_H
#define LINX_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "error.h"

/**
 * struct tdec - a cursor over one ETF term
 * @buf:	term bytes (version byte first), followed by zero padding
 * @idx:	ei index of the next term
 * @len:	length of @buf without the padding
 * @err:	where failures are recorded
 * @stage:	stage of a decode failure (malformed_request/_command)
 * @str_left:	elements left in the STRING_EXT being read as a list
 * @str_ptr:	next element of that string
 * @str_end:	index just after that string, or -1 when not in one
 * @nil_open:	the last list opened was [] (NIL_EXT, which has no tail of
 *		its own): the matching td_list_end() consumes nothing
 */
struct tdec {
	const char *buf;
	int idx;
	int len;
	struct linx_err *err;
	int stage;
	int str_left;
	const unsigned char *str_ptr;
	int str_end;
	bool nil_open;
};

#define TD_ATOM_MAX MAXATOMLEN_UTF8

int td_init(struct tdec *d, const char *buf, int len, struct linx_err *err,
	    int stage);
int td_end(struct tdec *d, const char *path);
int td_atom(struct tdec *d, char *out, const char *path);
int td_u64(struct tdec *d, uint64_t *out, const char *path);
int td_i64_bits(struct tdec *d, uint64_t *out, const char *path);
int td_uint_max(struct tdec *d, uint64_t lo, uint64_t hi, uint64_t *out,
		const char *path);
int td_bool(struct tdec *d, bool *out, const char *path);
int td_binary(struct tdec *d, uint8_t **out, size_t *len, const char *path);
int td_tuple(struct tdec *d, int *arity, const char *path);
int td_list(struct tdec *d, int *arity, const char *path);
int td_list_end(struct tdec *d, const char *path);
int td_map(struct tdec *d, int *arity, const char *path);
int td_is_atom(struct tdec *d);
int td_skip(struct tdec *d, const char *path);

#endif /* LINX_TERM_H */
