# mk/seccomp_compile.mk - priv/linx_seccomp, the libseccomp policy compiler.
#
# Included by the main Makefile after it defines CC CFLAGS EI_CFLAGS EI_LIBS
# BUILD PRIV. Objects go under $(BUILD)/seccomp_compile/; -MMD -MP gives
# header dependencies.

SECCOMP_COMPILE_SRC := $(wildcard c_src/seccomp_compile/*.c)
SECCOMP_COMPILE_OBJ := $(SECCOMP_COMPILE_SRC:c_src/seccomp_compile/%.c=$(BUILD)/seccomp_compile/%.o)

ALL_PROGRAMS += $(PRIV)/linx_seccomp

$(PRIV)/linx_seccomp: $(SECCOMP_COMPILE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(EI_LIBS) -lseccomp

$(BUILD)/seccomp_compile/%.o: c_src/seccomp_compile/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(EI_CFLAGS) -Wall -Wextra -Werror -MMD -MP -c -o $@ $<

-include $(SECCOMP_COMPILE_OBJ:.o=.d)
