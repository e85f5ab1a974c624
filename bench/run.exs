# The Linx benchmark suite. Run it with script/bench (which installs the
# comparison tools and builds the C harness), or directly:
#
#   MIX_ENV=prod mix run bench/run.exs [spawn ns enter checkpoint throughput memory phases notify distributed]
#
# BENCH_ITERS sets the iterations per latency benchmark (default 300).

# The helpers first, then the suites that import them: requiring both at
# once sometimes failed with "module Bench.Runner is not loaded" (Elixir
# 1.14's parallel compiler under load).
for dir <- ["lib", "suites"] do
  {:ok, _modules, _warnings} =
    Path.join([__DIR__, dir, "*.ex"])
    |> Path.wildcard()
    |> Kernel.ParallelCompiler.require()
end

suites = [
  spawn: Bench.Spawn,
  ns: Bench.Ns,
  enter: Bench.Enter,
  checkpoint: Bench.Checkpoint,
  throughput: Bench.Throughput,
  memory: Bench.Memory,
  phases: Bench.Phases,
  notify: Bench.Notify,
  distributed: Bench.Distributed
]

names = Keyword.keys(suites)

selected =
  case System.argv() do
    [] ->
      names

    args ->
      Enum.map(args, fn a ->
        Enum.find(names, &(Atom.to_string(&1) == a)) ||
          (
            IO.puts(:stderr, "unknown benchmark #{a}; choose from: #{Enum.join(names, " ")}")
            System.halt(2)
          )
      end)
  end

iters = Bench.Runner.iters()
t0 = System.monotonic_time(:millisecond)
Bench.Env.header(selected, iters)

# A benchmark that crashes (a Linx bug, a missing tool) is reported and
# the others still run; the exit status says something failed.
{targets, failed} =
  Enum.reduce(selected, {[], []}, fn name, {targets, failed} ->
    try do
      {targets ++ Keyword.fetch!(suites, name).run(iters), failed}
    rescue
      e ->
        IO.puts("\n**#{name} failed**: #{Exception.format(:error, e, __STACKTRACE__)}")
        {targets, failed ++ [name]}
    end
  end)

Bench.Report.targets_table(targets)
IO.puts("\nTotal time: #{div(System.monotonic_time(:millisecond) - t0, 1000)} s")

if failed != [] do
  IO.puts("Failed: #{Enum.join(failed, " ")}")
  System.halt(1)
end
