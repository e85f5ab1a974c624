defmodule Bench.Phases do
  @moduledoc """
  7. Where the time of one `Linx.Process.run(["/bin/true"])` goes, seen
  from the BEAM: when each agent frame arrives (`:spawned`, `:ready`,
  `:running`, `:exited` — docs/protocol.md), when `run/2` returns and when
  the agent's exit status arrives, relative to the call. The server's
  messages are traced with monotonic timestamps (`:erlang.trace/3` on new
  processes), which adds a little to every step.
  """

  import Bench.Runner, only: [timed: 1]
  alias Bench.{Report, Stats}

  @true_ "/bin/true"

  def run(iters) do
    Report.section("7. phases of one Linx.Process.run/2 (no namespaces)", [
      "#{iters} runs, traced; times from the call, µs. Then, interleaved: the agent alone",
      "(a malformed request: it starts, answers an error frame, exits 2) vs a bare /bin/true port."
    ])

    phase_table(traced_runs(iters, []))

    IO.puts(
      "\nThe same with namespaces user+pid+mount+uts+ipc and uid/gid maps (the BEAM writes" <>
        "\nthe maps at the checkpoint, then proceeds):\n"
    )

    phase_table(
      traced_runs(iters,
        namespaces: [:user, :pid, :mount, :uts, :ipc],
        uid_map: [{0, 0, 1}],
        gid_map: [{0, 0, 1}]
      )
    )

    lifetime = lifetime_table(iters)

    agent = Path.join(:code.priv_dir(:linx), "linx_process")

    results =
      Bench.Runner.interleave(
        [
          {"Port.open agent, bad request, to exit",
           fn -> timed(fn -> agent_alone(agent) end) end},
          {"Port.open /bin/true to exit",
           fn -> timed(fn -> Bench.Runner.port_exec(@true_) end) end}
        ],
        iters
      )

    IO.puts("")
    Report.latency_table(Bench.Runner.rows(results, "Port.open /bin/true to exit"), "/bin/true")
    [lifetime]
  end

  defp phase_table(samples) do
    keys =
      samples
      |> Enum.flat_map(&Map.keys/1)
      |> Enum.uniq()
      |> Enum.sort_by(fn k -> samples |> Enum.map(&Map.get(&1, k, 0)) |> Stats.median() end)

    rows =
      for k <- keys do
        xs = for s <- samples, Map.has_key?(s, k), do: s[k]
        s = Stats.summary(xs)
        [k, s.n, Report.us(s.median), Report.us(s.p99), Report.us(s.min), Report.us(s.max)]
      end

    Report.table(["event (from the call)", "n", "median µs", "p99 µs", "min µs", "max µs"], rows)
  end

  # The agent answers a malformed request with an error frame and exits 2:
  # its start-up and exit, without a workload.
  defp agent_alone(path) do
    port =
      Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

    Port.command(port, :erlang.term_to_binary(:bench))
    await_exit(port)
  end

  # Issue 11: how long the agent outlives the terminal event its owner
  # receives. The workload (`cat`) ends when its stdin is closed; the
  # agent's pid is taken from its port while it runs; from the terminal
  # event on, /proc/PID is polled until the agent is gone or a zombie.
  # With Linx.Spawner on (the default) the zygote reaps it.
  defp lifetime_table(iters) do
    IO.puts("\nAgent lifetime after the terminal event (#{iters} runs, µs; polled /proc):\n")

    xs =
      for _ <- 1..iters do
        {:ok, p} = Linx.Process.spawn(argv: ["/bin/cat"], stdio: :pipe)
        agent = agent_of(Linx.Process.os_pid(p))
        :ok = Linx.Process.close_stdin(p)

        receive do
          {:linx_process, ^p, {:exited, 0}} -> :ok
        end

        t0 = :erlang.monotonic_time(:nanosecond)
        wait_gone("/proc/#{agent}/stat")
        :erlang.monotonic_time(:nanosecond) - t0
      end

    s = Stats.summary(xs)

    Report.table(
      ["event", "n", "median µs", "p99 µs", "min µs", "max µs"],
      [
        [
          "agent gone after the terminal event",
          s.n,
          Report.us(s.median),
          Report.us(s.p99),
          Report.us(s.min),
          Report.us(s.max)
        ]
      ]
    )

    %{
      name: "agent gone ≤ 1 ms after the terminal event (median)",
      limit: "≤ 1000 µs",
      measured: "#{Report.us(s.median)} µs",
      status: if(s.median <= 1_000_000, do: "met", else: "missed")
    }
  end

  # The workload's parent: its agent, whether forked by Linx.Spawner's
  # zygote or opened as a port.
  defp agent_of(os_pid) do
    stat = File.read!("/proc/#{os_pid}/stat")
    [_, after_comm] = String.split(stat, ") ", parts: 2)
    [_state, ppid | _] = String.split(after_comm, " ")
    String.to_integer(ppid)
  end

  defp wait_gone(stat) do
    case :prim_file.read_file(stat) do
      {:ok, text} -> if text =~ ~r/\) [ZX]/, do: :ok, else: wait_gone(stat)
      {:error, _} -> :ok
    end
  end

  defp await_exit(port) do
    receive do
      {^port, {:data, _}} -> await_exit(port)
      {^port, {:exit_status, 2}} -> :ok
    end
  end

  # Tracing is switched on once for all runs (switching it blocks every
  # scheduler); events are told apart by the agent's port (or spawner
  # channel), in the order the runs started.
  defp traced_runs(iters, opts) do
    tracer = spawn(fn -> collect([]) end)
    :erlang.trace(:new_processes, true, [:receive, :monotonic_timestamp, {:tracer, tracer}])

    calls =
      for _ <- 1..iters do
        t0 = :erlang.monotonic_time(:nanosecond)
        {_, 0} = Linx.Process.run([@true_], opts)
        t_ret = :erlang.monotonic_time(:nanosecond)
        # the agent's exit status arrives after the terminal frame
        Process.sleep(5)
        {t0, t_ret}
      end

    :erlang.trace(:new_processes, false, [:receive])
    send(tracer, {:done, self()})

    by_port =
      receive do
        {:events, evs} -> evs
      end

    Enum.zip_with(calls, by_port, fn {t0, t_ret}, events ->
      Map.new([{"run/2 returns", t_ret - t0} | for({k, t} <- events, do: {k, t - t0})])
    end)
  end

  defguardp is_agent(a)
            when is_port(a) or
                   (is_tuple(a) and tuple_size(a) == 3 and elem(a, 0) == :linx_spawner)

  defp collect(acc) do
    receive do
      # the agent is a port, or a Linx.Spawner channel (the warm path)
      {:trace_ts, _pid, :receive, {agent, {:data, bin}}, ts} when is_agent(agent) ->
        collect([{agent, frame_name(bin), ts} | acc])

      {:trace_ts, _pid, :receive, {agent, {:exit_status, _}}, ts} when is_agent(agent) ->
        collect([{agent, "agent exit status", ts} | acc])

      {:trace_ts, _, _, _, _} ->
        collect(acc)

      {:done, from} ->
        events =
          acc
          |> Enum.reverse()
          |> Enum.map(fn {port, k, ts} ->
            {port, k, :erlang.convert_time_unit(ts, :native, :nanosecond)}
          end)

        ports = events |> Enum.map(&elem(&1, 0)) |> Enum.uniq()
        groups = Enum.group_by(events, &elem(&1, 0), fn {_, k, t} -> {k, t} end)
        # first occurrence of each event per run
        send(from, {:events, for(p <- ports, do: Enum.uniq_by(groups[p], &elem(&1, 0)))})
    end
  end

  defp frame_name(bin) do
    case :erlang.binary_to_term(bin) do
      {:status, s, _} -> "frame {:status, #{inspect(s)}, _}"
      {:status, s} -> "frame {:status, #{inspect(s)}}"
      {kind, _} -> "frame {#{inspect(kind)}, _}"
      other when is_tuple(other) -> "frame #{inspect(elem(other, 0))}"
      other -> "frame #{inspect(other)}"
    end
  end
end
