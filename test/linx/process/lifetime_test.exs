defmodule Linx.Process.LifetimeTest do
  use Linx.Case, async: true

  describe "owner death" do
    test "kills the workload and its daemonized grandchild" do
      pidfile = Path.join(tmp_dir!("daemon"), "pid")
      test_pid = self()

      owner =
        spawn(fn ->
          {:ok, proc} = Linx.Process.spawn(argv: daemonizing_argv(pidfile))
          send(test_pid, {:started, Linx.Process.os_pid(proc)})
          Process.sleep(:infinity)
        end)

      assert_receive {:started, workload}, 5000
      daemon = read_pid(pidfile)
      assert is_integer(daemon)
      refute os_pid_gone?(daemon)

      Process.exit(owner, :kill)
      assert_os_pid_exits(workload)
      assert_os_pid_exits(daemon)
    end

    test "in a pid namespace the whole namespace goes" do
      pidfile = Path.join(tmp_dir!("daemon-pidns"), "pid")
      test_pid = self()

      owner =
        spawn(fn ->
          {:ok, proc} =
            Linx.Process.spawn(argv: daemonizing_argv(pidfile), namespaces: [:pid, :user])

          send(test_pid, {:started, Linx.Process.os_pid(proc)})
          Process.sleep(:infinity)
        end)

      assert_receive {:started, workload}, 5000
      assert is_integer(read_pid(pidfile))
      Process.exit(owner, :kill)
      assert_os_pid_exits(workload)
    end

    test "on_exit: :detach leaves the workload running" do
      test_pid = self()

      owner =
        spawn(fn ->
          {:ok, proc} =
            Linx.Process.spawn(argv: ["/bin/sleep", "30"], on_exit: :detach, stdio: :devnull)

          send(test_pid, {:started, Linx.Process.os_pid(proc)})
          Process.sleep(:infinity)
        end)

      assert_receive {:started, workload}, 5000
      Process.exit(owner, :kill)
      Process.sleep(500)
      refute os_pid_gone?(workload), "a detached workload must survive its owner"
      System.cmd("kill", ["-9", "#{workload}"])
      assert_os_pid_exits(workload)
    end
  end

  describe "the workload's own exit" do
    test "daemons it left behind are killed and no zombie remains" do
      pidfile = Path.join(tmp_dir!("leftover"), "pid")

      {:ok, proc} =
        Linx.Process.spawn(
          argv: [
            "/bin/sh",
            "-c",
            "setsid /bin/sh -c 'echo $$ > #{pidfile}; exec sleep 1000' </dev/null >/dev/null 2>&1 & sleep 0.3"
          ]
        )

      assert {:exited, 0} = Linx.Process.await(proc)
      daemon = read_pid(pidfile)
      assert_os_pid_exits(daemon)
    end
  end

  describe "signals" do
    test "signal(proc, :sigterm) -> {:signaled, 15}" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "60"])
      assert :ok = Linx.Process.signal(proc, :sigterm)
      assert Linx.Process.await(proc) == {:signaled, 15}
    end

    test "numbers work too, and the owner gets the terminal event" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "60"])
      assert :ok = Linx.Process.signal(proc, 9)
      assert_receive {:linx_process, ^proc, {:signaled, 9}}, 5000
    end

    test "the workload starts with default dispositions and an empty mask" do
      # The BEAM ignores SIGPIPE, among others; the workload must not inherit that.
      {out, 0} = Linx.Process.run(["/bin/grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"])
      assert out =~ ~r/SigBlk:\s+0000000000000000/
      assert out =~ ~r/SigIgn:\s+0000000000000000/
    end

    test "whatever the agent's parent left ignored (RT signals, glibc's 32 and 33 aside), the workload gets defaults" do
      # A port agent and a zygote started with signals ignored: the child
      # resets exactly what the agent ignores (read from its SigIgn).
      agent = Path.join(:code.priv_dir(:linx), "linx_process")

      request =
        :erlang.term_to_binary(
          {:spawn,
           %{
             argv: ["/bin/grep", "^SigIgn:", "/proc/self/status"],
             stdio: :pipe,
             checkpoint: false
           }}
        )

      for args <- [[], ["--zygote", "1"]] do
        port =
          Port.open({:spawn_executable, "/bin/bash"}, [
            :binary,
            :nouse_stdio,
            {:packet, 4},
            :exit_status,
            args: [
              "-c",
              "trap '' CHLD PIPE HUP USR1 USR2 40 50 64; exec \"$0\" \"$@\"",
              agent | args
            ]
          ])

        frames =
          if args == [] do
            Port.command(port, request)
            collect_port(port, nil)
          else
            Port.command(port, [<<1, 7::32>>, request])
            collect_port(port, 7)
          end

        out = for {:stdout, d} <- frames, into: "", do: d
        assert out == "SigIgn:\t0000000000000000\n", "#{inspect(args)}: #{inspect(frames)}"
        assert {:status, :exited, 0} in frames
        Port.close(port)
      end
    end

    test "an unknown signal name raises" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "60"])
      assert_raise ArgumentError, fn -> Linx.Process.signal(proc, :sigbogus) end
      Linx.Process.signal(proc, :sigkill)
      Linx.Process.await(proc)
    end
  end

  describe "await" do
    test "returns exit codes and times out" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "exit 7"])
      assert Linx.Process.await(proc) == {:exited, 7}

      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "60"])
      assert Linx.Process.await(proc, 50) == {:error, :timeout}
      Linx.Process.signal(proc, :sigkill)
      assert Linx.Process.await(proc) == {:signaled, 9}
      refute_received {:linx_process, ^proc, {:signaled, 9}}
    end

    test "after the server is gone, the owner's mailbox still answers" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"])
      ref = Process.monitor(proc)
      # The server lingers ~1 s after the workload ends, then goes.
      assert_receive {:DOWN, ^ref, _, _, _}, 8000
      assert Linx.Process.await(proc) == {:exited, 0}
    end
  end

  describe "under a supervisor" do
    test "child_spec starts the workload" do
      dir = tmp_dir!("sup")
      marker = Path.join(dir, "ran")

      {:ok, sup} =
        Supervisor.start_link([{Linx.Process, argv: ["/bin/touch", marker]}],
          strategy: :one_for_one
        )

      assert eventually(fn -> File.exists?(marker) end)
      Supervisor.stop(sup)
    end
  end

  describe "no leaks" do
    test "hundreds of short runs leave no zombie children of the BEAM" do
      for _ <- 1..200, do: {"", 0} = Linx.Process.run(["/bin/true"])

      zombies =
        for dir <- File.ls!("/proc"),
            match?({_, ""}, Integer.parse(dir)),
            {:ok, stat} <- [File.read("/proc/#{dir}/stat")],
            [_, rest] <- [String.split(stat, ") ", parts: 2)],
            [state, ppid | _] = String.split(rest),
            state == "Z" and ppid == System.pid(),
            do: dir

      assert zombies == []
    end
  end

  # Frames from a raw agent (id nil) or a zygote's channel id, to the terminal status
  defp collect_port(port, id, acc \\ []) do
    receive do
      {^port, {:data, bin}} ->
        frame =
          case {id, bin} do
            {nil, _} -> :erlang.binary_to_term(bin)
            {id, <<2, id::32, f::binary>>} -> :erlang.binary_to_term(f)
            _ -> :other
          end

        if match?({:status, tag, _} when tag in [:exited, :signaled], frame),
          do: Enum.reverse([frame | acc]),
          else: collect_port(port, id, [frame | acc])
    after
      5000 -> flunk("no terminal frame: #{inspect(Enum.reverse(acc))}")
    end
  end
end
