#!/bin/sh
# fuzz/valgrind_agent.sh - the port agent under valgrind memcheck, for
# `make valgrind-check` (driven by fuzz/valgrind_paths.exs, which opens
# this script as the port program).
#
# The BEAM's fds 3 and 4 are inherited through exec and valgrind passes
# them to the agent untouched (valgrind keeps its own descriptors above
# them). --child-silent-after-fork: the agent forks the workload's child
# and helpers; their memcheck output (the child runs in valgrind until
# execve, then natively) would interleave with the agent's. Each agent
# writes its own log, LINX_VG_LOG (one file per pid: %p).
#
#   LINX_VG_AGENT  the agent (default priv/linx_process next to this dir)
#   LINX_VG_LOG    log file pattern (default /tmp/linx-vg.%p.log)
here=$(cd "$(dirname "$0")" && pwd)
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible \
  --error-exitcode=99 --track-fds=yes --child-silent-after-fork=yes \
  --log-file="${LINX_VG_LOG:-/tmp/linx-vg.%p.log}" \
  "${LINX_VG_AGENT:-$here/../priv/linx_process}" "$@"
