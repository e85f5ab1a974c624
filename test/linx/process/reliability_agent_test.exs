defmodule Linx.Process.ReliabilityAgentTest do
  # Faults of the agent found in "Reliability II": entering a target that
  # has lost its namespaces, daemons that escape a pid namespace, a stdio
  # socket whose listener never accepts, a signal at the checkpoint.
  use Linx.Case, async: true

  @leader_exit Path.expand("../../../build/test/leader_exit", __DIR__)

  describe "enter into a target that has lost its namespaces" do
    test "an unreaped zombie: {:enoent, :open_ns_mount}, nothing runs in the host's namespaces" do
      # sleep 60 never reaps the inner sh: it stays a zombie in the
      # target's mount/uts/net namespaces.
      {:ok, target} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "/bin/sh -c 'echo $$' & exec /bin/sleep 60"],
          namespaces: [:mount, :uts, :net],
          stdio: :pipe
        )

      assert_receive {:linx_process, ^target, {:stdout, line}}, 5000
      zombie = line |> String.trim() |> String.to_integer()
      assert ppid(zombie) == Linx.Process.os_pid(target)
      assert eventually(fn -> zombie_state?(zombie) end), "#{zombie} never became a zombie"
      assert {:error, :enoent} = File.read_link("/proc/#{zombie}/ns/net")

      marker = Path.join(tmp_dir!("zombie"), "ran")

      assert {:error, {:enoent, :open_ns_mount}} =
               Linx.Process.enter(zombie, argv: ["/bin/touch", marker])

      refute File.exists?(marker)
      Linx.Process.stop(target, 0)
    end

    test "a live process whose main thread has exited: {:enoent, :open_ns_mount}" do
      assert File.exists?(@leader_exit), "#{@leader_exit} not built (mk/test_helpers.mk)"

      {:ok, target} =
        Linx.Process.spawn(argv: [@leader_exit], namespaces: [:mount, :uts, :net], stdio: :pipe)

      assert_receive {:linx_process, ^target, {:stdout, "ready\n"}}, 5000
      pid = Linx.Process.os_pid(target)
      # Alive (its worker thread runs), yet its namespaces are unreadable.
      assert [_, _] = File.ls!("/proc/#{pid}/task")
      assert {:error, :enoent} = File.read_link("/proc/#{pid}/ns/uts")

      marker = Path.join(tmp_dir!("leader"), "ran")

      assert {:error, {:enoent, :open_ns_mount}} =
               Linx.Process.enter(pid, argv: ["/bin/touch", marker])

      refute File.exists?(marker)
      assert {:signaled, 15} = Linx.Process.stop(target, 0)
    end
  end

  describe "a signal while held at the checkpoint" do
    test "stop/2 reports {:signaled, 15}, to await/2 and to the owner" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], checkpoint: true)
      os_pid = Linx.Process.os_pid(proc)
      refute os_pid_gone?(os_pid)

      assert Linx.Process.stop(proc, 5000) == {:signaled, 15}
      assert_os_pid_exits(os_pid)
      assert {:error, :not_at_checkpoint} = Linx.Process.proceed(proc)
    end

    test "signal/2 is the terminal event of the owner" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], checkpoint: true)
      assert :ok = Linx.Process.signal(proc, :sigterm)
      assert_receive {:linx_process, ^proc, {:signaled, 15}}, 5000
      assert Linx.Process.await(proc, 1000) == {:signaled, 15}
    end

    test "after checkpoint commands were applied: SIGKILL is {:signaled, 9}; the checkpoint is gone" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/true"],
          checkpoint: true,
          capabilities: [keep: [:kill]]
        )

      assert {:ok, %{bounding: [:kill]}} = Linx.Process.capabilities(proc)
      assert :ok = Linx.Process.signal(proc, :sigkill)
      assert Linx.Process.await(proc, 5000) == {:signaled, 9}
      assert {:error, :not_at_checkpoint} = Linx.Process.capabilities(proc)
    end

    test "with uid_map (the maps are written by the agent before :ready)" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/true"],
          namespaces: [:user],
          uid_map: [{0, 0, 1}],
          gid_map: [{0, 0, 1}],
          checkpoint: true
        )

      os_pid = Linx.Process.os_pid(proc)
      assert File.read!("/proc/#{os_pid}/uid_map") =~ ~r/^\s*0\s+0\s+1$/m
      assert Linx.Process.stop(proc, 5000) == {:signaled, 15}
      assert_os_pid_exits(os_pid)
    end
  end

  describe "enter into a pid namespace: a daemon adopted by the target's init" do
    # The target is init (pid 1) of its own pid namespace. The workload
    # double-forks a setsid daemon (the subshell exits at once, so the
    # daemon is orphaned and adopted by that init, outside the agent's
    # subtree) that keeps stdout and writes to it forever, ignoring
    # SIGPIPE. Returns the events, how long they took, the daemon's pid.
    defp enter_with_daemon(init, opts) do
      # /proc is the host's: the ppid of `cut` is the daemon's host pid.
      daemon =
        ~s|echo daemon=$(cut -d" " -f4 /proc/self/stat); trap "" PIPE; | <>
          ~s|while :; do echo tick; sleep 0.1; done|

      script = "(setsid /bin/sh -c '#{daemon}' &); sleep 0.3; echo workload-done; exit 0"
      started = System.monotonic_time(:millisecond)

      {:ok, proc} =
        Linx.Process.enter(init, [argv: ["/bin/sh", "-c", script], stdio: :pipe] ++ opts)

      events = collect_events(proc, 15_000)
      elapsed = System.monotonic_time(:millisecond) - started
      [_, pid] = Regex.run(~r/^daemon=(\d+)$/m, output(events))
      {events, elapsed, String.to_integer(pid)}
    end

    test "cgroup: false: the status arrives within the drain bound; the daemon lives on with init" do
      {:ok, target} = Linx.Process.spawn(argv: ["/bin/sleep", "60"], namespaces: [:pid])
      init = Linx.Process.os_pid(target)

      {events, elapsed, pid} = enter_with_daemon(init, cgroup: false)

      # The status arrives within the bound, after the workload's own
      # output (and the ticks the daemon wrote while the workload lived).
      assert List.last(events) == {:exited, 0}
      assert elapsed < 6_000, "terminal status after #{elapsed} ms"
      out = output(events)
      assert out =~ "workload-done\n"
      assert out =~ "tick\n"

      # As documented: the sweep cannot see it. It lives on, adopted by the
      # target's init, until that pid namespace ends.
      refute os_pid_gone?(pid)
      assert ppid(pid) == init

      Linx.Process.stop(target, 0)
      assert_os_pid_exits(pid)
    end

    @tag :cgroup
    test "with a cgroup: cgroup.kill takes the daemon too" do
      if Linx.Cgroup.base() == nil do
        raise "cgroup v2 with cgroup.kill is not available here; run with --exclude cgroup"
      end

      {:ok, target} = Linx.Process.spawn(argv: ["/bin/sleep", "60"], namespaces: [:pid])
      init = Linx.Process.os_pid(target)

      {events, elapsed, pid} = enter_with_daemon(init, cgroup: true)

      assert List.last(events) == {:exited, 0}
      assert elapsed < 6_000, "terminal status after #{elapsed} ms"
      assert output(events) =~ "workload-done\n"
      # Killed by the sweep's cgroup.kill (then a zombie of init, which
      # never reaps): its stdout closed, so the drain ended at EOF.
      assert_os_pid_exits(pid, 1000)
      refute os_pid_gone?(init)
      Linx.Process.stop(target, 0)
    end
  end

  describe "stdio connected to a unix socket whose listener never accepts" do
    setup do
      path = Path.join(tmp_dir!("backlog"), "full.sock")
      {:ok, listener} = :socket.open(:local, :stream, :default)
      :ok = :socket.bind(listener, %{family: :local, path: path})
      # Backlog 0: the kernel queues at most one connection, and nobody
      # ever accepts it.
      :ok = :socket.listen(listener, 0)

      fillers =
        for _ <- 1..2 do
          {:ok, sock} = :socket.open(:local, :stream, :default)
          _ = :socket.connect(sock, %{family: :local, path: path}, 300)
          sock
        end

      on_exit(fn -> Enum.each([listener | fillers], &:socket.close/1) end)
      %{path: path}
    end

    # {elapsed ms, fun.()}, or a failure if the call is still blocked
    # after 15 s (before the fix: forever, the child stuck in connect()).
    defp timed(fun) do
      task = Task.async(fn -> :timer.tc(fun) end)

      case Task.yield(task, 15_000) || Task.shutdown(task, :brutal_kill) do
        {:ok, {us, result}} -> {div(us, 1000), result}
        nil -> flunk("still blocked in connect() after 15 s")
      end
    end

    test "spawn/1 fails with {:etimedout, :stdio} after the deadline", ctx do
      {ms, result} =
        timed(fn ->
          Linx.Process.spawn(argv: ["/bin/true"], stdio: [stdout: {:connect_unix, ctx.path}])
        end)

      assert result == {:error, {:etimedout, :stdio}}
      assert ms >= 4_000 and ms < 10_000, "took #{ms} ms"
    end

    test "at proceed/1 after a checkpoint: the same error, the agent stays responsive", ctx do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/true"],
          stdio: [stderr: {:connect_unix, ctx.path}],
          checkpoint: true
        )

      os_pid = Linx.Process.os_pid(proc)
      assert {_ms, {:error, {:etimedout, :stdio}}} = timed(fn -> Linx.Process.proceed(proc) end)
      assert_os_pid_exits(os_pid)
    end
  end

  describe "stdio connected to a unix socket" do
    @sock_probe Path.expand("../../../build/test/sock_probe", __DIR__)

    test "the workload gets a blocking socket without the connect deadline" do
      assert File.exists?(@sock_probe), "#{@sock_probe} not built (mk/test_helpers.mk)"
      path = Path.join(tmp_dir!("sockprobe"), "out.sock")
      {:ok, listen} = :gen_tcp.listen(0, [:binary, ifaddr: {:local, path}, active: false])

      {:ok, proc} =
        Linx.Process.spawn(argv: [@sock_probe], stdio: [stdout: {:connect_unix, path}])

      {:ok, sock} = :gen_tcp.accept(listen, 5000)
      assert {:ok, line} = :gen_tcp.recv(sock, 0, 5000)
      assert line == "nonblock=0 sndtimeo=0.000000 rcvtimeo=0.000000\n"
      assert {:exited, 0} = Linx.Process.await(proc, 5000)
    end
  end

  defp zombie_state?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, stat} -> stat |> String.split(") ") |> List.last() |> String.starts_with?("Z")
      _ -> false
    end
  end
end
