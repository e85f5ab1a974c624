# mk/fuzz.mk - libFuzzer harnesses for the agent's decoders (fuzz/).
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_HARNESSES="request chan"]
#       fuzz each harness for FUZZ_SECONDS under ASan + UBSan (+ LSan);
#       a crash, a sanitizer report, a leak or a broken invariant stops
#       that harness and the target fails; the reproducer is written to
#       fuzz/regression/<harness>/ (commit it, minimized). The growing
#       corpus lives in fuzz/out/corpus/<harness>/ (not committed);
#       statistics (executions) in fuzz/out/stats/<harness>.txt.
#   make fuzz-regress
#       replay fuzz/regression/<h>/ and fuzz/seeds/<h>/ through every
#       harness once, without fuzzing: with libFuzzer binaries when clang
#       can link them, else with a gcc-built replay driver
#       (fuzz/replay_main.c) under gcc's ASan + UBSan.
#   make fuzz-valgrind  replay the same inputs under valgrind memcheck
#   make fuzz-build     build the libFuzzer binaries only
#   make fuzz-seeds     regenerate fuzz/seeds/ from the Elixir side
#
# The harnesses link the agent's own pure modules (PURE_MODS of the main
# Makefile), compiled again into $(BUILD)/fuzz/ (clang, libFuzzer) or
# $(BUILD)/fuzz-replay/ (gcc) with sanitizers: the fuzzed decoders are
# the shipped ones, never copies.
#
# Debian 12 packages: clang and libclang-rt-14-dev (libFuzzer, clang's
# ASan/UBSan runtimes) for `make fuzz`; the replay fallback needs only
# build-essential (gcc-12 brings libasan8 and libubsan1).

FUZZ_HARNESSES ?= request command chan framing nprog
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_REPLAY_DIR := $(BUILD)/fuzz-replay

# ei's decoders are not instrumented (libei.a comes prebuilt); the
# decoders hand them padded copies, and valgrind-check replays the corpus
# under memcheck, which sees every access.
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g -std=gnu11 -Wall -Wextra -MMD -MP $(EI_CFLAGS) -Ic_src
FUZZ_LIBS := $(EI_LIBS) -lcap

# Harness sources: fuzz/fuzz_<h>.c, plus helpers shared by some of them.
FUZZ_EXTRA_request := cmdcheck
FUZZ_EXTRA_command := cmdcheck

FUZZ_OBJS := $(patsubst %,$(FUZZ_DIR)/obj/%.o,$(PURE_MODS))
FUZZ_REPLAY_OBJS := $(patsubst %,$(FUZZ_REPLAY_DIR)/obj/%.o,$(PURE_MODS))
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_HARNESSES))
FUZZ_REPLAY_BINS := $(patsubst %,$(FUZZ_REPLAY_DIR)/fuzz_%,$(FUZZ_HARNESSES))

# A crash, a leak, an ASan or UBSan report is fatal and printed in full.
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-run fuzz-build fuzz-regress fuzz-regress-libfuzzer \
	fuzz-regress-replay fuzz-seeds

# Which engine fuzz-regress uses: libfuzzer if $(FUZZ_CC) links a
# -fsanitize=fuzzer program, else replay. Evaluated once, and only by the
# targets that need it (a plain `make all` never runs the probe).
FUZZ_ENGINE = $(eval FUZZ_ENGINE := $(shell \
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' | \
	$(FUZZ_CC) -x c -fsanitize=fuzzer,address,undefined -o /dev/null - \
	>/dev/null 2>&1 && echo libfuzzer || echo replay))$(FUZZ_ENGINE)

# ---------------------------------------------------------------- libFuzzer

# Objects reached through pattern chains: keep them between runs.
.PRECIOUS: $(FUZZ_DIR)/obj/%.o $(FUZZ_DIR)/harness/%.o \
	   $(FUZZ_REPLAY_DIR)/obj/%.o $(FUZZ_REPLAY_DIR)/harness/%.o

$(FUZZ_DIR)/obj/%.o: c_src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/harness/%.o: fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

# One link rule per harness: its source, its helpers, the agent's objects.
define fuzz_link_rules
$(FUZZ_DIR)/fuzz_$(1): $(FUZZ_DIR)/harness/fuzz_$(1).o \
		$(patsubst %,$(FUZZ_DIR)/harness/fuzz_%.o,$(FUZZ_EXTRA_$(1))) \
		$(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $(FUZZ_LIBS)

$(FUZZ_REPLAY_DIR)/fuzz_$(1): $(FUZZ_REPLAY_DIR)/harness/fuzz_$(1).o \
		$(patsubst %,$(FUZZ_REPLAY_DIR)/harness/fuzz_%.o,$(FUZZ_EXTRA_$(1))) \
		$(FUZZ_REPLAY_DIR)/harness/replay_main.o $(FUZZ_REPLAY_OBJS)
	$(CC) $(FUZZ_SAN) -o $$@ $$^ $(FUZZ_LIBS)
endef
$(foreach h,$(FUZZ_HARNESSES),$(eval $(call fuzz_link_rules,$(h))))

fuzz-build: $(FUZZ_BINS)

# Each harness fuzzes for FUZZ_SECONDS from its seeds, regressions and the
# corpus it grew before; all of them run even if one fails.
fuzz:
	@if [ "$(FUZZ_ENGINE)" != libfuzzer ]; then \
	  echo "make fuzz: $(FUZZ_CC) cannot link libFuzzer programs" \
	       "(Debian 12: apt-get install clang libclang-rt-14-dev)" >&2; \
	  exit 2; fi
	@$(MAKE) --no-print-directory fuzz-run

fuzz-run: $(FUZZ_BINS)
	@rc=0; for h in $(FUZZ_HARNESSES); do \
	  mkdir -p fuzz/out/corpus/$$h fuzz/out/stats fuzz/regression/$$h; \
	  echo "== fuzz $$h for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_ENV) ./$(FUZZ_DIR)/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 -artifact_prefix=fuzz/regression/$$h/ \
	    $(FUZZ_ARGS) fuzz/out/corpus/$$h fuzz/seeds/$$h fuzz/regression/$$h \
	    > fuzz/out/stats/$$h.log 2>&1; \
	  st=$$?; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+.*DONE' \
	    fuzz/out/stats/$$h.log | tee fuzz/out/stats/$$h.txt; \
	  if [ $$st -ne 0 ]; then rc=1; \
	    echo "== fuzz $$h FAILED (exit $$st), log fuzz/out/stats/$$h.log:"; \
	    grep -E -A40 '==ERROR|runtime error|invariant broken|deadly signal' \
	      fuzz/out/stats/$$h.log | head -80; fi; \
	done; exit $$rc

fuzz-regress:
	@$(MAKE) --no-print-directory fuzz-regress-$(FUZZ_ENGINE)

# All inputs of a harness in one process; if that fails, again one
# process per input, so a leak (reported at exit) names its file.
fuzz-regress-libfuzzer: $(FUZZ_BINS)
	@rc=0; for h in $(FUZZ_HARNESSES); do \
	  log=$(FUZZ_DIR)/regress_$$h.log; \
	  files=$$(find fuzz/regression/$$h fuzz/seeds/$$h -type f 2>/dev/null | sort); \
	  n=$$(echo $$files | wc -w); \
	  if $(FUZZ_ENV) ./$(FUZZ_DIR)/fuzz_$$h $$files > $$log 2>&1; then \
	    echo "== fuzz-regress $$h (libFuzzer): $$n inputs, ok"; continue; fi; \
	  rc=1; : > $$log; bad=0; \
	  for f in $$files; do \
	    $(FUZZ_ENV) ./$(FUZZ_DIR)/fuzz_$$h $$f >> $$log 2>&1 || \
	      { bad=$$((bad + 1)); echo "FAILED: $$f" >> $$log; }; \
	  done; \
	  echo "== fuzz-regress $$h (libFuzzer): $$n inputs, $$bad FAILED"; \
	  grep '^FAILED:' $$log; \
	  grep -v '^Running:\|^Executed\|^INFO:\|^\*\*\*\|^MS:\|^stat::\|^FAILED:' $$log | head -60; \
	done; exit $$rc

# ------------------------------------------------------ replay driver (gcc)

$(FUZZ_REPLAY_DIR)/obj/%.o: c_src/%.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -c -o $@ $<

$(FUZZ_REPLAY_DIR)/harness/%.o: fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CFLAGS) -Werror $(FUZZ_SAN) -c -o $@ $<

fuzz-regress-replay: $(FUZZ_REPLAY_BINS)
	@rc=0; for h in $(FUZZ_HARNESSES); do \
	  echo "== fuzz-regress $$h (replay driver)"; \
	  $(FUZZ_ENV) ./$(FUZZ_REPLAY_DIR)/fuzz_$$h \
	    $$(ls -d fuzz/regression/$$h fuzz/seeds/$$h 2>/dev/null) \
	    > $(FUZZ_REPLAY_DIR)/regress_$$h.log 2>&1 \
	    || { rc=1; echo "== fuzz-regress $$h FAILED:"; \
	         grep -E '^LEAK:|invariant broken' $(FUZZ_REPLAY_DIR)/regress_$$h.log; \
	         grep -v '^Running:' $(FUZZ_REPLAY_DIR)/regress_$$h.log | tail -60; }; \
	  grep 'replayed' $(FUZZ_REPLAY_DIR)/regress_$$h.log; \
	done; exit $$rc

# ------------------------------------------- memcheck replay (valgrind)
#
# make fuzz-valgrind: seeds and regressions replayed under valgrind
# memcheck through an uninstrumented build of the harnesses: memcheck also
# sees inside libei, which ASan cannot (libei.a is not instrumented).

VALGRIND ?= valgrind
FUZZ_PLAIN_DIR := $(BUILD)/fuzz-plain
FUZZ_PLAIN_OBJS := $(patsubst %,$(FUZZ_PLAIN_DIR)/obj/%.o,$(PURE_MODS))

.PHONY: fuzz-valgrind

.PRECIOUS: $(FUZZ_PLAIN_DIR)/obj/%.o $(FUZZ_PLAIN_DIR)/harness/%.o

$(FUZZ_PLAIN_DIR)/obj/%.o: c_src/%.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_PLAIN_DIR)/harness/%.o: fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CFLAGS) -Werror -c -o $@ $<

define fuzz_plain_rules
$(FUZZ_PLAIN_DIR)/fuzz_$(1): $(FUZZ_PLAIN_DIR)/harness/fuzz_$(1).o \
		$(patsubst %,$(FUZZ_PLAIN_DIR)/harness/fuzz_%.o,$(FUZZ_EXTRA_$(1))) \
		$(FUZZ_PLAIN_DIR)/harness/replay_main.o $(FUZZ_PLAIN_OBJS)
	$(CC) -o $$@ $$^ $(FUZZ_LIBS)
endef
$(foreach h,$(FUZZ_HARNESSES),$(eval $(call fuzz_plain_rules,$(h))))

fuzz-valgrind: $(patsubst %,$(FUZZ_PLAIN_DIR)/fuzz_%,$(FUZZ_HARNESSES))
	@rc=0; for h in $(FUZZ_HARNESSES); do \
	  echo "== fuzz-valgrind $$h"; \
	  $(VALGRIND) -q --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite,indirect \
	    ./$(FUZZ_PLAIN_DIR)/fuzz_$$h \
	    $$(ls -d fuzz/regression/$$h fuzz/seeds/$$h 2>/dev/null) \
	    > $(FUZZ_PLAIN_DIR)/valgrind_$$h.log 2>&1 \
	    || { rc=1; echo "== fuzz-valgrind $$h FAILED:"; \
	         grep -v '^Running:' $(FUZZ_PLAIN_DIR)/valgrind_$$h.log | head -60; }; \
	  grep 'replayed' $(FUZZ_PLAIN_DIR)/valgrind_$$h.log; \
	done; exit $$rc


# ---------------------------------------------------------------- seeds

fuzz-seeds:
	elixir test/support/fuzz_seeds.exs fuzz/seeds

-include $(wildcard $(FUZZ_DIR)/*/*.d $(FUZZ_REPLAY_DIR)/*/*.d $(FUZZ_PLAIN_DIR)/*/*.d)
