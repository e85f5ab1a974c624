defmodule Bench.Runner do
  @moduledoc """
  Runs contenders interleaved, iteration by iteration, so that a noisy
  machine affects them alike. In iteration `i` every contender runs once,
  the order rotated by `i` (no contender always goes first).

  A contender is `{label, fun}` where `fun.()` returns the duration of
  one run in ns: `timed/1` for BEAM-side work, the harness's own figure for
  `Bench.Floor`.
  """

  alias Bench.Stats

  @doc "Iterations per benchmark: `BENCH_ITERS` (default 300)."
  def iters do
    case System.get_env("BENCH_ITERS") do
      nil -> 300
      s -> String.to_integer(s)
    end
  end

  @doc "Warm-up iterations before measuring (not recorded)."
  def warmup(iters), do: min(max(div(iters, 10), 3), 20)

  @doc "ns that `fun` took."
  def timed(fun) do
    t0 = :erlang.monotonic_time(:nanosecond)
    fun.()
    :erlang.monotonic_time(:nanosecond) - t0
  end

  @doc """
  Measures every contender `iters` times, interleaved. Returns
  `[{label, samples}]` in the contenders' order, samples in iteration order.
  """
  def interleave(contenders, iters, warmup \\ nil) do
    warmup = warmup || warmup(iters)
    for _ <- 1..warmup//1, {_, f} <- contenders, do: f.()

    n = length(contenders)
    empty = Map.new(contenders, fn {label, _} -> {label, []} end)

    acc =
      Enum.reduce(0..(iters - 1)//1, empty, fn i, acc ->
        {front, back} = Enum.split(contenders, rem(i, n))

        Enum.reduce(back ++ front, acc, fn {label, f}, acc ->
          Map.update!(acc, label, &[f.() | &1])
        end)
      end)

    Enum.map(contenders, fn {label, _} -> {label, Enum.reverse(acc[label])} end)
  end

  @doc """
  Table rows: the summary of each contender with its ratio to `baseline`
  (a label): the ratio of medians and the median of paired ratios.
  """
  def rows(results, baseline) do
    base = List.keyfind(results, baseline, 0) || raise "no baseline #{baseline}"
    {_, base_samples} = base
    base_median = Stats.median(base_samples)

    Enum.map(results, fn {label, samples} ->
      s = Stats.summary(samples)

      Map.merge(s, %{
        label: label,
        ratio: s.median / base_median,
        paired: Stats.paired_ratio(samples, base_samples)
      })
    end)
  end

  @doc "Ratio of the medians of two contenders of `results`."
  def ratio(results, a, b) do
    {_, sa} = List.keyfind(results, a, 0)
    {_, sb} = List.keyfind(results, b, 0)
    Stats.median(sa) / Stats.median(sb)
  end

  ## Contenders shared by the suites

  @doc """
  Runs `path args` as a bare port to its exit status (stdout is a pipe, as
  for any port); raises unless it exits 0.
  """
  def port_exec(path, args \\ []) do
    port = Port.open({:spawn_executable, path}, [:binary, :exit_status, args: args])
    await_port(port, path)
  end

  defp await_port(port, path) do
    receive do
      {^port, {:data, _}} -> await_port(port, path)
      {^port, {:exit_status, 0}} -> :ok
      {^port, {:exit_status, s}} -> raise "#{path} exited with status #{s}"
    end
  end

  @pool_size 2

  @doc """
  Times `fun` on the cold path: the pool is off, so the agent is opened on
  demand.
  """
  def cold(fun) do
    Linx.Pool.resize(0)
    timed(fun)
  end

  @doc """
  Times `fun` on the warm path: the pool is full before, and refilled
  (untimed) after, so its background opens never run during another
  contender's measurement.
  """
  def warm(fun) do
    fill_pool()
    t = timed(fun)
    fill_pool()
    t
  end

  defp fill_pool do
    Linx.Pool.resize(@pool_size)
    wait_until(fn -> Linx.Pool.idle() >= @pool_size end)
  end

  defp wait_until(f) do
    unless f.() do
      Process.sleep(1)
      wait_until(f)
    end
  end

  @doc "Raises unless `Linx.Process.run/2` ran the program to exit 0."
  def linx_run(argv, opts \\ []) do
    {_, 0} = Linx.Process.run(argv, opts)
    :ok
  end

  @doc "The absolute path of a program, or raises."
  def which!(name) do
    System.find_executable(name) || raise "#{name} not found (script/bench installs it)"
  end
end
