defmodule Linx.Seccomp do
  @moduledoc """
  Seccomp policies as data, compiled to BPF by libseccomp.

  A workload started by `Linx.Process` can be confined by seccomp filters:
  the kernel runs each filter on every syscall and the filter answers
  allow, fail with an errno, kill, trap, log, notify a supervisor or a
  tracer. Writing that BPF by hand is error-prone (arch checks, x32, 64-bit
  argument comparisons), so Linx describes a filter as data and lets
  libseccomp compile it, in a small long-lived helper program
  (`priv/linx_seccomp`), outside the workload. The result is plain bytes:
  cached, inspected (`mix linx.seccomp disasm`), and installed by the agent
  at the checkpoint (`{:seccomp_install, bpf}`).

      policy =
        Linx.Seccomp.policy({:errno, :eperm}, [
          {:allow, [:read, :write, :close, :exit_group]},
          {:allow, :socket, [{{:u32, 0}, :!=, 40}]},
          {{:errno, :enosys}, :clone3}
        ])

      {:ok, bpf} = Linx.Seccomp.compile(policy)
      Linx.Process.run(["/bin/true"], seccomp: [policy, Linx.Seccomp.deny_namespace_creation()])

  ## Policies

  A `Linx.Seccomp.Policy` has:

    * `default` - the action for a syscall no rule matches;
    * `rules` - `{action, syscall_or_list}` or
      `{action, syscall_or_list, conditions}`; a syscall is an atom or a
      string (resolved by libseccomp for the filter's arches) or a native
      number 0..4095;
    * `arches` - `[:native]` by default. The compiled filter checks the
      arch of every call and answers `bad_arch` for any arch not listed;
      on x86_64 it also refuses x32 calls (numbers with bit 0x40000000)
      unless `:x32` is listed — libseccomp emits that check itself
      (verified in the tests with the BPF emulator);
    * `bad_arch` - `:kill_process` by default;
    * `unknown_syscalls` - `:error` (default): a name libseccomp cannot
      resolve, or that none of the filter's arches has, fails the compile
      with `{:unknown_syscalls, names}` naming every one; `:ignore`: such
      rules are skipped and reported (see `compile_with_warnings/1`).

  Actions: `:allow`, `{:errno, atom | 0..4095}`, `:kill_process`,
  `:kill_thread`, `{:trap, data}`, `:log`, `:notify`, `{:trace, data}`.

  Conditions test argument 0..5 (as a 64-bit value; a negative number
  means its two's complement): `{arg, op, value}` with op one of
  `:== :!= :< :<= :> :>=`, or `{arg, :masked_eq, mask, value}` meaning
  `(arg &&& mask) == value`. All conditions of a rule must hold; write
  several rules for an OR.

  Many arguments are 32-bit for the kernel (`int family`, `unsigned int
  fd`, …, see `Linx.Seccomp.IntArgs`) although the filter sees 64 bits: a
  64-bit comparison of those can be bypassed by setting the high bits
  (`socket(0x100000028, …)` is an `AF_VSOCK` socket that passes
  `{0, :!=, 40}`). Write `{{:u32, arg}, op, value}` (or
  `{{:u32, arg}, :masked_eq, mask, value}`) to compare only the low 32
  bits, unsigned: libseccomp has only 64-bit comparisons, so Linx expands
  it into masked comparisons (`==` is one; `!=`, `<`, `>`… are one rule
  per bit, at most 32). `Linx.Seccomp.Policy.lint/1` flags the 64-bit form.

  ## One filter, several filters

  Within one filter a syscall has at most one unconditional action (a
  contradicting rule is an error, never silently dropped, which is what
  libseccomp would do); rules whose action is the default are dropped as
  no-ops. Policies compose two ways:

    * `merge/2` concatenates rules into one filter (the first policy's
      default wins) — for fragments that add decisions about syscalls the
      base leaves to its default;
    * a list `seccomp: [a, b]` installs several filters; the kernel runs
      all of them and the most restrictive answer wins (KILL beats TRAP
      beats ERRNO beats … beats ALLOW). This layers decisions safely: a
      later filter can only take permissions away.

  ## The clone3 trap

  A default of `{:errno, :eperm}` breaks programs whose libc tries
  `clone3` first (glibc 2.34+): EPERM is final, whereas ENOSYS makes glibc
  fall back to `clone`, whose flags a filter can see. `clone3`'s flags
  live in memory, out of a filter's reach, so runtimes answer it ENOSYS:
  `deny_namespace_creation/0` does, Docker's default profile does.

  ## OCI and Docker profiles

  `from_oci/2` reads the OCI runtime-spec `linux.seccomp` object and
  Docker's profile format (`includes`/`excludes`) — see
  `Linx.Seccomp.OCI`.

  The wire term between Elixir and `priv/linx_seccomp` is documented in
  `docs/seccomp.md`.
  """

  require Logger

  alias Linx.Seccomp.{Compiler, OCI, Policy}

  @typedoc "A policy, an OCI/Docker profile map, or ready BPF bytes."
  @type filter :: Policy.t() | {:bpf, binary} | map

  @typedoc "Why a policy did not compile."
  @type reason ::
          {:invalid_policy, String.t()}
          | {:invalid_oci, String.t()}
          | {:unknown_syscalls, [String.t()]}
          | {:libseccomp, String.t()}
          | {:invalid_bpf, String.t()}
          | {:compiler_unavailable, term}
          | {:compiler_died, integer}

  @typedoc "A rule skipped under `unknown_syscalls: :ignore`."
  @type warning :: {:unknown_syscall | :not_on_arch, String.t()}

  # CLONE_NEW* flags (linux/sched.h). CLONE_NEWTIME (0x80) only for unshare:
  # in clone(2) that bit is part of the exit signal.
  @clone_new [
    newns: 0x00020000,
    newcgroup: 0x02000000,
    newuts: 0x04000000,
    newipc: 0x08000000,
    newuser: 0x10000000,
    newpid: 0x20000000,
    newnet: 0x40000000
  ]
  @clone_newtime 0x00000080

  @doc """
  Builds and validates a policy; raises `ArgumentError` naming what is
  wrong. Options: `arches:`, `bad_arch:`, `unknown_syscalls:` (see the
  moduledoc).

      iex> p = Linx.Seccomp.policy(:allow, [{{:errno, :eperm}, :mount}])
      iex> {p.default, p.arches}
      {:allow, [:native]}

      iex> Linx.Seccomp.policy(:allow, [{:nope, :read}])
      ** (ArgumentError) invalid seccomp policy: rules[0] {:nope, :read}: unknown action :nope
  """
  @spec policy(Policy.action(), [Policy.rule()], keyword) :: Policy.t()
  def policy(default, rules, opts \\ []) do
    p = %Policy{
      default: default,
      rules: rules,
      arches: Keyword.get(opts, :arches, [:native]),
      bad_arch: Keyword.get(opts, :bad_arch, :kill_process),
      unknown_syscalls: Keyword.get(opts, :unknown_syscalls, :error)
    }

    case Policy.normalise(p) do
      {:ok, _} -> p
      {:error, {:invalid_policy, msg}} -> raise ArgumentError, "invalid seccomp policy: " <> msg
    end
  end

  @doc """
  Compiles a policy (or an OCI/Docker profile map, read with `from_oci/2`'s
  defaults) to BPF: a binary of `struct sock_filter`, 8 bytes each, ready
  for `{:seccomp_install, bpf}`. Each distinct policy is compiled once and
  cached.

      iex> {:ok, bpf} = Linx.Seccomp.compile(Linx.Seccomp.policy(:allow, [{{:errno, :eperm}, :mount}]))
      iex> rem(byte_size(bpf), 8)
      0
      iex> Linx.Seccomp.compile(Linx.Seccomp.policy(:allow, [{:kill_process, :no_such_call}]))
      {:error, {:unknown_syscalls, ["no_such_call"]}}
  """
  @spec compile(Policy.t() | map) :: {:ok, binary} | {:error, reason}
  def compile(policy) do
    with {:ok, bpf, _warnings} <- compile_with_warnings(policy), do: {:ok, bpf}
  end

  @doc """
  Like `compile/1`, and also returns the rules skipped under
  `unknown_syscalls: :ignore`: `{:unknown_syscall, name}` when libseccomp
  does not know the name, `{:not_on_arch, name}` when none of the filter's
  arches has it (normal for an arch-neutral profile: Docker's lists
  `chown32` for 32-bit arches).

      iex> p = Linx.Seccomp.policy(:allow, [{:kill_process, [:mount, :no_such_call]}], unknown_syscalls: :ignore)
      iex> {:ok, _bpf, warnings} = Linx.Seccomp.compile_with_warnings(p)
      iex> warnings
      [{:unknown_syscall, "no_such_call"}]
  """
  @spec compile_with_warnings(Policy.t() | map) :: {:ok, binary, [warning]} | {:error, reason}
  def compile_with_warnings(%Policy{} = policy) do
    with {:ok, wire} <- Policy.normalise(policy), do: Compiler.compile(wire)
  end

  def compile_with_warnings(oci) when is_map(oci) and not is_struct(oci) do
    with {:ok, policy} <- from_oci(oci), do: compile_with_warnings(policy)
  end

  def compile_with_warnings(other),
    do: {:error, {:invalid_policy, "expected a %Linx.Seccomp.Policy{}, got #{inspect(other)}"}}

  @doc """
  libseccomp's pseudo-code rendering of a policy's filter (PFC), to read
  what it compiles to.

      iex> {:ok, text} = Linx.Seccomp.pfc(Linx.Seccomp.policy(:allow, [{{:errno, :eperm}, :mount}]))
      iex> text =~ ~s(filter for syscall "mount")
      true
  """
  @spec pfc(Policy.t() | map) :: {:ok, String.t()} | {:error, reason}
  def pfc(%Policy{} = policy) do
    with {:ok, wire} <- Policy.normalise(policy), do: Compiler.pfc(wire)
  end

  def pfc(oci) when is_map(oci) do
    with {:ok, policy} <- from_oci(oci), do: pfc(policy)
  end

  @doc """
  BPF bytes for one `seccomp:` filter: a policy (compiled, cached), an
  OCI/Docker profile map, or `{:bpf, binary}` (checked for size only:
  1..4096 instructions of 8 bytes).

      iex> Linx.Seccomp.to_bpf({:bpf, <<6, 0, 0, 0, 0, 0, 255, 127>>})
      {:ok, <<6, 0, 0, 0, 0, 0, 255, 127>>}
      iex> Linx.Seccomp.to_bpf({:bpf, <<1, 2, 3>>})
      {:error, {:invalid_bpf, "3 bytes: expected 1..4096 instructions of 8 bytes"}}
  """
  @spec to_bpf(filter) :: {:ok, binary} | {:error, reason}
  def to_bpf({:bpf, bin}) when is_binary(bin) do
    n = div(byte_size(bin), 8)

    if rem(byte_size(bin), 8) == 0 and n in 1..4096,
      do: {:ok, bin},
      else:
        {:error,
         {:invalid_bpf, "#{byte_size(bin)} bytes: expected 1..4096 instructions of 8 bytes"}}
  end

  def to_bpf(policy), do: compile(policy)

  @doc """
  BPF for a `seccomp:` option value: one filter or a list, in install
  order (the agent installs them in this order; the kernel runs them all
  and the most restrictive answer wins). Stops at the first error.

      iex> {:ok, [a, b]} = Linx.Seccomp.to_bpf_list([Linx.Seccomp.deny_namespace_creation(), {:bpf, <<6, 0, 0, 0, 0, 0, 255, 127>>}])
      iex> {rem(byte_size(a), 8), b}
      {0, <<6, 0, 0, 0, 0, 0, 255, 127>>}
  """
  @spec to_bpf_list(filter | [filter]) :: {:ok, [binary]} | {:error, reason}
  def to_bpf_list(filters) when is_list(filters), do: Linx.Result.map_ok(filters, &to_bpf/1)

  def to_bpf_list(one), do: to_bpf_list([one])

  @doc """
  Reads an OCI runtime-spec `linux.seccomp` object or a Docker profile
  (decoded JSON, string keys) into a policy. Options: `caps:`, `kernel:`,
  `arch:`, `unknown_syscalls:` (default `:ignore`) — see `Linx.Seccomp.OCI`.

      iex> {:ok, p} = Linx.Seccomp.from_oci(%{"defaultAction" => "SCMP_ACT_ALLOW",
      ...>   "syscalls" => [%{"names" => ["mount"], "action" => "SCMP_ACT_ERRNO", "errnoRet" => 1}]})
      iex> p.rules
      [{{:errno, 1}, ["mount"], []}]
  """
  @spec from_oci(map, keyword) :: {:ok, Policy.t()} | {:error, reason}
  defdelegate from_oci(spec, opts \\ []), to: OCI

  @doc """
  Like `from_oci/2`, also returning warnings: `{:ok, policy, warnings}`.
  Entries that libseccomp (as crun and runc use it) would not apply
  because an unconditional rule of another entry decides the syscall
  (the first unconditional rule wins) come back as `%{kind: :overridden}`,
  64-bit comparisons of 32-bit arguments as `%{kind: :int_arg_64bit}` —
  see `Linx.Seccomp.OCI.from_oci_with_warnings/2`.

      iex> {:ok, _p, [w]} = Linx.Seccomp.from_oci_with_warnings(%{"defaultAction" => "SCMP_ACT_ERRNO",
      ...>   "syscalls" => [%{"names" => ["socket"], "action" => "SCMP_ACT_ALLOW",
      ...>     "args" => [%{"index" => 0, "value" => 40, "op" => "SCMP_CMP_NE"}]}]})
      iex> {w.kind, w.syscall}
      {:int_arg_64bit, "socket"}
  """
  @spec from_oci_with_warnings(map, keyword) ::
          {:ok, Policy.t(), [OCI.warning()]} | {:error, reason}
  defdelegate from_oci_with_warnings(spec, opts \\ []), to: OCI

  @doc """
  A policy that lets everything through except creating or joining
  namespaces: `unshare` and `clone` with any CLONE_NEW* flag and every
  `setns` fail with EPERM, `clone3` fails with ENOSYS (its flags are in
  memory, out of a filter's reach; libc then falls back to `clone`). Use
  it as a filter of its own in a stack, or `merge/2` it into a policy
  whose default is not `:allow`.

      iex> p = Linx.Seccomp.deny_namespace_creation()
      iex> p.default
      :allow
      iex> {{:errno, :enosys}, :clone3, []} in p.rules
      true
  """
  @spec deny_namespace_creation() :: Policy.t()
  def deny_namespace_creation do
    eperm = {:errno, :eperm}

    unshare =
      for {_, flag} <- @clone_new ++ [newtime: @clone_newtime],
          do: {eperm, :unshare, [{0, :masked_eq, flag, flag}]}

    clone = for {_, flag} <- @clone_new, do: {eperm, :clone, [{0, :masked_eq, flag, flag}]}

    %Policy{
      default: :allow,
      rules: unshare ++ clone ++ [{eperm, :setns, []}, {{:errno, :enosys}, :clone3, []}]
    }
  end

  @doc """
  One filter from two policies: `base`'s default, bad-arch action and
  unknown-name mode; the union of the arches; `base`'s rules then
  `extra`'s. Contradicting unconditional rules are reported when compiled.

      iex> base = Linx.Seccomp.policy({:errno, :eperm}, [{:allow, [:read, :write]}])
      iex> m = Linx.Seccomp.merge(base, Linx.Seccomp.policy({:errno, :eperm}, [{{:errno, :enosys}, :clone3}]))
      iex> m.rules
      [{:allow, [:read, :write]}, {{:errno, :enosys}, :clone3}]
  """
  @spec merge(Policy.t(), Policy.t()) :: Policy.t()
  def merge(%Policy{} = base, %Policy{} = extra) do
    %Policy{
      base
      | rules: base.rules ++ extra.rules,
        arches: Enum.uniq(base.arches ++ extra.arches)
    }
  end

  @doc """
  Syscall numbers for the native arch, as libseccomp resolves them.

      iex> Linx.Seccomp.resolve([:read, "write", :no_such_call])
      {:ok, [0, 1, :unknown]}
  """
  @spec resolve([atom | String.t()]) :: {:ok, [non_neg_integer | :unknown]} | {:error, reason}
  def resolve(names) when is_list(names), do: Compiler.resolve(Enum.map(names, &to_string/1))

  @doc """
  A sentence for a compile error.

      iex> Linx.Seccomp.format_error({:unknown_syscalls, ["frobnicate"]})
      "libseccomp cannot resolve these syscall names for the filter's arches: frobnicate"
  """
  @spec format_error(reason) :: String.t()
  def format_error({:unknown_syscalls, names}),
    do:
      "libseccomp cannot resolve these syscall names for the filter's arches: " <>
        Enum.join(names, ", ")

  def format_error({:invalid_policy, msg}), do: "invalid seccomp policy: " <> msg
  def format_error({:invalid_oci, msg}), do: "invalid OCI seccomp profile: " <> msg
  def format_error({:invalid_bpf, msg}), do: "invalid BPF: " <> msg
  def format_error({:libseccomp, msg}), do: "libseccomp: " <> msg

  def format_error({:compiler_unavailable, {:not_built, path}}),
    do: "the seccomp compiler #{path} is not built (make priv/linx_seccomp)"

  def format_error({:compiler_unavailable, why}),
    do: "the seccomp compiler is unavailable: #{inspect(why)}"

  def format_error({:compiler_died, status}),
    do: "the seccomp compiler died (exit status #{status})"

  def format_error(other), do: inspect(other)
end
