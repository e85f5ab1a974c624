/*
 * events.c - encode each agent -> BEAM term of docs/protocol.md and queue
 * it on the output queue. Text goes as binaries, never cut.
 *
 * Every ei_x_* result is checked (they fail only when the buffer cannot
 * grow): a term that could not be built whole is dropped whole, never
 * queued truncated, and the function returns -1 with errno ENOMEM, as a
 * frame that could not be queued does. Callers that must not lose a
 * frame check it; the rest treat it as the lost frame it is.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <ei.h>

#include "events.h"

/**
 * ev_push() - queue an encoded term as one frame, then free the buffer
 * @q:		output queue
 * @x:		encoded term (version byte included)
 *
 * Return: 0, or -1 (ENOMEM)
 */
int ev_push(struct byteq *q, ei_x_buff *x)
{
	int rc = byteq_push_frame(q, x->buff, x->index);

	ei_x_free(x);
	return rc;
}

/*
 * ev_end() - queue the term, or drop it whole when an encode step failed
 * (@bad: the OR of their results)
 */
static int ev_end(struct byteq *q, ei_x_buff *x, int bad)
{
	if (bad) {
		ei_x_free(x);
		errno = ENOMEM;
		return -1;
	}
	return ev_push(q, x);
}

/*
 * ev_begin() - a new buffer with the version byte, the tuple header and
 * the tag; nothing to free on failure
 */
static int ev_begin(ei_x_buff *x, int arity, const char *tag)
{
	if (ei_x_new_with_version(x))
		return -1;
	if (ei_x_encode_tuple_header(x, arity) || ei_x_encode_atom(x, tag)) {
		ei_x_free(x);
		return -1;
	}
	return 0;
}

/**
 * ev_status() - {:status, what}
 * @q:		output queue
 * @what:	:running
 *
 * Return: 0 or -1
 */
int ev_status(struct byteq *q, const char *what)
{
	ei_x_buff x;

	if (ev_begin(&x, 2, "status"))
		return -1;
	return ev_end(q, &x, ei_x_encode_atom(&x, what));
}

/*
 * ev_status_like() - {tag, what, n}: the shape of :status and :cgroup
 */
static int ev_status_like(struct byteq *q, const char *tag, const char *what,
			  long n)
{
	ei_x_buff x;

	if (ev_begin(&x, 3, tag))
		return -1;
	return ev_end(q, &x, ei_x_encode_atom(&x, what) ||
			     ei_x_encode_long(&x, n));
}

/**
 * ev_status_int() - {:status, what, n}
 * @q:		output queue
 * @what:	:spawned, :ready, :aborted, :exited, :signaled
 * @n:		pid, exit code or signal
 *
 * Return: 0 or -1
 */
int ev_status_int(struct byteq *q, const char *what, long n)
{
	return ev_status_like(q, "status", what, n);
}

/**
 * ev_cgroup() - {:cgroup, what, errno}: the optional group the agent was
 * to make could not be made (:not_made); the workload runs without one
 * @q:		queue
 * @what:	"not_made"
 * @err:	errno value of the mkdir
 *
 * Return: 0 or -1 (ENOMEM)
 */
int ev_cgroup(struct byteq *q, const char *what, int err)
{
	return ev_status_like(q, "cgroup", what, err);
}

/*
 * put_usage() - one key of the usage map, when it was read
 */
static int put_usage(ei_x_buff *x, bool has, const char *key, uint64_t v)
{
	return has && (ei_x_encode_atom(x, key) ||
		       ei_x_encode_ulonglong(x, (unsigned long long)v));
}

/**
 * ev_usage() - {:usage, %{cpu_usec: n, user_usec: n, system_usec: n,
 * pids: n}}: the final usage of the group the agent made, each key only
 * when it could be read (usage.c)
 * @q:		queue
 * @u:		what was read
 *
 * Return: 0 or -1 (ENOMEM)
 */
int ev_usage(struct byteq *q, const struct group_usage *u)
{
	ei_x_buff x;
	int n = u->has_cpu_usec + u->has_user_usec + u->has_system_usec +
		u->has_pids;

	if (ev_begin(&x, 2, "usage"))
		return -1;
	return ev_end(q, &x,
		      ei_x_encode_map_header(&x, n) ||
		      put_usage(&x, u->has_cpu_usec, "cpu_usec", u->cpu_usec) ||
		      put_usage(&x, u->has_user_usec, "user_usec",
				u->user_usec) ||
		      put_usage(&x, u->has_system_usec, "system_usec",
				u->system_usec) ||
		      put_usage(&x, u->has_pids, "pids", u->pids));
}

/*
 * ev_error_detail() - {:error_detail, stage, command, text}: what the
 * {:error, errno, stage} frame right after it is about
 */
static int ev_error_detail(struct byteq *q, int stage, const char *command,
			   const char *text)
{
	ei_x_buff x;

	if (ev_begin(&x, 4, "error_detail"))
		return -1;
	return ev_end(q, &x,
		      ei_x_encode_atom(&x, linx_stage_name(stage)) ||
		      ei_x_encode_atom(&x, command ? command : "none") ||
		      ei_x_encode_binary(&x, text, strlen(text)));
}

/**
 * ev_error_cmd() - {:error_detail, stage, command, text} (when there is a
 * command or a text), then {:error, errno, stage}
 * @q:		output queue
 * @err:	errno value
 * @stage:	enum linx_stage
 * @command:	tag atom of the command this error answers, or NULL
 * @text:	what failed (a linx_err message), or NULL
 *
 * The detail comes first so that the BEAM has it when the error itself
 * arrives (docs/protocol.md, "Errors"); both frames or neither would be
 * nicer, but the error frame is the contract and goes out regardless.
 *
 * Return: 0 or -1 (the error frame could not be queued)
 */
int ev_error_cmd(struct byteq *q, int err, int stage, const char *command,
		 const char *text)
{
	ei_x_buff x;

	if (command || (text && *text))
		(void)ev_error_detail(q, stage, command, text ? text : "");
	if (ev_begin(&x, 3, "error"))
		return -1;
	return ev_end(q, &x, ei_x_encode_long(&x, err) ||
			     ei_x_encode_atom(&x, linx_stage_name(stage)));
}

/**
 * ev_error() - {:error, errno, stage}, without a detail
 * @q:		output queue
 * @err:	errno value
 * @stage:	enum linx_stage
 *
 * Return: 0 or -1
 */
int ev_error(struct byteq *q, int err, int stage)
{
	return ev_error_cmd(q, err, stage, NULL, NULL);
}

/*
 * encode_mount_stage() - the tuple stage {:mount, index}
 */
static int encode_mount_stage(ei_x_buff *x, int index)
{
	return ei_x_encode_tuple_header(x, 2) ||
	       ei_x_encode_atom(x, linx_stage_name(STAGE_MOUNT)) ||
	       ei_x_encode_long(x, index);
}

/*
 * ev_error_indexed() - {:error_detail, {:mount, i}, :none, text} and
 * {:error, errno, {:mount, i}}: the one tuple stage (docs/protocol.md)
 */
static int ev_error_indexed(struct byteq *q, const struct linx_err *e)
{
	ei_x_buff x;

	if (!ev_begin(&x, 4, "error_detail"))
		(void)ev_end(q, &x, encode_mount_stage(&x, e->index) ||
				    ei_x_encode_atom(&x, "none") ||
				    ei_x_encode_binary(&x, e->msg,
						       strlen(e->msg)));
	if (ev_begin(&x, 3, "error"))
		return -1;
	return ev_end(q, &x, ei_x_encode_long(&x, e->err) ||
			     encode_mount_stage(&x, e->index));
}

/**
 * ev_fail() - {:error_detail, …} and {:error, errno, stage} from a
 * struct linx_err: its message travels (a decode error's in the
 * {:malformed, …} frame sent before, see ev_malformed)
 * @q:		output queue
 * @e:		the failure
 *
 * Return: 0 or -1
 */
int ev_fail(struct byteq *q, const struct linx_err *e)
{
	if (e->stage == STAGE_MOUNT)
		return ev_error_indexed(q, e);

	/* a decode error's text went ahead in {:malformed, stage, text} */
	bool decode = e->stage == STAGE_MALFORMED_REQUEST ||
		      e->stage == STAGE_MALFORMED_COMMAND;

	return ev_error_cmd(q, e->err, e->stage, NULL, decode ? NULL : e->msg);
}

/**
 * ev_malformed() - {:malformed, stage, description}
 * @q:		output queue
 * @e:		the decode failure (msg names the path)
 *
 * Return: 0 or -1
 */
int ev_malformed(struct byteq *q, const struct linx_err *e)
{
	ei_x_buff x;

	if (ev_begin(&x, 3, "malformed"))
		return -1;
	return ev_end(q, &x,
		      ei_x_encode_atom(&x, linx_stage_name(e->stage)) ||
		      ei_x_encode_binary(&x, e->msg, strlen(e->msg)));
}

/**
 * ev_data() - {tag, binary}: :stdout, :stderr, :pty_out
 * @q:		output queue
 * @tag:	atom
 * @buf:	bytes
 * @len:	count
 *
 * Return: 0 or -1
 */
int ev_data(struct byteq *q, const char *tag, const void *buf, size_t len)
{
	ei_x_buff x;

	if (ev_begin(&x, 2, tag))
		return -1;
	return ev_end(q, &x, ei_x_encode_binary(&x, buf, len));
}

/**
 * ev_stdin_ack() - {:stdin_ack, bytes}: input bytes the agent is done
 * with (written to the stdin pipe or PTY, or dropped: reader gone)
 * @q:		output queue
 * @bytes:	count
 *
 * Return: 0 or -1
 */
int ev_stdin_ack(struct byteq *q, uint64_t bytes)
{
	ei_x_buff x;

	if (ev_begin(&x, 2, "stdin_ack"))
		return -1;
	return ev_end(q, &x, ei_x_encode_ulonglong(&x, bytes));
}

/**
 * ev_caps() - {:caps, eff, prm, inh, bnd, amb}
 * @q:		output queue
 * @masks:	the five sets
 *
 * Return: 0 or -1
 */
int ev_caps(struct byteq *q, const uint64_t masks[5])
{
	ei_x_buff x;
	int i, bad = 0;

	if (ev_begin(&x, 6, "caps"))
		return -1;
	for (i = 0; i < 5; i++)
		bad |= ei_x_encode_ulonglong(&x, masks[i]);
	return ev_end(q, &x, bad);
}

/*
 * encode_bin_or_error() - binary, or {:error, errno} when @err is set
 */
static int encode_bin_or_error(ei_x_buff *x, const void *data, size_t len,
			       int err)
{
	if (err)
		return ei_x_encode_tuple_header(x, 2) ||
		       ei_x_encode_atom(x, "error") ||
		       ei_x_encode_long(x, err);
	return ei_x_encode_binary(x, data, len);
}

/**
 * ev_notify() - {:notify, id, pid, tid, nr, arch, ip, {a0..a5}, mem}
 * @q:		output queue
 * @id:		the kernel's cookie
 * @pid:	the caller's thread group id
 * @tid:	the calling thread
 * @nr:		syscall number
 * @arch:	AUDIT_ARCH_* value
 * @ip:		instruction pointer
 * @args:	the six arguments
 * @mem:	declared reads: [{arg_index, binary || {:error, errno}}]
 * @nmem:	how many
 *
 * Return: 0 or -1
 */
int ev_notify(struct byteq *q, uint64_t id, pid_t pid, pid_t tid, int nr,
	      uint32_t arch, uint64_t ip, const uint64_t args[6],
	      const struct ev_mem *mem, size_t nmem)
{
	ei_x_buff x;
	size_t i;
	int bad;

	if (ev_begin(&x, 9, "notify"))
		return -1;
	bad = ei_x_encode_ulonglong(&x, id) || ei_x_encode_long(&x, pid) ||
	      ei_x_encode_long(&x, tid) || ei_x_encode_long(&x, nr) ||
	      ei_x_encode_ulong(&x, arch) || ei_x_encode_ulonglong(&x, ip) ||
	      ei_x_encode_tuple_header(&x, 6);
	for (i = 0; i < 6; i++)
		bad |= ei_x_encode_ulonglong(&x, args[i]);
	if (nmem)
		bad |= ei_x_encode_list_header(&x, nmem);
	for (i = 0; i < nmem; i++)
		bad |= ei_x_encode_tuple_header(&x, 2) ||
		       ei_x_encode_long(&x, mem[i].arg) ||
		       encode_bin_or_error(&x, mem[i].data, mem[i].len,
					   mem[i].err);
	bad |= ei_x_encode_empty_list(&x);
	return ev_end(q, &x, bad);
}

/**
 * ev_notify_failed() - {:notify_failed, id, step_index, errno}
 * @q:		output queue
 * @id:		notification
 * @step:	index of the failed step (0-based)
 * @err:	its errno
 *
 * Return: 0 or -1
 */
int ev_notify_failed(struct byteq *q, uint64_t id, int step, int err)
{
	ei_x_buff x;

	if (ev_begin(&x, 4, "notify_failed"))
		return -1;
	return ev_end(q, &x, ei_x_encode_ulonglong(&x, id) ||
			     ei_x_encode_long(&x, step) ||
			     ei_x_encode_long(&x, err));
}

/**
 * ev_notified() - {:notified, nr, pid, action}: a call the agent answered
 * by itself (the compiled rules), sent after the answer
 * @q:		output queue
 * @nr:		syscall number
 * @pid:	the caller's thread group (host pid)
 * @action:	"continue", "return" or "errno"
 * @value:	the return value or errno (not sent for continue)
 *
 * Return: 0 or -1
 */
int ev_notified(struct byteq *q, int nr, pid_t pid, const char *action,
		int64_t value)
{
	ei_x_buff x;
	int bad;

	if (ev_begin(&x, 4, "notified"))
		return -1;
	bad = ei_x_encode_long(&x, nr) || ei_x_encode_long(&x, pid);
	if (!strcmp(action, "continue"))
		bad |= ei_x_encode_atom(&x, action);
	else
		bad |= ei_x_encode_tuple_header(&x, 2) ||
		       ei_x_encode_atom(&x, action) ||
		       ei_x_encode_longlong(&x, value);
	return ev_end(q, &x, bad);
}

/**
 * ev_notify_answer() - {tag, ref, binary || {:error, errno}}
 * @q:		output queue
 * @tag:	:notify_mem or :notify_fd_path
 * @ref:	the request's ref, as ETF bytes (echoed)
 * @ref_len:	their length
 * @data:	result bytes (when @err is 0)
 * @len:	their count
 * @err:	errno, or 0
 *
 * Return: 0 or -1
 */
int ev_notify_answer(struct byteq *q, const char *tag, const uint8_t *ref,
		     size_t ref_len, const void *data, size_t len, int err)
{
	ei_x_buff x;

	if (ev_begin(&x, 3, tag))
		return -1;
	return ev_end(q, &x,
		      ei_x_append_buf(&x, (const char *)ref, ref_len) ||
		      encode_bin_or_error(&x, data, len, err));
}
