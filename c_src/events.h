/*
 * events.h - the agent -> BEAM terms, encoded with ei and queued as frames.
 */
#ifndef LINX_EVENTS_H
#define LINX_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "framing.h"

#include <ei.h>

int ev_status(struct byteq *q, const char *what);
int ev_status_int(struct byteq *q, const char *what, long n);
int ev_error(struct byteq *q, int err, int stage);
int ev_fail(struct byteq *q, const struct linx_err *e);
int ev_malformed(struct byteq *q, const struct linx_err *e);
int ev_data(struct byteq *q, const char *tag, const void *buf, size_t len);
int ev_caps(struct byteq *q, const uint64_t masks[5]);
int ev_push(struct byteq *q, ei_x_buff *x);

#endif /* LINX_EVENTS_H */
