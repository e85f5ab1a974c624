defmodule Linx.Sandbox.ResourcesTest do
  # Resources and time on this machine's real cgroups (hybrid: v1
  # controllers, an empty v2 hierarchy): limits, rlimits, nice, cpus,
  # timeouts, usage, OOM. Not async: the CPU and fork-bomb tests measure.
  use Linx.Case, async: false

  @mib 1024 * 1024
  @probe Path.expand("../../../build/test/resource_probe", __DIR__)

  # The v1 group of `controller` a process is in (from /proc/PID/cgroup):
  # Linx makes them right in the layout's directory
  defp v1_group(os_pid, controller) do
    path =
      File.read!("/proc/#{os_pid}/cgroup")
      |> String.split("\n", trim: true)
      |> Enum.find_value(fn line ->
        case String.split(line, ":", parts: 3) do
          [_, ^controller, path] -> path
          _ -> nil
        end
      end)

    {:v1, base} = Linx.Cgroup.Limits.layout()[String.to_atom(controller)]
    Path.join(base, Path.basename(path))
  end

  # Processes whose command line holds `token`
  defp count_with(token) do
    for pid <- File.ls!("/proc"),
        String.match?(pid, ~r/^\d+$/),
        {:ok, cmd} <- [File.read("/proc/#{pid}/cmdline")],
        String.contains?(cmd, token),
        reduce: 0,
        do: (n -> n + 1)
  end

  defp wait_until(fun, ms \\ 3000) do
    cond do
      fun.() -> true
      ms <= 0 -> false
      true -> Process.sleep(20) && wait_until(fun, ms - 20)
    end
  end

  defp receive_usage(proc) do
    assert_receive {:linx_process, ^proc, {:usage, usage}}, 10_000
    usage
  end

  describe "limits: memory" do
    test "64 MiB: a workload allocating 256 MiB is OOM-killed, oom_kills >= 1" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: [@probe, "alloc", "256"],
          stdio: :pipe,
          limits: [memory: 64 * @mib]
        )

      os_pid = Linx.Process.os_pid(proc)
      group = v1_group(os_pid, "memory")
      assert File.read!(Path.join(group, "memory.limit_in_bytes")) == "#{64 * @mib}\n"

      usage = receive_usage(proc)
      # the usage comes first, then the terminal event: killed, not "done"
      assert_receive {:linx_process, ^proc, {:signaled, 9}}, 10_000
      refute_received {:linx_process, ^proc, {:stdout, "done\n"}}
      assert usage.oom_kills >= 1
      assert usage.memory_peak <= 64 * @mib
      # the host is unaffected: we are alive, and the group is removed
      assert Process.alive?(self())
      assert wait_until(fn -> not File.exists?(group) end)
    end

    test "stats/1 of a workload holding 100 MiB reports memory >= 100 MiB" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: [@probe, "hold", "100"],
          stdio: :pipe,
          limits: [memory: 512 * @mib]
        )

      assert_receive {:linx_process, ^proc, {:stdout, "held\n"}}, 10_000
      assert {:ok, stats} = Linx.Process.stats(proc)
      assert stats.memory >= 100 * @mib
      assert stats.memory_peak >= 100 * @mib
      assert stats.oom_kills == 0
      assert stats.pids == 1
      assert is_integer(stats.cpu_usec)

      assert {:signaled, _} = Linx.Process.stop(proc, 0)
      assert Linx.Process.stats(proc) == {:error, :not_running}
    end

    test "without limits: stats/1 sums the group's resident memory; usage precedes the status" do
      {:ok, proc} = Linx.Process.spawn(argv: [@probe, "hold", "100"], stdio: :pipe)

      assert_receive {:linx_process, ^proc, {:stdout, "held\n"}}, 10_000
      assert {:ok, stats} = Linx.Process.stats(proc)
      assert stats.memory >= 100 * @mib
      # no memory group: no peak or OOM count to read, so none is made up
      refute Map.has_key?(stats, :memory_peak)
      refute Map.has_key?(stats, :oom_kills)

      Linx.Process.signal(proc, :sigterm)
      usage = receive_usage(proc)
      assert is_integer(usage.cpu_usec)
      assert_receive {:linx_process, ^proc, {:signaled, 15}}, 10_000
    end

    test "the workload is in its v1 group before exec, and the group goes with it" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/cat", "/proc/self/cgroup"],
          stdio: :pipe,
          limits: [memory: 128 * @mib, pids: 100, cpu: 1.0]
        )

      events = collect_events(proc)
      assert List.last(events) == {:exited, 0}
      cgroups = output(events)

      for ctrl <- ~w(memory pids cpu) do
        assert cgroups =~ ~r/^\d+:#{ctrl}:\S*\/linx\/\d+-\d+-\d+-\d+-\d+$/m
      end

      [_, memory_path] = Regex.run(~r/^\d+:memory:(\S+)$/m, cgroups)
      name = Path.basename(memory_path)
      dir = Path.join(elem(Linx.Cgroup.Limits.layout().memory, 1), name)
      assert wait_until(fn -> not File.exists?(dir) end)
    end

    test "a limit the kernel refuses is {:error, {errno, {:limit, key}}}, nothing left behind" do
      before = File.ls!(elem(Linx.Cgroup.Limits.layout().pids, 1))

      # pids.max takes at most PID_MAX_LIMIT (2^22)
      assert {:error, {:einval, {:limit, :pids}}} =
               Linx.Process.spawn(argv: ["/bin/true"], limits: [pids: 10_000_000_000])

      assert wait_until(fn ->
               File.ls!(elem(Linx.Cgroup.Limits.layout().pids, 1)) -- before == []
             end)
    end
  end

  describe "enter" do
    test "enter/2 into a user and mount namespace: groups joined, rlimits set" do
      {:ok, target} =
        Linx.Process.spawn(
          argv: ["/bin/sleep", "20"],
          namespaces: [:user, :pid, :mount],
          uid_map: :caller,
          gid_map: :caller
        )

      {:ok, proc} =
        Linx.Process.enter(Linx.Process.os_pid(target),
          argv: ["/bin/sh", "-c", "cat /proc/self/cgroup; ulimit -n"],
          stdio: :pipe,
          limits: [memory: 64 * @mib, pids: 50],
          rlimits: [nofile: 40]
        )

      events = collect_events(proc)
      assert List.last(events) == {:exited, 0}
      out = output(events)
      assert out =~ ~r/^\d+:memory:\S*\/linx\/\S+$/m
      assert out =~ ~r/^\d+:pids:\S*\/linx\/\S+$/m
      assert out =~ ~r/^40$/m
      Linx.Process.stop(target, 100)
    end
  end

  describe "limits: pids and cpu" do
    test "pids: 32 contains a fork bomb run under a timeout; nothing of it survives" do
      token = "linx-forkbomb-#{System.unique_integer([:positive])}"
      # every process of the bomb is a /bin/sh with the token as its $0;
      # the workload itself only sleeps, so the bomb cannot end it
      script = "sh -c 'f() { f & f & wait; }; f' #{token} 2>/dev/null & exec sleep 30"

      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", script],
          stdio: :devnull,
          limits: [pids: 32],
          timeout: 1500,
          kill_timeout: 200
        )

      group = v1_group(Linx.Process.os_pid(proc), "pids")
      Process.sleep(700)
      {:ok, %{pids: pids}} = Linx.Process.stats(proc)
      assert pids <= 32
      # the limit did bite: forks were refused
      assert ["max", refused] = File.read!(Path.join(group, "pids.events")) |> String.split()
      assert String.to_integer(refused) > 0

      assert_receive {:linx_process, ^proc, :timeout}, 5000
      assert_receive {:linx_process, ^proc, {:usage, _}}, 5000
      assert_receive {:linx_process, ^proc, {:signaled, _}}, 5000
      assert wait_until(fn -> count_with(token) == 0 end)
    end

    test "cpu: 0.25 holds a 2 s busy loop to <= 0.7 s of CPU" do
      {:ok, proc} = Linx.Process.spawn(argv: [@probe, "busy", "2000"], limits: [cpu: 0.25])
      quota = Path.join(v1_group(Linx.Process.os_pid(proc), "cpu"), "cpu.cfs_quota_us")
      assert File.read!(quota) == "25000\n"

      usage = receive_usage(proc)
      assert_receive {:linx_process, ^proc, {:exited, 0}}, 10_000
      assert usage.cpu_usec <= 700_000
      assert usage.cpu_usec > 0
    end
  end

  describe "rlimits, nice, cpus" do
    test "rlimits: [nofile: 32] makes the 30th open fail with EMFILE" do
      assert Linx.Process.run([@probe, "open"], rlimits: [nofile: 32]) == {"30 EMFILE\n", 0}

      assert {limits, 0} =
               Linx.Process.run(["/bin/cat", "/proc/self/limits"],
                 rlimits: [nofile: {16, 64}, core: 0, fsize: :infinity]
               )

      assert limits =~ ~r/^Max open files\s+16\s+64\s+files/m
      assert limits =~ ~r/^Max core file size\s+0\s+0\s+bytes/m
      assert limits =~ ~r/^Max file size\s+unlimited\s+unlimited\s+bytes/m
    end

    test "nice and cpus are the workload's before exec" do
      {stat, 0} =
        Linx.Process.run(
          ["/bin/sh", "-c", "cat /proc/self/stat; grep Cpus_allowed_list /proc/self/status"],
          nice: 7,
          cpus: [0]
        )

      [_, rest] = Regex.run(~r/\) (.*)$/m, stat)
      # field 19 of /proc/PID/stat is the nice value
      assert rest |> String.split() |> Enum.at(16) == "7"
      assert stat =~ ~r/^Cpus_allowed_list:\s+0$/m
    end

    test "a CPU that does not exist fails the start at stage :cpus" do
      assert {:error, {:einval, :cpus}} = Linx.Process.spawn(argv: ["/bin/true"], cpus: [1000])
    end

    test "unknown rlimit names and bad values raise ArgumentError" do
      assert_raise ArgumentError, ~r/unknown rlimit :nofiles/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], rlimits: [nofiles: 3])
      end

      assert_raise ArgumentError, ~r/soft limit/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], rlimits: [nofile: {10, 5}])
      end

      assert_raise ArgumentError, ~r/unknown limit :mem/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], limits: [mem: 5])
      end

      assert_raise ArgumentError, ~r/:nice/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], nice: 20)
      end

      assert_raise ArgumentError, ~r/memory_swap/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], limits: [memory_swap: 1 * @mib])
      end
    end
  end

  describe "timeout" do
    test "timeout: 300 on sleep 30: {_, :timeout} within 1 s, no process left" do
      token = "30.#{System.unique_integer([:positive])}"
      t0 = System.monotonic_time(:millisecond)

      assert {"up\n", :timeout} =
               Linx.Process.run(["/bin/sh", "-c", "echo up; exec sleep #{token}"], timeout: 300)

      assert System.monotonic_time(:millisecond) - t0 < 1000
      assert count_with(token) == 0
    end

    test "the owner hears :timeout, then the usage (with limits:), then the end; SIGKILL after kill_timeout" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"],
          timeout: 200,
          kill_timeout: 300,
          limits: [pids: 100]
        )

      os_pid = Linx.Process.os_pid(proc)
      t0 = System.monotonic_time(:millisecond)
      assert_receive {:linx_process, ^proc, :timeout}, 2000
      assert_receive {:linx_process, ^proc, {:usage, %{cpu_usec: _}}}, 2000
      assert_receive {:linx_process, ^proc, {:signaled, 9}}, 2000
      # SIGTERM was ignored: it took kill_timeout more
      assert System.monotonic_time(:millisecond) - t0 >= 250
      refute File.exists?("/proc/#{os_pid}")
    end

    test "stop/1 waits kill_timeout, not 5 s, before SIGKILL" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"],
          kill_timeout: 200
        )

      Process.sleep(100)
      t0 = System.monotonic_time(:millisecond)
      assert Linx.Process.stop(proc) == {:signaled, 9}
      assert System.monotonic_time(:millisecond) - t0 < 2000
    end
  end

  describe "sweep" do
    test "a v1 group left by a BEAM of ours that is gone is removed" do
      base = elem(Linx.Cgroup.Limits.layout().memory, 1)
      {:ok, id} = Linx.Cgroup.beam_id()
      [pid_ns, time_ns | _] = String.split(id, "-")
      # a pid that exists with another start time reads as a gone owner
      stale = Path.join(base, "#{pid_ns}-#{time_ns}-1-999999999-1")
      File.mkdir!(stale)

      Linx.Cgroup.sweep_stale(base)
      assert wait_until(fn -> not File.exists?(stale) end)
    end
  end
end
