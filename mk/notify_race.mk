# mk/notify_race.mk - the hostile workload of the notify resolution tests.
#
# $(BUILD)/test/notify_race (test/support/c/notify_race.c) races mknod
# against symlink swaps so that test/linx/seccomp/notify_resolve_test.exs
# can check that a {:call, ...} rule is not turned against the host. The
# test builds it on demand too (same command line).

NOTIFY_RACE := $(BUILD)/test/notify_race

ALL_PROGRAMS += $(NOTIFY_RACE)

$(NOTIFY_RACE): test/support/c/notify_race.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -o $@ $< -pthread
