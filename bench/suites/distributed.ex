defmodule Bench.Distributed do
  @moduledoc """
  9. Distributed (`node:`, docs/distributed.md): two peer nodes on this
  machine (`:peer`), each running `:linx`.

    * Latency: `Linx.Process.run(["/bin/true"])` here vs with `node:` a
      peer, interleaved, next to one distribution round trip (an
      `:erpc.call` that does nothing). Target: remote ≤ 1.3× local plus
      one round trip.
    * Throughput: /bin/true workloads per second at concurrency 8 on this
      node alone vs spread over three nodes (round robin by name, and
      `node: :any`). The three nodes share this machine's cores: the
      figure shows the cost of spreading, not more cores.
  """

  import Bench.Runner
  alias Bench.{Peers, Report, Stats}

  @true_ "/bin/true"
  @local "run/2 here"
  @remote "run/2 node: peer"
  @rtt "erpc round trip"
  @concurrency 8

  def run(iters) do
    Report.section("9. distributed (node:)", [
      "Two peers on this machine; interleaved, #{iters} iterations each."
    ])

    {pa, a} = Peers.start!("linx_bench_a")
    {pb, b} = Peers.start!("linx_bench_b")

    try do
      latency = latency(a, iters)
      throughput(a, b, iters)
      [latency]
    after
      Peers.stop(pa)
      Peers.stop(pb)
    end
  end

  defp latency(a, iters) do
    results =
      interleave(
        [
          {@local, fn -> timed(fn -> linx_run([@true_]) end) end},
          {@remote, fn -> timed(fn -> linx_run([@true_], node: a) end) end},
          {@rtt, fn -> timed(fn -> :erpc.call(a, :erlang, :node, []) end) end}
        ],
        iters
      )

    Report.latency_table(rows(results, @local), @local)
    [local, remote, rtt] = for {_, s} <- results, do: Stats.median(s)

    Report.target(
      "remote run/2 ≤ 1.3× local + one round trip",
      (remote - rtt) / local,
      1.3,
      "≤ 1.30×",
      "remote − rtt, over local"
    )
  end

  defp throughput(a, b, iters) do
    n = max(div(iters, 2), 4 * @concurrency)
    nodes = Enum.sort([node(), a, b])
    counter = :counters.new(1, [])

    round_robin = fn ->
      i = :counters.get(counter, 1)
      :counters.add(counter, 1, 1)
      linx_run([@true_], node: Enum.at(nodes, rem(i, 3)))
    end

    contenders = [
      {"this node", fn -> linx_run([@true_]) end},
      {"three nodes, round robin", round_robin},
      {"three nodes, node: :any", fn -> linx_run([@true_], node: :any) end}
    ]

    rates =
      for round <- 0..2, {label, f} <- rotate(contenders, round), reduce: %{} do
        acc -> Map.update(acc, label, [batch(f, n)], &[batch(f, n) | &1])
      end

    base = Stats.median(rates["this node"])
    IO.puts("")

    rows =
      for {label, _} <- contenders do
        s = Stats.summary(rates[label])
        [label, n, round(s.median), round(s.min), round(s.max), Report.ratio(s.median / base)]
      end

    Report.table(
      ["at concurrency #{@concurrency}", "n", "median /s", "min /s", "max /s", "× this node"],
      rows
    )
  end

  defp rotate(list, k) do
    {front, back} = Enum.split(list, rem(k, length(list)))
    back ++ front
  end

  defp batch(f, n) do
    t0 = :erlang.monotonic_time(:nanosecond)

    1..n
    |> Task.async_stream(fn _ -> f.() end,
      max_concurrency: @concurrency,
      ordered: false,
      timeout: :infinity
    )
    |> Stream.run()

    n * 1.0e9 / (:erlang.monotonic_time(:nanosecond) - t0)
  end
end
