defmodule Linx.Sandbox.LimitsFakeCgroupTest do
  # The cgroup v2 path of Linx.Cgroup.Limits, on a fake cgroup tree (a
  # temp dir with the files): this host cannot enable v2 controllers, and
  # we never change its layout.
  use Linx.Case, async: true

  alias Linx.Cgroup.Limits

  @v2_files ~w(memory.max memory.swap.max cpu.max cpu.weight pids.max)

  defp fake_v2! do
    root = tmp_dir!("fake-v2")
    base = Path.join(root, "linx")
    group = Path.join(base, "4026531836-4026531834-1-2-3")
    File.mkdir_p!(group)
    File.write!(Path.join(base, "cgroup.controllers"), "cpuset cpu io memory pids\n")
    File.write!(Path.join(base, "cgroup.subtree_control"), "")
    for f <- @v2_files, do: File.write!(Path.join(group, f), "max\n")
    {root, base, group}
  end

  describe "detection" do
    test "a controller enabled in v2 is used there, else its v1 mount, else none" do
      {_root, base, _group} = fake_v2!()
      File.write!(Path.join(base, "cgroup.controllers"), "memory pids\n")

      mountinfo = """
      31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
      32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
      35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
      """

      proc_cgroup = "4:memory:/beam\n2:cpu,cpuacct:/svc/beam\n0::/\n"

      assert Limits.detect(mountinfo, proc_cgroup, base) == %{
               memory: {:v2, base},
               pids: {:v2, base},
               cpu: {:v1, "/sys/fs/cgroup/cpu,cpuacct/svc/beam/linx"}
             }
    end

    test "a hybrid host with an empty v2 hierarchy: everything in v1" do
      {_root, base, _group} = fake_v2!()
      File.write!(Path.join(base, "cgroup.controllers"), "")

      mountinfo = """
      32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
      35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
      39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
      """

      proc_cgroup = "8:pids:/\n4:memory:/a/b\n1:cpu:/\n0::/\n"

      assert Limits.detect(mountinfo, proc_cgroup, base) == %{
               memory: {:v1, "/sys/fs/cgroup/memory/a/b/linx"},
               cpu: {:v1, "/sys/fs/cgroup/cpu/linx"},
               pids: {:v1, "/sys/fs/cgroup/pids/linx"}
             }
    end
  end

  describe "the v2 files" do
    test "every limit is written to its v2 file, controllers enabled in Linx's directory" do
      {_root, base, group} = fake_v2!()
      layout = %{memory: {:v2, base}, cpu: {:v2, base}, pids: {:v2, base}}

      limits = [
        memory: 64 * 1024 * 1024,
        memory_swap: 96 * 1024 * 1024,
        cpu: 0.5,
        cpu_weight: 200,
        pids: 32
      ]

      assert {:ok, groups, []} = Limits.create(limits, group, "unused", layout)
      assert groups == %{memory: {:v2, group}, cpu: {:v2, group}, pids: {:v2, group}}

      read = &File.read!(Path.join(group, &1))
      assert read.("memory.max") == "67108864"
      # v2 counts swap alone; the option is memory + swap
      assert read.("memory.swap.max") == "33554432"
      assert read.("cpu.max") == "50000 100000"
      assert read.("cpu.weight") == "200"
      assert read.("pids.max") == "32"
      # the last controller enabled (a real file takes each "+ctrl" write)
      assert File.read!(Path.join(base, "cgroup.subtree_control")) =~ ~r/^\+(memory|cpu|pids)$/
    end

    test "a missing file is {:error, {:enoent, {:limit, key}}}, never dropped, never created" do
      {_root, base, group} = fake_v2!()
      File.rm!(Path.join(group, "memory.swap.max"))
      layout = %{memory: {:v2, base}}

      assert Limits.create([memory: 67_108_864, memory_swap: 134_217_728], group, "x", layout) ==
               {:error, {:enoent, {:limit, :memory_swap}}}

      refute File.exists?(Path.join(group, "memory.swap.max"))
    end

    test "a controller this host lacks is {:error, {:enoent, {:limit, key}}}" do
      {_root, base, group} = fake_v2!()

      assert Limits.create([pids: 10], group, "x", %{memory: {:v2, base}}) ==
               {:error, {:enoent, {:limit, :pids}}}

      # a v2 controller but no v2 group for the workload (cgroup: false)
      assert Limits.create([memory: 67_108_864], nil, "x", %{memory: {:v2, base}}) ==
               {:error, {:enoent, {:limit, :memory}}}
    end

    test "the v1 files of the same limits" do
      groups = %{memory: {:v1, "/m/g"}, cpu: {:v1, "/c/g"}, pids: {:v1, "/p/g"}}
      limits = [pids: 5, cpu: 0.25, memory: 4096 * 10, memory_swap: 4096 * 20, cpu_weight: 100]

      assert Limits.files(limits, groups) == [
               {:memory, "/m/g/memory.limit_in_bytes", "40960"},
               {:memory_swap, "/m/g/memory.memsw.limit_in_bytes", "81920"},
               {:cpu, "/c/g/cpu.cfs_period_us", "100000"},
               {:cpu, "/c/g/cpu.cfs_quota_us", "25000"},
               {:cpu_weight, "/c/g/cpu.shares", "2597"},
               {:pids, "/p/g/pids.max", "5"}
             ]
    end

    test "cpu_weight and cpu.shares map onto each other as in runc" do
      # runc: weight = 1 + (shares - 2) * 9999 / 262142
      for weight <- [1, 100, 5000, 10_000] do
        shares = Limits.shares(weight)
        assert (1 + div((shares - 2) * 9999, 262_142)) in (weight - 1)..weight
      end

      assert Limits.shares(1) == 2
      assert Limits.shares(10_000) == 262_144
    end
  end

  describe "usage" do
    test "v2 files become the usage map" do
      {_root, _base, group} = fake_v2!()
      File.write!(Path.join(group, "memory.current"), "104857600\n")
      File.write!(Path.join(group, "memory.peak"), "209715200\n")
      File.write!(Path.join(group, "memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n")

      File.write!(
        Path.join(group, "cpu.stat"),
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n"
      )

      File.write!(Path.join(group, "pids.current"), "3\n")

      assert Limits.usage(group, %{memory: {:v2, group}, pids: {:v2, group}}) == %{
               memory: 104_857_600,
               memory_peak: 209_715_200,
               oom_kills: 2,
               cpu_usec: 1500,
               user_usec: 1000,
               system_usec: 500,
               pids: 3
             }
    end

    test "what cannot be read is absent, not zero" do
      {_root, _base, group} = fake_v2!()
      File.write!(Path.join(group, "cpu.stat"), "usage_usec 7\n")
      usage = Limits.usage(group, %{memory: {:v2, group}})
      assert usage == %{cpu_usec: 7}
      assert Limits.usage(nil, %{}) == %{}
    end
  end
end
