/*
 * error.c - filling struct linx_err, naming stages.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

#define LINX_STAGE_NAME(id, name) [STAGE_##id] = name,
static const char *const stage_names[STAGE_COUNT] = {
	LINX_STAGES(LINX_STAGE_NAME)
};
#undef LINX_STAGE_NAME

/**
 * linx_fail() - record a failure
 * @e:		error to fill (may be NULL: the failure is only returned)
 * @err:	errno value
 * @stage:	enum linx_stage
 * @fmt:	printf format for the message
 *
 * Return: always -1, so a failure is one line: return linx_fail(...);
 */
int linx_fail(struct linx_err *e, int err, int stage, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->err = err;
	e->stage = stage;
	va_start(ap, fmt);
	linx_vfmt(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/**
 * linx_vfmt() - vsnprintf that says when it cut
 * @buf:	destination
 * @n:		its size (larger than LINX_ERR_CUT_MARK)
 * @fmt:	printf format
 * @ap:		its arguments
 *
 * Text that does not fit ends with LINX_ERR_CUT_MARK in place of its
 * last bytes, so a reader knows there was more (docs/protocol.md).
 * Async-signal-safe enough for the child: no allocation.
 */
void linx_vfmt(char *buf, size_t n, const char *fmt, va_list ap)
{
	static const char mark[] = LINX_ERR_CUT_MARK;
	int len;

	if (!n)
		return;
	len = vsnprintf(buf, n, fmt, ap);
	if (len < 0)
		buf[0] = '\0';
	else if ((size_t)len >= n && n > sizeof(mark))
		memcpy(buf + n - sizeof(mark), mark, sizeof(mark));
}

/**
 * linx_stage_name() - the atom for a stage
 * @stage:	enum linx_stage
 *
 * Return: the atom text; "none" for an out-of-range value
 */
const char *linx_stage_name(int stage)
{
	if (stage < 0 || stage >= STAGE_COUNT || !stage_names[stage])
		return "none";
	return stage_names[stage];
}
