/*
 * fuzz_nprog.c - libFuzzer harness for nprog_decode() and nprog_eval()
 * (c_src/notify_prog.c, notify_prog_eval.c): the program the agent runs
 * for every notification, compiled by Linx.Seccomp.Notify.compile/1.
 *
 * The input is a program. Properties: a refused program says why (a
 * non-empty message); an accepted one runs on a few fixed notifications
 * (every argument and declared read, strings with and without a NUL,
 * sockaddrs of each family) without reading outside its buffer, and
 * every decision is well formed: the BEAM's, or 1..NPROG_MAX_STEPS steps
 * of which only the last answers, with an errno in 1..4095 and write data
 * inside the program.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "notify_prog.h"

static void check_decision(const struct nprog_decision *d,
			   const uint8_t *data, size_t size)
{
	size_t i;

	if (d->beam) {
		FUZZ_ASSERT(d->nsteps == 0);
		return;
	}
	FUZZ_ASSERT(d->nsteps >= 1 && d->nsteps <= NPROG_MAX_STEPS);
	for (i = 0; i < d->nsteps; i++) {
		const struct nprog_step *st = &d->steps[i];
		bool last = i + 1 == d->nsteps;

		FUZZ_ASSERT(last == (st->kind != NPSTEP_WRITE));
		if (st->kind == NPSTEP_ERRNO)
			FUZZ_ASSERT(st->err >= 1 && st->err <= 4095);
		if (st->kind == NPSTEP_WRITE)
			FUZZ_ASSERT(st->len && st->data >= data &&
				    st->data + st->len <= data + size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t inet[] = { 2, 0, 0, 53, 127, 0, 0, 1 };
	static const uint8_t unix_sa[] = { 1, 0, '/', 'r', 'u', 'n', 0 };
	static const uint8_t abstract[] = { 1, 0, 0, 'a', 'b' };
	static const uint8_t inet6[24] = { 10, 0, 1, 187 };
	static const char *const strs[] = { "/etc/../etc/passwd", "rel",
					    "", "//x//./y/.." };
	uint64_t args[6] = { 0, 1, 2, 0xffffff9c, UINT64_MAX, 0x241 };
	struct nprog_mem mem[6];
	struct nprog_decision d;
	struct nprog p;
	char why[256];
	uint32_t nrs[] = { 0, 39, 42, 257, 62 };
	size_t k, i;

	why[0] = '\0';
	if (nprog_decode(data, size, &p, why, sizeof(why))) {
		FUZZ_ASSERT(why[0] != '\0');
		return 0;
	}
	for (k = 0; k < 4; k++) {
		memset(mem, 0, sizeof(mem));
		mem[0] = (struct nprog_mem){ true, 0, (const uint8_t *)strs[k],
					     strlen(strs[k]) + (k & 1) };
		mem[1] = (struct nprog_mem){ true, 0, k & 1 ? inet : unix_sa,
					     k & 1 ? sizeof(inet) :
						     sizeof(unix_sa) };
		mem[2] = (struct nprog_mem){ true, 0, k & 2 ? abstract : inet6,
					     k & 2 ? sizeof(abstract) :
						     sizeof(inet6) };
		mem[3] = (struct nprog_mem){ true, 14, NULL, 0 };
		for (i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++) {
			args[0] = k * 7;
			nprog_eval(&p, nrs[i], args, mem, &d);
			check_decision(&d, data, size);
		}
	}
	return 0;
}
