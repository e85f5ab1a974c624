# mk/analysis.mk - static analysis of c_src/: cppcheck and clang-tidy.
#
#   make analyze            both; fails on any finding not listed as a
#                           false positive (make -j analyze runs the
#                           clang-tidy files in parallel)
#   make analyze-cppcheck
#   make analyze-clang-tidy
#
# Configuration, committed:
#   .clang-tidy                          the check set (why each check is off)
#   mk/cppcheck-suppressions.xml         cppcheck false positives, by file
#                                        and variable
#   mk/clang-tidy-false-positives.txt    clang-tidy false positives, one
#                                        regex each, with the reason
#   mk/analysis_shim.h                   tells the analyzer linx_fail()
#                                        returns -1 (cross-file blind spot)
#
# Debian 12 packages: cppcheck, clang-tidy (clang-tidy-14).

CPPCHECK ?= cppcheck
CLANG_TIDY ?= clang-tidy
ANALYZE_DIR := $(BUILD)/analyze
ANALYZE_SRCS := $(sort $(wildcard c_src/*.c c_src/seccomp_compile/*.c))
ANALYZE_HDRS := $(wildcard c_src/*.h c_src/seccomp_compile/*.h)
ANALYZE_TIDY := $(patsubst %.c,$(ANALYZE_DIR)/%.tidy,$(ANALYZE_SRCS))

# The same include paths as the build: c_src, the seccomp compiler's own
# directory, erl_interface's headers (EI_CFLAGS, found through erl).
ANALYZE_INCLUDES := -Ic_src -Ic_src/seccomp_compile $(EI_CFLAGS)

.PHONY: analyze analyze-cppcheck analyze-clang-tidy

analyze: analyze-cppcheck analyze-clang-tidy check-layers

# --library=posix lets cppcheck track descriptors (open/close) and POSIX
# calls; without it, fd leaks go unseen. -D_GNU_SOURCE: every file
# defines it, checking the configuration without it would be noise.
analyze-cppcheck:
	$(CPPCHECK) -q --enable=warning,performance,portability \
	  --error-exitcode=1 --std=c11 --library=posix -D_GNU_SOURCE \
	  $(patsubst -isystem,-I,$(ANALYZE_INCLUDES)) \
	  --suppress-xml=mk/cppcheck-suppressions.xml --inline-suppr \
	  --template='{file}:{line}: {severity}: {id}: {message}' \
	  $(ANALYZE_SRCS)

analyze-clang-tidy: $(ANALYZE_TIDY)
	@echo "clang-tidy: $(words $(ANALYZE_TIDY)) files clean"

$(ANALYZE_DIR)/fp.re: mk/clang-tidy-false-positives.txt
	@mkdir -p $(@D)
	grep -v -e '^#' -e '^$$' $< > $@

# One stamp per file: diagnostics minus the listed false positives must be
# empty. The raw output stays in $(ANALYZE_DIR)/<file>.log.
$(ANALYZE_DIR)/%.tidy: %.c .clang-tidy mk/analysis_shim.h $(ANALYZE_DIR)/fp.re \
		$(ANALYZE_HDRS)
	@mkdir -p $(@D)
	@$(CLANG_TIDY) --quiet $< -- -std=gnu11 $(ANALYZE_INCLUDES) \
	  $(if $(filter c_src/error.c,$<),,-include mk/analysis_shim.h) \
	  > $(ANALYZE_DIR)/$*.log 2>&1; \
	grep -E ':[0-9]+:[0-9]+: (warning|error): ' $(ANALYZE_DIR)/$*.log | \
	  grep -v -E -f $(ANALYZE_DIR)/fp.re | sort -u > $(ANALYZE_DIR)/$*.found; \
	if [ -s $(ANALYZE_DIR)/$*.found ]; then \
	  echo "clang-tidy $<: findings (full report $(ANALYZE_DIR)/$*.log):"; \
	  cat $(ANALYZE_DIR)/$*.found; exit 1; fi; \
	touch $@

# ------------------------------------------------------------------ valgrind
#
#   make valgrind-check   the agent under memcheck (leaks, invalid
#                         accesses, descriptors open at exit) on the
#                         spawn, pipe, stdin, checkpoint, PTY, namespace,
#                         enter, error and port-close paths:
#                         fuzz/valgrind_paths.exs through
#                         fuzz/valgrind_agent.sh. Logs: build/valgrind/.
#   make fuzz-valgrind    (mk/fuzz.mk) the fuzz inputs under memcheck
#
# Debian 12 packages: valgrind.

VALGRIND ?= valgrind

.PHONY: valgrind-check

valgrind-check: $(AGENT) $(AGENT_DYN)
	LINX_VG_AGENT=$(abspath $(AGENT_DYN)) elixir fuzz/valgrind_paths.exs
