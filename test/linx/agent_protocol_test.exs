defmodule Linx.AgentProtocolTest do
  # Frames sent to priv/linx_process directly, bypassing Linx.Process, to pin
  # the agent's answers to bad input (docs/protocol.md).
  use Linx.Case, async: true
  import Bitwise

  @einval 22
  @emsgsize 90

  defp open_agent do
    path = Path.join(:code.priv_dir(:linx), "linx_process")
    Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])
  end

  defp send_raw(port, bin), do: Port.command(port, bin)
  defp send_term(port, term), do: send_raw(port, :erlang.term_to_binary(term))

  # Every frame until the agent exits, then {:exit, status}.
  defp frames(port, timeout \\ 5000) do
    receive do
      {^port, {:data, bin}} -> [:erlang.binary_to_term(bin) | frames(port, timeout)]
      {^port, {:exit_status, status}} -> [{:exit, status}]
    after
      timeout -> flunk("agent neither answered nor exited within #{timeout} ms")
    end
  end

  defp next_frame(port) do
    receive do
      {^port, {:data, bin}} -> :erlang.binary_to_term(bin)
      {^port, {:exit_status, status}} -> {:exit, status}
    after
      5000 -> flunk("no frame from the agent")
    end
  end

  describe "malformed requests" do
    test "bytes that are not ETF" do
      port = open_agent()
      send_raw(port, <<1, 2, 3, 4, 5>>)

      assert [
               {:malformed, :malformed_request, why},
               {:error, @einval, :malformed_request},
               {:exit, 2}
             ] = frames(port)

      assert is_binary(why) and why != ""
    end

    test "an unknown request tag" do
      port = open_agent()
      send_term(port, {:launch, %{argv: ["/bin/true"]}})

      assert [
               {:malformed, :malformed_request, _},
               {:error, @einval, :malformed_request},
               {:exit, 2}
             ] = frames(port)
    end

    test "argv with a non-binary element names the element" do
      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/echo", 42]}})

      assert [
               {:malformed, :malformed_request, why},
               {:error, @einval, :malformed_request},
               {:exit, 2}
             ] = frames(port)

      assert why =~ "argv"
    end

    test "a missing argv" do
      port = open_agent()
      send_term(port, {:spawn, %{env: []}})

      assert [
               {:malformed, :malformed_request, why},
               {:error, @einval, :malformed_request},
               {:exit, 2}
             ] = frames(port)

      assert why =~ "argv"
    end

    test "an unknown namespace" do
      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/true"], namespaces: [:bogus]}})

      assert [
               {:malformed, :malformed_request, why},
               {:error, @einval, :malformed_request},
               {:exit, 2}
             ] = frames(port)

      assert why =~ "namespaces"
    end

    test "enter without a target" do
      port = open_agent()
      send_term(port, {:enter, %{argv: ["/bin/true"]}})

      assert [
               {:malformed, :malformed_request, _},
               {:error, @einval, :malformed_request},
               {:exit, 2}
             ] = frames(port)
    end

    test "an oversized request is refused without hanging" do
      port = open_agent()
      send_raw(port, :binary.copy(<<0>>, 16 * 1024 * 1024 + 1))
      assert [{:error, @emsgsize, :request_too_big}, {:exit, 2}] = frames(port, 10_000)
    end

    test "a truncated ETF term" do
      port = open_agent()

      <<body::binary-size(10), _::binary>> =
        :erlang.term_to_binary({:spawn, %{argv: ["/bin/true"]}})

      send_raw(port, body)

      assert [
               {:malformed, :malformed_request, _},
               {:error, @einval, :malformed_request},
               {:exit, 2}
             ] = frames(port)
    end
  end

  describe "bad commands are answered and the agent goes on" do
    test "at the checkpoint" do
      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/true"], checkpoint: true}})
      assert {:status, :spawned, pid} = next_frame(port)
      assert is_integer(pid)
      assert {:status, :ready, ^pid} = next_frame(port)

      send_raw(port, <<131, 99>>)
      assert {:malformed, :malformed_command, _} = next_frame(port)
      assert {:error, @einval, :malformed_command} = next_frame(port)

      send_term(port, {:cap_drop_bounding, "not a mask"})
      assert {:malformed, :malformed_command, _} = next_frame(port)
      assert {:error, @einval, :malformed_command} = next_frame(port)

      send_term(port, :proceed)
      assert [{:status, :running}, {:status, :exited, 0}, {:exit, 0}] = frames(port)
    end

    test "after running, including an oversized frame" do
      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/cat"], checkpoint: false, stdio: :pipe}})
      assert {:status, :spawned, _} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)
      assert {:status, :running} = next_frame(port)

      send_term(port, {:no_such_command, 1})
      assert {:malformed, :malformed_command, _} = next_frame(port)
      assert {:error, @einval, :malformed_command} = next_frame(port)

      send_raw(port, :binary.copy(<<0>>, 16 * 1024 * 1024 + 1))
      assert {:error, @emsgsize, :command_too_big} = next_frame(port)

      # The refusal names the command it refuses (issue 10 part 5)
      send_term(port, :proceed)

      assert {:error_detail, :bad_state, :proceed, "command :proceed is not valid now"} =
               next_frame(port)

      assert {:error, @einval, :bad_state} = next_frame(port)

      send_term(port, {:stdin, "still alive\n"})
      send_term(port, :close_stdin)
      assert {:stdin_ack, 12} = next_frame(port)
      assert {:stdout, "still alive\n"} = next_frame(port)
      assert [{:status, :exited, 0}, {:exit, 0}] = frames(port)
    end
  end

  describe "flow control" do
    @frame_cost 256

    # Output frames until the agent has been quiet for 300 ms: {bytes,
    # what they cost against the window}. Any other frame fails.
    defp held_output(port, acc \\ {0, 0}) do
      {bytes, cost} = acc

      receive do
        {^port, {:data, bin}} ->
          assert {:stdout, data} = :erlang.binary_to_term(bin)
          n = byte_size(data)
          held_output(port, {bytes + n, cost + n + @frame_cost})
      after
        300 -> acc
      end
    end

    test "output stops at the window and resumes with output_ack" do
      port = open_agent()
      window = 100_000

      send_term(
        port,
        {:spawn,
         %{
           argv: ["/usr/bin/head", "-c", "300000", "/dev/zero"],
           checkpoint: false,
           stdio: :pipe,
           stdio_window: window
         }}
      )

      assert {:status, :spawned, pid} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)
      assert {:status, :running} = next_frame(port)

      # Up to the window, then nothing: head is blocked in write(2)
      {bytes, cost} = held_output(port)
      # (what is left, at most one frame's cost, buys no read)
      assert cost <= window and cost >= window - @frame_cost
      refute os_pid_gone?(pid)

      # The credit is back to the window, no more
      send_term(port, {:output_ack, cost})
      {more, cost2} = held_output(port)
      assert cost2 <= window and cost2 >= window - @frame_cost and more > 0
      refute os_pid_gone?(pid)

      send_term(port, {:output_ack, 1 <<< 30})
      evs = frames(port)
      rest = for {:stdout, d} <- evs, reduce: 0, do: (acc -> acc + byte_size(d))
      assert bytes + more + rest == 300_000
      assert Enum.take(evs, -2) == [{:status, :exited, 0}, {:exit, 0}]
    end

    test "after the workload exits, held output outlives the drain timeout" do
      port = open_agent()
      # 50 KB fit in the pipe: the workload exits while the agent holds it
      send_term(
        port,
        {:spawn,
         %{
           argv: ["/usr/bin/head", "-c", "50000", "/dev/zero"],
           checkpoint: false,
           stdio: :pipe,
           stdio_window: 4096
         }}
      )

      assert {:status, :spawned, pid} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)
      assert {:status, :running} = next_frame(port)
      assert_os_pid_exits(pid)
      {bytes, cost} = held_output(port)
      assert cost <= 4096 and bytes > 0
      # longer than the agent's 2 s drain idle time: nothing may be dropped
      refute_receive {^port, _}, 2500

      send_term(port, {:output_ack, 1 <<< 30})
      evs = frames(port)
      rest = for {:stdout, d} <- evs, reduce: 0, do: (acc -> acc + byte_size(d))
      assert bytes + rest == 50_000
      assert Enum.take(evs, -2) == [{:status, :exited, 0}, {:exit, 0}]
    end

    test "closing the port while output is held ends the agent" do
      port = open_agent()
      {:os_pid, agent} = Port.info(port, :os_pid)

      send_term(
        port,
        {:spawn,
         %{
           argv: ["/usr/bin/head", "-c", "50000", "/dev/zero"],
           checkpoint: false,
           stdio: :pipe,
           stdio_window: 1024
         }}
      )

      assert {:status, :spawned, pid} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)
      assert {:status, :running} = next_frame(port)
      assert_os_pid_exits(pid)
      assert {bytes, _} = held_output(port)
      assert bytes in 1..(1024 - @frame_cost)
      Port.close(port)
      assert_os_pid_exits(agent)
    end

    test "stdin_ack accounts for every byte, written or dropped" do
      port = open_agent()
      # The workload outlives its stdin a little: with a bare cat the
      # agent could reap it and exit before a busy BEAM has written the
      # late frame at all (then neither refused nor acked).
      argv = ["/bin/sh", "-c", "cat; sleep 0.3"]
      send_term(port, {:spawn, %{argv: argv, checkpoint: false, stdio: :pipe}})
      assert {:status, :spawned, _} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)
      assert {:status, :running} = next_frame(port)

      data = :binary.copy("x", 300_000)
      send_term(port, {:stdin, data})
      send_term(port, :close_stdin)
      # refused: stdin is closed already; still acknowledged
      send_term(port, {:stdin, "late"})

      evs = frames(port, 10_000)
      acked = for {:stdin_ack, n} <- evs, reduce: 0, do: (acc -> acc + n)
      assert acked == 300_004
      assert {:error, @einval, :bad_state} in evs
      assert for({:stdout, d} <- evs, into: "", do: d) == data
      assert {:status, :exited, 0} in evs
    end
  end

  describe "checkpoint command failures name their step" do
    # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }, little-endian.
    defp insn(code, jt, jf, k), do: <<code::little-16, jt::8, jf::8, k::little-32>>

    test "PR_SET_KEEPCAPS refused: {:error, errno, :keepcaps}, not :setresuid" do
      # prctl(PR_SET_KEEPCAPS, ...) fails with EACCES; everything else is
      # allowed (x86_64: prctl is 157, PR_SET_KEEPCAPS 8).
      eacces = 13

      bpf =
        insn(0x20, 0, 0, 0) <>
          insn(0x15, 0, 3, 157) <>
          insn(0x20, 0, 0, 16) <>
          insn(0x15, 0, 1, 8) <>
          insn(0x06, 0, 0, 0x00050000 ||| eacces) <>
          insn(0x06, 0, 0, 0x7FFF0000)

      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/true"], stdio: :devnull}})
      assert {:status, :spawned, pid} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)

      # The filter first, so set_ids's own PR_SET_KEEPCAPS meets it
      send_term(port, {:seccomp_install, bpf})
      send_term(port, {:set_ids, 0, 0})
      send_term(port, :proceed)

      assert [
               {:error_detail, :keepcaps, :none, "PR_SET_KEEPCAPS"},
               {:error, ^eacces, :keepcaps},
               {:exit, 5}
             ] = frames(port)

      assert_os_pid_exits(pid)
    end
  end

  describe "a refused clone names the mode" do
    # clone3 refuses CLONE_INTO_CGROUP with a directory that is not a
    # cgroup (/tmp): the clone itself fails, at :clone for spawn and at
    # :fork for enter (its clone, after joining the target's namespaces).
    test "spawn: :clone, enter: :fork, exit code 3" do
      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/true"], cgroup: "/tmp"}})

      assert [{:error_detail, :clone, :none, _}, {:error, errno, :clone}, {:exit, 3}] =
               frames(port)

      assert errno > 0

      target = Port.open({:spawn_executable, "/bin/sleep"}, [:binary, args: ["60"]])
      {:os_pid, target_pid} = Port.info(target, :os_pid)

      try do
        port = open_agent()
        send_term(port, {:enter, %{target: target_pid, argv: ["/bin/true"], cgroup: "/tmp"}})

        assert [{:error_detail, :fork, :none, _}, {:error, ^errno, :fork}, {:exit, 3}] =
                 frames(port)
      after
        System.cmd("kill", ["-9", "#{target_pid}"])
      end
    end
  end

  describe "echo" do
    test "the agent's reading of a request, defaults filled in" do
      port = open_agent()
      send_term(port, {:echo, {:spawn, %{argv: ["/bin/true"]}}})
      assert [{:decoded, decoded}, {:exit, 0}] = frames(port)
      assert is_map(decoded) or is_tuple(decoded)
    end
  end

  describe "the BEAM side goes away" do
    test "closing the port kills the workload" do
      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/sleep", "60"], checkpoint: false}})
      assert {:status, :spawned, pid} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)
      assert {:status, :running} = next_frame(port)
      Port.close(port)
      assert_os_pid_exits(pid)
    end
  end

  describe "close handshake" do
    test "the agent holds fd 3 open after its last frame until the port is closed" do
      port = open_agent()
      {:os_pid, agent} = Port.info(port, :os_pid)

      send_term(
        port,
        {:spawn, %{argv: ["/bin/true"], checkpoint: false, close_handshake: true}}
      )

      assert {:status, :spawned, _} = next_frame(port)
      assert {:status, :ready, _} = next_frame(port)
      assert {:status, :running} = next_frame(port)
      assert {:status, :exited, 0} = next_frame(port)

      # Longer than the quiet spell (50 ms) and its cap (500 ms): a late
      # command meets an open pipe, not EPIPE, and the agent is still there.
      Process.sleep(700)
      send_term(port, {:signal, 15})
      send_term(port, {:output_ack, 4096})
      refute_receive {^port, _}, 100
      refute os_pid_gone?(agent)

      Port.close(port)
      assert_os_pid_exits(agent, 1000)
    end

    test "without it the agent leaves on its own after a quiet spell" do
      port = open_agent()
      send_term(port, {:spawn, %{argv: ["/bin/true"], checkpoint: false}})
      assert [_, _, _, {:status, :exited, 0}, {:exit, 0}] = frames(port)
    end

    test "Linx.Process asks for it and closes the port on the terminal frame" do
      # a port agent (Linx.Spawner's channels: test/linx/spawner_test.exs)
      Linx.Spawner.enable(false)
      on_exit(fn -> Linx.Spawner.enable(Application.get_env(:linx, :pool_size, 2) > 0) end)
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat"], stdio: :pipe)
      port = :sys.get_state(proc).port
      {:os_pid, agent} = Port.info(port, :os_pid)
      :ok = Linx.Process.close_stdin(proc)
      assert Linx.Process.await(proc) == {:exited, 0}
      assert :sys.get_state(proc).port == nil
      assert_os_pid_exits(agent, 1000)
    end
  end
end
