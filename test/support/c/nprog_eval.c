/*
 * nprog_eval.c - runs compiled notify programs (c_src/notify_prog.c and
 * notify_prog_eval.c, the agent's own decoder and interpreter) on
 * notifications read from stdin, without a workload: the differential test
 * (test/linx/seccomp/notify_program_test.exs) compares every decision
 * with Linx.Seccomp.Notify.decide/2.
 *
 * stdin, little-endian, repeated until EOF:
 *   u32 program length, the program,
 *   u32 cases, then per case: u32 nr, 6 x u64 args, 6 x
 *   (u8 present, i32 err, u32 len, bytes)
 * stdout, per program: "refused <why>" or "ok", then one line per case:
 *   "beam" or its steps joined by ";": "C", "R<int64>", "E<errno>",
 *   "W<addr>:<hex>".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "notify_prog.h"

static int read_exact(void *buf, size_t n)
{
	return n == 0 || fread(buf, 1, n, stdin) == n ? 0 : -1;
}

static int read_le(uint64_t *v, size_t n)
{
	uint8_t b[8];
	size_t i;

	if (read_exact(b, n))
		return -1;
	*v = 0;
	for (i = 0; i < n; i++)
		*v |= (uint64_t)b[i] << (8 * i);
	return 0;
}

static void print_decision(const struct nprog_decision *d)
{
	size_t i, k;

	if (d->beam) {
		puts("beam");
		return;
	}
	for (i = 0; i < d->nsteps; i++) {
		const struct nprog_step *st = &d->steps[i];

		if (i)
			putchar(';');
		switch (st->kind) {
		case NPSTEP_CONTINUE:
			putchar('C');
			break;
		case NPSTEP_RETURN:
			printf("R%" PRId64, st->val);
			break;
		case NPSTEP_ERRNO:
			printf("E%d", st->err);
			break;
		default:
			printf("W%" PRIu64 ":", st->addr);
			for (k = 0; k < st->len; k++)
				printf("%02x", st->data[k]);
		}
	}
	putchar('\n');
}

/* one case; Return: 0, or -1 at a short read */
static int run_case(const struct nprog *p, bool ok)
{
	struct nprog_decision d;
	struct nprog_mem mem[6] = { { 0 } };
	uint8_t *bufs[6] = { NULL };
	uint64_t nr, args[6], v;
	int i, rc = -1;

	if (read_le(&nr, 4))
		return -1;
	for (i = 0; i < 6; i++)
		if (read_le(&args[i], 8))
			return -1;
	for (i = 0; i < 6; i++) {
		if (read_le(&v, 1))
			goto out;
		mem[i].present = v != 0;
		if (read_le(&v, 4))
			goto out;
		mem[i].err = (int)(int32_t)v;
		if (read_le(&v, 4) || v > (1u << 20))
			goto out;
		mem[i].len = v;
		bufs[i] = malloc(v ? v : 1);
		if (!bufs[i] || read_exact(bufs[i], v))
			goto out;
		mem[i].data = bufs[i];
	}
	if (ok) {
		nprog_eval(p, (uint32_t)nr, args, mem, &d);
		print_decision(&d);
	}
	rc = 0;
out:
	for (i = 0; i < 6; i++)
		free(bufs[i]);
	return rc;
}

int main(void)
{
	char why[256];
	struct nprog p;
	uint64_t len, ncases;
	uint8_t *prog;
	bool ok;

	while (!read_le(&len, 4)) {
		if (len > (1u << 21))
			return 2;
		prog = malloc(len ? len : 1);
		if (!prog || read_exact(prog, len) || read_le(&ncases, 4))
			return 2;
		ok = !nprog_decode(prog, len, &p, why, sizeof(why));
		if (ok)
			puts("ok");
		else
			printf("refused %s\n", why);
		while (ncases--)
			if (run_case(&p, ok))
				return 2;
		free(prog);
		fflush(stdout);
	}
	return 0;
}
