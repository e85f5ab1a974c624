/*
 * notify_prog.h - the compiled notify rules (Linx.Seccomp.Notify.compile/1)
 * that the agent runs for each notification: a strict decoder that refuses
 * a malformed program before it is ever run, and the interpreter.
 *
 * PURE: no I/O, no allocation in nprog_eval(); linked alone by the
 * differential harness and the fuzzer. The format is docs/notify.md,
 * "The program format".
 */
#ifndef LINX_NOTIFY_PROG_H
#define LINX_NOTIFY_PROG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest program the decoder accepts */
#define NPROG_MAX_LEN (1u << 20)
/* Deepest and/or/not nesting */
#define NPROG_MAX_DEPTH 32
/* Most steps one action may have (writes, then one response) */
#define NPROG_MAX_STEPS 16
/* The cstring read limit: a string this long without a NUL was cut */
#define NPROG_CSTRING_MAX 4096

enum nprog_step_kind {
	NPSTEP_CONTINUE = 1,
	NPSTEP_RETURN,
	NPSTEP_ERRNO,
	NPSTEP_WRITE,
};

/**
 * struct nprog_step - one step of a decision
 * @kind:	enum nprog_step_kind
 * @val:	NPSTEP_RETURN: value
 * @err:	NPSTEP_ERRNO: errno (1..4095)
 * @addr:	NPSTEP_WRITE: address in the caller (resolved)
 * @data:	NPSTEP_WRITE: bytes (inside the program)
 * @len:	their length
 */
struct nprog_step {
	int kind;
	int64_t val;
	int err;
	uint64_t addr;
	const uint8_t *data;
	size_t len;
};

/**
 * struct nprog_decision - what the program decided for one notification
 * @beam:	true: the BEAM decides (a handler, or a rule not compiled)
 * @rule:	the index of the block that matched, or -1 (the default)
 * @nsteps:	steps to run, the last one answering
 * @steps:	the steps
 */
struct nprog_decision {
	bool beam;
	int rule;
	size_t nsteps;
	struct nprog_step steps[NPROG_MAX_STEPS];
};

/**
 * struct nprog_mem - one declared read, by argument index
 * @present:	a read was declared (and done) for this argument
 * @err:	its errno if it failed, else 0
 * @data:	bytes read
 * @len:	their count
 */
struct nprog_mem {
	bool present;
	int err;
	const uint8_t *data;
	size_t len;
};

/**
 * struct nprog - a decoded (validated) program; points into its buffer
 * @buf:	the program bytes
 * @len:	their count
 * @nblocks:	rule blocks
 * @blocks:	offset of the first block
 * @deflt:	offset of the default action
 */
struct nprog {
	const uint8_t *buf;
	size_t len;
	unsigned nblocks;
	size_t blocks;
	size_t deflt;
};

int nprog_decode(const uint8_t *buf, size_t len, struct nprog *p,
		 char *why, size_t why_len);
void nprog_eval(const struct nprog *p, uint32_t nr, const uint64_t args[6],
		const struct nprog_mem mem[6], struct nprog_decision *d);

#endif /* LINX_NOTIFY_PROG_H */
