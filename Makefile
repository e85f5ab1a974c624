# Linx C build: the port agent priv/linx_process, C unit tests, sanitizer
# build. Other C programs plug in through mk/*.mk fragments (see below).
#
#   make all        the agent and every program in ALL_PROGRAMS
#   make test-c     build and run the C unit tests (test/c/)
#   make test-e2e   drive the agent through a real port (test/c/agent_e2e.exs)
#   make sanitize   ASan + UBSan build of the agent into priv/
#   make clean
#
# `mix compile` runs `make all` (LINX_SKIP_MAKE=1 skips it).

.DEFAULT_GOAL := all

CC ?= cc
ERL ?= erl
BUILD := build
PRIV := priv

EI_DIR := $(shell $(ERL) -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
ifeq ($(EI_DIR),)
$(error cannot find erl_interface: is erl on PATH?)
endif
EI_CFLAGS := -isystem $(EI_DIR)/include
EI_LIBS := -L$(EI_DIR)/lib -lei -lpthread

CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -Werror -std=gnu11 -MMD -MP
CPPFLAGS += $(EI_CFLAGS)
LDLIBS_AGENT := $(EI_LIBS) -lcap

AGENT := $(PRIV)/linx_process
# the same agent linked dynamically, for memcheck (mk/analysis.mk); set
# before mk/*.mk is included, whose rules name it as a prerequisite
AGENT_DYN := $(BUILD)/dynamic/linx_process
ALL_PROGRAMS := $(AGENT)

AGENT_SRCS := $(sort $(wildcard c_src/*.c))
AGENT_OBJS := $(patsubst c_src/%.c,$(BUILD)/agent/%.o,$(AGENT_SRCS))

# The pure modules the unit tests (and fuzzers) link against: no main,
# no process control.
PURE_MODS := error term term_decode term_encode command checkpoint notify_wire \
	notify_step request request_sandbox echo chan framing ns caps notify_path procfs \
	resources_wire idmap_wire landlock notify_prog notify_prog_eval
PURE_OBJS := $(patsubst %,$(BUILD)/agent/%.o,$(PURE_MODS))

# The agent's side of seccomp user notification, unit-tested against a
# real listener (test/c/test_notify_agent.c): not pure (it forks the
# {:call} helpers), so the fuzzers do not link it.
NOTIFY_MODS := notify notify_reply notify_call notify_helper unix_sock events
NOTIFY_OBJS := $(patsubst %,$(BUILD)/agent/%.o,$(NOTIFY_MODS))

# spawn_workload() and the agent's exits, checked for the descriptors
# they leave open (test/c/test_spawn.c).
SPAWN_MODS := spawn clone_vm child pty agent tree usage resources idmap mounts passfd init
SPAWN_OBJS := $(patsubst %,$(BUILD)/agent/%.o,$(SPAWN_MODS))

TEST_SRCS := $(sort $(wildcard test/c/*.c))
TEST_OBJS := $(patsubst test/c/%.c,$(BUILD)/test/%.o,$(TEST_SRCS))
TEST_BIN := $(BUILD)/test/linx_test

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
SAN_OBJS := $(patsubst c_src/%.c,$(BUILD)/san/%.o,$(AGENT_SRCS))

# Fragments append to ALL_PROGRAMS and add their own rules; they may use
# CC CFLAGS CPPFLAGS EI_CFLAGS EI_LIBS BUILD PRIV.
-include $(wildcard mk/*.mk)

.PHONY: all test-c test-e2e sanitize clean

all: $(ALL_PROGRAMS)

# After `make sanitize` the agent in priv/ is the instrumented one and
# newer than every object: relink the normal one on the next `make all`.
SAN_STAMP := $(BUILD)/.sanitized
ifneq ($(wildcard $(SAN_STAMP)),)
.PHONY: $(AGENT)
endif

# The agent is linked statically: one is exec'd per workload, and ld.so's
# mapping and relocation of libc and libcap was ~0.3 ms of its start-up
# CPU (docs/performance.md, "Throughput"). glibc warns that the resolver
# in libei's ei_init() would need its shared NSS modules at run time: the
# agent never resolves a name. Memcheck needs a dynamic malloc to track:
# make valgrind-check runs AGENT_DYN.
AGENT_LDFLAGS := -static

$(AGENT): $(AGENT_OBJS) | $(PRIV)
	$(CC) $(CFLAGS) $(LDFLAGS) $(AGENT_LDFLAGS) -o $@ $(AGENT_OBJS) $(LDLIBS_AGENT)
	rm -f $(SAN_STAMP)

$(AGENT_DYN): $(AGENT_OBJS)
	mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(AGENT_OBJS) $(LDLIBS_AGENT)

$(BUILD)/agent/%.o: c_src/%.c | $(BUILD)/agent
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/test/%.o: test/c/%.c | $(BUILD)/test
	$(CC) $(CPPFLAGS) -Ic_src $(CFLAGS) -c -o $@ $<

# --wrap=setns: test_ns.c counts ns_enter()'s setns calls and can refuse
# the pidfd one, to run the one-by-one fallback
$(TEST_BIN): $(TEST_OBJS) $(PURE_OBJS) $(NOTIFY_OBJS) $(SPAWN_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--wrap=setns -o $@ $^ $(LDLIBS_AGENT)

test-c: $(TEST_BIN)
	./$(TEST_BIN)

test-e2e: $(AGENT)
	elixir test/c/agent_e2e.exs

$(BUILD)/san/%.o: c_src/%.c | $(BUILD)/san
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -c -o $@ $<

sanitize: $(SAN_OBJS) | $(PRIV)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $(AGENT) $^ $(LDLIBS_AGENT)
	touch $(SAN_STAMP)

$(PRIV) $(BUILD)/agent $(BUILD)/test $(BUILD)/san:
	mkdir -p $@

clean:
	rm -rf $(BUILD) $(ALL_PROGRAMS)

-include $(AGENT_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(SAN_OBJS:.o=.d)
