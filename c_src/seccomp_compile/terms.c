/* terms.c - checked ETF decoding helpers (see terms.h). */
#include <stdlib.h>
#include <string.h>

#include <ei.h>

#include "terms.h"

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
