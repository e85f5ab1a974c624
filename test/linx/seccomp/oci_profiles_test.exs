defmodule Linx.Seccomp.OCIProfilesTest do
  # The real Docker and Podman default profiles (test/fixtures/seccomp/,
  # JSON as shipped) read as crun reads them, and 32-bit arguments compared
  # so that high bits cannot get around a rule. Decisions are checked three
  # ways: the compiled BPF run by Linx.Seccomp.BPF.emulate/2, libseccomp
  # itself fed every entry in order (what crun does), and real processes.
  use ExUnit.Case, async: true

  import Bitwise

  alias Linx.Seccomp
  alias Linx.Seccomp.{BPF, Compiler, Policy}

  doctest Linx.Seccomp.IntArgs

  @moduletag :integration

  @fixtures Path.expand("../../fixtures/seccomp", __DIR__)
  @python "/usr/bin/python3"
  @setns 308
  @socket 41

  # Podman's default capabilities (containers/common pkg/config) and Docker's.
  @podman_caps ~w(CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_NET_BIND_SERVICE
                  CAP_SETFCAP CAP_SETGID CAP_SETPCAP CAP_SETUID CAP_SYS_CHROOT)
  @docker_caps @podman_caps ++ ~w(CAP_AUDIT_WRITE CAP_MKNOD CAP_NET_RAW)

  defp profile(name), do: Linx.JSON.decode!(File.read!(Path.join(@fixtures, name)))

  defp compile!(policy) do
    {:ok, bpf} = Seccomp.compile(policy)
    bpf
  end

  # python3 making one raw syscall with 64-bit arguments; prints the result
  # or the errno name.
  defp raw_syscall(nr, args) do
    """
    import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(#{nr}, #{Enum.map_join(args, ", ", &"ctypes.c_long(#{&1})")})
    print(errno.errorcode[ctypes.get_errno()] if r < 0 else "ok")
    """
  end

  describe "Podman's default profile (containers/common and container-libs)" do
    for file <- ["podman_common.json", "podman_container_libs.json"],
        {caps_name, caps} <- [none: [], podman: @podman_caps, docker: @docker_caps] do
      test "#{file} with #{caps_name} capabilities loads, compiles and allows setns as crun does" do
        {:ok, policy, warnings} =
          Seccomp.from_oci_with_warnings(profile(unquote(file)), caps: unquote(caps))

        bpf = compile!(policy)
        # crun: the big allow list names setns first, so setns is allowed
        assert BPF.emulate(bpf, %{nr: @setns, args: [3, 0]}) == :allow

        assert %{kind: :overridden, syscall: "setns", action: {:errno, 1}, by_action: :allow} =
                 Enum.find(warnings, &(&1.kind == :overridden and &1.syscall == "setns"))

        # the rest of the profile still holds: kexec_load fails with EPERM
        assert BPF.emulate(bpf, %{nr: 246}) == {:errno, 1}
      end
    end

    test "a real workload runs under it and setns is allowed (EBADF, not EPERM)" do
      {:ok, policy} = Seccomp.from_oci(profile("podman_common.json"), caps: @podman_caps)

      assert Linx.Process.run(["/bin/sh", "-c", "echo hello | tr a-z A-Z"], seccomp: policy) ==
               {"HELLO\n", 0}

      assert Linx.Process.run([@python, "-c", raw_syscall(@setns, [-1, 0])], seccomp: policy) ==
               {"EBADF\n", 0}

      # the same call under a profile that denies it, for contrast
      {:ok, docker} = Seccomp.from_oci(profile("moby_default.json"))

      assert Linx.Process.run([@python, "-c", raw_syscall(@setns, [-1, 0])], seccomp: docker) ==
               {"EPERM\n", 0}
    end
  end

  test "Docker's default profile loads with no overridden entry" do
    {:ok, policy, warnings} = Seccomp.from_oci_with_warnings(profile("moby_default.json"))
    assert Enum.filter(warnings, &(&1.kind == :overridden)) == []
    assert BPF.emulate(compile!(policy), %{nr: 0}) == :allow
  end

  describe "entry order: from_oci decides what libseccomp decides when fed every entry (crun)" do
    @syscalls ["setns", "personality", "mount"]
    @nrs %{"setns" => 308, "personality" => 135, "mount" => 165}
    @actions [
      {"SCMP_ACT_ALLOW", nil},
      {"SCMP_ACT_ERRNO", 1},
      {"SCMP_ACT_ERRNO", 13},
      {"SCMP_ACT_ERRNO", 38},
      {"SCMP_ACT_LOG", nil}
    ]
    @conds [
      [],
      [],
      [%{"index" => 0, "value" => 1, "op" => "SCMP_CMP_EQ"}],
      [%{"index" => 0, "value" => 2, "op" => "SCMP_CMP_EQ"}],
      [%{"index" => 0, "value" => 4, "valueTwo" => 4, "op" => "SCMP_CMP_MASKED_EQ"}],
      [%{"index" => 1, "value" => 5, "op" => "SCMP_CMP_GT"}]
    ]

    defp random_profile(rng) do
      {entries, rng} =
        Enum.map_reduce(1..Enum.random(2..7), rng, fn _, rng ->
          {n, rng} = :rand.uniform_s(length(@syscalls), rng)
          {a, rng} = :rand.uniform_s(length(@actions), rng)
          {c, rng} = :rand.uniform_s(length(@conds), rng)
          {action, errno} = Enum.at(@actions, a - 1)

          entry = %{
            "names" => [Enum.at(@syscalls, n - 1)],
            "action" => action,
            "args" => Enum.at(@conds, c - 1)
          }

          {if(errno, do: Map.put(entry, "errnoRet", errno), else: entry), rng}
        end)

      {%{"defaultAction" => "SCMP_ACT_ERRNO", "defaultErrnoRet" => 38, "syscalls" => entries},
       rng}
    end

    # The wire term with every entry as it is, in order: the compiler
    # program adds each with seccomp_rule_add_array and skips rules whose
    # action is the default, as crun does -- libseccomp decides the rest.
    defp crun_wire(profile) do
      rules =
        for entry <- profile["syscalls"], name <- entry["names"] do
          {:ok, action} =
            case entry do
              %{"action" => "SCMP_ACT_ALLOW"} -> {:ok, :allow}
              %{"action" => "SCMP_ACT_LOG"} -> {:ok, :log}
              %{"errnoRet" => e} -> {:ok, {:errno, e}}
            end

          {:ok, value} = Policy.action_value(action)

          conds =
            for a <- entry["args"] do
              op = %{
                "SCMP_CMP_EQ" => :eq,
                "SCMP_CMP_GT" => :gt,
                "SCMP_CMP_MASKED_EQ" => :masked_eq
              }

              {a["index"], op[a["op"]], a["value"], a["valueTwo"] || 0}
            end

          {value, name, conds}
        end

      {:policy, 0x50026, 0x80000000, ["native"], rules, :error}
    end

    test "300 random profiles: same decision for every syscall and argument tried" do
      {compared, _} =
        Enum.reduce(1..300, {0, :rand.seed_s(:exsss, {14, 14, 14})}, fn _, {compared, rng} ->
          {profile, rng} = random_profile(rng)

          case Compiler.compile(crun_wire(profile)) do
            {:ok, reference, []} ->
              {:ok, policy} = Seccomp.from_oci(profile)
              linx = compile!(policy)

              for name <- @syscalls, a0 <- [0, 1, 2, 4, 7], a1 <- [0, 9] do
                data = %{nr: @nrs[name], args: [a0, a1]}

                assert BPF.emulate(linx, data) == BPF.emulate(reference, data),
                       "#{inspect(profile, pretty: true)}\n#{name}(#{a0}, #{a1})"
              end

              {compared + 1, rng}

            # libseccomp refuses some mixes of conditional rules (EEXIST):
            # crun would refuse the profile too
            {:error, {:libseccomp, _}} ->
              {compared, rng}
          end
        end)

      assert compared > 200
    end
  end

  describe "32-bit arguments" do
    test "Docker's AF_VSOCK rule is bypassed by high bits; BPF.lint and Policy.lint say so" do
      {:ok, policy, warnings} = Seccomp.from_oci_with_warnings(profile("moby_default.json"))
      bpf = compile!(policy)

      assert BPF.emulate(bpf, %{nr: @socket, args: [40, 1, 0]}) == {:errno, 1}
      assert BPF.emulate(bpf, %{nr: @socket, args: [0x100000028, 1, 0]}) == :allow

      assert Enum.any?(warnings, &match?(%{kind: :int_arg_64bit, syscall: "socket", arg: 0}, &1))

      assert %{kind: :int_arg_high_bits, message: message} =
               Enum.find(
                 BPF.lint(bpf),
                 &match?(%{kind: :int_arg_high_bits, syscall: :socket}, &1)
               )

      assert message =~ "socket's argument 0"

      # Podman's NETLINK_AUDIT rule (protocol == 9) has the same hole, in
      # argument 2 and, with protocol 9, in argument 0
      {:ok, podman} = Seccomp.from_oci(profile("podman_common.json"))
      podman_bpf = compile!(podman)

      assert podman_bpf
             |> BPF.lint()
             |> Enum.filter(&(&1[:syscall] == :socket))
             |> Enum.map(& &1.arg) ==
               [0, 2]

      assert BPF.emulate(podman_bpf, %{nr: @socket, args: [16, 3, 9]}) == {:errno, 22}
      assert BPF.emulate(podman_bpf, %{nr: @socket, args: [16, 3, 0x100000009]}) == :allow

      # the real kernel agrees: an AF_VSOCK socket is created
      assert Linx.Process.run([@python, "-c", raw_syscall(@socket, [0x100000028, 1, 0])],
               seccomp: policy
             ) == {"ok\n", 0}
    end

    test "socket(0x100000028, SOCK_STREAM, 0) is denied by a policy comparing {:u32, 0}" do
      deny = Seccomp.policy(:allow, [{{:errno, :eperm}, :socket, [{{:u32, 0}, :==, 40}]}])

      allow_list =
        Seccomp.policy(
          {:errno, :eperm},
          [
            {:allow, Enum.map(Linx.Syscalls.all(), &elem(&1, 0)) -- [:socket]},
            {:allow, :socket, [{{:u32, 0}, :!=, 40}]}
          ],
          unknown_syscalls: :ignore
        )

      for policy <- [deny, allow_list] do
        assert Policy.lint(policy) == []
        assert Enum.filter(BPF.lint(compile!(policy)), &(&1.kind == :int_arg_high_bits)) == []

        for family <- [40, 0x100000028, 0xFFFFFFFF00000028] do
          assert Linx.Process.run([@python, "-c", raw_syscall(@socket, [family, 1, 0])],
                   seccomp: policy
                 ) == {"EPERM\n", 0}
        end

        # AF_UNIX, with or without high bits, is still a socket
        for family <- [1, 0x100000001] do
          assert Linx.Process.run([@python, "-c", raw_syscall(@socket, [family, 1, 0])],
                   seccomp: policy
                 ) == {"ok\n", 0}
        end
      end
    end

    test "every 32-bit comparison matches the low word exactly, whatever the high word" do
      lows = [0, 1, 2, 39, 40, 41, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
      highs = [0, 1, 0xFFFFFFFF]

      for op <- [:==, :!=, :<, :<=, :>, :>=], v <- [0, 1, 40, 0x80000000, 0xFFFFFFFF, -1] do
        policy = Seccomp.policy({:errno, :eperm}, [{:allow, :socket, [{{:u32, 0}, op, v}]}])
        bpf = compile!(policy)
        v32 = v &&& 0xFFFFFFFF

        for low <- lows, high <- highs do
          expected = if apply(Kernel, op, [low, v32]), do: :allow, else: {:errno, 1}
          arg = high <<< 32 ||| low

          assert BPF.emulate(bpf, %{nr: @socket, args: [arg]}) == expected,
                 "{{:u32, 0}, #{op}, #{v}} on 0x#{Integer.to_string(arg, 16)}"
        end
      end
    end

    test "masked 32-bit comparison and the validator's messages" do
      p =
        Seccomp.policy(:allow, [
          {{:errno, :eperm}, :clone, [{{:u32, 0}, :masked_eq, 0x10000000, 0x10000000}]}
        ])

      bpf = compile!(p)
      assert BPF.emulate(bpf, %{nr: 56, args: [0x10000000]}) == {:errno, 1}
      assert BPF.emulate(bpf, %{nr: 56, args: [0x1_00000000]}) == :allow

      assert_raise ArgumentError,
                   ~r/0x1FFFFFFFF|8589934591 is not an integer that fits in 32 bits/,
                   fn ->
                     Seccomp.policy(:allow, [
                       {{:errno, :eperm}, :socket, [{{:u32, 0}, :==, 0x1FFFFFFFF}]}
                     ])
                   end

      assert_raise ArgumentError, ~r/argument index 6 is not 0..5/, fn ->
        Seccomp.policy(:allow, [{{:errno, :eperm}, :socket, [{{:u32, 6}, :==, 1}]}])
      end

      assert [%{kind: :int_arg_64bit, arg: 1}] =
               Policy.lint(
                 Seccomp.policy(:allow, [
                   {{:errno, :eperm}, :ioctl, [{1, :masked_eq, -1, 0x5401}]}
                 ])
               )
    end
  end
end
