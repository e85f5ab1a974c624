#!/usr/bin/env bash
# bench/ab.sh - A/B of two checkouts (each built: make, MIX_ENV=prod mix
# compile) on this noisy machine: they run bench/ab_ratio.exs one after
# the other, ROUNDS times, and each run prints run/2's throughput as a
# ratio to System.cmd/3's measured in the same BEAM, so a drift of the
# machine moves both (docs/performance.md, "Throughput, a third time").
#
#   bench/ab.sh CONCURRENCY RUNS_PER_BATCH ROUNDS DIR_A DIR_B
set -euo pipefail
c=$1 n=$2 rounds=$3
shift 3
script="$(cd "$(dirname "$0")" && pwd)/ab_ratio.exs"
for _ in $(seq "$rounds"); do
  for dir in "$@"; do
    (cd "$dir" && MIX_ENV=prod mix run "$script" "$c" "$n" | sed "s|^|$(basename "$dir") |")
  done
done
