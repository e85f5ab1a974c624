# mk/resources.mk - the C helper of the resource tests.
#
# $(BUILD)/test/resource_probe holds or allocates memory, spins on the CPU
# or opens files until it cannot (test/support/c/resource_probe.c), for
# test/linx/sandbox/resources_test.exs.

RESOURCE_PROBE := $(BUILD)/test/resource_probe

ALL_PROGRAMS += $(RESOURCE_PROBE)

$(RESOURCE_PROBE): test/support/c/resource_probe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<
