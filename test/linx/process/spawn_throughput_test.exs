defmodule Linx.Process.SpawnThroughputTest do
  # Issue 11: nothing on the spawn path is shared by every spawn of the BEAM
  # and held for the length of one spawn's start (docs/performance.md,
  # "Throughput: what serialised spawns"). Each test holds one such point
  # still and checks that another workload runs meanwhile, to the end.
  #
  # async: false - the file server test stops a process the whole BEAM uses.
  use Linx.Case, async: false

  alias Linx.Process, as: P

  # A notifier whose init/1 waits for :go: the start of its workload is
  # stuck until then (the handler is started before the workload runs).
  defmodule HeldInit do
    @moduledoc false
    @behaviour Linx.Seccomp.Notifier
    @impl true
    def init(test) do
      send(test, {:held, self()})

      receive do
        :go -> {:ok, nil}
      end
    end

    @impl true
    def handle_syscall(_n, s), do: {:continue, s}
  end

  defp run_echo(word, timeout) do
    task = Task.async(fn -> P.run(["/bin/echo", word]) end)
    Task.yield(task, timeout) || Task.shutdown(task, :brutal_kill)
  end

  test "a workload whose start is held up does not hold up another one's" do
    test = self()

    held =
      Task.async(fn ->
        P.run(["/bin/echo", "held"], notify: [handler: {HeldInit, test}, trap: [:getppid]])
      end)

    assert_receive {:held, handler}, 5000

    # Before: init/1 of the held server ran inside the DynamicSupervisor,
    # which starts its children one at a time: this run waited for :go.
    assert run_echo("free", 3000) == {:ok, {"free\n", 0}}

    send(handler, :go)
    assert Task.await(held, 10_000) == {"held\n", 0}
  end

  test "spawning and ending workloads needs no call to the BEAM's file server" do
    # Warm the pool and the cgroup probe first: those may use File once.
    assert P.run(["/bin/true"]) == {"", 0}
    fs = Process.whereis(:file_server_2)
    :ok = :sys.suspend(fs)

    try do
      # Before: File.mkdir of the cgroup, File.cwd!, the pool's /proc check
      # and the rmdir waited for the suspended server.
      for word <- ["one", "two", "three"] do
        assert run_echo(word, 3000) == {:ok, {word <> "\n", 0}}
      end
    after
      :sys.resume(fs)
    end
  end
end
