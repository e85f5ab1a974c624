/*
 * request.h - the request frame and the commands, decoded.
 *
 * PURE: no I/O, no globals, no exit(); everything allocated is released by
 * request_free() / cmd_free(), also after a failed decode. Shared by the
 * agent and the fuzz harness. The grammar is docs/protocol.md.
 */
#ifndef LINX_REQUEST_H
#define LINX_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "error.h"

enum linx_kind { LINX_SPAWN, LINX_ENTER };

enum linx_stdio_mode {
	STDIO_INHERIT, STDIO_DEVNULL, STDIO_PIPE, STDIO_CONNECT_UNIX
};

enum linx_on_exit { ON_EXIT_KILL, ON_EXIT_DETACH };

struct linx_winsize {
	uint16_t rows, cols, xpix, ypix;
};

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

/* ---- seccomp user notification (docs/protocol.md, the last section) */

/* Largest read the agent does from a caller's memory, per argument */
#define NOTIFY_READ_MAX (1u << 20)

enum notify_read_kind { NREAD_CSTRING, NREAD_BYTES, NREAD_BYTES_ARG };

/**
 * struct notify_read - one entry of the request's notify_reads
 * @nr:		syscall number
 * @arg:	argument index (0..5) holding the pointer
 * @kind:	enum notify_read_kind
 * @len_arg:	NREAD_BYTES_ARG: argument index holding the length
 * @max:	cstring/bytes_arg: cap; bytes: the length
 */
struct notify_read {
	uint32_t nr;
	uint8_t arg;
	uint8_t kind;
	uint8_t len_arg;
	uint32_t max;
};

enum notify_step_kind {
	NSTEP_WRITE,
	NSTEP_CALL,
	NSTEP_ADDFD,
	/* responses */
	NSTEP_CONTINUE,
	NSTEP_RETURN,
	NSTEP_ERRNO,
	NSTEP_RETURN_LAST,
};

enum notify_arg_kind { NARG_INT, NARG_STR, NARG_BUF };

/**
 * struct notify_arg - one argument of a {:call, ...} step
 * @kind:	enum notify_arg_kind
 * @v:		NARG_INT: the register value
 * @data:	NARG_STR/NARG_BUF: bytes (malloc'ed, NUL-terminated)
 * @len:	their length (without the NUL)
 */
struct notify_arg {
	int kind;
	uint64_t v;
	uint8_t *data;
	size_t len;
};

enum notify_fd_source { NFD_OPEN, NFD_CONNECT_UNIX, NFD_GETFD };

/* ctx creds: of a {:call, ...} step */
enum notify_creds {
	NCREDS_NONE,		/* false: the agent's */
	NCREDS_ALL,		/* true: the caller's uid, gid and groups */
	NCREDS_FS,		/* :caller_fs: its fsuid/fsgid, our capabilities */
};

/**
 * struct notify_step - one step of {:notify_reply, id, steps}
 * @kind:	enum notify_step_kind
 * @addr:	NSTEP_WRITE: address in the caller
 * @data:	NSTEP_WRITE: bytes; NSTEP_ADDFD: path (NUL-terminated)
 * @len:	their length
 * @nr:		NSTEP_CALL: syscall number
 * @nargs:	NSTEP_CALL: 0..6
 * @args:	NSTEP_CALL: arguments
 * @ns:		NSTEP_CALL: bit mask over enum ns_index to join
 * @root:	NSTEP_CALL: chroot to the caller's root
 * @cwd:	NSTEP_CALL: chdir to the caller's cwd
 * @creds:	NSTEP_CALL: enum notify_creds
 * @follow:	NSTEP_CALL: ctx resolve: :follow (path arguments passed
 *		as given; default false: resolved safely, notify_path.c)
 * @beneath:	NSTEP_CALL: ctx beneath: directory (malloc'ed,
 *		NUL-terminated), or NULL
 * @beneath_len: its length
 * @src:	NSTEP_ADDFD: enum notify_fd_source
 * @oflags:	NSTEP_ADDFD {:open}: open flags
 * @mode:	NSTEP_ADDFD {:open}: mode
 * @pid:	NSTEP_ADDFD {:getfd}: process
 * @fd:		NSTEP_ADDFD {:getfd}: its fd
 * @target:	NSTEP_ADDFD: fd number in the caller, or -1
 * @cloexec:	NSTEP_ADDFD: O_CLOEXEC on the new fd
 * @send:	NSTEP_ADDFD: SECCOMP_ADDFD_FLAG_SEND (a response)
 * @val:	NSTEP_RETURN: value (two's complement bits)
 * @err:	NSTEP_ERRNO: errno (1..4095)
 */
struct notify_step {
	int kind;
	uint64_t addr;
	uint8_t *data;
	size_t len;
	uint32_t nr;
	int nargs;
	struct notify_arg args[6];
	unsigned ns;
	bool root, cwd;
	int creds;
	bool follow;
	uint8_t *beneath;
	size_t beneath_len;
	int src;
	uint32_t oflags;
	uint32_t mode;
	int pid;
	int fd;
	int target;
	bool cloexec, send;
	uint64_t val;
	int err;
};

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
 * struct linx_stdio - what one of fds 0, 1, 2 of the workload is
 * @mode:	enum linx_stdio_mode
 * @path:	socket path for STDIO_CONNECT_UNIX (malloc'ed)
 */
struct linx_stdio {
	enum linx_stdio_mode mode;
	char *path;
};

/**
 * struct linx_request - a decoded {:spawn | :enter, opts} (or :echo of one)
 * @kind:		spawn or enter
 * @echo:		the request was {:echo, request}
 * @argv:		NULL-terminated, @argc >= 1 entries
 * @argc:		entries in @argv
 * @env:		NULL-terminated "K=V" strings, or NULL: inherit
 * @envc:		entries in @env
 * @cwd:		directory to chdir to before execve, or NULL
 * @cgroup:		cgroup v2 directory to clone the workload into, or NULL
 * @namespaces:		bit mask over enum ns_index
 * @has_namespaces:	the key was given (enter: else join all)
 * @target:		host pid (enter), 0 if not given
 * @pty:		stdio :pty
 * @stdio:		per-fd modes when not @pty
 * @no_new_privs:	PR_SET_NO_NEW_PRIVS before the checkpoint
 * @on_exit:		enum linx_on_exit
 * @checkpoint:		wait for the BEAM at the checkpoint
 * @commands:		checkpoint commands applied first
 * @ncommands:		how many
 * @has_winsize:	@winsize was given
 * @winsize:		initial PTY size
 * @notify_reads:	memory to read with each notification
 * @nnotify_reads:	how many
 * @stdio_window:	output bytes the agent may send before the BEAM
 *			acknowledges them ({:output_ack, n}); 0: no limit
 */
struct linx_request {
	enum linx_kind kind;
	bool echo;
	char **argv;
	size_t argc;
	char **env;
	size_t envc;
	char *cwd;
	char *cgroup;
	unsigned namespaces;
	bool has_namespaces;
	long target;
	bool pty;
	struct linx_stdio stdio[3];
	bool no_new_privs;
	enum linx_on_exit on_exit;
	bool checkpoint;
	struct linx_cmd *commands;
	size_t ncommands;
	bool has_winsize;
	struct linx_winsize winsize;
	struct notify_read *notify_reads;
	size_t nnotify_reads;
	uint64_t stdio_window;
};

int request_decode(const void *buf, size_t len, struct linx_request *req,
		   struct linx_err *err);
void request_free(struct linx_request *req);
int request_echo_encode(const struct linx_request *req, ei_x_buff *x);

int cmd_decode(const void *buf, size_t len, struct linx_cmd *cmd,
	       struct linx_err *err);
void cmd_free(struct linx_cmd *cmd);
const char *cmd_name(enum linx_cmd_kind kind);
bool cmd_is_checkpoint(enum linx_cmd_kind kind);
int cmd_encode(const struct linx_cmd *cmd, ei_x_buff *x);

#endif /* LINX_REQUEST_H */
