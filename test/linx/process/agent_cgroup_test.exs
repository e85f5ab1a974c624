defmodule Linx.Process.AgentCgroupTest do
  # The request forms that keep the BEAM's dirty I/O schedulers off the
  # spawn path (docs/protocol.md, `cgroup` and `cwd`): the agent makes and
  # removes the workload's group itself, and reads the BEAM's working
  # directory itself. First raw frames to the agent, then through
  # Linx.Process, which uses them for every plain workload.
  use Linx.Case, async: true

  @moduletag :cgroup
  @enoent 2
  @einval 22

  setup do
    if Linx.Cgroup.base() == nil do
      raise "cgroup v2 with cgroup.kill is not available here; run with --exclude cgroup"
    end

    :ok
  end

  defp open_agent do
    path = Path.join(:code.priv_dir(:linx), "linx_process")
    Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])
  end

  defp send_term(port, term), do: Port.command(port, :erlang.term_to_binary(term))

  defp frames(port, timeout \\ 10_000) do
    receive do
      {^port, {:data, bin}} -> [:erlang.binary_to_term(bin) | frames(port, timeout)]
      {^port, {:exit_status, status}} -> [{:exit, status}]
    after
      timeout -> flunk("agent neither answered nor exited within #{timeout} ms")
    end
  end

  # A raw spawn request (no checkpoint) to a fresh port agent: its frames
  defp raw_spawn(req) do
    port = open_agent()
    send_term(port, {:spawn, Map.put(req, :checkpoint, false)})
    frames(port)
  end

  defp stdout(frames), do: for({:stdout, d} <- frames, into: "", do: d)

  # A fresh path under Linx's base, in this BEAM's naming (so a sweep of
  # another test never takes it for a stale group of a dead BEAM).
  defp fresh_group do
    {:ok, path} = Linx.Cgroup.plan(:kill)
    path
  end

  defp group_of(out) do
    [_, path] = Regex.run(~r/^0::(.*)$/m, out)
    path
  end

  describe "cgroup: {:make, path, mode} (raw requests)" do
    test "the agent makes the group, the workload is born in it, the group is gone at exit" do
      path = fresh_group()
      refute File.exists?(path)
      port = open_agent()

      send_term(
        port,
        {:spawn,
         %{
           argv: ["/bin/cat", "/proc/self/cgroup"],
           checkpoint: false,
           stdio: :pipe,
           cgroup: {:make, path, :required}
         }}
      )

      evs = frames(port)
      assert {:status, :exited, 0} in evs
      assert String.ends_with?(group_of(stdout(evs)), "/" <> Path.basename(path))
      refute Enum.any?(evs, &match?({:cgroup, _, _}, &1))
      # removed before the agent exits (the port's exit status is after)
      refute File.exists?(path)
    end

    test "required, under a parent that does not exist: {:error, enoent, :cgroup} naming the mkdir" do
      path =
        Path.join([
          Linx.Cgroup.base(),
          "no-such-parent-#{System.unique_integer([:positive])}",
          "g"
        ])

      port = open_agent()

      send_term(
        port,
        {:spawn, %{argv: ["/bin/true"], checkpoint: false, cgroup: {:make, path, :required}}}
      )

      evs = frames(port)

      assert {:error_detail, :cgroup, :none, text} =
               Enum.find(evs, &match?({:error_detail, _, _, _}, &1))

      assert text == "mkdir #{path}"
      assert {:error, @enoent, :cgroup} in evs
      refute Enum.any?(evs, &match?({:status, :spawned, _}, &1))
    end

    test "optional, and it cannot be made: {:cgroup, :not_made, errno}, then the workload runs without one" do
      path =
        Path.join([
          Linx.Cgroup.base(),
          "no-such-parent-#{System.unique_integer([:positive])}",
          "g"
        ])

      port = open_agent()

      send_term(
        port,
        {:spawn,
         %{
           argv: ["/bin/cat", "/proc/self/cgroup"],
           checkpoint: false,
           stdio: :pipe,
           cgroup: {:make, path, :optional}
         }}
      )

      evs = frames(port)
      assert [{:cgroup, :not_made, @enoent} | _] = evs
      assert {:status, :exited, 0} in evs
      # the agent's own group (the test BEAM's), not a Linx group
      refute group_of(stdout(evs)) =~ "/linx/"
    end

    test "groups the workload made inside its own are removed with it" do
      path = fresh_group()
      port = open_agent()
      script = "mkdir #{path}/sub #{path}/sub/deeper && echo made"

      send_term(
        port,
        {:spawn,
         %{
           argv: ["/bin/sh", "-c", script],
           checkpoint: false,
           stdio: :pipe,
           cgroup: {:make, path, :required}
         }}
      )

      evs = frames(port)
      assert stdout(evs) == "made\n"
      assert {:status, :exited, 0} in evs
      refute File.exists?(path)
    end

    test "a process moved into the group from outside is killed, then the group removed" do
      path = fresh_group()
      # A stranger: not the workload's descendant, so no sweep of the
      # agent's own tree would find it; the workload moves it in.
      {text, 0} = System.cmd("/bin/sh", ["-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!"])
      stranger = String.to_integer(String.trim(text))
      port = open_agent()

      send_term(
        port,
        {:spawn,
         %{
           argv: ["/bin/sh", "-c", "echo #{stranger} > #{path}/cgroup.procs"],
           checkpoint: false,
           cgroup: {:make, path, :required}
         }}
      )

      evs = frames(port)
      assert {:status, :exited, 0} in evs
      assert_os_pid_exits(stranger, 3000)
      refute File.exists?(path)
    end

    test "a malformed cgroup or cwd tuple is refused by name" do
      for {opts, key} <- [
            {%{cgroup: {:make, "/sys/fs/cgroup/x"}}, "opts.cgroup"},
            {%{cgroup: {:make, "/sys/fs/cgroup/x", :maybe}}, "opts.cgroup"},
            {%{cgroup: {:take, "/sys/fs/cgroup/x", :required}}, "opts.cgroup"},
            {%{cwd: {:pid, 0}}, "opts.cwd"},
            {%{cwd: {:pid, "1"}}, "opts.cwd"},
            {%{cwd: {:dir, 1}}, "opts.cwd"}
          ] do
        port = open_agent()
        send_term(port, {:spawn, Map.merge(%{argv: ["/bin/true"]}, opts)})
        evs = frames(port)
        assert {:malformed, :malformed_request, why} = hd(evs), inspect(opts)
        assert why =~ key, "#{inspect(opts)}: #{why}"
        assert {:error, @einval, :malformed_request} in evs
      end
    end

    test "a name without a parent is refused at :cgroup" do
      port = open_agent()

      send_term(
        port,
        {:spawn,
         %{argv: ["/bin/true"], checkpoint: false, cgroup: {:make, "relative", :required}}}
      )

      evs = frames(port)
      assert {:error, @einval, :cgroup} in evs
    end

    test "usage: true: {:usage, map} from the group, right before the terminal frame" do
      path = fresh_group()
      # ~20 ms of shell arithmetic: enough CPU time to be told from zero
      busy = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"

      evs =
        raw_spawn(%{
          argv: ["/bin/sh", "-c", busy],
          cgroup: {:make, path, :required},
          usage: true
        })

      i = Enum.find_index(evs, &match?({:usage, _}, &1))
      assert i, "no {:usage, map} in #{inspect(evs)}"
      assert Enum.at(evs, i + 1) == {:status, :exited, 0}
      {:usage, usage} = Enum.at(evs, i)
      assert Map.keys(usage) |> Enum.sort() == [:cpu_usec, :pids, :system_usec, :user_usec]
      assert usage.cpu_usec >= 1000
      assert usage.cpu_usec >= usage.user_usec
      assert usage.pids == 0
      refute File.exists?(path)
    end

    test "without usage: true, or without a group of its making, no {:usage, map}" do
      for req <- [
            %{cgroup: {:make, fresh_group(), :required}},
            %{usage: true}
          ] do
        evs = raw_spawn(Map.put(req, :argv, ["/bin/true"]))
        assert {:status, :exited, 0} in evs
        refute Enum.any?(evs, &match?({:usage, _}, &1)), inspect(req)
      end
    end

    test "echo shows both forms as decoded" do
      port = open_agent()
      req = %{argv: ["/bin/true"], cgroup: {:make, "/a/b", :optional}, cwd: {:pid, 42}}
      send_term(port, {:echo, {:spawn, req}})
      assert [{:decoded, decoded}, {:exit, 0}] = frames(port)
      assert decoded.cgroup == {:make, "/a/b", :optional}
      assert decoded.cwd == {:pid, 42}
    end
  end

  describe "cwd: {:pid, n} (raw requests)" do
    test "the workload starts in the working directory of process n" do
      dir = tmp_dir!("cwdpid")
      {:ok, holder} = Linx.Process.spawn(argv: ["/bin/sleep", "60"], cwd: dir, cgroup: false)
      holder_pid = Linx.Process.os_pid(holder)
      port = open_agent()

      send_term(
        port,
        {:spawn, %{argv: ["/bin/pwd"], checkpoint: false, stdio: :pipe, cwd: {:pid, holder_pid}}}
      )

      evs = frames(port)
      assert stdout(evs) == dir <> "\n"
      Linx.Process.stop(holder)
    end

    test "a process that does not exist: {:error, enoent, :chdir} naming the pid" do
      port = open_agent()
      pid = 2_000_000_000

      send_term(port, {:spawn, %{argv: ["/bin/pwd"], checkpoint: false, cwd: {:pid, pid}}})

      evs = frames(port)

      assert {:error_detail, :chdir, :none, text} =
               Enum.find(evs, &match?({:error_detail, _, _, _}, &1))

      assert text == "the working directory of pid #{pid}"
      assert {:error, @enoent, :chdir} in evs
    end
  end

  describe "through Linx.Process.run/2" do
    test "a plain workload's group is made and removed by its agent; the janitor holds nothing" do
      {out, 0} = Linx.Process.run(["/bin/cat", "/proc/self/cgroup"])
      dir = Path.join(Linx.Cgroup.base(), Path.basename(group_of(out)))
      assert dir =~ ~r{/linx/\d+-\d+-\d+-\d+-\d+$}
      assert eventually(fn -> not File.exists?(dir) end), "#{dir} was not removed"

      assert eventually(fn ->
               not Enum.any?(Map.values(:sys.get_state(Linx.Cgroup.Janitor).watched), fn {p, _} ->
                 p == dir
               end)
             end)
    end

    test "spawn/2 gets its final usage from the agent, which made the group" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat", "/proc/self/cgroup"], stdio: :pipe)
      assert_receive {:linx_process, ^proc, {:stdout, out}}, 5000
      dir = Path.join(Linx.Cgroup.base(), Path.basename(group_of(out)))
      assert_receive {:linx_process, ^proc, {:usage, usage}}, 5000
      assert is_integer(usage.cpu_usec) and usage.pids == 0
      assert_receive {:linx_process, ^proc, {:exited, 0}}, 5000
      assert eventually(fn -> not File.exists?(dir) end), "#{dir} was not removed"
    end

    test "the workload starts in the BEAM's working directory of the moment" do
      # File.cd!/1 would move every test of this async suite; a BEAM of
      # its own shows it, with agents forked before the cd.
      script = """
      {:ok, _} = Application.ensure_all_started(:linx)
      Linx.Pool.resize(2)
      Process.sleep(200)
      File.cd!("/tmp")
      {out, 0} = Linx.Process.run(["/bin/pwd"])
      IO.write("pwd=" <> out)
      """

      {out, 0} =
        System.cmd("mix", ["run", "--no-start", "-e", script],
          stderr_to_stdout: true,
          env: [{"MIX_ENV", "test"}]
        )

      assert out =~ "pwd=/tmp\n"
    end

    test "an agent killed mid-run: the server removes the group it left" do
      file = Path.join(tmp_dir!("cgagent"), "out")
      script = "{ echo $$; cat /proc/self/cgroup; } > #{file}; exec sleep 60"
      task = Task.async(fn -> catch_error(Linx.Process.run(["/bin/sh", "-c", script])) end)

      text =
        eventually(fn ->
          case File.read(file) do
            {:ok, t} -> if t =~ ~r/^0::/m, do: t
            _ -> nil
          end
        end)

      [pid | _] = String.split(text, "\n")
      dir = Path.join(Linx.Cgroup.base(), Path.basename(group_of(text)))
      assert File.dir?(dir)
      System.cmd("kill", ["-9", "#{ppid(String.to_integer(pid))}"])
      Task.await(task, 10_000)
      assert eventually(fn -> not File.exists?(dir) end), "#{dir} was not removed"
    end
  end

  describe "spawn/2 with a group its agent made" do
    test "an agent killed mid-run: {:agent_died, _}, no {:usage, map}, the group removed" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "cat /proc/self/cgroup; exec sleep 60"],
          stdio: :pipe
        )

      assert_receive {:linx_process, ^proc, {:stdout, out}}, 5000
      dir = Path.join(Linx.Cgroup.base(), Path.basename(group_of(out)))
      assert File.dir?(dir)
      System.cmd("kill", ["-9", "#{ppid(Linx.Process.os_pid(proc))}"])
      assert_receive {:linx_process, ^proc, {:agent_died, _}}, 10_000
      refute_received {:linx_process, ^proc, {:usage, _}}
      assert eventually(fn -> not File.exists?(dir) end), "#{dir} was not removed"
    end
  end

  describe "enter with cgroup: {:make, …} (raw request)" do
    test "the group made before joining the target's mounts is removed after" do
      # The target's mount namespace has no cgroup tree at the host's path:
      # only a removal through the directory opened before setns finds it.
      {:ok, target} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "umount -l /sys/fs/cgroup && exec sleep 60"],
          namespaces: [:mount],
          cgroup: false
        )

      target_pid = Linx.Process.os_pid(target)

      assert eventually(fn ->
               not String.contains?(
                 File.read!("/proc/#{target_pid}/mountinfo"),
                 " /sys/fs/cgroup "
               )
             end)

      path = fresh_group()
      port = open_agent()

      send_term(
        port,
        {:enter,
         %{
           target: target_pid,
           namespaces: [:mount],
           argv: ["/bin/sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup | wc -l"],
           checkpoint: false,
           stdio: :pipe,
           cgroup: {:make, path, :required}
         }}
      )

      evs = frames(port)
      out = stdout(evs)
      assert {:status, :exited, 0} in evs
      assert String.ends_with?(group_of(out), "/" <> Path.basename(path))
      assert out =~ ~r/^0$/m, "the target still sees a cgroup tree: #{out}"
      refute File.exists?(path)
      Linx.Process.stop(target)
    end
  end
end
