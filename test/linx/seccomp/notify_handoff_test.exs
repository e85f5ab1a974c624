defmodule Linx.Seccomp.NotifyHandoffTest do
  # The listener hand-off (docs/notify.md, "The hand-off"): a filter may
  # trap any system call, including the ones the child makes between the
  # install and execve (sendmsg, recvmsg, write, read, close, futex...),
  # and the workload still runs. Before the hand-off went through
  # pidfd_getfd, trapping sendmsg hung the child forever (crun's and runc's
  # bug): each run here has a deadline, so a hang fails instead of waiting.
  use Linx.Case, async: true

  @moduletag :notify

  @clone3_probe Path.expand("../../../build/test/clone3_probe", __DIR__)

  # bash, not dash: a trapped call still waiting for the agent to receive
  # it when a signal comes returns EINTR to a handler without SA_RESTART
  # (docs/notify.md, "The hand-off"). dash's SIGCHLD handler has none, so
  # its fork failed about 1 run in 300 ("Cannot fork", 6eca9f6 as well);
  # bash's has SA_RESTART, so the call is restarted and trapped again.
  @pipeline ["/bin/bash", "-c", "echo abc | tr a-z A-Z | wc -c"]
  @python "/usr/bin/python3"

  # Runs argv with opts under a deadline: {output, status}, or a failure
  # naming the hang (the workload is killed with the test process).
  defp run_within(argv, opts, ms \\ 30_000) do
    task = Task.async(fn -> Linx.Process.run(argv, [stderr_to_stdout: true] ++ opts) end)

    case Task.yield(task, ms) || Task.shutdown(task, :brutal_kill) do
      {:ok, result} -> result
      nil -> flunk("#{inspect(argv)} did not finish in #{ms} ms (hand-off deadlock?)")
    end
  end

  defp all_names, do: Enum.map(Linx.Syscalls.all(), &elem(&1, 0))

  defp trap_all(extra \\ []),
    do: [notify: [rules: [%{syscall: all_names(), then: :continue}], default: :continue] ++ extra]

  describe "a filter trapping the calls of the hand-off itself" do
    test "sendmsg trapped with :continue: the workload runs (the reported hang)" do
      assert {"hi\n", 0} =
               run_within(
                 ["/bin/echo", "hi"],
                 notify: [rules: [%{syscall: :sendmsg, then: :continue}], default: :continue]
               )
    end

    for name <- [:sendmsg, :recvmsg, :write, :read, :close, :futex, :exit_group, :fcntl] do
      test "#{name} trapped alone with :continue" do
        assert {"ok\n", 0} =
                 run_within(
                   ["/bin/sh", "-c", "echo ok"],
                   notify: [rules: [%{syscall: unquote(name), then: :continue}]]
                 )
      end
    end

    test "sendmsg answered by a rule still reaches the workload's own sendmsg" do
      # The child's own pre-exec calls are trapped too (its channel
      # records go with MSG_NOSIGNAL) and continued by the default; the
      # workload's sendmsg with flags 0 gets the rule's errno.
      script = """
      import socket
      a, b = socket.socketpair()
      try:
          a.sendmsg([b"x"])
          print("sent")
      except OSError as e:
          print("errno", e.errno)
      """

      assert {"errno 13\n", 0} =
               run_within(
                 [@python, "-c", script],
                 notify: [
                   rules: [
                     %{syscall: :sendmsg, match: [{:arg, 2, 0}], then: {:errno, :eacces}}
                   ],
                   default: :continue
                 ]
               )
    end
  end

  describe "every name in Linx.Syscalls.all/0 trapped with :continue" do
    test "a bash -c pipeline runs" do
      assert {"4\n", 0} = run_within(@pipeline, trap_all())
    end

    test "the same pipeline with every call decided by the BEAM (evaluate: :beam)" do
      assert {"4\n", 0} =
               run_within(
                 @pipeline,
                 trap_all(evaluate: :beam)
               )
    end

    test "Linx.Syscalls.all/0 as it is ({name, nr} pairs), in trap: and in a rule's syscall:" do
      for notify <- [
            [trap: Linx.Syscalls.all(), default: :continue],
            [rules: [%{syscall: Linx.Syscalls.all(), then: :continue}]]
          ] do
        assert {"4\n", 0} = run_within(@pipeline, notify: notify)
      end

      assert_raise ArgumentError, ~r/getpid is syscall 39, not 40/, fn ->
        Linx.Seccomp.Notify.new!(trap: [{:getpid, 40}])
      end
    end

    test "the workload holds no listener (only its own descriptors)" do
      {out, 0} = run_within(["/bin/sh", "-c", "ls -l /proc/$$/fd"], trap_all())
      refute out =~ "seccomp"
      assert out =~ "0 ->"
    end

    test "python3 with threads runs" do
      script = """
      import threading
      out = []
      ts = [threading.Thread(target=lambda i=i: out.append(i * i)) for i in range(8)]
      [t.start() for t in ts]
      [t.join() for t in ts]
      print(sum(out))
      """

      assert {"140\n", 0} = run_within([@python, "-c", script], trap_all())
    end

    test "a program calling clone3 itself (and making a thread) runs" do
      assert File.exists?(@clone3_probe), "#{@clone3_probe} not built (mk/notify_handoff.mk)"
      assert {"clone3 child 7, thread 42\n", 0} = run_within([@clone3_probe], trap_all())
    end
  end
end
