/*
 * request.h - the request frame, {:spawn | :enter, opts}, decoded. Its
 * commands are command.h's, its notify_reads notify_wire.h's; the
 * {:echo, request} answer is echo.h's.
 *
 * PURE: no I/O, no globals, no exit(); everything allocated is released by
 * request_free(), also after a failed decode. Shared by the agent and the
 * fuzz harness. The grammar is docs/protocol.md.
 */
#ifndef LINX_REQUEST_H
#define LINX_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "command.h"
#include "error.h"
#include "idmap.h"
#include "resources.h"
#include "mounts.h"
#include "landlock.h"
#include "passfd.h"

enum linx_kind { LINX_SPAWN, LINX_ENTER };

enum linx_stdio_mode {
	STDIO_INHERIT, STDIO_DEVNULL, STDIO_PIPE, STDIO_CONNECT_UNIX
};

enum linx_on_exit { ON_EXIT_KILL, ON_EXIT_DETACH };

/**
 * struct linx_stdio - what one of fds 0, 1, 2 of the workload is
 * @mode:	enum linx_stdio_mode
 * @path:	socket path for STDIO_CONNECT_UNIX (malloc'ed)
 */
struct linx_stdio {
	enum linx_stdio_mode mode;
	char *path;
};

/* Bits of struct linx_request.pty_modes: termios of a new PTY's slave */
#define PTY_MODE_NOECHO	(1u << 0)	/* clear ECHO (and its kin) */
#define PTY_MODE_RAW	(1u << 1)	/* cfmakeraw() */

/**
 * struct linx_request - a decoded {:spawn | :enter, opts} (or :echo of one)
 * @kind:		spawn or enter
 * @echo:		the request was {:echo, request}
 * @argv:		NULL-terminated, @argc >= 1 entries
 * @argc:		entries in @argv
 * @env:		NULL-terminated "K=V" strings, or NULL: inherit
 * @envc:		entries in @env
 * @cwd:		directory to chdir to before execve, or NULL
 * @cwd_pid:		cwd {:pid, n}: chdir to the working directory of host
 *			process n, read by the agent before the clone; 0: none
 * @cgroup:		cgroup v2 directory to clone the workload into, or NULL
 * @cgroup_make:	CGROUP_MAKE_*: cgroup {:make, path, mode}, the agent
 *			makes the group itself and removes it with the tree
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
 * @usage:		send {:usage, map} before the terminal frame, read
 *			from the group the agent made (usage.c)
 * @close_handshake:	after the last frame, keep fd 3 open until the BEAM
 *			closes the port (bounded), instead of exiting after
 *			a short quiet spell (agent.c, drain_beam_input)
 * @idmaps:		uid_map, gid_map and setgroups, written by the agent
 *			while the child waits after the clone (idmap.c)
 * @limits:		v1 groups, rlimits, nice, cpus (applied by the agent
 *			while the child waits after the clone, resources.c),
 *			timeout and kill_timeout (deadline.c)
 * @sandbox:		root, mounts, hostname, loopback, time_offsets
 *			(mounts.h): built by the child after the maps
 * @fds:		descriptors to pass (passfd.c), NULL: none
 * @nfds:		how many, at most PASSFD_MAX, targets distinct
 * @landlock:		Landlock rules, applied by the :landlock command
 * @init:		the child becomes pid 1 of its new pid namespace and
 *			forks the workload (init.c); needs NS_PID, spawn only
 * @notify_program:	compiled notify rules the agent runs itself
 *			(notify_prog.h; validated at decode), or NULL
 * @notify_program_len:	its length
 * @notify_events:	send {:notified, nr, pid, action} after each call
 *			the program answered
 * @arg0:		argv[0] as the workload sees it, or NULL: the path
 *			(@argv[0], what is exec'd)
 * @pty_modes:		PTY_MODE_* bits applied to the PTY before the clone
 */
/*
 * Who makes the workload's cgroup v2 group: the BEAM (a plain path), or
 * the agent, which then also removes it once the tree in it is gone;
 * when it cannot make an optional one the workload runs without.
 */
enum {
	CGROUP_GIVEN,
	CGROUP_MAKE_REQUIRED,
	CGROUP_MAKE_OPTIONAL,
};

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
	uint8_t pty_modes;	/* in the padding after has_namespaces */
	uint8_t cgroup_make;	/* and so is this */
	long target;
	long cwd_pid;
	bool pty;
	struct linx_stdio stdio[3];
	bool no_new_privs;
	bool close_handshake;
	bool usage;
	bool init;
	bool notify_events;
	enum linx_on_exit on_exit;
	bool checkpoint;
	struct linx_cmd *commands;
	size_t ncommands;
	bool has_winsize;
	struct linx_winsize winsize;
	struct notify_read *notify_reads;
	size_t nnotify_reads;
	uint64_t stdio_window;
	struct idmap_set idmaps;
	struct linx_limits limits;
	struct linx_sandbox sandbox;
	struct linx_passfd *fds;
	size_t nfds;
	struct landlock_set landlock;
	uint8_t *notify_program;
	size_t notify_program_len;
	char *arg0;
};

int request_decode(const void *buf, size_t len, struct linx_request *req,
		   struct linx_err *err);
void request_free(struct linx_request *req);
const char *stdio_mode_name(enum linx_stdio_mode mode);
const char *mnt_kind_name(int kind);

#endif /* LINX_REQUEST_H */
