defmodule Linx.Process.CheckpointTest do
  use Linx.Case, async: true

  test "abort before exec: the program never runs" do
    dir = tmp_dir!("abort")
    marker = Path.join(dir, "ran")

    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/touch", marker], checkpoint: true)

    os_pid = Linx.Process.os_pid(proc)
    assert is_integer(os_pid)
    # The child exists and waits at the checkpoint.
    refute os_pid_gone?(os_pid)

    assert :ok = Linx.Process.abort(proc)
    assert Linx.Process.await(proc) == :aborted
    assert_os_pid_exits(os_pid)
    refute File.exists?(marker)
  end

  test "proceed after a host-side write: the workload sees it" do
    dir = tmp_dir!("proceed")
    file = Path.join(dir, "setup")

    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat", file], checkpoint: true, stdio: :pipe)

    # Host-side setup while the workload waits.
    File.write!(file, "configured by the host\n")
    assert :ok = Linx.Process.proceed(proc)
    events = collect_events(proc)
    assert output(events) == "configured by the host\n"
    assert List.last(events) == {:exited, 0}
  end

  test "the host can write the child's uid_map at the checkpoint" do
    {:ok, proc} =
      Linx.Process.spawn(
        argv: ["/bin/id", "-u"],
        namespaces: [:user],
        checkpoint: true,
        stdio: :pipe
      )

    File.write!("/proc/#{Linx.Process.os_pid(proc)}/uid_map", "0 0 1\n")
    :ok = Linx.Process.proceed(proc)
    assert output(collect_events(proc)) == "0\n"
  end

  test "proceed returns the pre-exec error" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/nonexistent/prog"], checkpoint: true)
    assert {:error, {:enoent, :execve}} = Linx.Process.proceed(proc)
  end

  test "proceed and abort outside the checkpoint are refused" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "5"])
    assert {:error, :not_at_checkpoint} = Linx.Process.proceed(proc)
    assert {:error, :not_at_checkpoint} = Linx.Process.abort(proc)
    Linx.Process.signal(proc, :sigkill)
    assert {:signaled, 9} = Linx.Process.await(proc)
  end
end
