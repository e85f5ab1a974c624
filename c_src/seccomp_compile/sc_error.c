/* sc_error.c - building error messages (see sc_error.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sc_error.h"

int sc_fail(struct sc_error *err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(err->msg);
	err->msg = msg; /* NULL only when out of memory; reported as such */
	return -1;
}

void sc_error_clear(struct sc_error *err)
{
	free(err->msg);
	err->msg = NULL;
}
