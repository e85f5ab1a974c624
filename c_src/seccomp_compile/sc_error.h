/* sc_error.h - one error pattern for linx_seccomp.
 *
 * Every fallible function returns int (0 or -1) and fills a struct sc_error
 * with a message naming what was being done. The message becomes the
 * binary of an {:error, what} frame at the protocol boundary, uncut.
 */
#ifndef LINX_SC_ERROR_H
#define LINX_SC_ERROR_H

struct sc_error {
	char *msg; /* malloc'd, NULL when no error */
};

/**
 * sc_fail() - record an error message (printf-style), replacing any earlier
 * @err:	error to fill
 * @fmt:	format
 *
 * Return: -1, so callers can write `return sc_fail(err, "...")`.
 */
int sc_fail(struct sc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * sc_error_clear() - free the message and reset @err
 * @err:	error to reset
 */
void sc_error_clear(struct sc_error *err);

#endif
