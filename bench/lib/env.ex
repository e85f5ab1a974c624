defmodule Bench.Env do
  @moduledoc "The machine and the run, printed before the figures."

  def header(selected, iters) do
    IO.puts("# Linx benchmarks\n")

    Bench.Report.table(["", ""], [
      ["date (UTC)", DateTime.utc_now() |> DateTime.truncate(:second) |> DateTime.to_iso8601()],
      ["commit", commit()],
      ["CPU", cpu()],
      ["nproc", System.schedulers_online()],
      ["kernel", kernel()],
      ["load average (1 5 15 min)", loadavg()],
      ["OTP / Elixir", "#{System.otp_release()} / #{System.version()}"],
      ["benchmarks", Enum.join(selected, " ")],
      ["BENCH_ITERS", iters]
    ])
  end

  def cpu do
    case File.read("/proc/cpuinfo") do
      {:ok, text} ->
        case Regex.run(~r/^model name\s*:\s*(.*)$/m, text) do
          [_, model] -> model
          _ -> "?"
        end

      _ ->
        "?"
    end
  end

  def loadavg do
    case File.read("/proc/loadavg") do
      {:ok, l} -> l |> String.split() |> Enum.take(3) |> Enum.join(" ")
      _ -> "?"
    end
  end

  def kernel do
    case File.read("/proc/sys/kernel/osrelease") do
      {:ok, r} -> String.trim(r)
      _ -> "?"
    end
  end

  defp commit do
    case System.cmd("git", ["rev-parse", "--short", "HEAD"], stderr_to_stdout: true) do
      {sha, 0} -> String.trim(sha)
      _ -> "?"
    end
  rescue
    _ -> "?"
  end
end
