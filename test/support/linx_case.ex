defmodule Linx.Case do
  @moduledoc false
  # Helpers shared by the integration tests: namespace inodes, polling for
  # an OS-level effect, and checks that OS processes are really gone.
  use ExUnit.CaseTemplate

  using do
    quote do
      import Linx.Case
    end
  end

  @doc "The namespace link of `type` (a /proc ns name) of an OS pid, e.g. \"mnt:[4026531841]\"."
  def ns_link(os_pid, type), do: File.read_link!("/proc/#{os_pid}/ns/#{type}")

  @doc "The same, for the test's own BEAM process."
  def host_ns(type), do: File.read_link!("/proc/self/ns/#{type}")

  @doc "Polls `fun` until it returns a truthy value or `ms` pass; returns the last value."
  def eventually(fun, ms \\ 3000) do
    deadline = System.monotonic_time(:millisecond) + ms
    do_eventually(fun, deadline)
  end

  defp do_eventually(fun, deadline) do
    case fun.() do
      v when v not in [nil, false] ->
        v

      v ->
        if System.monotonic_time(:millisecond) > deadline do
          v
        else
          Process.sleep(20)
          do_eventually(fun, deadline)
        end
    end
  end

  @doc "True when no live (non-zombie) process has this pid."
  def os_pid_gone?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:error, _} -> true
      {:ok, stat} -> stat |> String.split(") ") |> List.last() |> String.starts_with?("Z")
    end
  end

  @doc "Asserts that an OS pid goes away within `ms`."
  def assert_os_pid_exits(pid, ms \\ 3000) do
    assert eventually(fn -> os_pid_gone?(pid) end, ms),
           "OS process #{pid} is still alive after #{ms} ms"
  end

  @doc """
  argv of a workload that leaves a daemon behind: the grandchild calls
  setsid, re-parents away from the workload and writes its pid to
  `pidfile`; the workload itself sleeps.
  """
  def daemonizing_argv(pidfile) do
    [
      "/bin/sh",
      "-c",
      "setsid /bin/sh -c 'echo $$ > #{pidfile}; exec sleep 1000' </dev/null >/dev/null 2>&1 & exec sleep 1000"
    ]
  end

  @doc "The pid written to `pidfile`, once it is there (nil after `ms`, 3 s by default)."
  def read_pid(pidfile, ms \\ 3000) do
    eventually(
      fn ->
        case File.read(pidfile) do
          {:ok, text} when text != "" -> String.to_integer(String.trim(text))
          _ -> nil
        end
      end,
      ms
    )
  end

  @doc "The parent pid of an OS process, from /proc/PID/stat."
  def ppid(pid) do
    [_, rest] = File.read!("/proc/#{pid}/stat") |> String.split(") ", parts: 2)
    rest |> String.split() |> Enum.at(1) |> String.to_integer()
  end

  @doc "A fresh temporary directory for one test."
  def tmp_dir!(name) do
    # the OS pid too: another BEAM running the same test counts its
    # unique integers from the same start (and this rm_rf!s the dir)
    unique = "#{System.pid()}-#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), "linx-test-#{name}-#{unique}")
    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    dir
  end

  @doc "Collects the owner's events of `proc` until the terminal one."
  def collect_events(proc, timeout \\ 10_000) do
    receive do
      {:linx_process, ^proc, {kind, _} = ev} when kind in [:stdout, :stderr, :pty_out] ->
        [ev | collect_events(proc, timeout)]

      # not terminal: the final usage and the timeout notice precede it
      {:linx_process, ^proc, ev} when ev == :timeout or elem(ev, 0) == :usage ->
        [ev | collect_events(proc, timeout)]

      {:linx_process, ^proc, ev} ->
        [ev]
    after
      timeout -> flunk("no terminal event from #{inspect(proc)} within #{timeout} ms")
    end
  end

  @doc "Concatenated output of one stream in a list of events."
  def output(events, stream \\ :stdout),
    do: for({^stream, data} <- events, into: "", do: data)
end
