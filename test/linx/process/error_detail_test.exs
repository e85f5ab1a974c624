defmodule Linx.Process.ErrorDetailTest do
  # Errors carried as data end to end (issue 10 part 5): the text of the
  # failure reaches the BEAM, the shapes of spawn/1's {:error, {errno,
  # stage}} and of the owner's {:error, errno, stage} stay, and a refused
  # command answers the call that sent it.
  use Linx.Case, async: true
  import Bitwise

  @ids [
    argv: ["/bin/true"],
    namespaces: [:user],
    uid_map: [{0, 100_000, 10}],
    gid_map: [{0, 100_000, 10}],
    uid: 500,
    gid: 500
  ]

  defp open_agent do
    path = Path.join(:code.priv_dir(:linx), "linx_process")
    Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])
  end

  defp frames(port) do
    receive do
      {^port, {:data, bin}} -> [:erlang.binary_to_term(bin) | frames(port)]
      {^port, {:exit_status, status}} -> [{:exit, status}]
    after
      5000 -> flunk("the agent neither answered nor exited")
    end
  end

  describe "a child-side failure" do
    test "a checkpoint step's text names the step and the value (raw protocol)" do
      # Without CAP_SETPCAP (dropped by the first command) the bounding
      # set cannot shrink: EPERM in the child, at the checkpoint.
      port = open_agent()

      Port.command(
        port,
        :erlang.term_to_binary(
          {:spawn,
           %{
             argv: ["/bin/true"],
             namespaces: [:user],
             checkpoint: false,
             commands: [{:cap_set_thread, 0, 0, 0}, {:cap_drop_bounding, 1 <<< 5}]
           }}
        )
      )

      assert [
               {:status, :spawned, _},
               {:status, :ready, _},
               {:error_detail, :cap_drop_bounding, :none, "drop cap 5 from the bounding set"},
               {:error, 1, :cap_drop_bounding},
               {:exit, 5}
             ] = frames(port)
    end

    test "spawn/1 keeps its shape; last_error/0 has the text" do
      assert {:error, {:einval, :setresgid}} = Linx.Process.spawn(@ids)

      assert %Linx.Process.Error{errno: :einval, stage: :setresgid, detail: "setresgid(500)"} =
               Linx.Process.last_error()
    end

    test "run/2 raises with the text in its message" do
      argv = @ids[:argv]
      opts = Keyword.delete(@ids, :argv)

      error = assert_raise Linx.Process.Error, fn -> Linx.Process.run(argv, opts) end
      assert %{errno: :einval, stage: :setresgid, detail: "setresgid(500)"} = error
      assert Exception.message(error) =~ "einval at stage setresgid (setresgid(500))"
    end
  end

  describe "an agent-side failure" do
    test "enter/2 of a pid that is gone names the /proc path it could not open" do
      {:ok, gone} = Linx.Process.spawn(argv: ["/bin/true"])
      pid = Linx.Process.os_pid(gone)
      assert {:exited, 0} = Linx.Process.await(gone)

      assert {:error, {:enoent, stage}} = Linx.Process.enter(pid, argv: ["/bin/true"])
      assert %Linx.Process.Error{stage: ^stage, detail: detail} = Linx.Process.last_error()
      assert detail == "open /proc/#{pid}"
    end
  end

  describe "a refused command" do
    # The server sends :proceed / :caps_query only at the checkpoint; a
    # state forced back to :ready makes the agent (running) refuse them.
    defp running_but_marked_ready do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat"], stdio: :pipe)
      :sys.replace_state(proc, &%{&1 | phase: :ready})
      proc
    end

    test "answers the proceed/1 call that sent it, and the owner still hears of it" do
      proc = running_but_marked_ready()
      task = Task.async(fn -> {Linx.Process.proceed(proc), Linx.Process.last_error()} end)

      assert {:ok, {{:error, {:einval, :bad_state}}, error}} = Task.yield(task, 2000)
      assert %Linx.Process.Error{detail: "command :proceed is not valid now"} = error
      assert_receive {:linx_process, ^proc, {:error, :einval, :bad_state}}, 2000
      assert Linx.Process.error_text(proc) == "command :proceed is not valid now"

      # The workload went on untouched
      assert :ok = Linx.Process.write(proc, "on\n")
      assert :ok = Linx.Process.close_stdin(proc)
      assert_receive {:linx_process, ^proc, {:stdout, "on\n"}}, 2000
      assert {:exited, 0} = Linx.Process.await(proc)
    end

    test "answers the capabilities/1 call that sent it" do
      proc = running_but_marked_ready()
      task = Task.async(fn -> Linx.Process.capabilities(proc) end)

      assert {:ok, {:error, {:einval, :bad_state}}} = Task.yield(task, 2000)
      assert :ok = Linx.Process.close_stdin(proc)
      assert {:exited, 0} = Linx.Process.await(proc)
    end
  end
end
