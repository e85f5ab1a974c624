defmodule Linx.Process.PtyTest do
  use Linx.Case, async: true

  defp pty_until(proc, pattern, acc \\ "") do
    if acc =~ pattern do
      acc
    else
      receive do
        {:linx_process, ^proc, {:pty_out, data}} ->
          pty_until(proc, pattern, acc <> data)

        {:linx_process, ^proc, other} ->
          flunk("ended with #{inspect(other)}; output: #{inspect(acc)}")
      after
        5000 -> flunk("no #{inspect(pattern)} in PTY output: #{inspect(acc)}")
      end
    end
  end

  test "tty names a /dev/pts device" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/usr/bin/tty"], stdio: :pty)
    events = collect_events(proc)
    assert output(events, :pty_out) =~ ~r{^/dev/pts/\d+\r\n$}
    assert List.last(events) == {:exited, 0}
  end

  test "the PTY is the workload's controlling terminal, in its own session" do
    {:ok, proc} =
      Linx.Process.spawn(
        argv: ["/bin/sh", "-c", "echo $$; cut -d' ' -f6,7 /proc/$$/stat"],
        stdio: :pty
      )

    out = collect_events(proc) |> output(:pty_out)
    # /proc/PID/stat fields 6 and 7: session id and controlling tty.
    [pid, sid, tty_nr] = String.split(out)
    assert sid == pid, "the workload should lead its own session"
    assert String.to_integer(tty_nr) != 0, "the workload should have a controlling terminal"
  end

  test "winsize at spawn and resize are seen by stty size" do
    {:ok, proc} =
      Linx.Process.spawn(
        argv: ["/bin/sh", "-c", "stty size; read x; stty size"],
        stdio: :pty,
        winsize: {24, 80}
      )

    pty_until(proc, "24 80")
    :ok = Linx.Process.resize(proc, 50, 132)
    :ok = Linx.Process.write(proc, "go\n")
    pty_until(proc, "50 132")
    assert {:exited, 0} = Linx.Process.await(proc)
  end

  test "input typed through write is echoed" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat"], stdio: :pty)
    :ok = Linx.Process.write(proc, "typed line\n")
    # Once by the terminal's echo, once by cat.
    out = pty_until(proc, ~r/typed line\r\n.*typed line\r\n/s)
    assert out =~ "typed line"
    # ^D at the start of a line is EOF for cat.
    :ok = Linx.Process.write(proc, <<4>>)
    assert {:exited, 0} = Linx.Process.await(proc)
  end

  test "output just before exit is drained from the PTY" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "seq 1 20000"], stdio: :pty)

    out = collect_events(proc) |> output(:pty_out)
    assert out |> String.split("\r\n", trim: true) |> List.last() == "20000"
  end
end
