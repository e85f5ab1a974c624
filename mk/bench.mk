# mk/bench.mk - C harnesses for the benchmarks (script/bench).
#
# Included by the main Makefile (-include $(wildcard mk/*.mk)) after it
# defines CC CFLAGS BUILD PRIV ALL_PROGRAMS. Not part of `make all`:
# `make bench-c` builds them into bench/bin/ (gitignored).
#
# bench/bin/floor: fork/clone/setns + execve + waitpid in a loop, timing
# each iteration (the kernel's floor the Linx figures are compared with).
# bench/bin/notify_load: the notify benchmark's workload (timed getppid
# calls); bench/bin/notify_floor: a one-process seccomp user-notification
# supervisor (the floor the Linx notify round trip is compared with).
# bench/bin/hop: a pipe round trip, direct or through a relay process
# (what the zygote's relay cost each frame, docs/performance.md).

BENCH_BIN := bench/bin
BENCH_PROGRAMS := $(BENCH_BIN)/floor $(BENCH_BIN)/notify_floor \
		  $(BENCH_BIN)/notify_load $(BENCH_BIN)/hop

.PHONY: bench-c

bench-c: $(BENCH_PROGRAMS)

$(BENCH_BIN)/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $<

$(BENCH_BIN)/notify_load: bench/notify_load.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -pthread -o $@ $<

.PHONY: bench-clean
bench-clean:
	rm -rf $(BENCH_BIN)
