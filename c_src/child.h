/*
 * child.h - the child side, between clone3 and execve.
 */
#ifndef LINX_CHILD_H
#define LINX_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "passfd.h"
#include "request.h"

/**
 * struct child_stdio - how the child sets up one of fds 0, 1, 2
 * @mode:	enum linx_stdio_mode (ignored in PTY mode)
 * @fd:		STDIO_PIPE: the pipe end to dup2
 * @path:	STDIO_CONNECT_UNIX: socket path
 */
struct child_stdio {
	int mode;
	int fd;
	const char *path;
};

/**
 * struct child_plan - everything the child needs, prepared by the agent
 * before clone3 so the child neither parses nor allocates
 * @path:		the program to execve
 * @argv:		NULL-terminated, as the program sees it (argv[0] is
 *			@path unless the request gave arg0)
 * @envp:		NULL-terminated environment
 * @cwd:		directory to chdir to, or NULL
 * @chan:		the child's channel end
 * @agent_chan:		the agent's channel end (closed first: EOF on ours
 *			must mean the agent is gone)
 * @pty:		PTY mode
 * @pty_slave:		PTY slave (opened by the agent)
 * @devnull:		/dev/null opened by the agent, or -1
 * @stdio:		per-fd plan when not @pty
 * @pdeathsig:		on_exit :kill: PR_SET_PDEATHSIG(SIGKILL)
 * @check_ppid:		getppid() is meaningful (same pid namespace)
 * @agent_pid:		the agent's pid, to compare with getppid()
 * @no_new_privs:	PR_SET_NO_NEW_PRIVS before the checkpoint
 * @no_checkpoint:	nothing to apply and nobody to wait for: go straight
 *			from READY to execve (the agent is suspended in a
 *			CLONE_VFORK meanwhile, see spawn.c)
 * @sandbox:		root, mounts, hostname, lo: built on CHAN_SANDBOX
 * @mountns:		the child has a new mount namespace
 * @netns:		the child has a new net namespace
 * @init:		init: true: at PROCEED, stay behind as pid 1 and
 *			fork the workload (init.c)
 * @init_status:	write end of the agent's status pipe (@init)
 * @pass:		descriptors to place before execve (passfd.c), or
 *			NULL
 * @landlock:		the request's Landlock rules (:landlock), or NULL
 * @sig_ignored:	signals ignored in the agent (bit n-1 for signal n),
 *			the dispositions that would survive execve: stage 7
 *			resets these (exec resets caught ones itself)
 */
struct child_plan {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int chan;
	int agent_chan;
	bool pty;
	int pty_slave;
	int devnull;
	struct child_stdio stdio[3];
	bool pdeathsig;
	bool check_ppid;
	pid_t agent_pid;
	bool no_new_privs;
	bool no_checkpoint;
	const struct linx_sandbox *sandbox;
	bool mountns;
	bool netns;
	bool init;
	int init_status;
	const struct passfd_fds *pass;
	const struct landlock_set *landlock;
	uint64_t sig_ignored;
};

void child_main(const struct child_plan *p) __attribute__((noreturn));

#endif /* LINX_CHILD_H */
