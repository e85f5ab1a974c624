defmodule Linx.Seccomp.ProfileTest do
  # Profiles recorded from real runs (every call trapped through user
  # notification), then enforced: each workload reruns under its own
  # recorded policy with the same output and status, and what was not
  # recorded fails with EPERM.
  use ExUnit.Case, async: true

  alias Linx.Seccomp
  alias Linx.Seccomp.{BPF, Profile}

  doctest Linx.Seccomp.Profile

  @moduletag :integration

  @python "/usr/bin/python3"
  @fixtures Path.expand("../../fixtures/seccomp", __DIR__)

  # Threads, an AF_UNIX socket pair, a getpriority only the thread makes;
  # `extra` runs afterwards and prints what it got.
  defp python(extra \\ "") do
    """
    import os, socket, threading
    out = []
    def work():
        out.append(os.getpriority(os.PRIO_PROCESS, 0))
    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts: t.start()
    for t in ts: t.join()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.sendall(b"ping"); got = b.recv(4)
    a.sendmsg([b"!"]); b.recv(1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.close()
    print(len(out), got.decode())
    #{extra}
    """
  end

  defp try_call(code) do
    """
    try:
        #{code}
        print("ok")
    except OSError as e:
        import errno; print(errno.errorcode[e.errno])
    """
  end

  defp run(argv, opts), do: Linx.Process.run(argv, [stderr_to_stdout: true] ++ opts)

  defp policy(profile), do: Profile.to_policy(profile, default: {:errno, :eperm})

  test "python3 with threads and a socket: recorded, rerun under its policy, the rest is EPERM" do
    argv = [@python, "-c", python()]
    {:ok, profile} = Profile.record(argv, args: [:socket])

    assert profile.output == "3 ping\n"
    assert profile.exit == 0
    # threads (clone3 from pthread_create) and the calls they made
    assert profile.calls[:clone3] >= 3
    assert profile.calls[:getpriority] == 3
    # sendmsg too: every name is trapped (the listener hand-off needs none)
    assert profile.calls[:sendmsg] == 1
    # AF_UNIX only: socketpair is a call of its own, socket saw family 1
    assert profile.args == %{socket: [1]}

    assert run(argv, seccomp: policy(profile)) == {"3 ping\n", 0}

    extra =
      try_call("os.mkdir('/tmp/linx_profile_never')") <>
        try_call("socket.socket(socket.AF_INET6, socket.SOCK_STREAM)") <>
        try_call("socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()")

    assert run([@python, "-c", python(extra)], seccomp: policy(profile)) ==
             {"3 ping\nEPERM\nEPERM\nok\n", 0}

    refute File.exists?("/tmp/linx_profile_never")
  end

  test "sh -c 'ls | wc -l': exec'd programs and children recorded, not Linx's own start-up" do
    argv = ["/bin/sh", "-c", "ls / | wc -l"]
    {:ok, profile} = Profile.record(argv)
    {expected, 0} = System.cmd("/bin/sh", ["-c", "ls / | wc -l"])

    assert {profile.output, profile.exit} == {expected, 0}
    # ls (a child, exec'd) reads directories; sh forks it
    assert profile.calls[:getdents64] >= 1
    assert profile.calls[:execve] == 3
    # the agent child's close_range before exec is start-up, not workload
    assert profile.setup[:close_range] == 1
    refute Map.has_key?(profile.calls, :close_range)

    assert run(argv, seccomp: policy(profile)) == {expected, 0}
  end

  test "every call is counted, none lost: 20,000 getppid from a loop, and the socket ones the BEAM sees" do
    # getppid is answered by the agent and counted from its {:notified}
    # events; socket (args: [:socket]) goes to the BEAM's recorder
    code = "import os, socket\nfor i in range(20000): os.getppid()\nsocket.socket(socket.AF_UNIX)"
    {:ok, profile} = Profile.record(["/usr/bin/python3", "-c", code], args: [:socket])

    assert profile.exit == 0
    assert profile.calls[:getppid] == 20_000
    assert profile.calls[:socket] >= 1
    assert 1 in profile.args[:socket]
    assert profile.calls[:execve] == 1
  end

  test "getent hosts localhost, recorded and rerun" do
    argv = ["/usr/bin/getent", "hosts", "localhost"]
    {:ok, profile} = Profile.record(argv, args: [:socket, :ioctl, :personality, :clone])
    {expected, 0} = System.cmd("/usr/bin/getent", ["hosts", "localhost"])

    assert {profile.output, profile.exit} == {expected, 0}
    assert run(argv, seccomp: policy(profile)) == {expected, 0}
  end

  test "recorded under sandbox-like options (namespaces, Docker's profile stacked) works under them" do
    {:ok, docker} =
      Seccomp.from_oci(Linx.JSON.decode!(File.read!(Path.join(@fixtures, "moby_default.json"))))

    opts = [
      namespaces: [:user, :mount, :uts, :ipc, :net, :pid],
      no_new_privs: true,
      seccomp: docker
    ]

    argv = ["/bin/sh", "-c", "hostname >/dev/null; ls /proc/self/ns | wc -l; id -u"]
    {:ok, profile} = Profile.record(argv, opts ++ [args: [:socket, :clone]])
    assert profile.exit == 0

    assert run(argv, Keyword.put(opts, :seccomp, [docker, policy(profile)])) ==
             {profile.output, 0}
  end

  test "recorded under Linx.Sandbox.options(:minimal) works under the same options" do
    opts = Linx.Sandbox.options(:minimal)
    argv = ["/bin/sh", "-c", "hostname; ls / | wc -l; id -u"]
    {:ok, profile} = Profile.record(argv, opts)
    assert profile.exit == 0
    assert profile.output =~ ~r/^linx\n\d+\n1000\n$/

    assert run(argv, Keyword.update!(opts, :seccomp, &(List.wrap(&1) ++ [policy(profile)]))) ==
             {profile.output, 0}
  end

  test "args: [:clone] answers clone3 ENOSYS so clone's namespace flags are recorded and enforced" do
    argv = [@python, "-c", python()]
    {:ok, profile} = Profile.record(argv, args: [:clone])
    assert profile.output == "3 ping\n"
    # glibc fell back to clone for the threads: no namespace flags seen
    assert profile.args == %{clone: [0]}
    {:ok, bpf} = Seccomp.compile(policy(profile))
    assert BPF.emulate(bpf, %{nr: 435}) == {:errno, 38}
    assert BPF.emulate(bpf, %{nr: 56, args: [0x3D0F00]}) == :allow
    assert BPF.emulate(bpf, %{nr: 56, args: [0x3D0F00 + 0x10000000]}) == {:errno, 1}

    assert run(argv, seccomp: policy(profile)) == {"3 ping\n", 0}

    assert run(["/usr/bin/unshare", "-U", "/bin/true"], seccomp: policy(profile)) |> elem(1) != 0
  end

  test "merge, to_policy, to_oci and to_json agree, and from_oci reads to_oci back" do
    {:ok, a} = Profile.record(["/bin/echo", "a"], args: [:socket])
    {:ok, b} = Profile.record(["/bin/sh", "-c", "ls / >/dev/null"], args: [:socket])
    m = Profile.merge(a, b)

    for {name, n} <- a.calls, do: assert(m.calls[name] == n + Map.get(b.calls, name, 0))

    assert Enum.sort(Map.keys(m.calls)) ==
             Enum.sort(Enum.uniq(Map.keys(a.calls) ++ Map.keys(b.calls)))

    policy = Profile.to_policy(m)
    assert Seccomp.from_oci(Profile.to_oci(m)) == {:ok, policy}
    assert Linx.JSON.decode!(Profile.to_json(m)) == Profile.to_oci(m)

    assert run(["/bin/echo", "a"], seccomp: policy) == {"a\n", 0}
    assert run(["/bin/sh", "-c", "ls / >/dev/null"], seccomp: policy) == {"", 0}
  end

  test "from_oci/2 with its default options reads to_oci/1 back to to_policy/2's policy" do
    # the issue's words: to_oci(profile) is a map "that Linx.Seccomp.from_oci/2
    # reads back to the same policy" -- with no options on either side
    p = %Profile{
      calls: %{read: 3, write: 1, socket: 1, clone: 1},
      setup: %{dup2: 1},
      args: %{socket: [1, 10], clone: [0]}
    }

    for policy <- [Profile.to_policy(p), Profile.to_policy(p, default: {:errno, :eperm})] do
      assert Seccomp.from_oci(Profile.to_oci(p)) == {:ok, policy}
      assert Seccomp.from_oci(Linx.JSON.decode!(Profile.to_json(p)), []) == {:ok, policy}
    end

    # and the same BPF, decision for decision
    {:ok, bpf} = Seccomp.compile(Profile.to_policy(p))
    {:ok, back} = Seccomp.from_oci(Profile.to_oci(p))
    assert Seccomp.compile(back) == {:ok, bpf}
    assert BPF.emulate(bpf, %{nr: 41, args: [10]}) == :allow
    assert BPF.emulate(bpf, %{nr: 41, args: [2]}) == {:errno, 1}
    assert BPF.emulate(bpf, %{nr: 83}) == {:errno, 1}
  end

  test "a failed execve with exit_group trapped is reported, not a hang (the agent kills, then reaps)" do
    all = for {name, _} <- Linx.Syscalls.all(), do: name

    for trap <- [[:exit_group], all] do
      task =
        Task.async(fn ->
          assert_raise Linx.Process.Error, ~r/enoent/, fn ->
            Linx.Process.run(["/no/such/program"], notify: [trap: trap, default: :continue])
          end
        end)

      assert %Linx.Process.Error{errno: :enoent, stage: :execve} = Task.await(task, 15_000)
    end
  end

  test "record/2 refuses notify: and unknown argument kinds" do
    assert_raise ArgumentError, ~r/invalid option :args/, fn ->
      Profile.record(["/bin/true"], args: [:bind])
    end

    assert_raise ArgumentError, ~r/invalid option :notify/, fn ->
      Profile.record(["/bin/true"], notify: [trap: [:getpid]])
    end

    # a workload that never runs raises in the caller, as run/2 does
    assert_raise Linx.Process.Error, ~r/enoent/, fn -> Profile.record(["/no/such/program"]) end
  end
end
