# mk/notify_prog.mk - the notify program interpreter outside the agent.
#
# $(BUILD)/test/nprog_eval runs compiled notify programs
# (c_src/notify_prog.c and notify_prog_eval.c, the agent's own decoder
# and interpreter) on notifications from stdin: the differential test
# (test/linx/seccomp/notify_program_test.exs) checks every decision
# against Linx.Seccomp.Notify.decide/2. The fuzz harness is fuzz/fuzz_nprog.c
# (mk/fuzz.mk, harness "nprog").

NPROG_EVAL := $(BUILD)/test/nprog_eval

ALL_PROGRAMS += $(NPROG_EVAL)

$(NPROG_EVAL): test/support/c/nprog_eval.c c_src/notify_prog.c \
		c_src/notify_prog_eval.c c_src/notify_prog.h c_src/notify_prog_fmt.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ic_src -o $@ test/support/c/nprog_eval.c c_src/notify_prog.c \
		c_src/notify_prog_eval.c
