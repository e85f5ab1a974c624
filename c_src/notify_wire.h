/*
 * notify_wire.h - the grammar of seccomp user notification on the wire:
 * the request's notify_reads entries, {:notify_reply, id, steps} (every
 * step), {:notify_read, ref, id, pid, addr, len} and {:notify_fd_path,
 * ref, id, pid, fd}: their types, decoders and encoders.
 *
 * PURE, like request.h. The decoders and encoders have the shapes of the
 * command table's (command.h) and are rows of it; the grammar is
 * docs/protocol.md, the last section.
 */
#ifndef LINX_NOTIFY_WIRE_H
#define LINX_NOTIFY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "term.h"

struct linx_cmd;

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

/* notify_step.c */
int nstep_decode(struct tdec *d, struct notify_step *st, const char *path);
int nstep_encode(ei_x_buff *x, const struct notify_step *st);
bool nstep_is_response(const struct notify_step *st);
const char *nstep_name(int kind);
void nstep_free_all(struct notify_step *steps, size_t n);

/* notify_wire.c */
int nw_read_entry_decode(struct tdec *d, struct notify_read *nr,
			 const char *path);
int nw_reply_decode(struct tdec *d, struct linx_cmd *c, int arity,
		    const char *path);
int nw_read_decode(struct tdec *d, struct linx_cmd *c, int arity,
		   const char *path);
int nw_fd_path_decode(struct tdec *d, struct linx_cmd *c, int arity,
		      const char *path);
int nw_reply_encode(ei_x_buff *x, const struct linx_cmd *c,
		    const char *name, int arity);
int nw_read_encode(ei_x_buff *x, const struct linx_cmd *c, const char *name,
		   int arity);
int nw_fd_path_encode(ei_x_buff *x, const struct linx_cmd *c,
		      const char *name, int arity);

#endif /* LINX_NOTIFY_WIRE_H */
