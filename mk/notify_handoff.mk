# mk/notify_handoff.mk - the helper of the notify hand-off test
# (test/linx/seccomp/notify_handoff_test.exs).
#
# $(BUILD)/test/clone3_probe creates a child with a raw clone3(2) and a
# thread, and prints what they returned: a program that must run normally
# with every system call trapped.

CLONE3_PROBE := $(BUILD)/test/clone3_probe

ALL_PROGRAMS += $(CLONE3_PROBE)

$(CLONE3_PROBE): test/support/c/clone3_probe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -o $@ $< -pthread
