defmodule Linx.Sandbox.InitTest do
  # init: true — a minimal init inside the agent's binary runs as pid 1 of
  # the workload's pid namespace (c_src/init.c).
  use Linx.Case, async: true

  alias Linx.Process, as: P

  @agent Path.join(:code.priv_dir(:linx), "linx_process")

  # {pid, state} of every process whose parent is `parent`, from /proc.
  defp children_of(parent) do
    for dir <- File.ls!("/proc"),
        Regex.match?(~r/^\d+$/, dir),
        {:ok, stat} <- [File.read("/proc/#{dir}/stat")],
        [_, rest] = String.split(stat, ") ", parts: 2),
        [state, ppid | _] = String.split(rest),
        String.to_integer(ppid) == parent,
        do: {String.to_integer(dir), state}
  end

  defp cmdline(pid), do: File.read!("/proc/#{pid}/cmdline") |> String.split(<<0>>, trim: true)

  describe "pid 1" do
    test "is the init; the workload is its child, pid 2" do
      assert {"2 1\n", 0} = P.run(["/bin/sh", "-c", "echo $$ $PPID"], init: true)
      # without it the workload itself is pid 1, with no parent in its namespace
      assert {"1 0\n", 0} = P.run(["/bin/sh", "-c", "echo $$ $PPID"], namespaces: [:pid])
    end

    test "is the agent's binary, and its one child is the workload" do
      {:ok, proc} = P.spawn(argv: ["/bin/sleep", "30"], init: true)
      init = P.os_pid(proc)

      # the same file as priv/linx_process (_build links to it)
      assert File.stat!("/proc/#{init}/exe").inode == File.stat!(@agent).inode
      assert P.ns_pid(proc) == 1

      assert [{workload, _}] =
               eventually(fn -> match?([_], children_of(init)) and children_of(init) end)

      assert cmdline(workload) == ["/bin/sleep", "30"]
      # its own pid namespace: not the BEAM's
      assert ns_link(init, "pid_for_children") != host_ns("pid")
      P.stop(proc, 0)
    end

    test "adds :pid to the namespaces; enter/2 refuses it" do
      {:ok, proc} = P.spawn(argv: ["/bin/sleep", "30"], init: true, namespaces: [:uts])
      init = P.os_pid(proc)
      assert ns_link(init, "uts") != host_ns("uts")

      assert [{workload, _}] =
               eventually(fn -> match?([_], children_of(init)) and children_of(init) end)

      assert ns_link(workload, "pid") != host_ns("pid")
      P.stop(proc, 0)

      assert_raise ArgumentError, ~r/invalid option :init: enter/, fn ->
        P.enter(System.pid() |> String.to_integer(), argv: ["/bin/true"], init: true)
      end
    end
  end

  describe "signals" do
    test "stop/2's SIGTERM ends a workload without a handler at once, as {:signaled, 15}" do
      {:ok, proc} = P.spawn(argv: ["/bin/sleep", "1000"], init: true)
      # let it exec: it must be `sleep` that gets the SIGTERM
      init = P.os_pid(proc)
      eventually(fn -> match?([{pid, _}] when is_integer(pid), children_of(init)) end)
      [{workload, _}] = children_of(init)
      eventually(fn -> cmdline(workload) == ["/bin/sleep", "1000"] end)

      t0 = System.monotonic_time(:millisecond)
      assert P.stop(proc, 10_000) == {:signaled, 15}
      elapsed = System.monotonic_time(:millisecond) - t0
      # far below the grace period: the SIGTERM did it, not the SIGKILL
      assert elapsed < 3000, "stop/2 took #{elapsed} ms"
      assert_os_pid_exits(workload)
      assert_os_pid_exits(init)
    end

    test "a workload that ignores SIGTERM is killed after the grace, with its namespace" do
      {:ok, proc} = P.spawn(argv: ["/bin/sh", "-c", "trap '' TERM; exec sleep 1000"], init: true)
      init = P.os_pid(proc)

      assert [{workload, _}] =
               eventually(fn -> match?([_], children_of(init)) and children_of(init) end)

      assert eventually(fn -> cmdline(workload) == ["sleep", "1000"] end)
      assert P.stop(proc, 300) == {:signaled, 9}
      assert_os_pid_exits(workload)
    end

    test "signal/2 is forwarded to the workload" do
      script = ~S"trap 'echo got USR1; exit 3' USR1; echo ready; while :; do sleep 0.05; done"
      {:ok, proc} = P.spawn(argv: ["/bin/sh", "-c", script], init: true, stdio: :pipe)
      assert_receive {:linx_process, ^proc, {:stdout, "ready\n"}}, 5000
      :ok = P.signal(proc, :sigusr1)
      assert_receive {:linx_process, ^proc, {:stdout, "got USR1\n"}}, 5000
      assert P.await(proc, 5000) == {:exited, 3}
    end
  end

  describe "status and orphans" do
    test "the status is the workload's" do
      assert {"", 7} = P.run(["/bin/sh", "-c", "exit 7"], init: true)
      {:ok, proc} = P.spawn(argv: ["/bin/sh", "-c", "kill -USR1 $$"], init: true)
      assert P.await(proc, 5000) == {:signaled, 10}
    end

    test "a filter refusing rt_sigtimedwait and close_range: the init still ends with the workload" do
      policy = Linx.Seccomp.policy(:allow, [{{:errno, :eperm}, [:rt_sigtimedwait, :close_range]}])

      assert {"", 4} =
               P.run(["/bin/sh", "-c", "(sleep 0.2 &); exit 4"], init: true, seccomp: policy)
    end

    @tag :tmp_dir
    test "orphans are reaped: no zombie under the init", %{tmp_dir: dir} do
      go = Path.join(dir, "go")
      done = Path.join(dir, "done")
      # the inner sh exits at once; its background subshell is orphaned,
      # adopted by pid 1, and exits once told to (after touching `done`)
      orphan = "while [ ! -e \"#{go}\" ]; do sleep 0.05; done; touch \"#{done}\""
      script = "sh -c '(#{orphan}) & exit 0'; exec sleep 30"
      {:ok, proc} = P.spawn(argv: ["/bin/sh", "-c", script], init: true)
      init = P.os_pid(proc)

      # the orphan lives under the init, beside the workload
      assert eventually(fn -> length(children_of(init)) == 2 end, 10_000)
      File.write!(go, "")
      assert eventually(fn -> File.exists?(done) end, 10_000)

      # then it is reaped: only the workload, `sleep 30`, is left, alive
      assert eventually(fn -> match?([{_, "S"}], children_of(init)) end, 10_000),
             "children of the init: #{inspect(children_of(init))}"

      [{workload, _}] = children_of(init)
      assert cmdline(workload) == ["sleep", "30"]
      P.stop(proc, 0)
    end
  end
end
