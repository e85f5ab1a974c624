# mk/test_helpers.mk - C helper programs for the Elixir test suite.
#
# Included by the main Makefile (-include $(wildcard mk/*.mk)), which
# defines CC, CFLAGS, BUILD and ALL_PROGRAMS.
#
# $(BUILD)/test/try_filter asks the running kernel whether it accepts a
# seccomp filter and what a filtered call does; Linx.Test.BPFProbe
# (test/support/bpf_probe.ex) runs it to check Linx.Seccomp.BPF against the
# kernel. It needs threads (the filter goes on a worker thread only).

TRY_FILTER := $(BUILD)/test/try_filter

ALL_PROGRAMS += $(TRY_FILTER)

$(TRY_FILTER): test/support/c/try_filter.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -o $@ $< -pthread

# $(BUILD)/test/leader_exit is a live process whose main thread has exited
# (pthread_exit): an enter target whose /proc/PID/ns entries are gone.

LEADER_EXIT := $(BUILD)/test/leader_exit

ALL_PROGRAMS += $(LEADER_EXIT)

$(LEADER_EXIT): test/support/c/leader_exit.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -o $@ $< -pthread

# $(BUILD)/test/sock_probe prints whether its fd 1 is non-blocking and its
# send/receive timeouts: the {:connect_unix, path} stdio tests.

SOCK_PROBE := $(BUILD)/test/sock_probe

ALL_PROGRAMS += $(SOCK_PROBE)

$(SOCK_PROBE): test/support/c/sock_probe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<
