defmodule Linx.SeccompCompileTest do
  # Compiling policies with libseccomp (priv/linx_seccomp) and checking the
  # BPF it produces with the emulator: no workload runs here.
  use ExUnit.Case, async: true

  import Bitwise

  alias Linx.Seccomp
  alias Linx.Seccomp.{BPF, Compiler, Policy}

  doctest Linx.Seccomp
  doctest Linx.Seccomp.Policy
  doctest Linx.Seccomp.OCI
  doctest Linx.Seccomp.Compiler

  @docker elem(Code.eval_file("priv/seccomp/docker_default.exs"), 0)

  @x32 0x40000000
  @clone_newuser 0x10000000
  @clone_newnet 0x40000000
  @sigchld 17

  # x86_64 numbers
  @read 0
  @write 1
  @open 2
  @socket 41
  @clone 56
  @mount 165
  @personality 135
  @ptrace 101
  @unshare 272
  @setns 308
  @clone3 435
  @arch_prctl 158

  defp bpf!(policy) do
    assert {:ok, bpf} = Seccomp.compile(policy)
    bpf
  end

  defp run(bpf, nr, opts \\ []) do
    BPF.emulate(bpf, %{
      nr: nr,
      arch: Keyword.get(opts, :arch, :x86_64),
      args: Keyword.get(opts, :args, [0, 0, 0, 0, 0, 0])
    })
  end

  describe "compile/1" do
    test "a policy compiles to whole sock_filter instructions the validator accepts" do
      bpf = bpf!(Seccomp.policy({:errno, :eperm}, [{:allow, [:read, :write, :exit_group]}]))
      assert rem(byte_size(bpf), 8) == 0
      assert BPF.validate(bpf) == :ok
      assert run(bpf, @read) == :allow
      assert run(bpf, @write) == :allow
      assert run(bpf, @open) == {:errno, 1}
    end

    test "every action reaches the kernel value it names" do
      rules = [
        {:allow, :read},
        {{:errno, :eacces}, :open},
        {{:errno, 77}, :openat},
        {:kill_process, :mount},
        {:kill_thread, :umount2},
        {{:trap, 42}, :reboot},
        {:log, :getpid},
        {:notify, :mknod},
        {{:trace, 7}, :chroot}
      ]

      bpf = bpf!(Seccomp.policy({:errno, :enosys}, rules))
      {:ok, nrs} = Seccomp.resolve([:openat, :umount2, :reboot, :getpid, :mknod, :chroot])
      [openat, umount2, reboot, getpid, mknod, chroot] = nrs

      assert run(bpf, @read) == :allow
      assert run(bpf, @open) == {:errno, 13}
      assert run(bpf, openat) == {:errno, 77}
      assert run(bpf, @mount) == :kill_process
      assert run(bpf, umount2) == :kill_thread
      assert run(bpf, reboot) == {:trap, 42}
      assert run(bpf, getpid) == :log
      assert BPF.emulate_value(bpf, %{nr: mknod}) == 0x7FC00000
      assert BPF.emulate_value(bpf, %{nr: chroot}) == 0x7FF00007
      assert run(bpf, @write) == {:errno, 38}
    end

    test "an unknown syscall name is an error naming it, and every such name is reported" do
      assert Seccomp.compile(Seccomp.policy(:allow, [{:kill_process, [:mount, :frobnicate]}])) ==
               {:error, {:unknown_syscalls, ["frobnicate"]}}

      policy = Seccomp.policy(:allow, [{:kill_process, ["frob_a", :mount]}, {:log, :frob_b}])

      assert {:error, {:unknown_syscalls, ["frob_a", "frob_b"]} = reason} =
               Seccomp.compile(policy)

      assert Seccomp.format_error(reason) =~ "frob_a, frob_b"
    end

    test "a name that exists only on arches the filter lacks is reported too" do
      assert Seccomp.compile(Seccomp.policy(:allow, [{:kill_process, :chown32}])) ==
               {:error, {:unknown_syscalls, ["chown32"]}}

      # With i386 in the filter, chown32 (212 there) is a real syscall.
      bpf = bpf!(Seccomp.policy(:allow, [{:kill_process, :chown32}], arches: [:native, :x86]))
      assert run(bpf, 212, arch: :x86) == :kill_process
      assert run(bpf, 182, arch: :x86) == :allow
      assert run(bpf, 212, arch: :x86_64) == :allow
    end

    test "unknown_syscalls: :ignore skips the rules and returns them as warnings" do
      policy =
        Seccomp.policy(:allow, [{:kill_process, [:mount, :frobnicate, :chown32]}],
          unknown_syscalls: :ignore
        )

      assert {:ok, bpf, warnings} = Seccomp.compile_with_warnings(policy)
      assert warnings == [{:unknown_syscall, "frobnicate"}, {:not_on_arch, "chown32"}]
      assert run(bpf, @mount) == :kill_process
    end

    test "argument conditions: each comparison" do
      eperm = {:errno, :eperm}

      bpf =
        bpf!(
          Seccomp.policy(:allow, [
            {eperm, :read, [{0, :==, 5}]},
            {eperm, :write, [{0, :!=, 1}]},
            {eperm, :close, [{0, :<, 3}]},
            {eperm, :dup, [{0, :<=, 3}]},
            {eperm, :dup2, [{1, :>, 100}]},
            {eperm, :lseek, [{2, :>=, 2}]},
            {eperm, :socket, [{0, :masked_eq, 0xF0, 0x20}]},
            {eperm, :kill, [{0, :==, 1}, {1, :==, 9}]}
          ])
        )

      {:ok, [close, dup, dup2, lseek, kill]} =
        Seccomp.resolve([:close, :dup, :dup2, :lseek, :kill])

      e = {:errno, 1}
      assert run(bpf, @read, args: [5]) == e
      assert run(bpf, @read, args: [6]) == :allow
      assert run(bpf, @write, args: [1]) == :allow
      assert run(bpf, @write, args: [2]) == e
      assert run(bpf, close, args: [2]) == e
      assert run(bpf, close, args: [3]) == :allow
      assert run(bpf, dup, args: [3]) == e
      assert run(bpf, dup, args: [4]) == :allow
      assert run(bpf, dup2, args: [0, 101]) == e
      assert run(bpf, dup2, args: [0, 100]) == :allow
      assert run(bpf, lseek, args: [0, 0, 2]) == e
      assert run(bpf, lseek, args: [0, 0, 1]) == :allow
      assert run(bpf, @socket, args: [0x2F]) == e
      assert run(bpf, @socket, args: [0x3F]) == :allow
      # all conditions of a rule must hold
      assert run(bpf, kill, args: [1, 9]) == e
      assert run(bpf, kill, args: [1, 15]) == :allow
      assert run(bpf, kill, args: [2, 9]) == :allow
    end

    test "conditions compare all 64 bits; negative values are two's complement" do
      bpf =
        bpf!(
          Seccomp.policy(:allow, [
            {{:errno, :eperm}, :read, [{0, :==, 0x1_0000_0005}]},
            {{:errno, :eacces}, :write, [{0, :==, -1}]}
          ])
        )

      assert run(bpf, @read, args: [0x1_0000_0005]) == {:errno, 1}
      assert run(bpf, @read, args: [5]) == :allow
      assert run(bpf, @write, args: [0xFFFF_FFFF_FFFF_FFFF]) == {:errno, 13}
      assert run(bpf, @write, args: [0xFFFF_FFFF]) == :allow
    end

    test "several rules for one syscall are an OR" do
      bpf =
        bpf!(
          Seccomp.policy({:errno, :eperm}, [
            {:allow, :personality, [{0, :==, 0}]},
            {:allow, :personality, [{0, :==, 8}]}
          ])
        )

      assert run(bpf, @personality, args: [0]) == :allow
      assert run(bpf, @personality, args: [8]) == :allow
      assert run(bpf, @personality, args: [1]) == {:errno, 1}
    end

    test "raw syscall numbers" do
      bpf = bpf!(Seccomp.policy(:allow, [{{:errno, :eperm}, [@mount, 999]}]))
      assert run(bpf, @mount) == {:errno, 1}
      assert run(bpf, 999) == {:errno, 1}
      assert run(bpf, @read) == :allow
    end

    test "an empty rule set still answers with the default action" do
      assert run(bpf!(Seccomp.policy({:errno, :enosys}, [])), @read) == {:errno, 38}
      assert run(bpf!(Seccomp.policy(:allow, [])), @mount) == :allow
      assert run(bpf!(Seccomp.policy(:kill_process, [])), @read) == :kill_process
    end

    test "a rule with the default action is a no-op, not an error" do
      bpf = bpf!(Seccomp.policy(:allow, [{:allow, :read}, {{:errno, :eperm}, :mount}]))
      assert run(bpf, @read) == :allow
      assert run(bpf, @mount) == {:errno, 1}
    end

    test "contradicting rules in one filter are refused, naming the syscall" do
      assert {:error, {:invalid_policy, msg}} =
               Seccomp.compile(%Policy{
                 default: :allow,
                 rules: [{:kill_process, :mount}, {:log, :mount}]
               })

      assert msg =~ "syscall mount"

      assert {:error, {:invalid_policy, msg}} =
               Seccomp.compile(%Policy{
                 default: {:errno, :enosys},
                 rules: [{:allow, :clone}, {{:errno, :eperm}, :clone, [{0, :masked_eq, 1, 1}]}]
               })

      assert msg =~ "syscall clone"
    end

    test "the same syscall twice with the same action is fine" do
      bpf = bpf!(Seccomp.policy(:allow, [{:kill_process, :mount}, {:kill_process, [:mount]}]))
      assert run(bpf, @mount) == :kill_process
    end
  end

  describe "arch checks" do
    setup do
      %{bpf: bpf!(Seccomp.policy({:errno, :eperm}, [{:allow, [:read, :clone3]}]))}
    end

    test "a foreign arch gets the bad-arch action (kill_process by default)", %{bpf: bpf} do
      assert run(bpf, 3, arch: :x86) == :kill_process
      assert run(bpf, @read, arch: :aarch64) == :kill_process
    end

    test "x32 numbers are refused on x86_64 unless :x32 is listed", %{bpf: bpf} do
      assert run(bpf, @x32 ||| @read) == :kill_process
      assert run(bpf, @x32 ||| @clone3) == :kill_process

      bpf = bpf!(Seccomp.policy({:errno, :eperm}, [{:allow, :read}], arches: [:native, :x32]))
      assert run(bpf, @x32 ||| @read) == :allow
      assert run(bpf, @x32 ||| @write) == {:errno, 1}
      assert run(bpf, @read) == :allow
    end

    test "bad_arch is configurable; listed arches follow the rules" do
      bpf =
        bpf!(
          Seccomp.policy({:errno, :eperm}, [{:allow, :read}],
            arches: [:native, :x86],
            bad_arch: {:errno, :enosys}
          )
        )

      assert run(bpf, 3, arch: :x86) == :allow
      assert run(bpf, 4, arch: :x86) == {:errno, 1}
      assert run(bpf, @read, arch: :aarch64) == {:errno, 38}
      assert run(bpf, @x32 ||| @read) == {:errno, 38}
    end
  end

  describe "invalid policies" do
    test "are errors naming the field and the value" do
      cases = [
        {%Policy{default: :nope}, "default: unknown action :nope"},
        {%Policy{default: {:errno, :ebogus}}, "default: {:errno, :ebogus}"},
        {%Policy{bad_arch: {:trap, -1}}, "bad_arch"},
        {%Policy{arches: []}, "arches"},
        {%Policy{arches: [:vax]}, ":vax"},
        {%Policy{unknown_syscalls: :warn}, "unknown_syscalls"},
        {%Policy{rules: [{:allow, []}]}, "no syscall named"},
        {%Policy{rules: [{:allow, :read, [{6, :==, 1}]}]}, "argument index 6"},
        {%Policy{rules: [{:allow, :read, [{0, :=~, 1}]}]}, "{0, :=~, 1}"},
        {%Policy{rules: [{:allow, :read, [{0, :==, 1 <<< 64}]}]}, "fits in 64 bits"},
        {%Policy{rules: [{:allow, {:read}}]}, "not a syscall"},
        {%Policy{rules: [{:allow, 5000}]}, "5000"},
        {%Policy{rules: [:allow]}, "rules[0]"},
        {%Policy{rules: [{:allow, :read, List.duplicate({0, :==, 1}, 7)}]}, "at most 6"}
      ]

      for {policy, expected} <- cases do
        assert {:error, {:invalid_policy, msg}} = Seccomp.compile(policy)
        assert msg =~ expected, "#{inspect(policy)}: #{msg}"
      end
    end

    test "policy/3 raises ArgumentError" do
      assert_raise ArgumentError, ~r/rules\[1\]/, fn ->
        Seccomp.policy(:allow, [{:log, :read}, {:allow, :read, [{9, :==, 0}]}])
      end
    end

    test "compile of something else is an error" do
      assert {:error, {:invalid_policy, _}} = Seccomp.compile(:allow)
    end
  end

  describe "caching" do
    test "a policy is compiled once; equal policies share the entry" do
      policy =
        Seccomp.policy(:allow, [
          {{:errno, 99}, :mount, [{0, :==, System.unique_integer([:positive])}]}
        ])

      assert {:ok, bpf} = Seccomp.compile(policy)
      size = :ets.info(Compiler.Cache, :size)
      assert {:ok, ^bpf} = Seccomp.compile(policy)
      assert {:ok, ^bpf} = Seccomp.compile(%Policy{policy | rules: policy.rules})
      assert :ets.info(Compiler.Cache, :size) == size
    end
  end

  describe "to_bpf/1 and to_bpf_list/1" do
    test "accept policies, OCI maps and raw BPF" do
      allow = <<6, 0, 0, 0, 0, 0, 255, 127>>
      assert Seccomp.to_bpf({:bpf, allow}) == {:ok, allow}
      assert {:error, {:invalid_bpf, _}} = Seccomp.to_bpf({:bpf, ""})
      assert {:ok, bpf} = Seccomp.to_bpf(@docker)
      assert run(bpf, @mount) == {:errno, 1}

      assert {:ok, [a, ^allow]} =
               Seccomp.to_bpf_list([Seccomp.deny_namespace_creation(), {:bpf, allow}])

      assert run(a, @setns) == {:errno, 1}
      assert {:ok, [_]} = Seccomp.to_bpf_list(Seccomp.deny_namespace_creation())

      assert {:error, {:unknown_syscalls, ["nope"]}} =
               Seccomp.to_bpf_list([Seccomp.policy(:allow, [{:log, :nope}])])
    end
  end

  describe "deny_namespace_creation/0" do
    setup do
      %{bpf: bpf!(Seccomp.deny_namespace_creation())}
    end

    test "unshare and clone with CLONE_NEW* flags fail with EPERM", %{bpf: bpf} do
      for flag <- [
            0x20000,
            0x02000000,
            0x04000000,
            0x08000000,
            @clone_newuser,
            0x20000000,
            @clone_newnet
          ] do
        assert run(bpf, @unshare, args: [flag]) == {:errno, 1}
        assert run(bpf, @clone, args: [flag ||| @sigchld]) == {:errno, 1}
      end

      # CLONE_NEWTIME is an unshare flag; in clone(2) that bit is the exit signal.
      assert run(bpf, @unshare, args: [0x80]) == {:errno, 1}
    end

    test "other clone and unshare calls, and the rest, are allowed", %{bpf: bpf} do
      assert run(bpf, @clone, args: [@sigchld]) == :allow
      # a thread: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
      assert run(bpf, @clone, args: [0x3D0F00]) == :allow
      assert run(bpf, @unshare, args: [0x400]) == :allow
      assert run(bpf, @read) == :allow
      assert run(bpf, @mount) == :allow
    end

    test "setns fails with EPERM and clone3 with ENOSYS (so libc falls back to clone)", %{
      bpf: bpf
    } do
      assert run(bpf, @setns, args: [3, 0]) == {:errno, 1}
      assert run(bpf, @clone3) == {:errno, 38}
    end

    test "merges into a deny-by-default policy" do
      base = Seccomp.policy({:errno, :enosys}, [{:allow, [:read, :write, :clone]}])
      # clone is unconditionally allowed in base: one filter cannot also deny some of its flags
      assert {:error, {:invalid_policy, _}} =
               Seccomp.compile(Seccomp.merge(base, Seccomp.deny_namespace_creation()))

      base =
        Seccomp.policy({:errno, :enosys}, [
          {:allow, [:read, :write]},
          {:allow, :clone, [{0, :masked_eq, 0x7E020000, 0}]}
        ])

      bpf = bpf!(Seccomp.merge(base, Seccomp.deny_namespace_creation()))
      assert run(bpf, @read) == :allow
      assert run(bpf, @clone, args: [@sigchld]) == :allow
      assert run(bpf, @clone, args: [@clone_newuser]) == {:errno, 1}
      assert run(bpf, @unshare, args: [@clone_newuser]) == {:errno, 1}
      assert run(bpf, @clone3) == {:errno, 38}
      assert run(bpf, @mount) == {:errno, 38}
    end

    test "stacks with another filter: the most restrictive answer wins", %{bpf: deny} do
      permissive = bpf!(Seccomp.policy(:allow, [{{:errno, :eacces}, :mount}]))

      assert BPF.emulate([permissive, deny], %{nr: @unshare, args: [@clone_newnet]}) ==
               {:errno, 1}

      assert BPF.emulate([permissive, deny], %{nr: @mount}) == {:errno, 13}
      assert BPF.emulate([permissive, deny], %{nr: @read}) == :allow
    end
  end

  describe "from_oci/2 with Docker's default profile" do
    setup do
      {:ok, policy} = Seccomp.from_oci(@docker)
      {:ok, bpf, warnings} = Seccomp.compile_with_warnings(policy)
      %{policy: policy, bpf: bpf, warnings: warnings}
    end

    test "uses archMap: the native arch and its sub-arches", %{policy: p} do
      assert p.arches == [:native, :x86, :x32]
      assert p.default == {:errno, 1}
      assert p.unknown_syscalls == :ignore
    end

    test "compiles; names absent from x86_64/x86/x32 are reported, none unknown", %{warnings: w} do
      assert Enum.all?(w, &match?({:not_on_arch, _}, &1)), inspect(w)
      assert {:not_on_arch, "recv"} in w
    end

    test "allows ordinary calls and refuses privileged ones with EPERM", %{bpf: bpf} do
      assert run(bpf, @read) == :allow
      assert run(bpf, @arch_prctl) == :allow
      assert run(bpf, @mount) == {:errno, 1}
      assert run(bpf, @unshare, args: [@clone_newuser]) == {:errno, 1}
      assert run(bpf, @setns) == {:errno, 1}
      assert run(bpf, @ptrace) == :allow
    end

    test "argument rules: socket(AF_VSOCK), personality, clone flags", %{bpf: bpf} do
      assert run(bpf, @socket, args: [2]) == :allow
      assert run(bpf, @socket, args: [40]) == {:errno, 1}
      assert run(bpf, @personality, args: [0]) == :allow
      assert run(bpf, @personality, args: [0xFFFFFFFF]) == :allow
      assert run(bpf, @personality, args: [1]) == {:errno, 1}
      assert run(bpf, @clone, args: [@sigchld]) == :allow
      assert run(bpf, @clone, args: [@clone_newuser ||| @sigchld]) == {:errno, 1}
      assert run(bpf, @clone3) == {:errno, 38}
    end

    test "i386 and x32 calls are filtered by the same rules", %{bpf: bpf} do
      # i386: read is 3, mount 21
      assert run(bpf, 3, arch: :x86) == :allow
      assert run(bpf, 21, arch: :x86) == {:errno, 1}
      assert run(bpf, @x32 ||| @read) == :allow
      assert run(bpf, @x32 ||| @mount) == {:errno, 1}
      assert run(bpf, @read, arch: :aarch64) == :kill_process
    end

    test "caps: CAP_SYS_ADMIN enables mount and clone3 as in Docker" do
      {:ok, p} = Seccomp.from_oci(@docker, caps: [:sys_admin])
      bpf = bpf!(p)
      assert run(bpf, @mount) == :allow
      assert run(bpf, @clone3) == :allow
      assert run(bpf, @clone, args: [@clone_newuser]) == :allow

      {:ok, p} = Seccomp.from_oci(@docker, caps: ["CAP_SYS_ADMIN"])
      assert bpf!(p) == bpf
    end

    test "minKernel is evaluated against the kernel" do
      {:ok, p} = Seccomp.from_oci(@docker, kernel: {4, 4})
      assert run(bpf!(p), @ptrace) == {:errno, 1}
    end
  end

  describe "from_oci/2 details" do
    test "defaultErrnoRet, errnoRet, the kill and trap actions" do
      {:ok, p} =
        Seccomp.from_oci(%{
          "defaultAction" => "SCMP_ACT_ERRNO",
          "defaultErrnoRet" => 38,
          "syscalls" => [
            %{"names" => ["read"], "action" => "SCMP_ACT_ALLOW"},
            %{"names" => ["mount"], "action" => "SCMP_ACT_ERRNO"},
            %{"names" => ["umount2"], "action" => "SCMP_ACT_ERRNO", "errnoRet" => 13},
            %{"name" => "reboot", "action" => "SCMP_ACT_KILL"},
            %{"names" => ["kexec_load"], "action" => "SCMP_ACT_KILL_PROCESS"},
            %{"names" => ["chroot"], "action" => "SCMP_ACT_TRAP"},
            %{"names" => ["getpid"], "action" => "SCMP_ACT_LOG"}
          ]
        })

      assert p.default == {:errno, 38}
      bpf = bpf!(p)

      {:ok, [umount2, reboot, kexec, chroot, getpid]} =
        Seccomp.resolve([:umount2, :reboot, :kexec_load, :chroot, :getpid])

      assert run(bpf, @read) == :allow
      assert run(bpf, @mount) == {:errno, 1}
      assert run(bpf, umount2) == {:errno, 13}
      assert run(bpf, reboot) == :kill_thread
      assert run(bpf, kexec) == :kill_process
      assert run(bpf, chroot) == {:trap, 0}
      assert run(bpf, getpid) == :log
      assert run(bpf, @write) == {:errno, 38}
    end

    test "ops, valueTwo for MASKED_EQ, and a repeated index becomes an OR" do
      {:ok, p} =
        Seccomp.from_oci(%{
          "defaultAction" => "SCMP_ACT_ALLOW",
          "syscalls" => [
            %{
              "names" => ["socket"],
              "action" => "SCMP_ACT_ERRNO",
              "args" => [
                %{"index" => 0, "value" => 0xF0, "valueTwo" => 0x20, "op" => "SCMP_CMP_MASKED_EQ"}
              ]
            },
            %{
              "names" => ["read"],
              "action" => "SCMP_ACT_ERRNO",
              "args" => [
                %{"index" => 0, "value" => 5, "op" => "SCMP_CMP_EQ"},
                %{"index" => 0, "value" => 7, "op" => "SCMP_CMP_EQ"}
              ]
            },
            %{
              "names" => ["write"],
              "action" => "SCMP_ACT_ERRNO",
              "args" => [
                %{"index" => 0, "value" => 1, "op" => "SCMP_CMP_GT"},
                %{"index" => 2, "value" => 10, "op" => "SCMP_CMP_LE"}
              ]
            }
          ]
        })

      bpf = bpf!(p)
      assert run(bpf, @socket, args: [0x25]) == {:errno, 1}
      assert run(bpf, @socket, args: [0x35]) == :allow
      assert run(bpf, @read, args: [5]) == {:errno, 1}
      assert run(bpf, @read, args: [7]) == {:errno, 1}
      assert run(bpf, @read, args: [6]) == :allow
      assert run(bpf, @write, args: [2, 0, 10]) == {:errno, 1}
      assert run(bpf, @write, args: [2, 0, 11]) == :allow
      assert run(bpf, @write, args: [1, 0, 10]) == :allow
    end

    test "architectures: the native arch is always in; unknown names are reported" do
      {:ok, p} =
        Seccomp.from_oci(%{
          "defaultAction" => "SCMP_ACT_ALLOW",
          "architectures" => ["SCMP_ARCH_X86"],
          "syscalls" => [
            %{"names" => ["mount", "not_a_syscall_2099"], "action" => "SCMP_ACT_ERRNO"}
          ]
        })

      assert p.arches == [:native, :x86]

      assert {:ok, bpf, [{:unknown_syscall, "not_a_syscall_2099"}]} =
               Seccomp.compile_with_warnings(p)

      assert run(bpf, 21, arch: :x86) == {:errno, 1}

      {:ok, strict} =
        Seccomp.from_oci(
          %{
            "defaultAction" => "SCMP_ACT_ALLOW",
            "syscalls" => [%{"names" => ["not_a_syscall_2099"], "action" => "SCMP_ACT_LOG"}]
          },
          unknown_syscalls: :error
        )

      assert Seccomp.compile(strict) == {:error, {:unknown_syscalls, ["not_a_syscall_2099"]}}
    end

    test "malformed profiles are errors naming the place" do
      cases = [
        {%{"defaultAction" => "SCMP_ACT_MAYBE"}, "defaultAction"},
        {%{"defaultAction" => "SCMP_ACT_ALLOW", "architectures" => ["SCMP_ARCH_VAX"]},
         "SCMP_ARCH_VAX"},
        {%{"defaultAction" => "SCMP_ACT_ALLOW", "syscalls" => [%{"action" => "SCMP_ACT_LOG"}]},
         "syscalls[0]"},
        {%{
           "defaultAction" => "SCMP_ACT_ALLOW",
           "syscalls" => [
             %{
               "names" => ["read"],
               "action" => "SCMP_ACT_LOG",
               "args" => [%{"index" => 0, "op" => "SCMP_CMP_LIKE"}]
             }
           ]
         }, "syscalls[0].args[0].op"},
        {%{
           "defaultAction" => "SCMP_ACT_ALLOW",
           "syscalls" => [
             %{
               "names" => ["read"],
               "action" => "SCMP_ACT_LOG",
               "args" => [%{"index" => 6, "op" => "SCMP_CMP_EQ"}]
             }
           ]
         }, "index"},
        {%{"defaultAction" => "SCMP_ACT_ERRNO", "defaultErrnoRet" => 5000}, "errnoRet"}
      ]

      for {spec, expected} <- cases do
        assert {:error, {:invalid_oci, msg}} = Seccomp.from_oci(spec)
        assert msg =~ expected, msg
      end

      assert {:error, {:invalid_oci, _}} = Seccomp.from_oci([])
    end
  end

  describe "the compiler program" do
    # Talks to priv/linx_seccomp directly, as Linx.Seccomp.Compiler does.
    setup do
      port =
        Port.open({:spawn_executable, Compiler.program_path()}, [
          :binary,
          :nouse_stdio,
          {:packet, 4},
          :exit_status
        ])

      on_exit(fn -> if Port.info(port), do: Port.close(port) end)
      %{port: port}
    end

    defp ask(port, frame) do
      send(port, {self(), {:command, frame}})

      receive do
        {^port, {:data, data}} -> :erlang.binary_to_term(data)
        {^port, {:exit_status, s}} -> flunk("linx_seccomp exited with #{s}")
      after
        10_000 -> flunk("no reply")
      end
    end

    @ok_policy {:policy, 0x7FFF0000, 0x80000000, ["native"], [{0x50001, "mount", []}], :error}

    test "malformed frames get an error naming what was wrong, and the program goes on", %{
      port: port
    } do
      t = &:erlang.term_to_binary/1

      cases = [
        {"garbage", "not an external term"},
        {t.({:frobnicate, 1}), "unknown request 'frobnicate'"},
        {t.(:nope), "unknown request 'nope'"},
        {t.(42), "expected a tuple or an atom"},
        {t.({:compile}), "takes 2 elements"},
        {t.({:compile, :x}), "policy: expected a 6-tuple"},
        {t.({:compile, put_elem(@ok_policy, 0, :polcy)}), "expected the atom policy"},
        {t.({:compile, put_elem(@ok_policy, 1, 0x12340000)}),
         "policy.default: 0x12340000 is not a seccomp action"},
        {t.({:compile, put_elem(@ok_policy, 1, -1)}), "policy.default: expected an integer in"},
        {t.({:compile, put_elem(@ok_policy, 3, [])}), "policy.arches: expected 1..16"},
        {t.({:compile, put_elem(@ok_policy, 3, ["vax"])}), "does not know the arch 'vax'"},
        {t.({:compile, put_elem(@ok_policy, 3, [:native])}),
         "policy.arches[0]: expected a binary"},
        {t.({:compile, put_elem(@ok_policy, 4, [{0x50001, "mo\0unt", []}])}), "NUL"},
        {t.({:compile, put_elem(@ok_policy, 4, [{0x50001, 5000, []}])}),
         "policy.rules[0].syscall"},
        {t.({:compile, put_elem(@ok_policy, 4, [{0x50001, "mount", [{0, :like, 1, 0}]}])}),
         "policy.rules[0].conds[0].op: unknown comparison 'like'"},
        {t.({:compile, put_elem(@ok_policy, 4, [{0x50001, "mount", [{0, :eq, 1 <<< 64, 0}]}])}),
         "policy.rules[0].conds[0].a"},
        {t.({:compile, put_elem(@ok_policy, 4, {:x})}), "policy.rules: expected a list"},
        {t.({:compile, put_elem(@ok_policy, 5, :maybe)}), "policy.unknown"},
        {t.({:resolve, [:read]}), "resolve.names[0]: expected a binary"},
        {t.({:compile, @ok_policy}) <> "xx", "trailing bytes"},
        # lengths inside the term that run past the frame: walked before ei reads them
        {<<131, 109, 0, 0, 1, 0, "ab">>, "truncated"},
        {<<131, 108, 255, 255, 255, 255, 106>>, "truncated"},
        {binary_part(t.({:compile, @ok_policy}), 0, 40), "truncated"},
        {t.({:resolve, [self()]}), "unsupported term type"},
        {<<131>> <> :binary.copy(<<104, 1>>, 100) <> <<106>>, "nested deeper"}
      ]

      for {frame, expected} <- cases do
        assert {:error, msg} = ask(port, frame)
        assert is_binary(msg) and msg =~ expected, "#{inspect(frame)}: #{inspect(msg)}"
      end

      assert {:ok, bpf, [], []} = ask(port, t.({:compile, @ok_policy}))
      assert run(bpf, @mount) == {:errno, 1}
    end

    test "a frame over the 16 MiB cap is skipped and answered", %{port: port} do
      assert {:error, msg} = ask(port, :binary.copy(<<0>>, 16 * 1024 * 1024 + 1))
      assert msg =~ "larger than"
      assert {:ok, [0]} = ask(port, :erlang.term_to_binary({:resolve, ["read"]}))
    end

    test "version, resolve, pfc", %{port: port} do
      assert {:ok, {2, minor, _}, api, "x86_64"} = ask(port, :erlang.term_to_binary(:version))
      assert minor >= 5 and api >= 3

      assert {:ok, [0, 435, :unknown]} =
               ask(port, :erlang.term_to_binary({:resolve, ["read", "clone3", "nope"]}))

      assert {:ok, text, [], []} = ask(port, :erlang.term_to_binary({:pfc, @ok_policy}))
      assert text =~ "ERRNO(1)"
    end

    test "exits 0 at end of input" do
      {_, status} =
        System.cmd("sh", ["-c", ~s("$0" 3</dev/null 4>/dev/null), Compiler.program_path()])

      assert status == 0
    end
  end

  describe "mix linx.seccomp" do
    import ExUnit.CaptureIO

    @tag :tmp_dir
    test "compile writes the BPF, disasm and lint read it", %{tmp_dir: dir} do
      out = Path.join(dir, "docker.bpf")

      capture_io(:stderr, fn ->
        assert capture_io(fn ->
                 Mix.Tasks.Linx.Seccomp.run([
                   "compile",
                   "priv/seccomp/docker_default.exs",
                   "-o",
                   out
                 ])
               end) =~ "instructions"
      end)

      {:ok, expected} = Seccomp.compile(@docker)
      assert File.read!(out) == expected

      listing = capture_io(fn -> Mix.Tasks.Linx.Seccomp.run(["disasm", out]) end)
      assert listing =~ "A = arch"

      policy_file = Path.join(dir, "p.exs")
      File.write!(policy_file, "Linx.Seccomp.policy(:allow, [{{:errno, :eperm}, :mount}])")
      hex = capture_io(fn -> Mix.Tasks.Linx.Seccomp.run(["compile", policy_file]) end)
      {:ok, bpf} = Seccomp.compile(Seccomp.policy(:allow, [{{:errno, :eperm}, :mount}]))
      assert String.trim(hex) == Base.encode16(bpf, case: :lower)

      bad = Path.join(dir, "bad.exs")

      File.write!(
        bad,
        "Linx.Seccomp.policy(:allow, [{:log, :no_such_call}], unknown_syscalls: :error)"
      )

      assert_raise Mix.Error, ~r/no_such_call/, fn ->
        Mix.Tasks.Linx.Seccomp.run(["compile", bad])
      end
    end
  end
end
