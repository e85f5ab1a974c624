# mk/layers.mk - the agent's modules call each other one way only.
#
#   make check-layers   fails if two of c_src/*.c call each other, or if
#                       any longer circle of calls exists; prints the
#                       layers otherwise (run by `make analyze`)
#
# Read from the objects the agent is linked from: for every object, the
# global symbols it defines (nm: T, D, R, B) and the ones it uses (U);
# an edge a -> b when a uses a symbol b defines. tsort(1) orders the
# edges and reports any loop. docs/design.md shows the layers.

.PHONY: check-layers

check-layers: $(AGENT_OBJS)
	@for o in $(AGENT_OBJS); do \
	  m=$$(basename $$o .o); \
	  nm --defined-only -g $$o | awk -v m=$$m '{ print "D", $$3, m }'; \
	  nm -u $$o | awk -v m=$$m '{ print "U", $$2, m }'; \
	done | awk '$$1 == "D" { def[$$2] = $$3; next } \
	  { use[NR] = $$2; user[NR] = $$3 } \
	  END { for (i in use) if ((use[i] in def) && def[use[i]] != user[i]) \
	    print user[i], def[use[i]] }' | sort -u > $(BUILD)/layers.edges
	@awk '{ e[$$1 " " $$2] = 1 } END { for (k in e) { split(k, p, " "); \
	  if ((p[2] " " p[1]) in e && p[1] < p[2]) { \
	    print "check-layers: " p[1] ".c and " p[2] ".c call each other"; \
	    bad = 1 } } exit bad }' $(BUILD)/layers.edges
	@if tsort $(BUILD)/layers.edges 2>&1 >/dev/null | grep -q loop; then \
	  echo "check-layers: a circle of calls:"; \
	  tsort $(BUILD)/layers.edges 2>&1 >/dev/null; exit 1; fi
	@echo "check-layers: $$(wc -l < $(BUILD)/layers.edges) call edges" \
	  "between $(words $(AGENT_OBJS)) modules, no circle; top down:"
	@tsort $(BUILD)/layers.edges | tr '\n' ' '; echo
