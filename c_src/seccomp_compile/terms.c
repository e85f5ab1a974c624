/* terms.c - checked ETF decoding helpers (see terms.h). */
#include <stdlib.h>
#include <string.h>

#include <ei.h>

#include "terms.h"

#define TERM_MAX_DEPTH 64

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* walk() - check the term at *pos; advance *pos past it */
static int walk(const unsigned char *b, size_t len, size_t *pos, int depth,
		struct sc_error *err)
{
	size_t at = *pos, need, count, i;

#define HAVE(n) ((n) <= len - *pos)
#define TRUNC() sc_fail(err, "request: term truncated at byte %zu", at)
	if (depth > TERM_MAX_DEPTH)
		return sc_fail(err, "request: terms nested deeper than %d at byte %zu",
			       TERM_MAX_DEPTH, at);
	if (!HAVE(1))
		return TRUNC();
	switch (b[(*pos)++]) {
	case ERL_SMALL_INTEGER_EXT:
		need = 1;
		break;
	case ERL_INTEGER_EXT:
		need = 4;
		break;
	case NEW_FLOAT_EXT:
		need = 8;
		break;
	case ERL_SMALL_BIG_EXT:
		if (!HAVE(1))
			return TRUNC();
		need = 2 + (size_t)b[*pos];
		break;
	case ERL_LARGE_BIG_EXT:
		if (!HAVE(4))
			return TRUNC();
		need = 5 + (size_t)be32(b + *pos);
		break;
	case ERL_ATOM_EXT:
	case ERL_ATOM_UTF8_EXT:
	case ERL_STRING_EXT:
		if (!HAVE(2))
			return TRUNC();
		need = 2 + ((size_t)b[*pos] << 8 | b[*pos + 1]);
		break;
	case ERL_SMALL_ATOM_EXT:
	case ERL_SMALL_ATOM_UTF8_EXT:
		if (!HAVE(1))
			return TRUNC();
		need = 1 + (size_t)b[*pos];
		break;
	case ERL_BINARY_EXT:
		if (!HAVE(4))
			return TRUNC();
		need = 4 + (size_t)be32(b + *pos);
		break;
	case ERL_BIT_BINARY_EXT:
		if (!HAVE(4))
			return TRUNC();
		need = 5 + (size_t)be32(b + *pos);
		break;
	case ERL_NIL_EXT:
		need = 0;
		break;
	case ERL_SMALL_TUPLE_EXT:
	case ERL_LARGE_TUPLE_EXT:
	case ERL_LIST_EXT:
	case ERL_MAP_EXT: {
		unsigned char tag = b[*pos - 1];
		size_t hdr = tag == ERL_SMALL_TUPLE_EXT ? 1 : 4;

		if (!HAVE(hdr))
			return TRUNC();
		count = hdr == 1 ? b[*pos] : be32(b + *pos);
		*pos += hdr;
		if (tag == ERL_MAP_EXT)
			count *= 2;
		else if (tag == ERL_LIST_EXT)
			count += 1; /* the tail */
		/* every element takes at least one byte */
		if (count > len - *pos)
			return TRUNC();
		for (i = 0; i < count; i++)
			if (walk(b, len, pos, depth + 1, err) < 0)
				return -1;
		return 0;
	}
	default:
		return sc_fail(err, "request: unsupported term type %u at byte %zu", b[*pos - 1], at);
	}
	if (!HAVE(need))
		return TRUNC();
	*pos += need;
	return 0;
#undef HAVE
#undef TRUNC
}

int term_check(const char *buf, size_t len, struct sc_error *err)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t pos = 1;

	if (len < 1 || b[0] != 131)
		return sc_fail(err, "request: not an external term (bad version byte)");
	if (walk(b, len, &pos, 0, err) < 0)
		return -1;
	if (pos != len)
		return sc_fail(err, "request: trailing bytes after the term");
	return 0;
}

int term_type(const char *buf, int idx)
{
	int type = 0, size = 0;

	if (ei_get_type(buf, &idx, &type, &size) < 0)
		return -1;
	return type;
}

int term_tuple(const char *buf, int *idx, int arity, const char *what, struct sc_error *err)
{
	int got = 0;

	if (ei_decode_tuple_header(buf, idx, &got) < 0)
		return sc_fail(err, "%s: expected a %d-tuple", what, arity);
	if (got != arity)
		return sc_fail(err, "%s: expected a %d-tuple, got a %d-tuple", what, arity, got);
	return 0;
}

int term_list(const char *buf, int *idx, int *len, const char *what, struct sc_error *err)
{
	if (ei_decode_list_header(buf, idx, len) < 0)
		return sc_fail(err, "%s: expected a list", what);
	return 0;
}

int term_list_end(const char *buf, int *idx, const char *what, struct sc_error *err)
{
	int len = -1;

	if (ei_decode_list_header(buf, idx, &len) < 0 || len != 0)
		return sc_fail(err, "%s: expected a proper list", what);
	return 0;
}

int term_atom(const char *buf, int *idx, char *out, const char *what, struct sc_error *err)
{
	if (ei_decode_atom_as(buf, idx, out, MAXATOMLEN_UTF8, ERLANG_UTF8, NULL, NULL) < 0)
		return sc_fail(err, "%s: expected an atom", what);
	return 0;
}

int term_u64(const char *buf, int *idx, uint64_t max, uint64_t *out, const char *what,
	     struct sc_error *err)
{
	int type = term_type(buf, *idx);
	unsigned long long v = 0;

	if (type != ERL_SMALL_INTEGER_EXT && type != ERL_INTEGER_EXT &&
	    type != ERL_SMALL_BIG_EXT && type != ERL_LARGE_BIG_EXT)
		return sc_fail(err, "%s: expected an integer", what);
	if (ei_decode_ulonglong(buf, idx, &v) < 0)
		return sc_fail(err, "%s: expected an integer in 0..%llu", what,
			       (unsigned long long)max);
	if (v > max)
		return sc_fail(err, "%s: %llu is out of range 0..%llu", what, v,
			       (unsigned long long)max);
	*out = v;
	return 0;
}

int term_cstring(const char *buf, int *idx, char **out, const char *what, struct sc_error *err)
{
	int type = 0, size = 0;
	long len = 0;
	char *s;

	if (ei_get_type(buf, idx, &type, &size) < 0 || type != ERL_BINARY_EXT)
		return sc_fail(err, "%s: expected a binary", what);
	if (size < 1 || size > 4096)
		return sc_fail(err, "%s: expected 1..4096 bytes, got %d", what, size);
	s = malloc((size_t)size + 1);
	if (!s)
		return sc_fail(err, "%s: out of memory", what);
	if (ei_decode_binary(buf, idx, s, &len) < 0) {
		free(s);
		return sc_fail(err, "%s: expected a binary", what);
	}
	s[len] = '\0';
	if (memchr(s, '\0', (size_t)len)) {
		free(s);
		return sc_fail(err, "%s: contains a NUL byte", what);
	}
	*out = s;
	return 0;
}
