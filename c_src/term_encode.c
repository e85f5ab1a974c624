/*
 * term_encode.c - the compound terms of term_decode.c, encoded (the echo
 * of a request, the re-encode of a command; see term.h).
 */
#include <string.h>

#include "ns.h"
#include "term.h"

/**
 * encode_strv() - a list of binaries
 * @x:		buffer
 * @v:		strings
 * @n:		how many
 *
 * Return: 0 or -1
 */
int encode_strv(ei_x_buff *x, char **v, size_t n)
{
	size_t i;

	if (n && ei_x_encode_list_header(x, n))
		return -1;
	for (i = 0; i < n; i++)
		if (ei_x_encode_binary(x, v[i], strlen(v[i])))
			return -1;
	return ei_x_encode_empty_list(x);
}

/**
 * encode_winsize() - {rows, cols, xpix, ypix}
 * @x:		buffer
 * @ws:		size
 *
 * Return: 0 or -1
 */
int encode_winsize(ei_x_buff *x, const struct linx_winsize *ws)
{
	return ei_x_encode_tuple_header(x, 4) ||
	       ei_x_encode_ulong(x, ws->rows) ||
	       ei_x_encode_ulong(x, ws->cols) ||
	       ei_x_encode_ulong(x, ws->xpix) ||
	       ei_x_encode_ulong(x, ws->ypix) ? -1 : 0;
}

/**
 * encode_ns_list() - a namespace mask as a list of atoms, in wire order
 * @x:		buffer
 * @mask:	bit mask over enum ns_index
 *
 * Return: 0 or -1
 */
int encode_ns_list(ei_x_buff *x, unsigned mask)
{
	int n = 0, i;

	for (i = 0; i < NS_COUNT; i++)
		n += !!(mask & (1u << i));
	if (n && ei_x_encode_list_header(x, n))
		return -1;
	for (i = 0; i < NS_COUNT; i++)
		if ((mask & (1u << i)) && ei_x_encode_atom(x, ns_table[i].atom))
			return -1;
	return ei_x_encode_empty_list(x);
}

/**
 * encode_binary_or_nil() - a string as a binary, NULL as nil
 * @x:		buffer
 * @s:		string, or NULL
 *
 * Return: 0 or -1
 */
int encode_binary_or_nil(ei_x_buff *x, const char *s)
{
	return s ? ei_x_encode_binary(x, s, strlen(s)) :
		   ei_x_encode_atom(x, "nil");
}
