defmodule Linx.Seccomp.NotifyResolveTest do
  # A {:call, ...} rule acts on the caller's behalf with the agent's
  # privileges: it must not be turnable against the host. The workload is
  # test/support/c/notify_race.c, spawned as root in the host's namespaces,
  # which drops to uid 1000 (no capabilities left) before it attacks: it
  # swaps the final component or an intermediate directory of the path it
  # asks for with a symlink while the helper works, or asks for a path that
  # only lexically lies under the rule's directory (`..` after a symlink, a
  # procfs magic link, an absolute symlink inside its chroot).
  use Linx.Case, async: true

  alias Linx.Seccomp.Notify.Structs

  @moduletag :notify
  # every lost race is a failed step, logged: keep them out of the run's output
  @moduletag :capture_log
  # 3,000 tries through a forked helper each: a few seconds normally, a
  # minute or more against the ASan+UBSan agent on a busy machine.
  @moduletag timeout: 300_000

  @source "test/support/c/notify_race.c"
  @binary "build/test/notify_race"
  @tries 3000
  @eloop 40
  @exdev 18
  @eacces 13

  setup_all do
    File.mkdir_p!(Path.dirname(@binary))

    {out, status} =
      System.cmd("cc", ~w(-O2 -Wall -Wextra -Werror -pthread -o #{@binary} #{@source}),
        stderr_to_stdout: true
      )

    assert status == 0, "cc notify_race.c failed:\n#{out}"
    %{race: Path.expand(@binary)}
  end

  # The LXD rule of docs/notify.md: /dev/null's numbers under `dir` are
  # created for the caller and handed to it; any other mknodat is EPERM.
  defp mknod_rules(dir, chown_flags, ctx \\ [ns: [:mount]]) do
    [
      %{
        syscall: :mknodat,
        match: [
          {:int, 0, -100},
          {:string, 1, {:under, dir}},
          {:arg, 2, {:mask, 0o170000, 0o020000}},
          {:arg, 3, Structs.makedev(1, 3)}
        ],
        then: [
          {:call, :mknodat, [-100, {:mem, 1}, {:arg, 2}, {:arg, 3}], ctx},
          {:call, :fchownat, [-100, {:mem, 1}, :caller_uid, :caller_gid, chown_flags], ctx},
          {:return, 0}
        ]
      },
      %{syscall: :mknodat, then: {:errno, :eperm}}
    ]
  end

  defp run_race(race, args, rules) do
    {out, status} = Linx.Process.run([race | args], notify: rules, stderr_to_stdout: true)
    assert status == 0, "notify_race failed: #{out}"
    out
  end

  # A directory uid 1000 owns (the workload's playground).
  defp user_dir!(name) do
    dir = tmp_dir!(name)
    File.chmod!(dir, 0o755)
    {_, 0} = System.cmd("chown", ["1000:1000", dir])
    on_exit(fn -> File.rm_rf!(dir) end)
    dir
  end

  # A directory only root may write to.
  defp root_dir!(name) do
    dir = tmp_dir!(name)
    File.chmod!(dir, 0o755)
    on_exit(fn -> File.rm_rf!(dir) end)
    dir
  end

  defp owner(path) do
    {out, 0} = System.cmd("stat", ["-c", "%u:%g", path])
    String.trim(out)
  end

  defp answered(out) do
    assert [_, n] = Regex.run(~r/tries=#{@tries} answered=(\d+)/, out), out
    String.to_integer(n)
  end

  describe "races against the helper (#{@tries} tries each, as uid 1000)" do
    test "the final component swapped for a symlink: the host file keeps its owner", %{
      race: race
    } do
      dir = user_dir!("race-final")
      secret = Path.join(root_dir!("race-final-host"), "shadow")
      File.write!(secret, "root only\n")
      File.chmod!(secret, 0o600)

      out = run_race(race, ~w(-u 1000:1000 final #{@tries} #{dir} #{secret}), mknod_rules(dir, 0))

      assert answered(out) > 0
      assert owner(secret) == "0:0"
    end

    # The control: the same race against resolve: :follow (documented as
    # unsafe: the path is looked up again by name) takes the host file,
    # so the test above would catch a helper that did that.
    test "the control: with resolve: :follow the same race takes the host file", %{race: race} do
      dir = user_dir!("race-control")
      secret = Path.join(root_dir!("race-control-host"), "shadow")
      File.write!(secret, "root only\n")
      File.chmod!(secret, 0o600)
      unsafe = mknod_rules(dir, 0, ns: [:mount], resolve: :follow)

      out = run_race(race, ~w(-u 1000:1000 final #{@tries} #{dir} #{secret}), unsafe)

      assert answered(out) > 0
      assert owner(secret) == "1000:1000"
    end

    test "with AT_SYMLINK_NOFOLLOW, an intermediate directory swapped for a symlink: no node outside",
         %{race: race} do
      dir = user_dir!("race-inter")
      outside = root_dir!("race-inter-host")

      out =
        run_race(
          race,
          ~w(-u 1000:1000 inter #{@tries} #{dir} #{outside}),
          mknod_rules(dir, 0x100)
        )

      assert answered(out) > 0
      assert File.ls!(outside) == []
    end
  end

  describe "paths that are only lexically under the directory" do
    test "a `..` after a symlink, normalised away by {:under, dir}", %{race: race} do
      dir = user_dir!("dotdot")
      outside = root_dir!("dotdot-host")
      File.mkdir!(Path.join(outside, "inner"))
      File.ln_s!(Path.join(outside, "inner"), Path.join(dir, "l"))

      out = run_race(race, ~w(-u 1000:1000 once #{dir}/l/../x), mknod_rules(dir, 0))

      assert out == "once=#{@eloop}\n"
      assert File.ls!(outside) == ["inner"]
    end

    test "a procfs magic link (/proc/self/root, /proc/PID/root) inside the directory", %{
      race: race
    } do
      dir = user_dir!("magic")
      File.mkdir!(Path.join(dir, "proc"))
      outside = root_dir!("magic-host")

      # the workload mounts its own /proc under dir (a container's /proc)
      for link <- ["self", "%d"] do
        out =
          run_race(
            race,
            ~w(-p #{dir}/proc -u 1000:1000 once #{dir}/proc/#{link}/root#{outside}/x),
            mknod_rules(dir, 0)
          )

        assert out == "once=#{@eloop}\n", "/proc/#{link}/root: #{out}"
        assert File.ls!(outside) == []
      end
    end

    test "an absolute symlink inside the caller's chroot", %{race: race} do
      root = root_dir!("chroot")
      File.mkdir!(Path.join(root, "etc"))
      dev = Path.join(root, "dev")
      File.mkdir!(dev)
      {_, 0} = System.cmd("chown", ["1000:1000", dev])
      File.ln_s!("/etc", Path.join(dev, "l"))

      out = run_race(race, ~w(-r #{root} -u 1000:1000 once /dev/l/x), mknod_rules("/dev", 0))

      assert out == "once=#{@eloop}\n"
      assert File.ls!(Path.join(root, "etc")) == []
    end
  end

  describe "mount's target" do
    test "is opened without following symlinks, and mounted on as that object", %{race: race} do
      dir = user_dir!("mount")
      File.mkdir!(Path.join(dir, "m"))
      proc = root_dir!("mount-proc")
      outside = root_dir!("mount-host")
      File.ln_s!(outside, Path.join(dir, "l"))

      rules = [
        %{
          syscall: :mount,
          match: [{:string, 1, {:under, dir}}],
          then: {:call, :mount, [{:str, "none"}, {:mem, 1}, {:str, "tmpfs"}, 0, 0], ns: [:mount]}
        },
        # the workload's own set-up, as root
        %{syscall: :mount, then: :continue}
      ]

      # in the workload's own mount namespace (-p): the host's is untouched
      assert run_race(race, ~w(-p #{proc} -u 1000:1000 mount #{dir}/m), rules) ==
               "mount=0 tmpfs=1\n"

      assert run_race(race, ~w(-p #{proc} -u 1000:1000 mount #{dir}/l), rules) ==
               "mount=#{@eloop} tmpfs=0\n"
    end
  end

  describe "a sequence acts on what it created" do
    test "a later step uses the directory the first one resolved, not the path again", %{
      race: race
    } do
      dir = user_dir!("keep")
      sub = Path.join(dir, "sub")
      File.mkdir!(sub)
      outside = root_dir!("keep-host")
      File.ln_s!(outside, Path.join(dir, "l"))

      # mknodat DIR/sub/x; then DIR/sub and DIR/l (-> outside) trade
      # places; then the chown of DIR/sub/x: it must reach the node made
      # in the first step (now DIR/l/x), never follow DIR/sub any more.
      rules = [
        %{
          syscall: :mknodat,
          match: [{:string, 1, {:under, dir}}],
          then: [
            {:call, :mknodat, [-100, {:mem, 1}, {:arg, 2}, {:arg, 3}], []},
            {:call, :renameat2, [-100, {:str, sub}, -100, {:str, Path.join(dir, "l")}, 2], []},
            {:call, :fchownat, [-100, {:mem, 1}, 1234, 1234, 0], []},
            {:return, 0}
          ]
        }
      ]

      assert run_race(race, ~w(-u 1000:1000 once #{sub}/x), rules) == "once=0\n"
      assert File.read_link!(sub) == outside
      assert owner(Path.join([dir, "l", "x"])) == "1234:1234"
      assert File.ls!(outside) == []
    end
  end

  describe "the context keys" do
    test "the safe default still creates the node and hands it to the caller", %{race: race} do
      dir = user_dir!("plain")

      assert run_race(race, ~w(-u 1000:1000 once #{dir}/null), mknod_rules(dir, 0)) ==
               "once=0\n"

      {out, 0} = System.cmd("stat", ["-c", "%F %t %T %u %g", Path.join(dir, "null")])
      assert String.trim(out) == "character special file 1 3 1000 1000"
    end

    test "resolve: :follow is today's behaviour: the `..` escape works again", %{race: race} do
      dir = user_dir!("follow")
      outside = root_dir!("follow-host")
      File.mkdir!(Path.join(outside, "inner"))
      File.ln_s!(Path.join(outside, "inner"), Path.join(dir, "l"))
      rules = mknod_rules(dir, 0, ns: [:mount], resolve: :follow)

      assert run_race(race, ~w(-u 1000:1000 once #{dir}/l/../x), rules) == "once=0\n"
      assert File.ls!(outside) |> Enum.sort() == ["inner", "x"]
    end

    test "beneath: confines the path to a narrower directory than the rule's", %{race: race} do
      dir = user_dir!("beneath")
      dev = Path.join(dir, "dev")
      File.mkdir!(dev)
      rules = mknod_rules(dir, 0, ns: [:mount], beneath: dev)

      assert run_race(race, ~w(-u 1000:1000 once #{dev}/null), rules) == "once=0\n"
      assert owner(Path.join(dev, "null")) == "1000:1000"
      # under the rule's directory, not beneath dev
      assert run_race(race, ~w(-u 1000:1000 once #{dir}/null), rules) == "once=#{@exdev}\n"
      refute File.exists?(Path.join(dir, "null"))
    end

    test "creds: :caller_fs checks the path as the caller and creates the node as its own", %{
      race: race
    } do
      dir = user_dir!("callerfs")
      closed = root_dir!("callerfs-closed")

      rules = fn d ->
        [
          %{
            syscall: :mknodat,
            match: [{:string, 1, {:under, d}}, {:arg, 3, Structs.makedev(1, 3)}],
            then: {:call, :mknodat, [-100, {:mem, 1}, {:arg, 2}, {:arg, 3}], creds: :caller_fs}
          }
        ]
      end

      # no chown step: the node is created with the caller's fsuid/fsgid
      assert run_race(race, ~w(-u 1000:1000 once #{dir}/null), rules.(dir)) == "once=0\n"
      {out, 0} = System.cmd("stat", ["-c", "%F %t %T %u %g", Path.join(dir, "null")])
      assert String.trim(out) == "character special file 1 3 1000 1000"

      # a directory the caller may not write to: its permissions apply
      assert run_race(race, ~w(-u 1000:1000 once #{closed}/null), rules.(closed)) ==
               "once=#{@eacces}\n"

      assert File.ls!(closed) == []
    end
  end
end
