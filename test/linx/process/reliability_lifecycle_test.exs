defmodule Linx.Process.ReliabilityLifecycleTest do
  # Kills pooled agents, resizes the pool, sweeps the shared linx cgroup
  # directory and starts other BEAMs: not async.
  use Linx.Case, async: false

  @ebin Path.join([Mix.Project.build_path(), "lib", "linx", "ebin"])

  setup do
    on_exit(fn -> Linx.Pool.resize(Application.get_env(:linx, :pool_size, 2)) end)
  end

  ## Helpers

  # kill(1); a process already gone (cleanup after a test) is not an error.
  defp os_kill(sig, pid), do: System.cmd("kill", [sig, "#{pid}"], stderr_to_stdout: true)

  # The group directory of a workload, from its /proc/PID/cgroup.
  defp group_of(os_pid) do
    [_, path] = Regex.run(~r/^0::(.*)$/m, File.read!("/proc/#{os_pid}/cgroup"))
    Path.join(Linx.Cgroup.base(), Path.basename(path))
  end

  # Another BEAM running `script` against the compiled Linx; `prefix` is
  # a command (and args) to run it under, e.g. unshare. It waits until its
  # own non-detached groups are gone, so that none is left behind.
  defp other_beam(script, prefix \\ []) do
    script =
      script <>
        """
        {:ok, id} = Linx.Cgroup.beam_id()
        Enum.find(1..150, fn _ ->
          Process.sleep(20)
          not Enum.any?(File.ls!(Linx.Cgroup.base()), &String.starts_with?(&1, id))
        end)
        """

    {cmd, args} =
      case prefix do
        [] -> {System.find_executable("elixir"), []}
        [cmd | args] -> {cmd, args ++ ["elixir"]}
      end

    System.cmd(cmd, args ++ ["-pa", @ebin, "-e", script], stderr_to_stdout: true)
  end

  # A real process (sleep) moved into `group`; returns its port and pid.
  defp sleeper_in(group) do
    port = Port.open({:spawn_executable, "/bin/sleep"}, [:binary, :exit_status, args: ["1000"]])
    {:os_pid, os_pid} = Port.info(port, :os_pid)
    File.write!(Path.join(group, "cgroup.procs"), "#{os_pid}")
    assert group_of(os_pid) == group
    on_exit(fn -> os_kill("-9", "#{os_pid}") end)
    {port, os_pid}
  end

  # A group named as the BEAM (pidns, timens, pid, start time) would.
  defp fake_group(prefix \\ "", pid_ns, time_ns, pid, start) do
    path =
      Path.join(
        Linx.Cgroup.base(),
        "#{prefix}#{pid_ns}-#{time_ns}-#{pid}-#{start}-#{System.unique_integer([:positive])}"
      )

    File.mkdir!(path)
    on_exit(fn -> cleanup_group(path) end)
    path
  end

  defp cleanup_group(path) do
    if File.dir?(path) do
      Linx.Cgroup.kill(path)
      eventually(fn -> File.rmdir(path) in [:ok, {:error, :enoent}] end)
    end
  end

  defp own_id do
    {:ok, id} = Linx.Cgroup.beam_id()
    [pid_ns, time_ns, pid, start] = String.split(id, "-")
    %{pid_ns: pid_ns, time_ns: time_ns, pid: pid, start: start}
  end

  # The pid of a process that has just exited.
  defp dead_pid do
    {out, 0} = System.cmd("sh", ["-c", "echo $$"])
    pid = String.trim(out)
    assert os_pid_gone?(pid)
    pid
  end

  defp idle_agent_os_pids do
    for port <- :queue.to_list(:sys.get_state(Linx.Pool).idle),
        {:os_pid, os_pid} <- [Port.info(port, :os_pid)],
        do: os_pid
  end

  describe "stale cgroup sweep (item 2)" do
    @describetag :cgroup

    test "a BEAM in another pid namespace spawning leaves this BEAM's workloads alive" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
      workload = Linx.Process.os_pid(proc)
      group = group_of(workload)

      script = """
      {:ok, _} = Application.ensure_all_started(:linx)
      {"other\\n", 0} = Linx.Process.run(["/bin/echo", "other"])
      IO.puts("BASE " <> Linx.Cgroup.base())
      IO.puts("PIDNS " <> File.read_link!("/proc/self/ns/pid"))
      """

      {out, 0} = other_beam(script, ["unshare", "--pid", "--fork", "--mount-proc"])
      # It really shared our cgroup directory from another pid namespace.
      assert out =~ "BASE #{Linx.Cgroup.base()}\n"
      refute out =~ "PIDNS #{host_ns("pid")}"
      Process.sleep(200)
      refute os_pid_gone?(workload), "the other BEAM's sweep killed our workload"
      assert File.dir?(group)
      assert Process.alive?(proc)
      Linx.Process.stop(proc, 0)
    end

    test "a group named by a BEAM of another pid or time namespace is never judged" do
      me = own_id()
      foreign_pid_ns = fake_group("1", me.time_ns, dead_pid(), "1")
      foreign_time_ns = fake_group(me.pid_ns, "1", dead_pid(), "1")
      legacy = Path.join(Linx.Cgroup.base(), "#{dead_pid()}-1")
      File.mkdir!(legacy)
      on_exit(fn -> cleanup_group(legacy) end)

      sleepers = for g <- [foreign_pid_ns, foreign_time_ns, legacy], do: sleeper_in(g)

      :ok = Linx.Cgroup.sweep_stale(Linx.Cgroup.base())
      Process.sleep(200)

      for {{_port, os_pid}, g} <- Enum.zip(sleepers, [foreign_pid_ns, foreign_time_ns, legacy]) do
        refute os_pid_gone?(os_pid), "#{g}: its process was killed"
        assert File.dir?(g)
      end
    end

    test "a group of another user is never judged (hidepid may hide its BEAM)" do
      me = own_id()
      other_user = fake_group(me.pid_ns, me.time_ns, dead_pid(), me.start)
      File.chown!(other_user, 65_534)
      {_, os_pid} = sleeper_in(other_user)

      :ok = Linx.Cgroup.sweep_stale(Linx.Cgroup.base())
      Process.sleep(200)
      refute os_pid_gone?(os_pid)
      assert File.dir?(other_user)
    end

    test "a group of this pid namespace whose BEAM is dead, or whose pid was reused, is swept" do
      me = own_id()
      dead_owner = fake_group(me.pid_ns, me.time_ns, dead_pid(), me.start)
      # Our own pid with another start time: the pid of a BEAM long gone,
      # reused by this one.
      reused = fake_group(me.pid_ns, me.time_ns, me.pid, String.to_integer(me.start) + 1)
      live_owner = fake_group(me.pid_ns, me.time_ns, me.pid, me.start)
      {_, in_dead} = sleeper_in(dead_owner)
      {_, in_reused} = sleeper_in(reused)
      {_, in_live} = sleeper_in(live_owner)

      :ok = Linx.Cgroup.sweep_stale(Linx.Cgroup.base())

      assert_os_pid_exits(in_dead)
      assert_os_pid_exits(in_reused)
      assert eventually(fn -> not File.dir?(dead_owner) and not File.dir?(reused) end)
      refute os_pid_gone?(in_live)
      assert File.dir?(live_owner)
    end
  end

  describe "on_exit: :detach and sweeps (item 3)" do
    @describetag :cgroup

    test "the next BEAM's first spawn leaves a detached workload of a halted BEAM alive" do
      first = """
      {:ok, _} = Application.ensure_all_started(:linx)
      {:ok, p} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull, on_exit: :detach)
      IO.puts("WORKLOAD \#{Linx.Process.os_pid(p)}")
      System.halt(0)
      """

      {out, 0} = other_beam(first)
      [_, pid] = Regex.run(~r/WORKLOAD (\d+)/, out)
      on_exit(fn -> os_kill("-9", pid) end)
      group = group_of(pid)

      next = """
      {:ok, _} = Application.ensure_all_started(:linx)
      {"next\\n", 0} = Linx.Process.run(["/bin/echo", "next"])
      """

      {_, 0} = other_beam(next)
      Process.sleep(200)
      refute os_pid_gone?(pid), "the next BEAM's sweep killed the detached workload"
      assert File.dir?(group)
      assert Path.basename(group) =~ ~r/^detached-/

      # Once the detached workload is gone, a sweep removes its empty group.
      os_kill("-9", pid)
      assert_os_pid_exits(pid)
      assert eventually(fn -> File.read!(Path.join(group, "cgroup.procs")) == "" end)
      :ok = Linx.Cgroup.sweep_stale(Linx.Cgroup.base())
      refute File.dir?(group)
    end
  end

  describe "a server killed with :kill (item 16)" do
    @describetag :cgroup

    test "its workload dies and its cgroup directory is removed" do
      for _ <- 1..3 do
        {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
        workload = Linx.Process.os_pid(proc)
        group = group_of(workload)
        Process.exit(proc, :kill)
        assert_os_pid_exits(workload)
        assert eventually(fn -> not File.dir?(group) end), "#{group} was left behind"
      end
    end

    test "a detached workload survives in its group; the empty group goes later" do
      {:ok, proc} =
        Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull, on_exit: :detach)

      workload = Linx.Process.os_pid(proc)
      on_exit(fn -> os_kill("-9", "#{workload}") end)
      group = group_of(workload)
      Process.exit(proc, :kill)
      Process.sleep(300)
      refute os_pid_gone?(workload)
      assert group_of(workload) == group

      os_kill("-9", "#{workload}")
      assert_os_pid_exits(workload)
      # The janitor tries populated detached groups again every second.
      assert eventually(fn -> not File.dir?(group) end, 3000)
    end
  end

  describe "pooled agents killed from outside (item 5)" do
    test "kill -9 of the idle agents: every spawn succeeds, the pool survives and refills" do
      :ok = Linx.Pool.resize(2)
      Linx.Spawner.enable(false)
      assert eventually(fn -> Linx.Pool.idle() == 2 end)
      pool = Process.whereis(Linx.Pool)

      for round <- 1..10 do
        agents = idle_agent_os_pids()
        assert length(agents) == 2
        for a <- agents, do: os_kill("-9", "#{a}")

        for i <- 1..4 do
          assert {"#{round}.#{i}\n", 0} == Linx.Process.run(["/bin/echo", "#{round}.#{i}"])
        end

        assert eventually(fn -> Linx.Pool.idle() == 2 end)
      end

      assert Process.whereis(Linx.Pool) == pool
    end

    test "a pooled agent that dies after it was handed out, before answering: one retry" do
      :ok = Linx.Pool.resize(1)
      # the pool's own agents, not the spawner's
      Linx.Spawner.enable(false)
      assert eventually(fn -> Linx.Pool.idle() == 1 end)
      [agent] = idle_agent_os_pids()
      # Stopped, it looks alive when handed out and answers nothing.
      os_kill("-STOP", "#{agent}")
      task = Task.async(fn -> Linx.Process.run(["/bin/echo", "retried"]) end)
      assert eventually(fn -> idle_agent_os_pids() != [agent] end)
      Process.sleep(100)
      os_kill("-9", "#{agent}")
      assert Task.await(task, 10_000) == {"retried\n", 0}
    end
  end

  describe "start errors are {errno, stage} (item 12)" do
    test "a dead owner: {:noproc, :owner}, and the workload never runs" do
      owner = spawn(fn -> :ok end)
      ref = Process.monitor(owner)
      assert_receive {:DOWN, ^ref, :process, _, _}
      marker = Path.join(tmp_dir!("owner"), "ran")

      assert Linx.Process.spawn(argv: ["/bin/touch", marker], owner: owner) ==
               {:error, {:noproc, :owner}}

      Process.sleep(200)
      refute File.exists?(marker)
    end

    @tag :cgroup
    test "cgroup: true and no group can be made: {:enoent, :cgroup}, nothing runs" do
      key = {Linx.Cgroup, :base}
      base = Linx.Cgroup.base()
      on_exit(fn -> :persistent_term.put(key, base) end)
      :persistent_term.put(key, "/nonexistent-linx-cgroup-base")
      marker = Path.join(tmp_dir!("cgroup"), "ran")

      assert Linx.Process.spawn(argv: ["/bin/touch", marker], cgroup: true) ==
               {:error, {:enoent, :cgroup}}

      Process.sleep(200)
      refute File.exists?(marker)
    end

    test "run/2 (the agent makes the group): cgroup: true fails at :cgroup naming the mkdir, :auto runs without" do
      key = {Linx.Cgroup, :base}
      base = Linx.Cgroup.base()
      on_exit(fn -> :persistent_term.put(key, base) end)
      :persistent_term.put(key, "/nonexistent-linx-cgroup-base")
      marker = Path.join(tmp_dir!("cgroup"), "ran")

      error =
        assert_raise Linx.Process.Error, fn ->
          Linx.Process.run(["/bin/touch", marker], cgroup: true)
        end

      assert {error.errno, error.stage} == {:enoent, :cgroup}
      assert error.detail =~ "mkdir /nonexistent-linx-cgroup-base/"
      refute File.exists?(marker)

      {out, 0} = Linx.Process.run(["/bin/cat", "/proc/self/cgroup"])
      refute out =~ "/linx/"
    end

    test "the server killed while it starts: {:killed, :server}" do
      :ok = Linx.Pool.resize(1)
      Linx.Spawner.enable(false)
      assert eventually(fn -> Linx.Pool.idle() == 1 end)
      [port] = :queue.to_list(:sys.get_state(Linx.Pool).idle)
      {:os_pid, agent} = Port.info(port, :os_pid)
      on_exit(fn -> os_kill("-9", agent) end)
      # A stopped agent never answers: the server waits in :starting.
      os_kill("-STOP", agent)
      pool = Process.whereis(Linx.Pool)
      task = Task.async(fn -> Linx.Process.spawn(argv: ["/bin/true"]) end)

      # (30 s: under load the server's start can take seconds)
      server =
        eventually(
          fn ->
            case Port.info(port, :connected) do
              {:connected, pid} when pid != pool -> pid
              _ -> nil
            end
          end,
          30_000
        )

      assert is_pid(server), "the pooled agent's port never reached a server"
      Process.exit(server, :kill)
      assert Task.await(task, 5000) == {:error, {:killed, :server}}
    end

    test "the agent killed before it answers proceed: {status, :agent_died}, status an integer" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], checkpoint: true)
      agent = ppid(Linx.Process.os_pid(proc))
      os_kill("-STOP", "#{agent}")
      task = Task.async(fn -> Linx.Process.proceed(proc) end)
      Process.sleep(100)
      os_kill("-9", "#{agent}")
      assert {:error, {status, :agent_died}} = Task.await(task, 5000)
      assert status == 128 + 9
    end
  end

  describe "out of file descriptors (items 4 and 12)" do
    # A BEAM with `ulimit -n 64`: its fds are exhausted by a process that
    # opens /dev/null until EMFILE, then given back.
    @script """
    {:ok, _} = Application.ensure_all_started(:linx)
    # Load every module now: loading one later needs a free fd.
    for app <- [:linx, :elixir, :logger, :stdlib, :kernel], m <- Application.spec(app, :modules),
      do: Code.ensure_loaded(m)

    poll = fn poll, f, n ->
      case f.() do
        v when v in [nil, false] and n > 0 -> Process.sleep(20); poll.(poll, f, n - 1)
        v -> v
      end
    end

    poll.(poll, fn -> Linx.Pool.idle() == 2 end, 250)
    # the port agents' path (the spawner needs no new fd: its own test)
    Linx.Spawner.enable(false)
    sup = Process.whereis(Linx.Supervisor)
    pool = Process.whereis(Linx.Pool)
    {:ok, sleeper} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
    sleeper_os = Linx.Process.os_pid(sleeper)
    parent = self()

    holder = spawn(fn ->
      fds =
        Stream.repeatedly(fn -> :file.open("/dev/null", [:read, :raw]) end)
        |> Enum.take_while(&match?({:ok, _}, &1))

      send(parent, {:held, length(fds), :file.open("/dev/null", [:read, :raw])})
      receive do: (:release -> :ok)
    end)

    {held, last} = receive do: ({:held, n, last} -> {n, last})
    # Empty the pool: the next agent must be opened while fds are out.
    taken = Stream.repeatedly(&Linx.Pool.checkout/0) |> Enum.take_while(& &1)
    spawned = Linx.Process.spawn(argv: ["/bin/true"], stdio: :devnull)

    ran =
      try do
        Linx.Process.run(["/bin/true"])
      rescue
        e in Linx.Process.Error -> {:raised, e.errno, e.stage}
      end

    # Let the pool fail and back off a few times.
    Process.sleep(500)
    during = {Process.whereis(Linx.Supervisor), Process.whereis(Linx.Pool), Process.alive?(sleeper)}
    send(holder, :release)
    Enum.each(taken, &Port.close/1)

    after_release =
      poll.(poll, fn ->
        try do
          Linx.Process.run(["/bin/echo", "back"])
        rescue
          Linx.Process.Error -> nil
        end
      end, 150)

    refilled = poll.(poll, fn -> Linx.Pool.idle() == 2 end, 500)
    sleeper_state = File.read!("/proc/\#{sleeper_os}/stat")
    Linx.Process.stop(sleeper, 0)

    result = %{
      sup: sup, pool: pool, held: held, last: last, spawned: spawned, ran: ran, during: during,
      after_release: after_release, refilled: refilled, sleeper_state: sleeper_state,
      final: {Process.whereis(Linx.Supervisor), Process.whereis(Linx.Pool)}
    }

    IO.puts("RESULT " <> Base.encode64(:erlang.term_to_binary(result)))
    """

    test "spawn fails with {:emfile, :agent}, Linx keeps running, and works again after" do
      {out, _} =
        System.cmd("sh", ["-c", "ulimit -n 64; exec elixir -pa \"$0\" -e \"$1\"", @ebin, @script],
          stderr_to_stdout: true
        )

      match = Regex.run(~r/RESULT (\S+)/, out)
      assert match, "the small BEAM failed:\n#{out}"
      [_, b64] = match
      r = :erlang.binary_to_term(Base.decode64!(b64))

      assert r.held > 0 and r.last == {:error, :emfile}
      assert r.spawned == {:error, {:emfile, :agent}}
      assert r.ran == {:raised, :emfile, :agent}
      # Same supervisor, same pool, the running workload untouched.
      assert r.during == {r.sup, r.pool, true}
      assert r.sleeper_state =~ ~r/\) S/
      assert r.after_release == {"back\n", 0}
      assert r.refilled == true
      assert r.final == {r.sup, r.pool}
    end

    # As a user would write it: no module loaded beforehand. Linx loads
    # its own modules at start; before, the first call of a module not yet
    # loaded needed an fd and raised UndefinedFunctionError.
    @cold_script """
    {:ok, _} = Application.ensure_all_started(:linx)
    Enum.find(1..250, fn _ -> Process.sleep(20); Linx.Pool.idle() == 2 end)
    Linx.Spawner.enable(false)
    fds = Stream.repeatedly(fn -> :file.open("/dev/null", [:read, :raw]) end)
          |> Enum.take_while(&match?({:ok, _}, &1))
    taken = Stream.repeatedly(&Linx.Pool.checkout/0) |> Enum.take_while(& &1)
    spawned = Linx.Process.spawn(argv: ["/bin/true"], stdio: :devnull)
    ran =
      try do
        Linx.Process.run(["/bin/true"])
      rescue
        e -> {:raised, e.__struct__, Map.get(e, :errno), Map.get(e, :stage)}
      end
    Enum.each(fds, fn {:ok, fd} -> :file.close(fd) end)
    Enum.each(taken, &Port.close/1)
    IO.puts("RESULT " <> Base.encode64(:erlang.term_to_binary({spawned, ran})))
    """

    test "in a BEAM that loaded no Linx module beforehand: the same errors, no undefined function" do
      {out, _} =
        System.cmd(
          "sh",
          ["-c", "ulimit -n 64; exec elixir -pa \"$0\" -e \"$1\"", @ebin, @cold_script],
          stderr_to_stdout: true
        )

      [_, b64] = Regex.run(~r/RESULT (\S+)/, out) || flunk("the small BEAM failed:\n#{out}")
      {spawned, ran} = :erlang.binary_to_term(Base.decode64!(b64))
      assert spawned == {:error, {:emfile, :agent}}
      assert ran == {:raised, Linx.Process.Error, :emfile, :agent}
      # nothing of Linx had to be loaded while the fds were out
      refute out =~ "UndefinedFunctionError"
      refute out =~ "File operation error: emfile"
    end
  end
end
