/*
 * command.h - the commands the BEAM sends after the request, one row of
 * the command table each (command.c): tag, arity, decoder, encoder,
 * when it may run, and the channel record that carries it to the child.
 *
 * PURE: no I/O, no globals, no exit(); cmd_free() releases everything a
 * command owns, also after a failed decode. Shared by the agent, the
 * fuzz harness and the unit tests. The grammar is docs/protocol.md.
 *
 * Adding a checkpoint command (docs/design.md, "Adding a checkpoint
 * command"): its kind below, one row in cmd_table (with a chan_type from
 * chan.h), and the child's apply function in checkpoint.c.
 */
#ifndef LINX_COMMAND_H
#define LINX_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "checkpoint.h"
#include "error.h"
#include "notify_wire.h"
#include "term.h"

enum linx_cmd_kind {
	CMD_PROCEED,
	CMD_ABORT,
	CMD_CAPS_QUERY,
	CMD_CLOSE_STDIN,
	CMD_SET_IDS,
	CMD_CAP_DROP_BOUNDING,
	CMD_CAP_SET_THREAD,
	CMD_CAP_SET_AMBIENT,
	CMD_SECCOMP_INSTALL,
	CMD_PTY_WINSIZE,
	CMD_SIGNAL,
	CMD_PTY_IN,
	CMD_STDIN,
	CMD_SECCOMP_NOTIFY_INSTALL,
	CMD_NOTIFY_REPLY,
	CMD_NOTIFY_READ,
	CMD_NOTIFY_FD_PATH,
	CMD_OUTPUT_ACK,
	CMD_LANDLOCK,
};

/* Largest stdio_window and output_ack (1 TiB): bytes, never near u64 */
#define LINX_WINDOW_MAX (1ULL << 40)
/*
 * What one output frame costs against the window on top of its bytes:
 * roughly what a message costs the BEAM, so that a window bounds the
 * number of messages too, not only the bytes (one-byte chunks).
 */
#define LINX_FRAME_COST 256
/* Smallest stdio_window: room for a frame's cost and some bytes */
#define LINX_WINDOW_MIN 1024

/**
 * struct linx_cmd - one decoded command
 * @kind:	enum linx_cmd_kind
 * @mask:	u64 masks: [0] for drop_bounding/set_ambient, [0..2] =
 *		eff, prm, inh for cap_set_thread
 * @signal:	signal number (1..64) for CMD_SIGNAL
 * @ws:		window size for CMD_PTY_WINSIZE
 * @data:	bytes for seccomp_install, seccomp_notify_install, pty_in,
 *		stdin (malloc'ed)
 * @len:	their length
 * @id:		notify_*: the notification id
 * @has_id:	notify_reply: @id was decoded (also after a failed decode:
 *		the caller is then answered ENOSYS)
 * @ref:	notify_read/fd_path: the ref term's ETF bytes (malloc'ed)
 * @ref_len:	their length
 * @pid:	notify_read/fd_path: the caller's thread group id
 * @addr:	notify_read: address
 * @rlen:	notify_read: bytes to read
 * @fd:		notify_fd_path: the caller's fd
 * @steps:	notify_reply: the steps (malloc'ed)
 * @nsteps:	how many
 * @bytes:	output_ack: output bytes the BEAM has consumed
 */
struct linx_cmd {
	enum linx_cmd_kind kind;
	uint64_t mask[3];
	int signal;
	struct linx_winsize ws;
	uint8_t *data;
	size_t len;
	uint64_t id;
	bool has_id;
	uint8_t *ref;
	size_t ref_len;
	int pid;
	uint64_t addr;
	uint32_t rlen;
	int fd;
	struct notify_step *steps;
	size_t nsteps;
	uint64_t bytes;
};

/**
 * enum cmd_phase - when a command may run
 * @CMD_WINDOW:		only in the checkpoint window, from the BEAM
 *			(:proceed, :abort); never in opts.commands
 * @CMD_CHECKPOINT:	a checkpoint command: in opts.commands, or from
 *			the BEAM in the checkpoint window; forwarded to the
 *			child as its row's record (chan != 0), else the
 *			agent's own (pty_winsize, valid in any state)
 * @CMD_RUNNING:	the agent's own, in any state (supervise.c)
 * @CMD_NOTIFY:		answers a notification (notify.c): runs at once,
 *			even while the child owes an answer
 */
enum cmd_phase { CMD_WINDOW, CMD_CHECKPOINT, CMD_RUNNING, CMD_NOTIFY };

/**
 * struct cmd_row - one command of the wire
 * @name:	tag atom
 * @arity:	tuple elements after the tag; 0: a bare atom
 * @kind:	enum linx_cmd_kind
 * @phase:	enum cmd_phase
 * @chan:	enum chan_type of the record that carries it to the child
 *		(its masks: linx_cmd.mask), 0: not forwarded
 * @payload:	the record carries linx_cmd.data (a sock_filter array)
 * @decode:	the elements after the tag into the command (NULL: none)
 * @encode:	the whole command term, tag included
 * @apply:	rows with a @chan record: the child's apply function
 *		(checkpoint.c), run by child_checkpoint() on that record
 */
struct cmd_row {
	const char *name;
	int arity;
	enum linx_cmd_kind kind;
	enum cmd_phase phase;
	uint32_t chan;
	bool payload;
	int (*decode)(struct tdec *d, struct linx_cmd *c, int arity,
		      const char *path);
	int (*encode)(ei_x_buff *x, const struct linx_cmd *c,
		      const char *name, int arity);
	cp_apply_fn *apply;
};

const struct cmd_row *cmd_row_of(enum linx_cmd_kind kind);
const struct cmd_row *cmd_row_by_chan(uint32_t type);
int cmd_decode_term(struct tdec *d, struct linx_cmd *c, const char *path);
int cmd_decode(const void *buf, size_t len, struct linx_cmd *cmd,
	       struct linx_err *err);
void cmd_free(struct linx_cmd *cmd);
const char *cmd_name(enum linx_cmd_kind kind);
bool cmd_is_checkpoint(enum linx_cmd_kind kind);
int cmd_encode(const struct linx_cmd *cmd, ei_x_buff *x);

#endif /* LINX_COMMAND_H */
