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

/*
 * The table: one row per command. Unset fields are 0/NULL: no channel
 * record (the agent's own command), no payload, nothing to decode after
 * the tag, no apply function in the child.
 */
static const struct cmd_row cmd_table[] = {
	{ .name = "proceed", .arity = 0, .kind = CMD_PROCEED,
	  .phase = CMD_WINDOW, .chan = CHAN_PROCEED,
	  .encode = enc_atom },
	{ .name = "abort", .arity = 0, .kind = CMD_ABORT,
	  .phase = CMD_WINDOW, .chan = CHAN_ABORT,
	  .encode = enc_atom },
	{ .name = "caps_query", .arity = 0, .kind = CMD_CAPS_QUERY,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_CAPS_QUERY,
	  .encode = enc_atom,
	  .apply = cp_caps_query },
	{ .name = "close_stdin", .arity = 0, .kind = CMD_CLOSE_STDIN,
	  .phase = CMD_RUNNING,
	  .encode = enc_atom },
	{ .name = "set_ids", .arity = 2, .kind = CMD_SET_IDS,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_SET_IDS,
	  .decode = dec_ids, .encode = enc_masks,
	  .apply = cp_set_ids },
	{ .name = "cap_drop_bounding", .arity = 1,
	  .kind = CMD_CAP_DROP_BOUNDING,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_CAP_DROP_BOUNDING,
	  .decode = dec_masks, .encode = enc_masks,
	  .apply = cp_cap_drop_bounding },
	{ .name = "cap_set_thread", .arity = 3, .kind = CMD_CAP_SET_THREAD,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_CAP_SET_THREAD,
	  .decode = dec_masks, .encode = enc_masks,
	  .apply = cp_cap_set_thread },
	{ .name = "cap_set_ambient", .arity = 1, .kind = CMD_CAP_SET_AMBIENT,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_CAP_SET_AMBIENT,
	  .decode = dec_masks, .encode = enc_masks,
	  .apply = cp_cap_set_ambient },
	{ .name = "seccomp_install", .arity = 1, .kind = CMD_SECCOMP_INSTALL,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_SECCOMP_INSTALL, .payload = true,
	  .decode = dec_binary, .encode = enc_binary,
	  .apply = cp_seccomp_install },
	{ .name = "pty_winsize", .arity = 1, .kind = CMD_PTY_WINSIZE,
	  .phase = CMD_CHECKPOINT,
	  .decode = dec_winsize, .encode = enc_winsize },
	{ .name = "signal", .arity = 1, .kind = CMD_SIGNAL,
	  .phase = CMD_RUNNING,
	  .decode = dec_signal, .encode = enc_signal },
	{ .name = "pty_in", .arity = 1, .kind = CMD_PTY_IN,
	  .phase = CMD_RUNNING,
	  .decode = dec_binary, .encode = enc_binary },
	{ .name = "stdin", .arity = 1, .kind = CMD_STDIN,
	  .phase = CMD_RUNNING,
	  .decode = dec_binary, .encode = enc_binary },
	{ .name = "seccomp_notify_install", .arity = 1,
	  .kind = CMD_SECCOMP_NOTIFY_INSTALL,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_SECCOMP_NOTIFY_INSTALL,
	  .payload = true,
	  .decode = dec_binary, .encode = enc_binary,
	  .apply = cp_seccomp_notify_install },
	{ .name = "notify_reply", .arity = 2, .kind = CMD_NOTIFY_REPLY,
	  .phase = CMD_NOTIFY,
	  .decode = nw_reply_decode, .encode = nw_reply_encode },
	{ .name = "notify_read", .arity = 5, .kind = CMD_NOTIFY_READ,
	  .phase = CMD_NOTIFY,
	  .decode = nw_read_decode, .encode = nw_read_encode },
	{ .name = "notify_fd_path", .arity = 4, .kind = CMD_NOTIFY_FD_PATH,
	  .phase = CMD_NOTIFY,
	  .decode = nw_fd_path_decode, .encode = nw_fd_path_encode },
	{ .name = "output_ack", .arity = 1, .kind = CMD_OUTPUT_ACK,
	  .phase = CMD_RUNNING,
	  .decode = dec_ack, .encode = enc_ack },
	{ .name = "landlock", .arity = 0, .kind = CMD_LANDLOCK,
	  .phase = CMD_CHECKPOINT, .chan = CHAN_LANDLOCK,
	  .encode = enc_atom,
	  .apply = cp_landlock },
};

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
 * cmd_row_by_chan() - the row of the command a channel record carries
 * @type:	enum chan_type
 *
 * Return: the row, or NULL (PROCEED, ABORT and the replies have none
 * with an apply function)
 */
const struct cmd_row *cmd_row_by_chan(uint32_t type)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmd_table); i++)
		if (cmd_table[i].chan == type && cmd_table[i].apply)
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
