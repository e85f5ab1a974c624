defmodule Linx.Process.FaultsTest do
  # Whatever dies — owner, server, agent, the whole BEAM — the workload and
  # its descendants go, and the side that survives reports the right thing.
  use Linx.Case, async: true

  test "the Linx.Process server killed: workload and daemon go" do
    pidfile = Path.join(tmp_dir!("srvkill"), "pid")
    {:ok, proc} = Linx.Process.spawn(argv: daemonizing_argv(pidfile))
    workload = Linx.Process.os_pid(proc)
    agent = ppid(workload)
    daemon = read_pid(pidfile)

    Process.exit(proc, :kill)
    assert_os_pid_exits(workload, 1000)
    assert_os_pid_exits(daemon, 1000)
    assert_os_pid_exits(agent, 1000)
  end

  test "the agent killed with SIGKILL: the workload goes, the server reports :agent_died" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"])
    workload = Linx.Process.os_pid(proc)
    agent = ppid(workload)
    System.cmd("kill", ["-9", "#{agent}"])
    assert {:agent_died, _status} = Linx.Process.await(proc, 5000)
    assert_os_pid_exits(workload, 1000)
  end

  test "the agent killed with SIGKILL in a pid namespace: the whole namespace goes" do
    pidfile = Path.join(tmp_dir!("agentkill-pidns"), "pid")

    {:ok, proc} =
      Linx.Process.spawn(argv: daemonizing_argv(pidfile), namespaces: [:pid, :user, :mount])

    workload = Linx.Process.os_pid(proc)
    agent = ppid(workload)
    assert is_integer(read_pid(pidfile))
    System.cmd("kill", ["-9", "#{agent}"])
    assert {:agent_died, _} = Linx.Process.await(proc, 5000)
    assert_os_pid_exits(workload, 1000)
  end

  test "the whole BEAM killed with SIGKILL: workload and daemon go" do
    dir = tmp_dir!("beamkill")
    pidfile = Path.join(dir, "daemon")
    out = Path.join(dir, "workload")
    ebin = Path.join([Mix.Project.build_path(), "lib", "linx", "ebin"])

    script = """
    Application.ensure_all_started(:linx)
    {:ok, proc} = Linx.Process.spawn(argv: #{inspect(daemonizing_argv(pidfile))})
    File.write!(#{inspect(out)}, Integer.to_string(Linx.Process.os_pid(proc)))
    Process.sleep(:infinity)
    """

    beam =
      Port.open({:spawn_executable, System.find_executable("elixir")}, [
        :binary,
        :exit_status,
        args: ["-pa", ebin, "-e", script]
      ])

    {:os_pid, beam_pid} = Port.info(beam, :os_pid)
    # A whole BEAM starts here: seconds when the suite loads both cores.
    workload = read_pid(out, 60_000)
    daemon = read_pid(pidfile, 10_000)

    assert is_integer(workload) and is_integer(daemon),
           "the child BEAM wrote no pids; it printed: #{inspect(port_output(beam))}"

    # The elixir script is a shell wrapper around erl: kill the real VM too.
    System.cmd("pkill", ["-9", "-P", "#{beam_pid}"])
    System.cmd("kill", ["-9", "#{beam_pid}"])
    assert_os_pid_exits(workload, 2000)
    assert_os_pid_exits(daemon, 2000)
  end

  test "stop/2 escalates to SIGKILL when SIGTERM is ignored" do
    {:ok, proc} =
      Linx.Process.spawn(
        argv: ["/bin/sh", "-c", "trap '' TERM; echo ready; sleep 60"],
        stdio: :pipe
      )

    assert_receive {:linx_process, ^proc, {:stdout, "ready\n"}}, 5000
    assert Linx.Process.stop(proc, 200) == {:signaled, 9}
  end

  test "stop/2 of a workload that honours SIGTERM" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "60"])
    assert Linx.Process.stop(proc, 5000) == {:signaled, 15}
  end

  test "a BEAM that stops reading loses no output (backpressure)" do
    size = 30 * 1024 * 1024

    {:ok, proc} =
      Linx.Process.spawn(
        argv:
          ["/bin/sh", "-c", "head -c #{size} /dev/urandom | tee /dev/fd/3 | sha256sum >&2"]
          |> then(fn [sh, c, cmd] -> [sh, c, "exec 3>&1; " <> cmd] end),
        stdio: :pipe
      )

    # The server (and so the port) stops reading for a while.
    :sys.suspend(proc)
    Process.sleep(500)
    :sys.resume(proc)

    events = collect_events(proc, 60_000)
    out = output(events, :stdout)
    assert byte_size(out) == size
    [sum | _] = String.split(output(events, :stderr))
    assert Base.encode16(:crypto.hash(:sha256, out), case: :lower) == sum
  end

  defp port_output(port, acc \\ "") do
    receive do
      {^port, {:data, data}} -> port_output(port, acc <> data)
    after
      0 -> acc
    end
  end
end
