defmodule Linx.Process.EnterTest do
  use Linx.Case, async: true

  @types [
    user: "user",
    mount: "mnt",
    uts: "uts",
    ipc: "ipc",
    net: "net",
    pid: "pid",
    cgroup: "cgroup",
    time: "time"
  ]

  setup do
    {:ok, target} =
      Linx.Process.spawn(
        argv: ["/bin/sleep", "60"],
        namespaces: [:user, :mount, :uts, :ipc, :net, :pid, :cgroup, :time],
        uid_map: [{0, 0, 1}],
        gid_map: [{0, 0, 1}]
      )

    # The test process owns the target: when it exits, so does the target.
    %{target: target, target_pid: Linx.Process.os_pid(target)}
  end

  defp script(types),
    do: Enum.map_join(types, "; ", fn {_, t} -> "readlink /proc/self/ns/#{t}" end)

  test "entering all namespaces (the default) lands in every one of the target's", ctx do
    {:ok, proc} =
      Linx.Process.enter(ctx.target_pid, argv: ["/bin/sh", "-c", script(@types)], stdio: :pipe)

    events = collect_events(proc)
    assert List.last(events) == {:exited, 0}
    inside = events |> output() |> String.split("\n", trim: true)

    for {{_, type}, link} <- Enum.zip(@types, inside) do
      assert link == ns_link(ctx.target_pid, type), "#{type} differs from the target's"
      assert link != host_ns(type)
    end
  end

  test "entering a chosen subset joins exactly those", ctx do
    chosen = [uts: "uts", net: "net"]
    others = [mount: "mnt", ipc: "ipc", pid: "pid"]

    {:ok, proc} =
      Linx.Process.enter(ctx.target_pid,
        argv: ["/bin/sh", "-c", script(chosen ++ others)],
        namespaces: Keyword.keys(chosen),
        stdio: :pipe
      )

    events = collect_events(proc)
    assert List.last(events) == {:exited, 0}
    [uts, net, mnt, ipc, pid] = events |> output() |> String.split("\n", trim: true)
    assert uts == ns_link(ctx.target_pid, "uts")
    assert net == ns_link(ctx.target_pid, "net")
    assert mnt == host_ns("mnt")
    assert ipc == host_ns("ipc")
    assert pid == host_ns("pid")
  end

  test "in the target's pid namespace, ns_pid is the pid the workload sees", ctx do
    {:ok, proc} =
      Linx.Process.enter(ctx.target_pid,
        argv: ["/bin/sh", "-c", "echo $$; readlink /proc/self/ns/pid"],
        namespaces: [:pid, :mount],
        stdio: :pipe,
        checkpoint: true
      )

    ns_pid = Linx.Process.ns_pid(proc)
    assert ns_pid != Linx.Process.os_pid(proc)
    :ok = Linx.Process.proceed(proc)
    events = collect_events(proc)
    assert [pid, ns] = events |> output() |> String.split("\n", trim: true)
    assert String.to_integer(pid) == ns_pid
    assert ns == ns_link(ctx.target_pid, "pid")
  end

  test "the entered workload is root in the target's user namespace", ctx do
    {:ok, proc} =
      Linx.Process.enter(ctx.target_pid,
        argv: ["/bin/id", "-u"],
        namespaces: [:user],
        stdio: :pipe
      )

    assert output(collect_events(proc)) == "0\n"
  end

  test "entering a dead pid fails at open_ns_<type>" do
    {:ok, gone} = Linx.Process.spawn(argv: ["/bin/true"])
    os_pid = Linx.Process.os_pid(gone)
    {:exited, 0} = Linx.Process.await(gone)
    assert_os_pid_exits(os_pid)

    assert {:error, {:enoent, stage}} = Linx.Process.enter(os_pid, argv: ["/bin/true"])
    assert Atom.to_string(stage) =~ ~r/^open_ns_/

    assert {:error, {:enoent, :open_ns_net}} =
             Linx.Process.enter(os_pid, argv: ["/bin/true"], namespaces: [:net])
  end
end
