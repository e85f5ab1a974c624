defmodule Linx.Process.CgroupTest do
  use Linx.Case, async: true

  @moduletag :cgroup

  setup do
    if Linx.Cgroup.base() == nil do
      raise "cgroup v2 with cgroup.kill is not available here; run with --exclude cgroup"
    end

    :ok
  end

  test "the workload is born in a group of its own, removed after it ends" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat", "/proc/self/cgroup"], stdio: :pipe)
    out = collect_events(proc) |> output()
    [_, path] = Regex.run(~r/^0::(.*)$/m, out)
    assert path =~ ~r{/linx/\d+-\d+-\d+-\d+-\d+$}
    dir = Path.join(Linx.Cgroup.base(), Path.basename(path))
    assert eventually(fn -> not File.dir?(dir) end), "#{dir} was not removed"
  end

  test "cgroup: false keeps the workload in the BEAM's group" do
    {out, 0} = Linx.Process.run(["/bin/cat", "/proc/self/cgroup"], cgroup: false)
    refute out =~ "/linx/"
  end

  test "agent SIGKILLed, no pid namespace: the double-forked daemon still dies" do
    pidfile = Path.join(tmp_dir!("cgkill"), "pid")

    argv = [
      "/bin/sh",
      "-c",
      "setsid /bin/sh -c 'echo $$ > #{pidfile}; exec sleep 1000' </dev/null >/dev/null 2>&1 & exec sleep 1000"
    ]

    {:ok, proc} = Linx.Process.spawn(argv: argv)
    workload = Linx.Process.os_pid(proc)
    agent = ppid(workload)

    daemon =
      eventually(fn ->
        case File.read(pidfile) do
          {:ok, t} when t != "" -> String.to_integer(String.trim(t))
          _ -> nil
        end
      end)

    System.cmd("kill", ["-9", "#{agent}"])
    assert {:agent_died, _} = Linx.Process.await(proc, 5000)
    assert_os_pid_exits(workload, 1000)
    assert_os_pid_exits(daemon, 1000)
  end
end
