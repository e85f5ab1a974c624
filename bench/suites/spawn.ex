defmodule Bench.Spawn do
  @moduledoc """
  1. Spawn-to-exit of /bin/true, no namespaces: `Linx.Process.run/2` vs
  `System.cmd/3` vs a bare `Port.open` to its exit status (the BEAM's
  floor) vs fork+execve+waitpid in C (the kernel's floor).

  Linx twice: cold (pool off, the agent opened on demand) and warm
  (`Linx.Pool` holding started agents), each in an interleaved group of
  its own (the cold runs' pool restarts would run during warm ones).
  """

  import Bench.Runner
  alias Bench.{Floor, Report}

  @true_ "/bin/true"

  @linx "Linx.Process.run/2 (cold, no pool)"
  @warm "Linx.Process.run/2 (warm, pool)"
  @nocg "Linx.Process.run/2 (warm, pool, cgroup: false)"
  @cmd "System.cmd/3"
  @port "Port.open (BEAM floor)"
  @floor "C fork+execve+waitpid (kernel floor)"
  @agent "C harness driving the agent (no BEAM)"

  def run(iters) do
    Report.section("1. spawn-to-exit of /bin/true, no namespaces", [
      "Two interleaved groups, #{iters} iterations each: the cold path with its " <>
        "baseline, then the warm path with every other contender. A cold run " <>
        "turns the pool off and the next warm run's `Linx.Pool.resize/1` opens " <>
        "its agents again: their start-up (an exec each) ran on the other core " <>
        "during the warm measurement, which put 2-4 % on it (docs/performance.md, " <>
        "\"Throughput, a fourth time\"). Ratios against #{@port}."
    ])

    floor = Floor.open(["fork", @true_])
    agent = agent_harness()

    cold =
      interleave(
        [
          {@linx, fn -> cold(fn -> linx_run([@true_]) end) end},
          {@port, fn -> timed(fn -> port_exec(@true_) end) end}
        ],
        iters
      )

    warm =
      interleave(
        [
          {@warm, fn -> warm(fn -> linx_run([@true_]) end) end},
          # what the per-workload group (the tree kill) costs the warm path
          {@nocg, fn -> warm(fn -> linx_run([@true_], cgroup: false) end) end},
          {@cmd, fn -> timed(fn -> {_, 0} = System.cmd(@true_, []) end) end},
          {@port, fn -> timed(fn -> port_exec(@true_) end) end},
          {@floor, fn -> Floor.run(floor) end}
        ] ++
          if(agent, do: [{@agent, fn -> Floor.run(agent) end}], else: []),
        iters
      )

    Floor.close(floor)
    if agent, do: Floor.close(agent)
    Report.latency_table(rows(cold, @port), @port)
    IO.puts("")
    Report.latency_table(rows(warm, @port), @port)

    [
      Report.target(
        "cold spawn-to-exit ≤ 1.8× bare Port.open",
        ratio(cold, @linx, @port),
        1.8,
        "≤ 1.80×"
      ),
      warm_target(warm)
    ]
  end

  # The agent's own cost: the harness feeds it the request run/2 would send
  # (stdio: devnull, no checkpoint) and reads its frames to EOF. Uses the
  # internal Wire encoder; skipped if that changes shape.
  defp agent_harness do
    opts = Linx.Process.Options.validate!([argv: [@true_], stdio: :devnull], :spawn)
    bin = Linx.Process.Wire.encode(Linx.Process.Wire.request(opts, false))
    path = Path.join(System.tmp_dir!(), "linx-bench-request-#{System.os_time()}.bin")
    File.write!(path, <<byte_size(bin)::32, bin::binary>>)
    Floor.open(["agent", Path.join(:code.priv_dir(:linx), "linx_process"), path])
  rescue
    e ->
      IO.puts("(agent harness skipped: #{Exception.message(e)})\n")
      nil
  end

  defp warm_target(results) do
    r = ratio(results, @warm, @cmd)
    t = Report.target("warm path faster than System.cmd", r, 1.0, "< 1.00×")
    if r < 1.0, do: t, else: %{t | status: "missed"}
  end
end
