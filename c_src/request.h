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
	CMD_CAP_DROP_BOUNDING,
	CMD_CAP_SET_THREAD,
	CMD_CAP_SET_AMBIENT,
	CMD_SECCOMP_INSTALL,
	CMD_PTY_WINSIZE,
	CMD_SIGNAL,
	CMD_PTY_IN,
	CMD_STDIN,
};

/**
 * struct linx_cmd - one decoded command
 * @kind:	enum linx_cmd_kind
 * @mask:	u64 masks: [0] for drop_bounding/set_ambient, [0..2] =
 *		eff, prm, inh for cap_set_thread
 * @signal:	signal number (1..64) for CMD_SIGNAL
 * @ws:		window size for CMD_PTY_WINSIZE
 * @data:	bytes for seccomp_install, pty_in, stdin (malloc'ed)
 * @len:	their length
 */
struct linx_cmd {
	enum linx_cmd_kind kind;
	uint64_t mask[3];
	int signal;
	struct linx_winsize ws;
	uint8_t *data;
	size_t len;
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
 */
struct linx_request {
	enum linx_kind kind;
	bool echo;
	char **argv;
	size_t argc;
	char **env;
	size_t envc;
	char *cwd;
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
