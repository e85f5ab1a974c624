defmodule Bench.Spawn do
  @moduledoc """
  1. Spawn-to-exit of /bin/true, no namespaces: `Linx.Process.run/2` vs
  `System.cmd/3` vs a bare `Port.open` to its exit status (the BEAM's
  floor) vs fork+execve+waitpid in C (the kernel's floor).

  Also the warm path (a pool of agents) when the project has one.
  """

  import Bench.Runner
  alias Bench.{Floor, Report}

  @true_ "/bin/true"

  @linx "Linx.Process.run/2"
  @cmd "System.cmd/3"
  @port "Port.open (BEAM floor)"
  @floor "C fork+execve+waitpid (kernel floor)"
  @agent "C harness driving the agent (no BEAM)"

  def run(iters) do
    Report.section("1. spawn-to-exit of /bin/true, no namespaces", [
      "Interleaved, #{iters} iterations each; ratios against #{@port}."
    ])

    floor = Floor.open(["fork", @true_])
    agent = agent_harness()

    contenders =
      [
        {@linx, fn -> timed(fn -> linx_run([@true_]) end) end},
        {@cmd, fn -> timed(fn -> {_, 0} = System.cmd(@true_, []) end) end},
        {@port, fn -> timed(fn -> port_exec(@true_) end) end},
        {@floor, fn -> Floor.run(floor) end}
      ] ++
        if(agent, do: [{@agent, fn -> Floor.run(agent) end}], else: []) ++
        warm_contender()

    results = interleave(contenders, iters)
    Floor.close(floor)
    if agent, do: Floor.close(agent)
    Report.latency_table(rows(results, @port), @port)

    [
      Report.target(
        "cold spawn-to-exit ≤ 1.8× bare Port.open",
        ratio(results, @linx, @port),
        1.8,
        "≤ 1.80×"
      ),
      warm_target(results)
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

  # The pool is not built yet; when it is, this measures it.
  defp pool? do
    Code.ensure_loaded?(Linx.Pool) or Application.get_env(:linx, :pool_size) != nil
  end

  defp warm_contender do
    cond do
      Code.ensure_loaded?(Linx.Pool) and function_exported?(Linx.Pool, :run, 2) ->
        [
          {"Linx.Pool.run/2 (warm)",
           fn -> timed(fn -> {_, 0} = apply(Linx.Pool, :run, [[@true_], []]) end) end}
        ]

      pool?() ->
        # pool_size configured: run/2 is assumed to go through the pool
        [{"Linx.Process.run/2 (warm, pool)", fn -> timed(fn -> linx_run([@true_]) end) end}]

      true ->
        []
    end
  end

  defp warm_target(results) do
    case Enum.find(results, fn {label, _} -> label =~ "warm" end) do
      nil ->
        Report.target("warm path faster than System.cmd", {:na, "no pool"}, 1.0, "< 1.00×")

      {label, _} ->
        r = ratio(results, label, @cmd)
        t = Report.target("warm path faster than System.cmd", r, 1.0, "< 1.00×")
        if r < 1.0, do: t, else: %{t | status: "missed"}
    end
  end
end
