defmodule Linx.Process.ReliabilityAgentTest do
  # Faults of the agent found in "Reliability II": entering a target that
  # has lost its namespaces, daemons that escape a pid namespace, a stdio
  # socket whose listener never accepts, a signal at the checkpoint.
  use Linx.Case, async: true

  @leader_exit Path.expand("../../../build/test/leader_exit", __DIR__)

  describe "enter into a target that has lost its namespaces" do
    test "an unreaped zombie: {:enoent, :open_ns_mount}, nothing runs in the host's namespaces" do
      # sleep 60 never reaps the inner sh: it stays a zombie in the
      # target's mount/uts/net namespaces.
      {:ok, target} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "/bin/sh -c 'echo $$' & exec /bin/sleep 60"],
          namespaces: [:mount, :uts, :net],
          stdio: :pipe
        )

      assert_receive {:linx_process, ^target, {:stdout, line}}, 5000
      zombie = line |> String.trim() |> String.to_integer()
      assert ppid(zombie) == Linx.Process.os_pid(target)
      assert eventually(fn -> zombie_state?(zombie) end), "#{zombie} never became a zombie"
      assert {:error, :enoent} = File.read_link("/proc/#{zombie}/ns/net")

      marker = Path.join(tmp_dir!("zombie"), "ran")

      assert {:error, {:enoent, :open_ns_mount}} =
               Linx.Process.enter(zombie, argv: ["/bin/touch", marker])

      refute File.exists?(marker)
      Linx.Process.stop(target, 0)
    end

    test "a live process whose main thread has exited: {:enoent, :open_ns_mount}" do
      assert File.exists?(@leader_exit), "#{@leader_exit} not built (mk/test_helpers.mk)"

      {:ok, target} =
        Linx.Process.spawn(argv: [@leader_exit], namespaces: [:mount, :uts, :net], stdio: :pipe)

      assert_receive {:linx_process, ^target, {:stdout, "ready\n"}}, 5000
      pid = Linx.Process.os_pid(target)
      # Alive (its worker thread runs), yet its namespaces are unreadable.
      assert [_, _] = File.ls!("/proc/#{pid}/task")
      assert {:error, :enoent} = File.read_link("/proc/#{pid}/ns/uts")

      marker = Path.join(tmp_dir!("leader"), "ran")

      assert {:error, {:enoent, :open_ns_mount}} =
               Linx.Process.enter(pid, argv: ["/bin/touch", marker])

      refute File.exists?(marker)
      assert {:signaled, 15} = Linx.Process.stop(target, 0)
    end
  end

  describe "a signal while held at the checkpoint" do
    test "stop/2 reports {:signaled, 15}, to await/2 and to the owner" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], checkpoint: true)
      os_pid = Linx.Process.os_pid(proc)
      refute os_pid_gone?(os_pid)

      assert Linx.Process.stop(proc, 5000) == {:signaled, 15}
      assert_os_pid_exits(os_pid)
      assert {:error, :not_at_checkpoint} = Linx.Process.proceed(proc)
    end

    test "signal/2 is the terminal event of the owner" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], checkpoint: true)
      assert :ok = Linx.Process.signal(proc, :sigterm)
      assert_receive {:linx_process, ^proc, {:signaled, 15}}, 5000
      assert Linx.Process.await(proc, 1000) == {:signaled, 15}
    end

    test "while a checkpoint command is being applied (capabilities: a pending query)" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/true"],
          checkpoint: true,
          capabilities: [keep: [:kill]]
        )

      assert {:ok, %{bounding: 0x20}} = Linx.Process.capabilities(proc)
      assert :ok = Linx.Process.signal(proc, :sigkill)
      assert Linx.Process.await(proc, 5000) == {:signaled, 9}
      assert {:error, :not_at_checkpoint} = Linx.Process.capabilities(proc)
    end

    test "with uid_map (the maps are written by the BEAM at the checkpoint)" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/true"],
          namespaces: [:user],
          uid_map: [{0, 0, 1}],
          gid_map: [{0, 0, 1}],
          checkpoint: true
        )

      os_pid = Linx.Process.os_pid(proc)
      assert File.read!("/proc/#{os_pid}/uid_map") =~ ~r/^\s*0\s+0\s+1$/m
      assert Linx.Process.stop(proc, 5000) == {:signaled, 15}
      assert_os_pid_exits(os_pid)
    end
  end

  defp zombie_state?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, stat} -> stat |> String.split(") ") |> List.last() |> String.starts_with?("Z")
      _ -> false
    end
  end
end
