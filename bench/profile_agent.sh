#!/usr/bin/env bash
# Profiles the agent alone, outside the BEAM: feeds it a spawn request for
# /bin/true on fd 3 (as the BEAM would), reads its frames from fd 4.
#
#   bench/profile_agent.sh [OUTDIR]      (default /tmp/linx-profile)
#
# Writes to OUTDIR and prints a summary:
#   perf-stat.txt   perf stat -r 200 of floor -n 1 agent (agent + workload)
#   floor-stat.txt  the same for floor -n 1 fork /bin/true (the floor)
#   strace-c.txt    syscall counts of the agent (strace -c -f, one run)
#   strace.txt      strace -f -tt -T of one run
#   callgrind.*     valgrind --tool=callgrind of the agent (instruction counts)
# Needs: MIX_ENV=prod build, make bench-c; perf, strace, valgrind if present.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/linx-profile}
mkdir -p "$out"
agent=$PWD/priv/linx_process
floor=$PWD/bench/bin/floor
req=$out/request.bin

MIX_ENV=prod mix run --no-start -e '
  opts = Linx.Process.Options.validate!([argv: ["/bin/true"], stdio: :devnull], :spawn)
  bin = Linx.Process.Wire.encode(Linx.Process.Wire.request(opts, false))
  File.write!(System.argv() |> hd(), <<byte_size(bin)::32, bin::binary>>)
' "$req"

# Below, fd 3 stays open (the sleep) until the agent is done: EOF on fd 3
# would mean "the BEAM went away" and kill the workload.

# Both through bench/bin/floor -n 1, so both include the harness's own
# start-up and differ only by the agent.
echo "== agent + /bin/true, standalone (perf stat -r 200 of floor -n 1 agent)"
if command -v perf >/dev/null; then
  perf stat -r 200 -e task-clock,context-switches,page-faults \
    "$floor" -n 1 agent "$agent" "$req" >/dev/null 2>"$out/perf-stat.txt" || true
  grep -E "task-clock|page-faults|context|elapsed" "$out/perf-stat.txt"
  echo "== floor: fork + execve /bin/true (perf stat -r 200 of floor -n 1 fork)"
  perf stat -r 200 -e task-clock,context-switches,page-faults \
    "$floor" -n 1 fork /bin/true >/dev/null 2>"$out/floor-stat.txt" || true
  grep -E "task-clock|page-faults|context|elapsed" "$out/floor-stat.txt"
fi

if command -v strace >/dev/null; then
  echo "== syscalls of one run (strace -c -f: agent + workload)"
  strace -c -f -o "$out/strace-c.txt" "$agent" 3< <(cat "$req"; sleep 0.5) 4>/dev/null
  head -5 "$out/strace-c.txt"; tail -1 "$out/strace-c.txt"
  strace -f -tt -T -o "$out/strace.txt" "$agent" 3< <(cat "$req"; sleep 0.5) 4>/dev/null
  echo "== /proc reads by the agent after the workload exited:" \
    "$(grep -c 'openat(.*/stat"' "$out/strace.txt" || true)"
fi

if command -v valgrind >/dev/null; then
  echo "== instructions (callgrind, agent only; clone3 falls back to clone under valgrind)"
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$agent" 3< <(cat "$req"; sleep 1) 4>/dev/null 2>"$out/callgrind.log" || true
  grep -E "Collected" "$out/callgrind.log" || true
  callgrind_annotate "$out/callgrind.out" 2>/dev/null | head -30 >"$out/callgrind-top.txt" || true
  sed -n '1,30p' "$out/callgrind-top.txt" | grep -E "^ *[0-9,]+ " | head -15
fi
echo "(full output in $out)"
