defmodule Linx.Process.PtyModesTest do
  # pty: [echo: false, raw: true] (issue 15): termios of the new PTY, set
  # before the workload runs, like erlexec's {pty, Modes}.
  use Linx.Case, async: true

  # Everything the PTY said until the workload ended.
  defp pty_output(proc, acc \\ []) do
    receive do
      {:linx_process, ^proc, {:pty_out, data}} -> pty_output(proc, [acc | data])
      {:linx_process, ^proc, {:exited, 0}} -> IO.iodata_to_binary(acc)
    after
      10_000 -> flunk("no end; got #{inspect(IO.iodata_to_binary(acc))}")
    end
  end

  defp typed(opts) do
    {:ok, proc} =
      Linx.Process.spawn([argv: ["/bin/sh", "-c", "read x; echo got:$x"], stdio: :pty] ++ opts)

    :ok = Linx.Process.write(proc, "pw\n")
    pty_output(proc)
  end

  test "echo: false: what is typed is not echoed back" do
    assert typed([]) == "pw\r\ngot:pw\r\n"
    assert typed(pty: [echo: false]) == "got:pw\r\n"
  end

  test "raw: true: no line discipline, no output processing, no signal keys" do
    {:ok, proc} =
      Linx.Process.spawn(
        argv: ["/bin/sh", "-c", "stty -a; printf 'a\\nb\\n'"],
        stdio: :pty,
        pty: [raw: true]
      )

    out = pty_output(proc)
    assert out =~ "-icanon"
    assert out =~ "-isig"
    assert out =~ "-opost"
    assert String.ends_with?(out, "a\nb\n")

    {:ok, cooked} =
      Linx.Process.spawn(argv: ["/bin/sh", "-c", "stty -a"], stdio: :pty, pty: [echo: true])

    out = pty_output(cooked)
    assert out =~ ~r/[^-]icanon/
    assert out =~ ~r/[^-]echo /
  end

  test "pty: alone gives a PTY with those modes, like erlexec's {pty, Modes}" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "stty -a"], pty: [echo: false])
    out = pty_output(proc)
    assert out =~ "-echo "
    # a terminal: output processing turns "\n" into "\r\n"
    assert out =~ "\r\n"
  end

  test "with another stdio, in run/2, or with an unknown mode, it is refused by name" do
    assert_raise ArgumentError, ~r/invalid option :pty: termios modes need stdio: :pty/, fn ->
      Linx.Process.spawn(argv: ["/bin/true"], stdio: :pipe, pty: [raw: true])
    end

    assert_raise ArgumentError, ~r/invalid option :pty: termios modes need stdio: :pty/, fn ->
      Linx.Process.run(["/bin/true"], pty: [raw: true])
    end

    assert_raise ArgumentError, ~r/invalid option :pty: \{:icrnl, true\}/, fn ->
      Linx.Process.spawn(argv: ["/bin/true"], stdio: :pty, pty: [icrnl: true])
    end
  end
end
