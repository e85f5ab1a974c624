defmodule Bench.Memory do
  @moduledoc """
  6. Memory of idle agents: one agent holding `/bin/sleep 60`, then 100.
  The agent is the workload's parent: its OS pid is the ppid in
  /proc/<workload>/stat; its figures come from /proc/<agent>/smaps_rollup
  (kB). The BEAM side is `:erlang.memory(:total)` before and after.
  """

  alias Bench.Report

  @fields ["Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean", "Shared_Dirty"]
  @many 100

  def run(_iters) do
    Report.section("6. memory of idle agents (kB, from smaps_rollup)", [
      "Workload: `Linx.Process.spawn(argv: [\"/bin/sleep\", \"60\"])`; agent = its parent."
    ])

    {one, _} = start(1)
    [{agent, workload}] = Enum.map(one, &pids/1)
    a = rollup(agent)
    w = rollup(workload)
    stop(one)

    :erlang.garbage_collect()
    beam0 = :erlang.memory(:total)
    {many, _} = start(@many)
    beam1 = :erlang.memory(:total)
    totals = many |> Enum.map(&pids/1) |> Enum.map(&rollup(elem(&1, 0))) |> sum()
    stop(many)

    Report.table(
      ["what" | @fields],
      [
        ["one agent (linx_process) #{agent}" | Enum.map(@fields, &a[&1])],
        ["its workload (sleep) #{workload}" | Enum.map(@fields, &w[&1])],
        ["#{@many} idle agents, total" | Enum.map(@fields, &totals[&1])],
        ["#{@many} idle agents, per agent" | Enum.map(@fields, &div(totals[&1], @many))]
      ]
    )

    IO.puts(
      "\nBEAM side: :erlang.memory(:total) grew by #{div(beam1 - beam0, 1024)} kB " <>
        "for #{@many} workloads (#{div(beam1 - beam0, 1024 * @many)} kB each)."
    )

    [
      Report.target(
        "one idle agent ≤ 1 MiB Private_Dirty",
        a["Private_Dirty"] / 1024,
        1.0,
        "≤ 1.00 MiB"
      )
      |> Map.put(:measured, "#{a["Private_Dirty"]} kB")
    ]
  end

  defp start(n) do
    procs =
      for _ <- 1..n do
        {:ok, p} = Linx.Process.spawn(argv: ["/bin/sleep", "60"])
        p
      end

    # Let every agent settle into its idle loop.
    Process.sleep(200)
    {procs, n}
  end

  defp stop(procs) do
    for p <- procs, do: Linx.Process.signal(p, :sigkill)
    for p <- procs, do: Linx.Process.await(p, 5000)
  end

  defp pids(proc) do
    workload = Linx.Process.os_pid(proc)
    stat = File.read!("/proc/#{workload}/stat")
    # the comm field may hold spaces: fields after the last ")"
    [_, rest] = Regex.run(~r/\)\s(.*)$/s, stat)
    [_state, ppid | _] = String.split(rest)
    agent = String.to_integer(ppid)
    "linx_process" = String.trim(File.read!("/proc/#{agent}/comm"))
    {agent, workload}
  end

  defp rollup(pid) do
    for line <- String.split(File.read!("/proc/#{pid}/smaps_rollup"), "\n"),
        [k, v] <- [Regex.run(~r/^(\w+):\s+(\d+) kB/, line, capture: :all_but_first) || []],
        into: %{},
        do: {k, String.to_integer(v)}
  end

  defp sum(maps) do
    Map.new(@fields, fn f -> {f, maps |> Enum.map(& &1[f]) |> Enum.sum()} end)
  end
end
