defmodule Linx.Process.ReliabilityApiTest do
  # Reliability II, the API contracts: await/2 timeouts, calls after the
  # server's linger, and a notifier's call process outliving its owner.
  use Linx.Case, async: true

  alias Linx.Process, as: P

  describe "await/2 with a timeout (item 11)" do
    test "a thousand timed-out polls leave no stray message and no registration" do
      {:ok, p} = P.spawn(argv: ["/bin/sleep", "30"])

      for _ <- 1..1000, do: assert(P.await(p, 0) == {:error, :timeout})

      assert :sys.get_state(p).awaiters == []
      assert P.stop(p, 1000) == {:signaled, 15}
      # Anything the server still had registered would be answered now.
      Process.sleep(100)
      {:messages, msgs} = Process.info(self(), :messages)
      assert Enum.filter(msgs, &match?({ref, _} when is_reference(ref), &1)) == []
    end

    test "an await that times out just as the workload ends still gets an answer" do
      {:ok, p} = P.spawn(argv: ["/bin/sh", "-c", "exit 4"])
      results = for _ <- 1..200, do: P.await(p, 0)
      assert Enum.all?(results, &(&1 in [{:error, :timeout}, {:exited, 4}]))
      assert P.await(p) == {:exited, 4}
    end
  end

  describe "a refused command is not terminal (issue 10)" do
    test "await/2 after the server is gone skips a refused command and finds the terminal event" do
      {:ok, p} = P.spawn(argv: ["/bin/sleep", "30"])
      os_pid = P.os_pid(p)
      ref = Process.monitor(p)
      Process.exit(p, :kill)
      assert_receive {:DOWN, ^ref, :process, ^p, :killed}

      # What a refused command leaves in the owner's mailbox: not the end.
      send(self(), {:linx_process, p, {:error, :einval, :bad_state}})
      assert P.await(p) == {:error, :noproc}

      send(self(), {:linx_process, p, {:error, :einval, :bad_state}})
      send(self(), {:linx_process, p, {:signaled, 9}})
      assert P.await(p) == {:signaled, 9}

      # The agent saw its port close and killed the workload.
      assert_os_pid_exits(os_pid)
    end
  end

  describe "after the server's linger (item 13)" do
    test "signal/2, write/2, resize/3 and close_stdin/1 answer {:error, :not_running}" do
      {:ok, p} = P.spawn(argv: ["/bin/cat"], stdio: :pipe)
      :ok = P.close_stdin(p)
      assert P.await(p) == {:exited, 0}
      ref = Process.monitor(p)
      # The server keeps the terminal event for a few seconds, then stops.
      assert_receive {:DOWN, ^ref, :process, ^p, _}, 8_000

      assert P.signal(p, :sigterm) == {:error, :not_running}
      assert P.write(p, "late") == {:error, :not_running}
      assert P.resize(p, 24, 80) == {:error, :not_running}
      assert P.close_stdin(p) == {:error, :not_running}
      assert P.stop(p, 10) == {:error, :noproc}
    end
  end

  defmodule Sleeper do
    @moduledoc false
    @behaviour Linx.Seccomp.Notifier
    @impl true
    def init(test), do: {:ok, test}
    @impl true
    def handle_syscall(_n, test) do
      send(test, {:call_process, self()})
      Process.sleep(:infinity)
    end
  end

  describe "a notifier's call process (item 15)" do
    test "dies with the workload's server when the owner exits while it runs" do
      test = self()

      owner =
        spawn(fn ->
          {:ok, p} =
            P.spawn(
              argv: ["/bin/sh", "-c", "echo $PPID; sleep 30"],
              stdio: :pipe,
              notify: [handler: {Sleeper, test}, trap: [:getppid], handler_timeout: 60_000]
            )

          send(test, {:proc, p})
          Process.sleep(:infinity)
        end)

      assert_receive {:proc, p}, 5_000
      assert_receive {:call_process, job}, 5_000
      assert Process.alive?(job)
      %{handler: handler} = :sys.get_state(p)

      Process.exit(owner, :kill)

      assert eventually(fn -> not Process.alive?(job) end, 2_000),
             "the handler's call process outlived its owner"

      refute Process.alive?(handler)
      refute Process.alive?(p)
    end

    test "dies with the server when the server itself is killed" do
      test = self()

      {:ok, p} =
        P.spawn(
          argv: ["/bin/sh", "-c", "echo $PPID; sleep 30"],
          stdio: :pipe,
          notify: [handler: {Sleeper, test}, trap: [:getppid], handler_timeout: 60_000]
        )

      assert_receive {:call_process, job}, 5_000
      %{handler: handler, os_pid: os_pid} = :sys.get_state(p)
      Process.exit(p, :kill)

      assert eventually(fn -> not Process.alive?(job) end, 10_000)
      refute Process.alive?(handler)
      assert_os_pid_exits(os_pid)
    end
  end
end
