/*
 * term.h - ETF decode helpers over erl_interface (ei), with bounds checks
 * and a path for error messages ("opts.argv[2]: expected a binary, got an
 * integer"), and the compound terms shared by the request, the commands,
 * the notify replies and the echo (the bottom layer of the decoders).
 *
 *   term.c         the cursor: one ETF term at a time (td_*)
 *   term_decode.c  compound decoders: namespace lists, winsize, string
 *                  lists, paths, kept ETF bytes; error paths (path_fmt)
 *   term_encode.c  their encoders
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

/* ---- term_decode.c / term_encode.c: compound terms */

/* Longest path of a term in an error message ("opts.stdio[1].stdout") */
#define PATH_MAX_LEN 256

/**
 * struct linx_winsize - a terminal size, {rows, cols, xpix, ypix}
 */
struct linx_winsize {
	uint16_t rows, cols, xpix, ypix;
};

int decode_tagged(struct tdec *d, char *tag, int *arity, const char *path,
		  const char *what);
void path_fmt(char *p, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
char *padded_copy(const void *buf, size_t len);
int decode_ns_list(struct tdec *d, unsigned *mask, const char *path);
int decode_winsize(struct tdec *d, struct linx_winsize *ws,
		   const char *path);
int decode_etf(struct tdec *d, uint8_t **out, size_t *len,
	       const char *path);
void free_strv(char **v);
int decode_string_list(struct tdec *d, char ***out, size_t *count,
		       const char *path);
int decode_path(struct tdec *d, char **out, const char *path);

int encode_strv(ei_x_buff *x, char **v, size_t n);
int encode_winsize(ei_x_buff *x, const struct linx_winsize *ws);
int encode_ns_list(ei_x_buff *x, unsigned mask);
int encode_binary_or_nil(ei_x_buff *x, const char *s);

#endif /* LINX_TERM_H */
