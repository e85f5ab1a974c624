defmodule Linx.Sandbox.MountsTest do
  # root:, mounts:, hostname:, loopback:, time_offsets: on the real kernel,
  # modelled on bubblewrap's tests/test-run.sh. The workload is Debian's
  # static busybox, bound into roots that hold nothing else.
  use Linx.Case, async: true

  @busybox "/bin/busybox"
  @setup Path.expand("../../../script/setup", __DIR__)

  setup_all do
    # CI runs on a clean machine: the setup helper installs it if missing
    {_, 0} = System.cmd(@setup, ["busybox-static"], stderr_to_stdout: true)
    true = File.exists?(@busybox)
    :ok
  end

  # A root made only of mounts: busybox at /bin/busybox
  defp bb_root(extra), do: [root: :tmpfs, mounts: [{:ro_bind, @busybox, "/bin/busybox"} | extra]]

  defp sh(script, opts), do: Linx.Process.run([@busybox, "sh", "-c", script], opts)

  defp host_mounts, do: File.read!("/proc/self/mountinfo")

  defp mount_points(mountinfo) do
    for line <- String.split(mountinfo, "\n", trim: true),
        do: line |> String.split() |> Enum.at(4)
  end

  describe "root: :tmpfs built from mounts:" do
    test "ls / shows exactly the entries of mounts:, :mount is added by itself" do
      opts =
        bb_root([
          {:dir, "/d"},
          {:file, "/etc/motd", "hello\n"},
          {:symlink, "d", "/s"},
          {:tmpfs, "/t"}
        ])

      {out, 0} =
        sh(
          "/bin/busybox ls -A /; /bin/busybox cat /etc/motd; /bin/busybox readlink /s",
          opts
        )

      assert out == "bin\nd\netc\ns\nt\nhello\nd\n"
      refute Keyword.has_key?(opts, :namespaces)
    end

    test "a :ro_bind is read-only (EROFS), a :bind writes through" do
      dir = tmp_dir!("robind")
      File.write!(Path.join(dir, "f"), "old")

      opts = bb_root([{:ro_bind, dir, "/ro"}, {:bind, dir, "/rw"}])

      {out, 0} =
        sh(
          "echo new > /ro/f; echo rc=$?; echo new > /rw/g && echo ok",
          opts ++ [stderr_to_stdout: true]
        )

      assert out =~ "Read-only file system"
      assert out =~ "rc=1"
      assert out =~ "ok"
      assert File.read!(Path.join(dir, "f")) == "old"
      assert File.read!(Path.join(dir, "g")) == "new\n"
    end

    test "a sized tmpfs is ENOSPC past its size; mode is applied" do
      opts = bb_root([{:tmpfs, "/small", size: 65_536, mode: 0o1777}])

      {out, _} =
        sh(
          "/bin/busybox stat -c %a /small; /bin/busybox cat /bin/busybox > /small/f; echo rc=$?",
          opts ++ [stderr_to_stdout: true]
        )

      assert out =~ "1777\n"
      assert out =~ "No space left on device"
      assert out =~ "rc=1"
    end

    test "bind options: optional: true skips a missing source, exec: false is noexec" do
      opts =
        bb_root([
          {:ro_bind, "/nonexistent-linx-src", "/opt", optional: true},
          {:ro_bind, @busybox, "/noexec/busybox", exec: false}
        ])

      {out, _} =
        sh(
          "/bin/busybox ls /opt; /noexec/busybox true; echo rc=$?",
          opts ++ [stderr_to_stdout: true]
        )

      assert out =~ "No such file or directory"
      assert out =~ "Permission denied"
      assert out =~ "rc=126"
    end

    test "{:symlink} is idempotent; {:dir, dst, mode} is made with that mode" do
      opts =
        bb_root([
          {:symlink, "/bin/busybox", "/x"},
          {:symlink, "/bin/busybox", "/x"},
          {:dir, "/a/b/c", 0o700}
        ])

      {out, 0} = sh("/bin/busybox readlink /x; /bin/busybox stat -c %a /a/b/c /a/b", opts)
      assert out == "/bin/busybox\n700\n755\n"
    end

    test "{:remount_ro, \"/\"} makes the root read-only after the other mounts" do
      opts = bb_root([{:remount_ro, "/"}, {:dir, "/made-after"}, {:tmpfs, "/tmp"}])

      {out, 0} =
        sh(
          "/bin/busybox ls -d /made-after; /bin/busybox touch /new 2>&1; echo tmp > /tmp/ok && echo tmp-rw",
          opts
        )

      assert out =~ "/made-after\n"
      assert out =~ "Read-only file system"
      assert out =~ "tmp-rw"
    end
  end

  describe "proc, dev, pivot_root" do
    test "{:proc} shows only the workload's processes" do
      opts = bb_root([{:proc, "/proc"}]) ++ [namespaces: [:pid]]
      {out, 0} = sh("echo /proc/[0-9]*", opts)
      assert out == "/proc/1\n"
    end

    test "{:dev} is a minimal /dev: no host disk device, working null and ptmx" do
      host_disks = Path.wildcard("/dev/{sd,vd,nvme,xvd}*")
      assert host_disks != []

      opts = bb_root([{:dev, "/dev"}])

      {out, 0} =
        sh(
          "/bin/busybox ls -A /dev; echo x > /dev/null && echo null-ok; /bin/busybox readlink /dev/ptmx",
          opts
        )

      assert out ==
               Enum.join(
                 ~w(fd full null ptmx pts random shm stderr stdin stdout tty urandom zero null-ok pts/ptmx),
                 "\n"
               ) <> "\n"
    end

    test "pivot_root into a busybox directory: no host mount visible, .. stays in /" do
      dir = tmp_dir!("pivot")
      File.mkdir_p!(Path.join(dir, "bin"))
      File.mkdir_p!(Path.join(dir, "proc"))
      File.cp!(@busybox, Path.join(dir, "bin/busybox"))

      opts = [root: dir, mounts: [{:proc, "/proc"}], namespaces: [:pid]]

      {out, 0} =
        Linx.Process.run(
          [
            "/bin/busybox",
            "sh",
            "-c",
            "cat /proc/self/mountinfo; echo --; cd /..; /bin/busybox ls -A; /bin/busybox ls -A /../.."
          ],
          opts
        )

      [mountinfo, listing] = String.split(out, "--\n")
      assert mount_points(mountinfo) == ["/", "/proc"]
      assert listing == "bin\nproc\nbin\nproc\n"
      # nothing was written to the directory
      assert File.ls!(dir) |> Enum.sort() == ["bin", "proc"]
    end

    test "a root directory that does not exist fails at :pivot_root" do
      assert {:error, {:enoent, :pivot_root}} =
               Linx.Process.spawn(argv: ["/bin/busybox"], root: "/nonexistent-linx-root")
    end
  end

  describe "nothing reaches the host" do
    test "the host's mountinfo does not change while a sandboxed workload runs" do
      before = host_mounts()
      opts = bb_root([{:tmpfs, "/tmp"}, {:dev, "/dev"}, {:bind, "/tmp", "/hosttmp"}])

      {:ok, proc} =
        Linx.Process.spawn(
          argv: [@busybox, "sleep", "30"],
          root: opts[:root],
          mounts: opts[:mounts]
        )

      assert host_mounts() == before
      Linx.Process.stop(proc, 1000)
    end

    test "private propagation: the workload's own mount under a shared host mount stays inside" do
      dir = tmp_dir!("shared")
      {_, 0} = System.cmd("mount", ["-t", "tmpfs", "-o", "size=1m", "linx-shared", dir])

      try do
        {_, 0} = System.cmd("mount", ["--make-shared", dir])
        inner = Path.join(dir, "inner")
        File.mkdir_p!(inner)

        # No user namespace: without the private step the workload's copy
        # of a shared mount stays a peer of the host's, both ways.
        {:ok, proc} =
          Linx.Process.spawn(
            argv: ["/bin/sh", "-c", "mount -t tmpfs linx-inner #{inner} && exec sleep 30"],
            namespaces: [:mount],
            mounts: [{:dir, "/tmp"}]
          )

        child = "/proc/#{Linx.Process.os_pid(proc)}/mountinfo"
        assert eventually(fn -> File.read!(child) =~ "linx-inner" end)
        refute File.read!(child) =~ "shared:"
        refute host_mounts() =~ "linx-inner"
        Linx.Process.stop(proc, 1000)
      after
        System.cmd("umount", ["-R", "-l", dir])
      end
    end

    test "root: :host never creates a missing path on the host (EROFS), nothing left" do
      name = "/linx-never-#{System.unique_integer([:positive])}"

      for m <- [{:dir, name}, {:tmpfs, name <> "/t"}, {:file, name, "x"}, {:symlink, "/", name}] do
        assert {:error, {:erofs, {:mount, 0}}} =
                 Linx.Process.spawn(argv: ["/bin/true"], mounts: [m])

        # the text says why, and what to do
        assert Linx.Process.last_error().detail =~ "Linx creates paths only on a tmpfs it mounted"
        refute File.exists?(name)
      end
    end

    test "a failure after earlier mounts leaves no mount and no directory on the host" do
      dir = tmp_dir!("fail")
      before = host_mounts()

      assert {:error, {:enoent, {:mount, 2}}} =
               Linx.Process.spawn(
                 argv: ["/bin/true"],
                 root: dir,
                 mounts: [{:tmpfs, "/"}, {:dir, "/a/b"}, {:ro_bind, "/nope", "/x"}]
               )

      assert host_mounts() == before
      assert File.ls!(dir) == []
    end
  end

  describe "errors" do
    test "spawn: {errno, {:mount, index}}; run/2 raises naming the mount" do
      assert {:error, {:enoent, {:mount, 1}}} =
               Linx.Process.spawn(bb_root([{:ro_bind, "/nope", "/x"}]) ++ [argv: [@busybox]])

      e =
        assert_raise Linx.Process.Error, fn ->
          Linx.Process.run(["/bin/true"], root: :tmpfs, mounts: [{:ro_bind, "/nope", "/x"}])
        end

      assert Exception.message(e) =~ ~s({:ro_bind, "/nope", "/x"}: enoent)
      assert e.stage == {:mount, 0}
      assert e.mount == {:ro_bind, "/nope", "/x"}
    end

    test "the index counts a preset's mounts first" do
      opts = Linx.Sandbox.options(:minimal, mounts: [{:ro_bind, "/nope", "/x"}])
      n = length(Linx.Sandbox.options(:minimal)[:mounts])
      assert {:error, {:enoent, {:mount, ^n}}} = Linx.Process.spawn([argv: ["/bin/true"]] ++ opts)
    end

    test "shape errors raise ArgumentError before anything starts, naming what was wrong" do
      bad = [
        {[mounts: [{:tmpfs, "relative"}]], ~r/entry 0 .*absolute path/},
        {[mounts: [{:bind, "/usr", "/a/../../etc"}]], ~r/entry 0 .*"\.\."/},
        {[mounts: [{:overlay, "/a"}]], ~r/entry 0 \(\{:overlay, "\/a"\}\) is not one of/},
        {[mounts: [{:bind, "/usr", "/usr", sticky: true}]], ~r/unknown option \{:sticky, true\}/},
        {[mounts: [{:tmpfs, "/t", size: -1}]], ~r/bad tmpfs option \{:size, -1\}/},
        {[mounts: [{:proc, "/proc"}]], ~r/needs a new pid namespace; add :pid/},
        {[mounts: :none], ~r/invalid option :mounts: got :none/},
        {[root: "relative"], ~r/invalid option :root: got "relative"/},
        {[root: :overlay], ~r/invalid option :root: got :overlay/},
        {[hostname: ""], ~r/invalid option :hostname: got ""/},
        {[hostname: String.duplicate("h", 65)], ~r/1\.\.64 bytes/},
        {[loopback: :yes], ~r/invalid option :loopback: got :yes/},
        {[time_offsets: [realtime: 1]], ~r/invalid option :time_offsets/}
      ]

      for {opts, message} <- bad do
        assert_raise ArgumentError, message, fn ->
          Linx.Process.spawn([argv: ["/bin/true"]] ++ opts)
        end
      end

      assert_raise ArgumentError, ~r/joins the target's existing namespaces/, fn ->
        Linx.Process.enter(1, argv: ["/bin/true"], root: :tmpfs)
      end
    end
  end

  describe "implied namespaces and maps (issue 12)" do
    test "{:proc} with init: true and no :pid in namespaces: the init's pid namespace" do
      {out, 0} = sh("echo /proc/[0-9]*", bb_root([{:proc, "/proc"}]) ++ [init: true])

      assert out == "/proc/1 /proc/2\n"
    end

    test "a root in a new user namespace without maps: the caller's ids mapped to themselves" do
      %File.Stat{uid: uid, gid: gid} = File.stat!("/proc/self")

      {out, 0} =
        sh(
          "cat /proc/self/uid_map /proc/self/gid_map; echo x > /t/f && /bin/busybox stat -c %u /t/f",
          bb_root([{:tmpfs, "/t"}, {:proc, "/proc"}]) ++ [namespaces: [:user, :pid]]
        )

      assert [u, g, owner] = String.split(out, "\n", trim: true)
      assert String.split(u) == ["#{uid}", "#{uid}", "1"]
      assert String.split(g) == ["#{gid}", "#{gid}", "1"]
      assert owner == "#{uid}"
    end
  end

  describe "hostname, loopback, time_offsets" do
    test "hostname: adds :uts and sets it there only" do
      {out, 0} = Linx.Process.run([@busybox, "hostname"], hostname: "linx-box")
      assert out == "linx-box\n"
      refute File.read!("/proc/sys/kernel/hostname") =~ "linx-box"
    end

    test "a new :net namespace has lo up; loopback: false leaves it down" do
      {up, 0} = Linx.Process.run([@busybox, "ip", "link", "show", "lo"], namespaces: [:net])
      assert up =~ "<LOOPBACK,UP,LOWER_UP>"

      {down, 0} =
        Linx.Process.run([@busybox, "ip", "link", "show", "lo"],
          namespaces: [:net],
          loopback: false
        )

      assert down =~ "<LOOPBACK>"
    end

    test "time_offsets: shifts CLOCK_BOOTTIME in a new time namespace" do
      day = 86_400

      {out, 0} =
        Linx.Process.run(["/bin/cat", "/proc/uptime"], time_offsets: [boottime: 10 * day])

      [inside | _] = String.split(out)
      [host | _] = String.split(File.read!("/proc/uptime"))
      shift = String.to_float(inside) - String.to_float(host)
      assert_in_delta shift, 10 * day, 60
    end
  end

  describe "Linx.Sandbox presets" do
    test ":minimal: uid 1000, no capabilities, only lo, hostname linx, a root of its own" do
      {out, 0} =
        Linx.Process.run(
          [
            "/bin/sh",
            "-c",
            "id -u; hostname; grep CapEff /proc/self/status; " <>
              "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,; echo; ls /; echo $$"
          ],
          Linx.Sandbox.options(:minimal)
        )

      [uid, host, caps, netdevs | rest] = String.split(out, "\n", trim: true)
      assert uid == "1000"
      assert host == "linx"
      assert caps =~ "0000000000000000"
      assert netdevs == "lo,"
      # the preset's init is pid 1, the workload its child
      assert List.last(rest) == "2"
      assert "usr" in rest and "proc" in rest and "dev" in rest and "tmp" in rest
      refute "home" in rest or "root" in rest or "work" in rest
    end

    test ":network keeps the host's network and binds resolv.conf; overrides merge" do
      opts = Linx.Sandbox.options(:network, mounts: [{:dir, "/extra"}], hostname: "job")
      assert :net not in opts[:namespaces]
      assert List.last(opts[:mounts]) == {:dir, "/extra"}
      assert {:ro_bind, "/etc/resolv.conf", "/etc/resolv.conf", optional: true} in opts[:mounts]
      assert opts[:hostname] == "job"

      {out, 0} =
        Linx.Process.run(
          ["/bin/sh", "-c", "hostname; ls -d /extra; readlink /proc/self/ns/net"],
          opts
        )

      assert out == "job\n/extra\n#{File.read_link!("/proc/self/ns/net")}\n"
    end

    test "unknown presets and bad overrides raise" do
      assert_raise ArgumentError, fn -> Linx.Sandbox.options(:huge) end
      assert_raise ArgumentError, fn -> Linx.Sandbox.options(:minimal, :nope) end
    end
  end
end
