defmodule Linx.Seccomp.NotifyAgentEvalTest do
  # Rules evaluated in the agent (notify: [evaluate: :agent], the default):
  # the agent answers what the compiled program decides, the BEAM what it
  # cannot; events: true reports the agent's answers; a hostile program in
  # a request is refused before anything runs.
  use Linx.Case, async: true

  @moduletag :notify

  @python "/usr/bin/python3"

  # getppid is answered 4242, kill(…, 9) EPERM, the rest continues
  @rules [
    %{syscall: :getppid, then: {:return, 4242}},
    %{syscall: :kill, match: [{:int, 1, 9}], then: {:errno, :eperm}},
    %{syscall: :uname, then: [{:write, {:arg, 0, 65}, "sandbox\0"}, {:return, 0}]}
  ]

  @script """
  import os
  print(os.getppid())
  try:
      os.kill(1, 9)
  except OSError as e:
      print("kill", e.errno)
  print(os.uname().nodename)
  """

  defp events(proc, acc \\ []) do
    receive do
      {:linx_process, ^proc, {:exited, code}} -> {Enum.reverse(acc), code}
      {:linx_process, ^proc, ev} -> events(proc, [ev | acc])
    after
      15_000 -> flunk("no exit; events so far: #{inspect(Enum.reverse(acc))}")
    end
  end

  defp spawn_script(notify) do
    {:ok, proc} = Linx.Process.spawn(argv: [@python, "-c", @script], stdio: :pipe, notify: notify)
    os_pid = Linx.Process.os_pid(proc)
    {evs, code} = events(proc)
    out = for {:stdout, d} <- evs, into: "", do: d
    notified = for {:notified, n} <- evs, do: n
    {out, code, notified, os_pid}
  end

  describe "evaluate: :agent" do
    test "return, errno and a write with return are answered by the agent, events: true reports them" do
      {out, 0, notified, os_pid} = spawn_script(rules: @rules, default: :continue, events: true)

      assert out == "4242\nkill 1\nsandbox\n"

      assert %{syscall: :getppid, pid: ^os_pid, action: {:return, 4242}} =
               Enum.find(notified, &(&1.syscall == :getppid))

      assert %{syscall: :kill, action: {:errno, 1}} = Enum.find(notified, &(&1.syscall == :kill))

      assert %{syscall: :uname, action: {:return, 0}} =
               Enum.find(notified, &(&1.syscall == :uname))
    end

    test "without events: the same answers, no :notified message" do
      {out, 0, notified, _} = spawn_script(rules: @rules, default: :continue)
      assert out == "4242\nkill 1\nsandbox\n"
      assert notified == []
    end

    test "a rule the program cannot run ({:call}) is still answered, by the BEAM" do
      rules = [%{syscall: :getppid, then: [{:call, :getpid, [], []}, :return_last]} | tl(@rules)]
      {out, 0, notified, _} = spawn_script(rules: rules, default: :continue, events: true)
      [ppid | rest] = String.split(out, "\n")
      # the helper's own pid, not 4242: the {:call} rule came first
      assert String.to_integer(ppid) != 4242
      assert rest == ["kill 1", "sandbox", ""]
      refute Enum.any?(notified, &(&1.syscall == :getppid))
      assert Enum.any?(notified, &(&1.syscall == :kill))
    end
  end

  describe "evaluate: :beam" do
    test "same answers, every call decided by the BEAM (no :notified even with events)" do
      {out, 0, notified, _} =
        spawn_script(rules: @rules, default: :continue, events: true, evaluate: :beam)

      assert out == "4242\nkill 1\nsandbox\n"
      assert notified == []
    end

    test "bad values are refused when given" do
      assert_raise ArgumentError, ~r/notify evaluate: expected :agent or :beam, got :fast/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], notify: [rules: @rules, evaluate: :fast])
      end

      assert_raise ArgumentError, ~r/notify events: expected a boolean, got 1/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], notify: [rules: @rules, events: 1])
      end
    end
  end

  describe "a hostile program in the request" do
    defp open_agent do
      path = Path.join(:code.priv_dir(:linx), "linx_process")
      Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])
    end

    defp frames(port) do
      receive do
        {^port, {:data, bin}} -> [:erlang.binary_to_term(bin) | frames(port)]
        {^port, {:exit_status, status}} -> [{:exit, status}]
      after
        5000 -> flunk("agent neither answered nor exited")
      end
    end

    test "is refused at decode, naming what is wrong, and nothing is spawned" do
      {:ok, prog} = Linx.Seccomp.Notify.compile(@rules)
      # its last block cut one byte short
      bad = binary_part(prog, 0, byte_size(prog) - 1)

      port = open_agent()

      Port.command(
        port,
        :erlang.term_to_binary({:spawn, %{argv: ["/bin/true"], notify_program: bad}})
      )

      assert [{:malformed, _stage, why}, {:error, 22, _}, {:exit, 2}] = frames(port)
      assert why =~ "notify_program: notify program: bad "
    end
  end
end
