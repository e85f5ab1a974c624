defmodule Linx.Process.NoFileIoTest do
  # The spawn paths make no file call in the BEAM: every :prim_file call
  # wakes a dirty I/O scheduler, which then spins for ~0.5 ms, a core of
  # a 2-core machine taken from the workload (docs/performance.md,
  # "Throughput, a fourth time"). The agent makes, reads and removes the
  # group; the BEAM's uid is read once. Not async: the trace is global,
  # so no other test may run meanwhile.
  use Linx.Case, async: false

  @moduletag :cgroup

  # Every :prim_file call any process makes while `fun` runs
  defp prim_file_calls(fun) do
    me = self()

    tracer =
      spawn(fn ->
        collect = fn collect, acc ->
          receive do
            {:trace, _, :call, {:prim_file, f, _}} -> collect.(collect, [f | acc])
            {:done, ^me} -> send(me, {:prim_file_calls, Enum.reverse(acc)})
          end
        end

        collect.(collect, [])
      end)

    :erlang.trace_pattern({:prim_file, :_, :_}, true, [:global])
    :erlang.trace(:all, true, [:call, {:tracer, tracer}])

    try do
      fun.()
    after
      :erlang.trace(:all, false, [:call])
      :erlang.trace_pattern({:prim_file, :_, :_}, false, [:global])
    end

    send(tracer, {:done, me})
    assert_receive {:prim_file_calls, calls}, 5000
    calls
  end

  test "spawn, enter and run (uid_map: :caller too) make no file call in the BEAM (no dirty I/O scheduler woken)" do
    {:ok, target} = Linx.Process.spawn(argv: ["/bin/sleep", "60"], namespaces: [:uts])
    target_pid = Linx.Process.os_pid(target)

    workloads = [
      fn -> {"", 0} = Linx.Process.run(["/bin/true"]) end,
      fn ->
        {"", 0} =
          Linx.Process.run(["/bin/true"],
            namespaces: [:user, :pid],
            uid_map: [{0, 0, 1}],
            gid_map: [{0, 0, 1}]
          )
      end,
      fn ->
        {"", 0} =
          Linx.Process.run(["/bin/true"],
            namespaces: [:user],
            uid_map: :caller,
            gid_map: :caller
          )
      end,
      fn ->
        {:ok, p} = Linx.Process.spawn(argv: ["/bin/true"])
        {:exited, 0} = Linx.Process.await(p)
      end,
      fn ->
        {:ok, p} = Linx.Process.enter(target_pid, argv: ["/bin/true"], namespaces: [:uts])
        {:exited, 0} = Linx.Process.await(p)
      end
    ]

    # once each first: what is read once per BEAM is read now
    Enum.each(workloads, & &1.())
    calls = prim_file_calls(fn -> Enum.each(workloads, & &1.()) end)
    assert calls == [], "file calls in the BEAM: #{inspect(calls)}"
    Linx.Process.stop(target)
  end
end
