defmodule Linx.Process.FlowTest do
  # Flow control in both directions (Linx.Process moduledoc, "Flow
  # control"; docs/protocol.md, "Flow control"): neither a slow owner nor a
  # slow workload grows memory, and no byte is lost either way.
  use Linx.Case, async: true

  @mib 1024 * 1024

  # Output bytes of `proc` waiting in the caller's mailbox. Copies the
  # messages (cheap: the binaries are shared).
  defp mailbox_bytes(proc) do
    {:messages, msgs} = Process.info(self(), :messages)

    for {:linx_process, ^proc, {_, data}} when is_binary(data) <- msgs, reduce: 0 do
      acc -> acc + byte_size(data)
    end
  end

  # Reads every event of `proc` to the terminal one, hashing stdout as it
  # goes (the data itself is not kept).
  defp consume(proc, acc \\ {0, :crypto.hash_init(:sha256), ""}) do
    {n, hash, err} = acc

    receive do
      {:linx_process, ^proc, {:stdout, d}} ->
        consume(proc, {n + byte_size(d), :crypto.hash_update(hash, d), err})

      {:linx_process, ^proc, {:stderr, d}} ->
        consume(proc, {n, hash, err <> d})

      {:linx_process, ^proc, {:usage, _}} ->
        consume(proc, acc)

      {:linx_process, ^proc, terminal} ->
        {n, Base.encode16(:crypto.hash_final(hash), case: :lower), err, terminal}
    after
      60_000 -> flunk("no terminal event within 60 s")
    end
  end

  defp vm_rss_kib(os_pid) do
    [_, kib] = Regex.run(~r/VmRSS:\s+(\d+) kB/, File.read!("/proc/#{os_pid}/status"))
    String.to_integer(kib)
  end

  defp sha256sum(out), do: out |> String.split() |> hd()

  describe "output" do
    test "an owner that does not read holds the workload, not the BEAM's memory" do
      size = 150_000_000
      # Random, so that a lost or reordered chunk changes the checksum
      script = "exec 3>&1; head -c #{size} /dev/urandom | tee /dev/fd/3 | sha256sum >&2"
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", script], stdio: :pipe)

      # Look every 250 ms for 3 s: the mailbox holds at most the default
      # window (1 MiB) plus a few chunks acknowledged while it was still
      # short, and stops growing; without flow control it takes the output
      samples =
        for _ <- 1..12 do
          Process.sleep(250)
          mailbox_bytes(proc)
        end

      assert Enum.max(samples) <= 4 * @mib,
             "output waiting in the owner's mailbox: #{inspect(samples)}"

      assert [held, held] = Enum.take(samples, -2),
             "the workload was not paused: #{inspect(samples)}"

      assert held > 0
      {:message_queue_len, server_q} = Process.info(proc, :message_queue_len)
      assert server_q < 64

      # Now read: every byte, in order, then the exit status
      assert {^size, sum, err, {:exited, 0}} = consume(proc)
      assert sha256sum(err) == sum
    end

    test "an owner reading its output past unrelated messages is not stalled" do
      for i <- 1..200, do: send(self(), {:unrelated, i})
      size = 20 * @mib

      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/usr/bin/head", "-c", "#{size}", "/dev/zero"],
          stdio: :pipe,
          stdio_window: 256 * 1024
        )

      assert {^size, _, "", {:exited, 0}} = consume(proc)
      assert {:messages, [{:unrelated, 1} | _]} = Process.info(self(), :messages)
    end

    test "await/2 lifts the limit: it returns while the output waits unread" do
      size = 10 * @mib

      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/usr/bin/head", "-c", "#{size}", "/dev/zero"],
          stdio: :pipe,
          stdio_window: 64 * 1024
        )

      Process.sleep(200)
      assert Linx.Process.await(proc, 20_000) == {:exited, 0}
      assert mailbox_bytes(proc) == size
    end

    test "an owner that dies while output is held stops the workload" do
      test = self()

      owner =
        spawn(fn ->
          {:ok, proc} =
            Linx.Process.spawn(
              argv: ["/bin/sh", "-c", "exec head -c 100000000 /dev/zero"],
              stdio: :pipe
            )

          send(test, {:os_pid, Linx.Process.os_pid(proc)})
          Process.sleep(:infinity)
        end)

      assert_receive {:os_pid, os_pid}, 5000
      Process.sleep(300)
      # blocked in write(2), not finished
      refute os_pid_gone?(os_pid)
      Process.exit(owner, :kill)
      assert_os_pid_exits(os_pid)
    end

    test "run/2 still collects everything" do
      {out, 0} = Linx.Process.run(["/usr/bin/head", "-c", "#{20 * @mib}", "/dev/zero"])
      assert byte_size(out) == 20 * @mib
    end
  end

  describe "input" do
    test "write/2 to a workload that never reads blocks; the agent stays small" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "600"], stdio: :pipe)
      agent = ppid(Linx.Process.os_pid(proc))
      rss0 = vm_rss_kib(agent)
      chunk = :binary.copy("x", 1_000_000)

      writer = Task.async(fn -> Enum.map(1..200, fn _ -> Linx.Process.write(proc, chunk) end) end)

      Process.sleep(1500)
      assert Task.yield(writer, 0) == nil, "200 MB were taken by a workload that reads nothing"
      grown = vm_rss_kib(agent) - rss0
      assert grown < 16 * 1024, "the agent grew by #{grown} KiB"

      # A bounded wait, and signals, while the writer is held
      assert Linx.Process.write(proc, "y", 200) == {:error, :timeout}
      assert Linx.Process.stop(proc, 2000) == {:signaled, 15}
      results = Task.await(writer, 10_000)
      assert {:error, :not_running} in results
      assert Enum.uniq(results) -- [:ok, {:error, :not_running}] == []
    end

    test "200 MB written in 1 MB pieces reach a reader whole and in order" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/usr/bin/sha256sum"], stdio: :pipe)
      base = :crypto.strong_rand_bytes(1_000_000)
      chunks = for i <- 1..200, do: <<i::32, base::binary>>

      Task.async(fn -> Enum.each(chunks, &(:ok = Linx.Process.write(proc, &1))) end)
      |> Task.await(60_000)

      assert Linx.Process.close_stdin(proc) == :ok
      expected = :crypto.hash(:sha256, chunks) |> Base.encode16(case: :lower)
      events = collect_events(proc, 60_000)
      assert sha256sum(output(events)) == expected
      assert List.last(events) == {:exited, 0}
    end

    test "one 40 MiB write arrives whole (frames stay below the agent's cap)" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/usr/bin/sha256sum"], stdio: :pipe)

      data = :crypto.strong_rand_bytes(40 * @mib)
      assert Linx.Process.write(proc, data) == :ok
      assert Linx.Process.close_stdin(proc) == :ok
      events = collect_events(proc, 60_000)
      assert sha256sum(output(events)) == Base.encode16(:crypto.hash(:sha256, data), case: :lower)
      refute Enum.any?(events, &match?({:error, _, :command_too_big}, &1))
    end

    test "an owner feeding cat more than a window before reading does not deadlock" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat"], stdio: :pipe, stdio_window: 65_536)
      data = :crypto.strong_rand_bytes(10 * @mib)
      assert Linx.Process.write(proc, data, 20_000) == :ok
      assert Linx.Process.close_stdin(proc) == :ok
      events = collect_events(proc, 20_000)
      assert output(events) == data
      assert List.last(events) == {:exited, 0}
    end

    test "PTY input goes through the same window, whole" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "stty raw -echo; echo ready; head -c 3000000 | wc -c"],
          stdio: :pty,
          stdio_window: 65_536
        )

      # raw mode must be set before the bytes arrive, or the line
      # discipline edits them
      assert_receive {:linx_process, ^proc, {:pty_out, "ready" <> _}}, 5000
      assert Linx.Process.write(proc, :binary.copy("a", 3_000_000), 20_000) == :ok
      events = collect_events(proc, 20_000)
      assert output(events, :pty_out) =~ "3000000"
      assert List.last(events) == {:exited, 0}
    end

    test "close_stdin/1 waits behind a blocked writer; the EOF follows the data" do
      {:ok, proc} =
        Linx.Process.spawn(argv: ["/bin/sh", "-c", "sleep 0.5; exec wc -c"], stdio: :pipe)

      writer = Task.async(fn -> Linx.Process.write(proc, :binary.copy("z", 5_000_000)) end)
      # close only once the writer is inside its call (a fixed sleep loses
      # that race on a loaded machine)
      assert eventually(fn -> in_call?(writer.pid) end, 10_000)
      Process.sleep(50)
      assert Linx.Process.close_stdin(proc) == :ok
      assert Task.await(writer) == :ok
      events = collect_events(proc, 20_000)
      assert String.trim(output(events)) == "5000000"
      assert List.last(events) == {:exited, 0}
    end
  end

  defp in_call?(pid) do
    case Process.info(pid, :current_stacktrace) do
      {:current_stacktrace, stack} -> Enum.any?(stack, &match?({:gen, :do_call, _, _}, &1))
      nil -> false
    end
  end
end
