/*
 * command.c - the command table and the command decoder (see command.h).
 *
 * One row per command: {tag, arity} selects the row, the row's decoder
 * reads the elements after the tag and its encoder writes the command
 * back (the {:echo, request} answer, the fuzz round trip). A failure
 * names the path of the offending term ("command.signal: expected an
 * integer in 1..64") with stage malformed_command (malformed_request for
 * the commands of opts.commands). What the agent does with a command is
 * decided by the row too: relay.c forwards a row with a chan record to
 * the child, supervise.c runs the others (notify.c the CMD_NOTIFY ones).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "command.h"
#include "framing.h"
#include "util.h"

/* ------------------------------------------------- shapes after the tag */

/*
 * dec_ids() - {:set_ids, uid, gid}: ids inside the workload's user
 * namespace (not (uid_t)-1, which means "unchanged" to the kernel)
 */
static int dec_ids(struct tdec *d, struct linx_cmd *c, int arity,
		   const char *path)
{
	char p[PATH_MAX_LEN];
	int i;

	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_uint_max(d, 0, 0xfffffffeULL, &c->mask[i], p))
			return -1;
	}
	return 0;
}

/*
 * dec_masks() - capability masks, u64 each, into c->mask[0..arity)
 */
static int dec_masks(struct tdec *d, struct linx_cmd *c, int arity,
		     const char *path)
{
	char p[PATH_MAX_LEN];
	int i;

	for (i = 0; i < arity; i++) {
		path_fmt(p, sizeof(p), "%s[%d]", path, i);
		if (td_u64(d, &c->mask[i], p))
			return -1;
	}
	return 0;
}

static int enc_masks(ei_x_buff *x, const struct linx_cmd *c,
		     const char *name, int arity)
{
	int i;

	if (ei_x_encode_tuple_header(x, arity + 1) ||
	    ei_x_encode_atom(x, name))
		return -1;
	for (i = 0; i < arity; i++)
		if (ei_x_encode_ulonglong(x, c->mask[i]))
			return -1;
	return 0;
}

static int enc_atom(ei_x_buff *x, const struct linx_cmd *c, const char *name,
		    int arity)
{
	(void)c;
	(void)arity;
	return ei_x_encode_atom(x, name);
}

/* dec_binary() - bytes: a filter, input for stdin or the PTY */
static int dec_binary(struct tdec *d, struct linx_cmd *c, int arity,
		      const char *path)
{
	(void)arity;
	return td_binary(d, &c->data, &c->len, path);
}

static int enc_binary(ei_x_buff *x, const struct linx_cmd *c,
		      const char *name, int arity)
{
	(void)arity;
	return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, name) ||
	       ei_x_encode_binary(x, c->data, c->len) ? -1 : 0;
}

static int dec_winsize(struct tdec *d, struct linx_cmd *c, int arity,
		       const char *path)
{
	(void)arity;
	return decode_winsize(d, &c->ws, path);
}

static int enc_winsize(ei_x_buff *x, const struct linx_cmd *c,
		       const char *name, int arity)
{
	(void)arity;
	return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, name) ||
	       encode_winsize(x, &c->ws) ? -1 : 0;
}

static int dec_signal(struct tdec *d, struct linx_cmd *c, int arity,
		      const char *path)
{
	uint64_t v;

	(void)arity;
	if (td_uint_max(d, 1, 64, &v, path))
		return -1;
	c->signal = v;
	return 0;
}

static int enc_signal(ei_x_buff *x, const struct linx_cmd *c,
		      const char *name, int arity)
{
	(void)arity;
	return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, name) ||
	       ei_x_encode_long(x, c->signal) ? -1 : 0;
}

static int dec_ack(struct tdec *d, struct linx_cmd *c, int arity,
		   const char *path)
{
	(void)arity;
	return td_uint_max(d, 0, LINX_WINDOW_MAX, &c->bytes, path);
}

static int enc_ack(ei_x_buff *x, const struct linx_cmd *c, const char *name,
		   int arity)
{
	(void)arity;
	return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, name) ||
	       ei_x_encode_ulonglong(x, c->bytes) ? -1 : 0;
}

/* ---------------------------------------------------------------- table */

#define W CMD_WINDOW
#define C CMD_CHECKPOINT
#define R CMD_RUNNING
#define N CMD_NOTIFY

static const struct cmd_row cmd_table[] = {
	/* name, arity, kind, phase, chan record, payload, decode, encode */
	{ "proceed", 0, CMD_PROCEED, W, CHAN_PROCEED, false, NULL, enc_atom },
	{ "abort", 0, CMD_ABORT, W, CHAN_ABORT, false, NULL, enc_atom },
	{ "caps_query", 0, CMD_CAPS_QUERY, C, CHAN_CAPS_QUERY, false,
	  NULL, enc_atom },
	{ "close_stdin", 0, CMD_CLOSE_STDIN, R, 0, false, NULL, enc_atom },
	{ "set_ids", 2, CMD_SET_IDS, C, CHAN_SET_IDS, false,
	  dec_ids, enc_masks },
	{ "cap_drop_bounding", 1, CMD_CAP_DROP_BOUNDING, C,
	  CHAN_CAP_DROP_BOUNDING, false, dec_masks, enc_masks },
	{ "cap_set_thread", 3, CMD_CAP_SET_THREAD, C, CHAN_CAP_SET_THREAD,
	  false, dec_masks, enc_masks },
	{ "cap_set_ambient", 1, CMD_CAP_SET_AMBIENT, C, CHAN_CAP_SET_AMBIENT,
	  false, dec_masks, enc_masks },
	{ "seccomp_install", 1, CMD_SECCOMP_INSTALL, C, CHAN_SECCOMP_INSTALL,
	  true, dec_binary, enc_binary },
	{ "pty_winsize", 1, CMD_PTY_WINSIZE, C, 0, false,
	  dec_winsize, enc_winsize },
	{ "signal", 1, CMD_SIGNAL, R, 0, false, dec_signal, enc_signal },
	{ "pty_in", 1, CMD_PTY_IN, R, 0, false, dec_binary, enc_binary },
	{ "stdin", 1, CMD_STDIN, R, 0, false, dec_binary, enc_binary },
	{ "seccomp_notify_install", 1, CMD_SECCOMP_NOTIFY_INSTALL, C,
	  CHAN_SECCOMP_NOTIFY_INSTALL, true, dec_binary, enc_binary },
	{ "notify_reply", 2, CMD_NOTIFY_REPLY, N, 0, false,
	  nw_reply_decode, nw_reply_encode },
	{ "notify_read", 5, CMD_NOTIFY_READ, N, 0, false,
	  nw_read_decode, nw_read_encode },
	{ "notify_fd_path", 4, CMD_NOTIFY_FD_PATH, N, 0, false,
	  nw_fd_path_decode, nw_fd_path_encode },
	{ "output_ack", 1, CMD_OUTPUT_ACK, R, 0, false, dec_ack, enc_ack },
};

#undef W
#undef C
#undef R
#undef N

/**
 * cmd_row_of() - the table row of a command kind
 * @kind:	enum linx_cmd_kind
 *
 * Return: the row, or NULL for a kind without one
 */
const struct cmd_row *cmd_row_of(enum linx_cmd_kind kind)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmd_table); i++)
		if (cmd_table[i].kind == kind)
			return &cmd_table[i];
	return NULL;
}

/**
 * cmd_name() - the wire tag of a command
 * @kind:	enum linx_cmd_kind
 *
 * Return: atom text
 */
const char *cmd_name(enum linx_cmd_kind kind)
{
	const struct cmd_row *row = cmd_row_of(kind);

	return row ? row->name : "unknown";
}

/**
 * cmd_is_checkpoint() - may this command appear in opts.commands?
 * @kind:	enum linx_cmd_kind
 *
 * Return: true for the checkpoint commands of docs/protocol.md
 */
bool cmd_is_checkpoint(enum linx_cmd_kind kind)
{
	const struct cmd_row *row = cmd_row_of(kind);

	return row && row->phase == CMD_CHECKPOINT;
}

/**
 * cmd_decode_term() - one command term at @d into @c
 * @d:		cursor (its stage: malformed_command or malformed_request)
 * @c:		result (cmd_free() it, whatever the return value)
 * @path:	for error messages
 *
 * Return: 0 or -1
 */
int cmd_decode_term(struct tdec *d, struct linx_cmd *c, const char *path)
{
	char tag[TD_ATOM_MAX], p[PATH_MAX_LEN];
	const struct cmd_row *row = NULL;
	int arity = 0;
	size_t k;

	memset(c, 0, sizeof(*c));
	if (td_is_atom(d)) {
		if (td_atom(d, tag, path))
			return -1;
	} else {
		if (td_tuple(d, &arity, path))
			return -1;
		if (arity < 2)
			return linx_fail(d->err, EINVAL, d->stage,
					 "%s: expected a command tuple", path);
		path_fmt(p, sizeof(p), "%s.tag", path);
		if (td_atom(d, tag, p))
			return -1;
		arity--;
	}

	for (k = 0; k < ARRAY_SIZE(cmd_table); k++)
		if (!strcmp(cmd_table[k].name, tag) &&
		    cmd_table[k].arity == arity)
			row = &cmd_table[k];
	if (!row)
		return linx_fail(d->err, EINVAL, d->stage,
				 "%s: unknown command :%s with %d argument(s)",
				 path, tag, arity);
	c->kind = row->kind;
	if (!row->decode)
		return 0;
	path_fmt(p, sizeof(p), "%s.%s", path, tag);
	return row->decode(d, c, arity, p);
}

/**
 * cmd_free() - release what a command owns (safe on a failed decode)
 * @cmd:	command
 */
void cmd_free(struct linx_cmd *cmd)
{
	free(cmd->data);
	cmd->data = NULL;
	cmd->len = 0;
	free(cmd->ref);
	cmd->ref = NULL;
	cmd->ref_len = 0;
	nstep_free_all(cmd->steps, cmd->nsteps);
	cmd->steps = NULL;
	cmd->nsteps = 0;
}

/**
 * cmd_decode() - decode a command frame body
 * @buf:	ETF body
 * @len:	its length
 * @cmd:	result (cmd_free() it, whatever the return value)
 * @err:	stage malformed_command on failure
 *
 * Return: 0 or -1
 */
int cmd_decode(const void *buf, size_t len, struct linx_cmd *cmd,
	       struct linx_err *err)
{
	cleanup_free char *copy = NULL;
	struct tdec d;

	memset(cmd, 0, sizeof(*cmd));
	if (len > LINX_MAX_FRAME)
		return linx_fail(err, EMSGSIZE, STAGE_COMMAND_TOO_BIG,
				 "command: %zu bytes", len);
	copy = padded_copy(buf, len);
	if (!copy)
		return linx_fail(err, ENOMEM, STAGE_MALFORMED_COMMAND,
				 "command: out of memory");
	if (td_init(&d, copy, len, err, STAGE_MALFORMED_COMMAND) ||
	    cmd_decode_term(&d, cmd, "command") || td_end(&d, "command"))
		return -1;
	return 0;
}

/**
 * cmd_encode() - a command as it appears on the wire
 * @cmd:	command
 * @x:		buffer to append to
 *
 * Return: 0 or -1
 */
int cmd_encode(const struct linx_cmd *cmd, ei_x_buff *x)
{
	const struct cmd_row *row = cmd_row_of(cmd->kind);

	return row ? row->encode(x, cmd, row->name, row->arity) : -1;
}
