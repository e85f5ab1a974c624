# One side of bench/ab.sh: run/2 and System.cmd/3 of /bin/true, N runs at
# concurrency C, three batches each, alternating; prints the median of
# the three ratios and the rates.
[c, n] = System.argv() |> Enum.map(&String.to_integer/1)
linx = fn -> {_, 0} = Linx.Process.run(["/bin/true"]) end
cmd = fn -> {_, 0} = System.cmd("/bin/true", []) end

batch = fn f, k ->
  1..k
  |> Task.async_stream(fn _ -> f.() end, max_concurrency: c, timeout: :infinity)
  |> Stream.run()
end

rate = fn f ->
  t0 = :erlang.monotonic_time(:microsecond)
  batch.(f, n)
  n * 1.0e6 / (:erlang.monotonic_time(:microsecond) - t0)
end

batch.(linx, 100)
batch.(cmd, 100)
rates = for _ <- 1..3, do: {rate.(linx), rate.(cmd)}
[_, median, _] = rates |> Enum.map(fn {a, b} -> a / b end) |> Enum.sort()

IO.puts(
  "c=#{c} run/2 / System.cmd median #{Float.round(median, 3)}  " <>
    inspect(Enum.map(rates, fn {a, b} -> {round(a), round(b)} end))
)
