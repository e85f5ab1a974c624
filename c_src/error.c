/*
 * error.c - filling struct linx_err, naming stages.
 */
#include <stdarg.h>
#include <stdio.h>

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
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
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
