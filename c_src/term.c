/*
 * term.c - bounded ETF decode helpers (see term.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"

#define TD_MAX_DEPTH 64

/*
 * type_name() - how an ETF type is named in error messages
 */
static const char *type_name(int type)
{
	switch (type) {
	case ERL_SMALL_INTEGER_EXT:
	case ERL_INTEGER_EXT:
	case ERL_SMALL_BIG_EXT:
	case ERL_LARGE_BIG_EXT:
		return "an integer";
	case ERL_FLOAT_EXT:
	case NEW_FLOAT_EXT:
		return "a float";
	case ERL_ATOM_EXT:
	case ERL_SMALL_ATOM_EXT:
	case ERL_ATOM_UTF8_EXT:
	case ERL_SMALL_ATOM_UTF8_EXT:
		return "an atom";
	case ERL_SMALL_TUPLE_EXT:
	case ERL_LARGE_TUPLE_EXT:
		return "a tuple";
	case ERL_NIL_EXT:
	case ERL_LIST_EXT:
		return "a list";
	case ERL_STRING_EXT:
		return "a charlist";
	case ERL_BINARY_EXT:
		return "a binary";
	case ERL_BIT_BINARY_EXT:
		return "a bitstring";
	case ERL_MAP_EXT:
		return "a map";
	case ERL_PID_EXT:
	case ERL_NEW_PID_EXT:
		return "a pid";
	default:
		return "an unsupported term";
	}
}

static bool is_atom_type(int t)
{
	return t == ERL_ATOM_EXT || t == ERL_SMALL_ATOM_EXT ||
	       t == ERL_ATOM_UTF8_EXT || t == ERL_SMALL_ATOM_UTF8_EXT;
}

static bool is_int_type(int t)
{
	return t == ERL_SMALL_INTEGER_EXT || t == ERL_INTEGER_EXT ||
	       t == ERL_SMALL_BIG_EXT || t == ERL_LARGE_BIG_EXT;
}

/**
 * td_init() - start decoding a frame body
 * @d:		cursor to set up
 * @buf:	body, followed by LINX_FRAME_PAD zero bytes
 * @len:	body length
 * @err:	error sink
 * @stage:	stage reported for decode failures
 *
 * Return: 0, or -1 if the version byte is missing
 */
int td_init(struct tdec *d, const char *buf, int len, struct linx_err *err,
	    int stage)
{
	int version;

	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->len = len;
	d->err = err;
	d->stage = stage;
	d->str_end = -1;
	if (len < 1 || ei_decode_version(buf, &d->idx, &version))
		return linx_fail(err, EINVAL, stage,
				 "frame: not an external term (version byte)");
	return 0;
}

/*
 * td_peek() - type and size of the next term, checked against the buffer
 *
 * Inside a STRING_EXT read as a list, the next term is a small integer.
 * For variable-size terms the announced size must fit in what is left.
 */
static int td_peek(struct tdec *d, int *type, int *size, const char *path)
{
	if (d->str_end >= 0) {
		if (d->str_left <= 0)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: list ended early", path);
		*type = ERL_SMALL_INTEGER_EXT;
		*size = 1;
		return 0;
	}
	if (d->idx >= d->len ||
	    ei_get_type(d->buf, &d->idx, type, size) || *size < 0 ||
	    *size > d->len - d->idx)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: truncated term", path);
	return 0;
}

static int td_expected(struct tdec *d, int type, const char *what,
		       const char *path)
{
	return linx_fail(d->err, EINVAL, d->stage, "%s: expected %s, got %s",
			 path, what, type_name(type));
}

/* After an ei call: did it stay inside the buffer? */
static int td_check(struct tdec *d, int rc, const char *what,
		    const char *path)
{
	if (rc || d->idx > d->len)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: invalid %s", path, what);
	return 0;
}

/**
 * td_end() - require that the whole body was consumed
 * @d:		cursor
 * @path:	name of the term for the message
 *
 * Return: 0, or -1 if bytes follow the term
 */
int td_end(struct tdec *d, const char *path)
{
	if (d->idx != d->len)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: %d trailing bytes after the term", path,
				 d->len - d->idx);
	return 0;
}

/**
 * td_is_atom() - is the next term an atom? (no failure recorded)
 * @d:		cursor
 *
 * Return: 1 or 0
 */
int td_is_atom(struct tdec *d)
{
	int type, size;

	if (d->str_end >= 0 || d->idx >= d->len ||
	    ei_get_type(d->buf, &d->idx, &type, &size))
		return 0;
	return is_atom_type(type);
}

/**
 * td_atom() - decode an atom in any encoding
 * @d:		cursor
 * @out:	TD_ATOM_MAX bytes, receives the UTF-8 name
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int td_atom(struct tdec *d, char *out, const char *path)
{
	int type, size;

	if (td_peek(d, &type, &size, path))
		return -1;
	if (!is_atom_type(type))
		return td_expected(d, type, "an atom", path);
	return td_check(d, ei_decode_atom_as(d->buf, &d->idx, out,
					     TD_ATOM_MAX, ERLANG_UTF8, NULL,
					     NULL),
			"atom", path);
}

/**
 * td_u64() - decode a non-negative integer that fits in 64 bits
 * @d:		cursor
 * @out:	value
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int td_u64(struct tdec *d, uint64_t *out, const char *path)
{
	EI_ULONGLONG v;
	int type, size;

	if (td_peek(d, &type, &size, path))
		return -1;
	if (d->str_end >= 0) {
		*out = *d->str_ptr++;
		d->str_left--;
		return 0;
	}
	if (!is_int_type(type))
		return td_expected(d, type, "an integer", path);
	if (ei_decode_ulonglong(d->buf, &d->idx, &v) || d->idx > d->len)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected an unsigned 64-bit integer",
				 path);
	*out = v;
	return 0;
}

/**
 * td_i64_bits() - decode an integer in [-2^63, 2^64 - 1] as its 64 bits
 * @d:		cursor
 * @out:	the value, two's complement for a negative one
 * @path:	name of the term for messages
 *
 * For register-sized values (syscall arguments and return values) that
 * the BEAM may write signed (-100 for AT_FDCWD) or unsigned.
 *
 * Return: 0 or -1
 */
int td_i64_bits(struct tdec *d, uint64_t *out, const char *path)
{
	EI_LONGLONG v;
	int type, size, idx;

	if (td_peek(d, &type, &size, path))
		return -1;
	if (d->str_end >= 0 || !is_int_type(type))
		return td_u64(d, out, path);
	idx = d->idx;
	if (!ei_decode_longlong(d->buf, &idx, &v) && idx <= d->len) {
		d->idx = idx;
		*out = (uint64_t)v;
		return 0;
	}
	return td_u64(d, out, path);
}

/**
 * td_uint_max() - decode an integer within [lo, hi]
 * @d:		cursor
 * @lo:		smallest accepted
 * @hi:		largest accepted
 * @out:	value
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int td_uint_max(struct tdec *d, uint64_t lo, uint64_t hi, uint64_t *out,
		const char *path)
{
	if (td_u64(d, out, path))
		return -1;
	if (*out < lo || *out > hi)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: %llu out of range %llu..%llu", path,
				 (unsigned long long)*out,
				 (unsigned long long)lo,
				 (unsigned long long)hi);
	return 0;
}

/**
 * td_bool() - decode true or false
 * @d:		cursor
 * @out:	value
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int td_bool(struct tdec *d, bool *out, const char *path)
{
	char atom[TD_ATOM_MAX];

	if (td_atom(d, atom, path))
		return -1;
	if (!strcmp(atom, "true"))
		*out = true;
	else if (!strcmp(atom, "false"))
		*out = false;
	else
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected a boolean, got :%s", path, atom);
	return 0;
}

/**
 * td_binary() - decode a binary into a fresh NUL-terminated copy
 * @d:		cursor
 * @out:	malloc'ed copy (caller frees)
 * @len:	byte length (without the added NUL)
 * @path:	name of the term for messages
 *
 * Return: 0 or -1 (ENOMEM recorded as such)
 */
int td_binary(struct tdec *d, uint8_t **out, size_t *len, const char *path)
{
	int type, size;
	long l;
	uint8_t *b;

	if (td_peek(d, &type, &size, path))
		return -1;
	if (type != ERL_BINARY_EXT)
		return td_expected(d, type, "a binary", path);
	b = malloc((size_t)size + 1);
	if (!b)
		return linx_fail(d->err, ENOMEM, d->stage,
				 "%s: out of memory", path);
	if (ei_decode_binary(d->buf, &d->idx, b, &l) || d->idx > d->len) {
		free(b);
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: invalid binary", path);
	}
	b[l] = '\0';
	*out = b;
	*len = l;
	return 0;
}

/**
 * td_tuple() - decode a tuple header
 * @d:		cursor
 * @arity:	element count
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int td_tuple(struct tdec *d, int *arity, const char *path)
{
	int type, size;

	if (td_peek(d, &type, &size, path))
		return -1;
	if (type != ERL_SMALL_TUPLE_EXT && type != ERL_LARGE_TUPLE_EXT)
		return td_expected(d, type, "a tuple", path);
	return td_check(d, ei_decode_tuple_header(d->buf, &d->idx, arity),
			"tuple", path);
}

/**
 * td_list() - decode a list header; a STRING_EXT is read as a list of
 * small integers
 * @d:		cursor
 * @arity:	element count
 * @path:	name of the term for messages
 *
 * Return: 0 or -1. After the elements, call td_list_end().
 */
int td_list(struct tdec *d, int *arity, const char *path)
{
	int type, size;

	if (td_peek(d, &type, &size, path))
		return -1;
	if (type == ERL_STRING_EXT) {
		/* Elixir's term_to_binary encodes [1, 2, 3] like this */
		*arity = size;
		d->str_left = size;
		d->str_ptr = (const unsigned char *)d->buf + d->idx + 3;
		d->str_end = d->idx + 3 + size;
		if (d->str_end > d->len)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: truncated term", path);
		return 0;
	}
	if (type != ERL_LIST_EXT && type != ERL_NIL_EXT)
		return td_expected(d, type, "a list", path);
	d->nil_open = type == ERL_NIL_EXT;
	return td_check(d, ei_decode_list_header(d->buf, &d->idx, arity),
			"list", path);
}

/**
 * td_list_end() - consume the tail of a list: [] (improper lists refused)
 * @d:		cursor
 * @path:	name of the list for messages
 *
 * Return: 0 or -1
 */
int td_list_end(struct tdec *d, const char *path)
{
	int type, size, arity;

	if (d->str_end >= 0) {
		d->idx = d->str_end;
		d->str_end = -1;
		d->str_left = 0;
		return 0;
	}
	if (d->nil_open) {
		/* [] was the whole list: its header was its tail */
		d->nil_open = false;
		return 0;
	}
	if (td_peek(d, &type, &size, path))
		return -1;
	if (type != ERL_NIL_EXT ||
	    ei_decode_list_header(d->buf, &d->idx, &arity) || arity)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: expected a proper list", path);
	return 0;
}

/**
 * td_map() - decode a map header
 * @d:		cursor
 * @arity:	number of key/value pairs
 * @path:	name of the term for messages
 *
 * Return: 0 or -1
 */
int td_map(struct tdec *d, int *arity, const char *path)
{
	int type, size;

	if (td_peek(d, &type, &size, path))
		return -1;
	if (type != ERL_MAP_EXT)
		return td_expected(d, type, "a map", path);
	return td_check(d, ei_decode_map_header(d->buf, &d->idx, arity),
			"map", path);
}

/*
 * td_skip_ident() - skip a pid, port, reference or fun by its documented
 * layout (external term format), checking every length against the buffer:
 * ei would trust the lengths inside them.
 */
static int td_skip_depth(struct tdec *d, const char *path, int depth);
static int td_skip_ident(struct tdec *d, int type, const char *path,
			 int depth)
{
	const unsigned char *b = (const unsigned char *)d->buf;
	unsigned long n;
	int i;

	/* ei_get_type folds NEW_PID into PID etc.: use the tag itself */
	type = b[d->idx];
	switch (type) {
	case ERL_NEW_FUN_EXT:
		/* Size counts itself and what follows, not the tag */
		n = (unsigned long)b[d->idx + 1] << 24 | b[d->idx + 2] << 16 |
		    b[d->idx + 3] << 8 | b[d->idx + 4];
		if (n < 4 || n > (unsigned long)(d->len - d->idx - 1))
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: truncated term", path);
		d->idx += 1 + n;
		return 0;
	case ERL_EXPORT_EXT:
		d->idx += 1;
		for (i = 0; i < 3; i++)	/* module, function, arity */
			if (td_skip_depth(d, path, depth + 1))
				return -1;
		return 0;
	case ERL_NEW_REFERENCE_EXT:
	case ERL_NEWER_REFERENCE_EXT:
		n = b[d->idx + 1] << 8 | b[d->idx + 2];	/* id words */
		d->idx += 3;
		if (td_skip_depth(d, path, depth + 1))	/* node atom */
			return -1;
		d->idx += (type == ERL_NEW_REFERENCE_EXT ? 1 : 4) + 4 * n;
		break;
	default:
		d->idx += 1;
		if (td_skip_depth(d, path, depth + 1))	/* node atom */
			return -1;
		d->idx += type == ERL_PID_EXT ? 9 :
			  type == ERL_NEW_PID_EXT ? 12 :
			  type == ERL_PORT_EXT ? 5 :
			  type == ERL_NEW_PORT_EXT ? 8 : 12;
		break;
	}
	if (d->idx > d->len)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: truncated term", path);
	return 0;
}

static int td_skip_depth(struct tdec *d, const char *path, int depth)
{
	int type, size, arity, i, rc;

	if (depth > TD_MAX_DEPTH)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: nested too deeply", path);
	if (td_peek(d, &type, &size, path))
		return -1;
	if (d->str_end >= 0) {
		d->str_ptr++;
		d->str_left--;
		return 0;
	}

	switch (type) {
	case ERL_SMALL_TUPLE_EXT:
	case ERL_LARGE_TUPLE_EXT:
		if (td_tuple(d, &arity, path))
			return -1;
		for (i = 0; i < arity; i++)
			if (td_skip_depth(d, path, depth + 1))
				return -1;
		return 0;
	case ERL_LIST_EXT:
		if (td_check(d, ei_decode_list_header(d->buf, &d->idx, &arity),
			     "list", path))
			return -1;
		for (i = 0; i < arity; i++)
			if (td_skip_depth(d, path, depth + 1))
				return -1;
		/* the tail, proper or not */
		return td_skip_depth(d, path, depth + 1);
	case ERL_MAP_EXT:
		if (td_map(d, &arity, path))
			return -1;
		for (i = 0; i < 2 * arity; i++)
			if (td_skip_depth(d, path, depth + 1))
				return -1;
		return 0;
	case ERL_SMALL_INTEGER_EXT:
	case ERL_INTEGER_EXT:
	case ERL_SMALL_BIG_EXT:
	case ERL_LARGE_BIG_EXT:
	case ERL_FLOAT_EXT:
	case NEW_FLOAT_EXT:
	case ERL_ATOM_EXT:
	case ERL_SMALL_ATOM_EXT:
	case ERL_ATOM_UTF8_EXT:
	case ERL_SMALL_ATOM_UTF8_EXT:
	case ERL_NIL_EXT:
	case ERL_STRING_EXT:
	case ERL_BINARY_EXT:
	case ERL_BIT_BINARY_EXT:
		/* leaves whose size td_peek checked against the buffer */
		rc = ei_skip_term(d->buf, &d->idx);
		return td_check(d, rc, "term", path);
	case ERL_PID_EXT:
	case ERL_NEW_PID_EXT:
	case ERL_PORT_EXT:
	case ERL_NEW_PORT_EXT:
	case ERL_V4_PORT_EXT:
	case ERL_NEW_REFERENCE_EXT:
	case ERL_NEWER_REFERENCE_EXT:
	case ERL_NEW_FUN_EXT:
	case ERL_EXPORT_EXT:
		return td_skip_ident(d, type, path, depth);
	default:
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unsupported term type %d", path, type);
	}
}

/**
 * td_skip() - skip one term of any supported type, bounds checked
 * @d:		cursor
 * @path:	name of the term for messages
 *
 * Pids, ports, references and funs are skipped by their layout (ei
 * cannot skip them safely without knowing the buffer length).
 *
 * Return: 0 or -1
 */
int td_skip(struct tdec *d, const char *path)
{
	return td_skip_depth(d, path, 0);
}
