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
#include "usage.h"

#include <ei.h>

int ev_status(struct byteq *q, const char *what);
int ev_status_int(struct byteq *q, const char *what, long n);
int ev_cgroup(struct byteq *q, const char *what, int err);
int ev_usage(struct byteq *q, const struct group_usage *u);
int ev_error(struct byteq *q, int err, int stage);
int ev_error_cmd(struct byteq *q, int err, int stage, const char *command,
		 const char *text);
int ev_fail(struct byteq *q, const struct linx_err *e);
int ev_malformed(struct byteq *q, const struct linx_err *e);
int ev_data(struct byteq *q, const char *tag, const void *buf, size_t len);
int ev_stdin_ack(struct byteq *q, uint64_t bytes);
int ev_caps(struct byteq *q, const uint64_t masks[5]);
int ev_push(struct byteq *q, ei_x_buff *x);

/**
 * struct ev_mem - one declared read of a notification
 * @data:	bytes read (when @err is 0)
 * @len:	their count
 * @arg:	argument index
 * @err:	errno of a failed read, else 0
 */
struct ev_mem {
	const uint8_t *data;
	size_t len;
	int arg;
	int err;
};

int ev_notify(struct byteq *q, uint64_t id, pid_t pid, pid_t tid, int nr,
	      uint32_t arch, uint64_t ip, const uint64_t args[6],
	      const struct ev_mem *mem, size_t nmem);
int ev_notify_failed(struct byteq *q, uint64_t id, int step, int err);
int ev_notified(struct byteq *q, int nr, pid_t pid, const char *action,
		int64_t value);
int ev_notify_answer(struct byteq *q, const char *tag, const uint8_t *ref,
		     size_t ref_len, const void *data, size_t len, int err);

#endif /* LINX_EVENTS_H */
