defmodule Bench.Throughput do
  @moduledoc """
  5. Throughput: /bin/true workloads per second at concurrency 1, 2, 8,
  64 (`Task.async_stream` of `Linx.Process.run(["/bin/true"])`), with
  `System.cmd/3` the same way as the baseline. At each concurrency the two
  alternate batch by batch; the figure is the median batch rate.

  Two rows per concurrency give the kernel's floor, from
  `bench/bin/floor rate` (C, no BEAM): fork+execve+waitpid (what
  `erl_child_setup` does per port) and a fresh agent per workload (a
  fork whose child clones the workload `CLONE_VM|CLONE_VFORK`, waits and
  exits: the least the "agent gone" target allows; `floor rate`, see
  bench/floor.c). What a contender loses against its floor is its
  bookkeeping.
  """

  alias Bench.{Floor, Report, Stats}

  @true_ "/bin/true"
  @levels [1, 2, 8, 64]
  @rounds 3

  def run(iters) do
    Report.section("5. throughput (workloads/s)", [
      "#{@rounds} rounds per concurrency; each round one batch per contender, in alternating order.",
      "Batch size n = max(BENCH_ITERS / 2, 4 × concurrency).",
      "The C rows (floors, no BEAM): 3 alternating rounds of max(BENCH_ITERS, 400) workloads each."
    ])

    results =
      Enum.map(@levels, fn c ->
        n = max(div(iters, 2), 4 * c)

        contenders = [
          {"Linx.Process.run/2", fn -> {_, 0} = Linx.Process.run([@true_]) end},
          {"System.cmd/3", fn -> {_, 0} = System.cmd(@true_, []) end}
        ]

        errors = :counters.new(2, [])

        rates =
          Enum.reduce(0..(@rounds - 1), %{}, fn r, acc ->
            order = if rem(r, 2) == 0, do: contenders, else: Enum.reverse(contenders)

            Enum.reduce(order, acc, fn {label, f}, acc ->
              ix = if label == "System.cmd/3", do: 2, else: 1
              rate = batch(f, n, c, errors, ix)
              Map.update(acc, label, [rate], &[rate | &1])
            end)
          end)

        cmd = Stats.median(rates["System.cmd/3"])
        linx = Stats.median(rates["Linx.Process.run/2"])

        rows =
          for {label, _} <- contenders do
            s = Stats.summary(rates[label])
            ix = if label == "System.cmd/3", do: 2, else: 1

            [
              c,
              label,
              n,
              round(s.median),
              round(s.min),
              round(s.max),
              Report.ratio(s.median / cmd),
              :counters.get(errors, ix)
            ]
          end

        {rows ++ floor_rows(c, max(iters, 400), cmd), throughput_target(c, linx / cmd)}
      end)

    rows = Enum.flat_map(results, &elem(&1, 0))

    Report.table(
      [
        "concurrency",
        "contender",
        "n",
        "median /s",
        "min /s",
        "max /s",
        "× System.cmd",
        "errors"
      ],
      rows,
      2
    )

    Enum.map(results, &elem(&1, 1))
  end

  # The kernel's floor at this concurrency: two shapes, no BEAM.
  defp floor_rows(c, n, cmd) do
    unless File.exists?(Floor.path()) do
      raise "#{Floor.path()} is missing: run `make bench-c` (script/bench does)"
    end

    {out, 0} = System.cmd(Floor.path(), ["rate", "#{c}", "#{n}", @true_])

    for line <- String.split(out, "\n", trim: true) do
      [shape, rate] = String.split(line)

      label =
        case shape do
          "fork" -> "C fork+execve+waitpid (floor)"
          "agent" -> "C fresh agent per workload (floor)"
        end

      rate = String.to_integer(rate)
      [c, label, n, rate, "—", "—", Report.ratio(rate / cmd), "—"]
    end
  end

  # Issue 11: at least System.cmd's rate at every concurrency.
  defp throughput_target(c, r) do
    t = Report.target("throughput ≥ System.cmd at concurrency #{c}", r, 1.0, "≥ 1.00×")
    %{t | status: if(r >= 1.0, do: "met", else: "missed")}
  end

  # A failed run is counted (and its first error printed), not fatal: the
  # rate still counts it as done.
  defp batch(f, n, c, errors, ix) do
    t0 = :erlang.monotonic_time(:nanosecond)

    1..n
    |> Task.async_stream(
      fn _ ->
        try do
          f.()
        rescue
          e ->
            if :counters.get(errors, ix) == 0,
              do: IO.puts("error at concurrency #{c}: #{inspect(e)}")

            :counters.add(errors, ix, 1)
        end
      end,
      max_concurrency: c,
      ordered: false,
      timeout: :infinity
    )
    |> Stream.run()

    n * 1.0e9 / (:erlang.monotonic_time(:nanosecond) - t0)
  end
end
