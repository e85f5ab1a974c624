defmodule Linx.Process.StreamTest do
  # Linx.Process.stream/2 (issue 15): lazy, halting stops the workload,
  # backpressure through the output window.
  use Linx.Case, async: true

  @moduletag :tmp_dir

  test "nothing runs until the stream is run", %{tmp_dir: dir} do
    marker = Path.join(dir, "ran")
    stream = Linx.Process.stream(["/bin/touch", marker])
    Process.sleep(200)
    refute File.exists?(marker)
    assert Enum.to_list(stream) == []
    assert File.exists?(marker)
  end

  test "chunks in order, through Stream.map into File.stream!", %{tmp_dir: dir} do
    path = Path.join(dir, "out")

    Linx.Process.stream(["/usr/bin/seq", "1", "20000"], lines: 64)
    |> Stream.map(&String.upcase/1)
    |> Enum.into(File.stream!(path))

    assert File.read!(path) == Enum.map_join(1..20000, &"#{&1}\n")
  end

  test "halting the stream kills the workload and its tree", %{tmp_dir: dir} do
    pidfile = Path.join(dir, "pid")
    # the shell's child writes forever (its pid on file first); the shell waits
    script = "sh -c 'echo $$ > \"$0\"; exec yes' '#{pidfile}' & wait"
    assert [_, _] = Linx.Process.stream(["/bin/sh", "-c", script]) |> Enum.take(2)
    pid = pidfile |> File.read!() |> String.trim() |> String.to_integer()
    assert_os_pid_exits(pid)
    # nothing of it is left in our mailbox
    refute_received {:linx_process, _, _}
  end

  test "backpressure: a consumer that does not read holds the workload, not its mailbox" do
    parent = self()

    consumer =
      spawn(fn ->
        stream = Linx.Process.stream(["/usr/bin/yes"], stdio_window: 65_536)
        # take one chunk, then stop consuming while the stream is open
        Enum.each(stream, fn chunk ->
          send(parent, {:chunk, byte_size(chunk)})
          Process.sleep(:infinity)
        end)
      end)

    assert_receive {:chunk, _}, 5000
    Process.sleep(500)
    {:message_queue_len, n1} = Process.info(consumer, :message_queue_len)
    Process.sleep(500)
    {:message_queue_len, n2} = Process.info(consumer, :message_queue_len)
    # a bounded mailbox that stopped growing: yes is held in write(2)
    assert n2 == n1
    assert n2 < 64
    Process.exit(consumer, :kill)
  end

  test "input:, and stderr: :stdout merged into the stream" do
    out =
      Linx.Process.stream(["/bin/sh", "-c", "cat; echo err >&2"],
        input: ["a\n", "b\n"],
        stderr: :stdout,
        lines: 16
      )
      |> Enum.to_list()

    assert out == ["a\n", "b\n", "err\n"]
  end

  test "a workload that never ran raises when the stream is run" do
    stream = Linx.Process.stream(["/nonexistent/prog"])

    assert_raise Linx.Process.Error, ~r/enoent/, fn -> Enum.to_list(stream) end
  end
end
