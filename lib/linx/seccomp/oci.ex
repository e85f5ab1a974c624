defmodule Linx.Seccomp.OCI do
  @moduledoc """
  Reads the OCI runtime-spec `linux.seccomp` object, and Docker's profile
  format built on it, into a `Linx.Seccomp.Policy`, so Docker's and
  Podman's default profiles run unchanged. The input is the decoded JSON:
  maps with string keys (JSON `null` as `nil`). Use it through
  `Linx.Seccomp.from_oci/2`.

  ## What is read

    * `defaultAction`, `defaultErrnoRet` (default EPERM);
    * `architectures` (`SCMP_ARCH_*`): the filter's arches, always with the
      native one (as runc and crun, whose libseccomp context starts with
      it); without it, Docker's `archMap`: the entry whose `architecture`
      is the native arch, plus its `subArchitectures`; with neither, the
      native arch only;
    * `syscalls[]`: `names` (or Docker's older single `name`), `action`,
      `errnoRet` (default EPERM, as runc), `args[]` of `index`, `value`,
      `valueTwo`, `op` (`SCMP_CMP_*`; for `SCMP_CMP_MASKED_EQ`, `value` is
      the mask and `valueTwo` the expected value). Conditions of one entry
      must all hold (AND) — except, as in runc, when two of them test the
      same argument: then each becomes a rule of its own (OR);
    * Docker's `includes` / `excludes` (`caps`, `arches`, `minKernel`),
      evaluated as Docker does when it builds a container's profile: an
      entry applies if none of `excludes` matches and all of `includes`
      does. `caps` is tested against the `caps:` option (the
      capabilities the workload will hold; default none, which is what a
      Linx workload has unless given more), `arches` against Docker's name
      for the native arch (`amd64` on x86_64), `minKernel` against the
      running kernel.

  Ignored, because they concern how a runtime installs a filter rather than
  what it decides: `flags`, `listenerPath`, `listenerMetadata`, `comment`.

  ## Syscall names

  OCI profiles are written for many kernels and libseccomp versions, so
  `unknown_syscalls` defaults to `:ignore` here: a rule naming a syscall
  libseccomp does not know, or one none of the filter's arches has, is
  skipped — but never silently: `Linx.Seccomp.compile_with_warnings/1`
  returns every skipped name, and names libseccomp does not know at all
  are logged once when the policy is first compiled. Pass
  `unknown_syscalls: :error` to refuse such a profile instead.
  """

  alias Linx.Seccomp.Policy

  @actions %{
    "SCMP_ACT_KILL" => :kill_thread,
    "SCMP_ACT_KILL_THREAD" => :kill_thread,
    "SCMP_ACT_KILL_PROCESS" => :kill_process,
    "SCMP_ACT_TRAP" => :trap,
    "SCMP_ACT_ERRNO" => :errno,
    "SCMP_ACT_TRACE" => :trace,
    "SCMP_ACT_ALLOW" => :allow,
    "SCMP_ACT_LOG" => :log,
    "SCMP_ACT_NOTIFY" => :notify
  }

  @ops %{
    "SCMP_CMP_NE" => :!=,
    "SCMP_CMP_LT" => :<,
    "SCMP_CMP_LE" => :<=,
    "SCMP_CMP_EQ" => :==,
    "SCMP_CMP_GE" => :>=,
    "SCMP_CMP_GT" => :>,
    "SCMP_CMP_MASKED_EQ" => :masked_eq
  }

  # libseccomp arch name -> Go's GOARCH, which Docker's includes/excludes use.
  @goarch %{
    "x86_64" => "amd64",
    "x86" => "386",
    "aarch64" => "arm64",
    "arm" => "arm",
    "ppc64le" => "ppc64le",
    "ppc64" => "ppc64",
    "s390x" => "s390x",
    "riscv64" => "riscv64",
    "mips64" => "mips64",
    "mipsel64" => "mips64le",
    "mips" => "mips",
    "mipsel" => "mipsle"
  }

  @eperm Linx.Errno.number!(:eperm)

  @doc """
  Converts a decoded OCI / Docker seccomp object. Options: `caps:`
  (capabilities as atoms `:sys_admin` or strings `"CAP_SYS_ADMIN"`),
  `kernel:` (`{major, minor}`, default the running kernel), `arch:`
  (libseccomp's name of the native arch, default this machine's),
  `unknown_syscalls:` (`:ignore` by default, or `:error`).

  Entries that give one syscall several decisions are resolved as crun
  and runc (through libseccomp) resolve them: the first unconditional rule
  wins; `from_oci_with_warnings/2` also returns the entries this drops.

      iex> {:ok, p} = Linx.Seccomp.OCI.from_oci(%{
      ...>   "defaultAction" => "SCMP_ACT_ERRNO",
      ...>   "syscalls" => [%{"names" => ["read"], "action" => "SCMP_ACT_ALLOW"}]
      ...> })
      iex> {p.default, p.rules, p.arches}
      {{:errno, 1}, [{:allow, ["read"], []}], [:native]}
  """
  @spec from_oci(map, keyword) :: {:ok, Policy.t()} | {:error, {:invalid_oci, String.t()}}
  def from_oci(spec, opts \\ []) do
    with {:ok, policy, _warnings} <- from_oci_with_warnings(spec, opts), do: {:ok, policy}
  end

  @typedoc """
  A finding of `from_oci_with_warnings/2`: a map with `:kind`, `:message`
  and details. `:overridden` — an entry libseccomp would not apply for
  `syscall` because an unconditional rule of another entry decides it
  (`entry` and `by_entry` are indexes into `syscalls[]`, `action` and
  `by_action` their actions); `:int_arg_64bit` — see
  `Linx.Seccomp.Policy.lint/1` (with `entry`, the index into
  `syscalls[]`).
  """
  @type warning :: %{
          required(:kind) => atom,
          required(:message) => String.t(),
          optional(atom) => term
        }

  @doc """
  Like `from_oci/2`, and also returns what a reader of the profile should
  know: `{:ok, policy, warnings}` (see `t:warning/0`).

  A profile may give one syscall several decisions: Podman's default
  profile allows `setns` in its big allow list and, in a later entry that
  applies only without `CAP_SYS_ADMIN`, fails it with `EPERM`. crun and
  runc hand every entry to libseccomp in order, and libseccomp keeps the
  **first unconditional rule** for a syscall and lets an unconditional rule
  override every conditional one (earlier or later); entries whose action
  is the default action are skipped before that (as crun and runc do).
  The policy returned here holds exactly the rules libseccomp would apply,
  so it decides what crun decides for any entry order; every entry (per
  syscall) dropped with an action other than the winner's is reported as
  `:overridden`.

      iex> {:ok, p, [w]} = Linx.Seccomp.OCI.from_oci_with_warnings(%{
      ...>   "defaultAction" => "SCMP_ACT_ERRNO", "defaultErrnoRet" => 38,
      ...>   "syscalls" => [
      ...>     %{"names" => ["read", "setns"], "action" => "SCMP_ACT_ALLOW"},
      ...>     %{"names" => ["setns"], "action" => "SCMP_ACT_ERRNO", "errnoRet" => 1}
      ...>   ]})
      iex> p.rules
      [{:allow, ["read", "setns"], []}]
      iex> {w.kind, w.syscall, w.entry, w.by_entry}
      {:overridden, "setns", 1, 0}
  """
  @spec from_oci_with_warnings(map, keyword) ::
          {:ok, Policy.t(), [warning]} | {:error, {:invalid_oci, String.t()}}
  def from_oci_with_warnings(spec, opts \\ [])

  def from_oci_with_warnings(spec, opts) when is_map(spec) do
    ctx = %{
      caps: opts |> Keyword.get(:caps, []) |> Enum.map(&cap_name/1),
      kernel: Keyword.get_lazy(opts, :kernel, &running_kernel/0),
      arch: Keyword.get_lazy(opts, :arch, &native_arch/0)
    }

    with {:ok, default} <-
           action(spec["defaultAction"], spec["defaultErrnoRet"], "defaultAction"),
         {:ok, arches} <- arches(spec, ctx),
         {:ok, tagged} <- syscalls(spec["syscalls"] || [], ctx) do
      {indexed, overridden} = resolve_overrides(tagged, default)
      rules = Enum.map(indexed, &elem(&1, 1))

      policy = %Policy{
        default: default,
        rules: rules,
        arches: arches,
        bad_arch: :kill_process,
        unknown_syscalls: Keyword.get(opts, :unknown_syscalls, :ignore)
      }

      {:ok, policy, overridden ++ lint_entries(policy, Enum.map(indexed, &elem(&1, 0)))}
    end
  end

  def from_oci_with_warnings(other, _),
    do: invalid("expected the decoded linux.seccomp object (a map), got #{inspect(other)}")

  defp invalid(msg), do: {:error, {:invalid_oci, msg}}

  defp cap_name(cap) when is_atom(cap), do: cap |> Atom.to_string() |> cap_name()

  defp cap_name(cap) when is_binary(cap) do
    up = String.upcase(cap)
    if String.starts_with?(up, "CAP_"), do: up, else: "CAP_" <> up
  end

  defp running_kernel do
    {major, minor, _} = :os.version()
    {major, minor}
  end

  @doc """
  libseccomp's name for this machine's arch, from the BEAM's build triple.

      iex> Linx.Seccomp.OCI.native_arch() in ["x86_64", "aarch64", "riscv64", "ppc64le", "s390x"]
      true
  """
  @spec native_arch() :: String.t()
  def native_arch do
    case :erlang.system_info(:system_architecture) |> to_string() |> String.split("-") do
      ["i" <> _ | _] -> "x86"
      ["powerpc64le" | _] -> "ppc64le"
      [cpu | _] -> cpu
    end
  end

  defp action(name, errno_ret, where) do
    case Map.fetch(@actions, name) do
      {:ok, :errno} -> errno_action(:errno, errno_ret, where)
      {:ok, :trace} -> errno_action(:trace, errno_ret, where)
      {:ok, :trap} -> {:ok, {:trap, 0}}
      {:ok, simple} -> {:ok, simple}
      :error -> invalid("#{where}: unknown action #{inspect(name)}")
    end
  end

  defp errno_action(tag, nil, _), do: {:ok, {tag, @eperm}}

  defp errno_action(tag, n, _) when is_integer(n) and n in 0..4095, do: {:ok, {tag, n}}

  defp errno_action(_, n, where),
    do: invalid("#{where}: errnoRet #{inspect(n)} is not an integer 0..4095")

  defp arches(spec, ctx) do
    listed = spec["architectures"] || []

    cond do
      not is_list(listed) ->
        invalid("architectures: expected a list, got #{inspect(listed)}")

      listed != [] ->
        scmp_arches(listed, "architectures")

      is_list(spec["archMap"]) ->
        native = "SCMP_ARCH_" <> String.upcase(ctx.arch)

        case Enum.find(spec["archMap"], &(is_map(&1) and &1["architecture"] == native)) do
          nil -> {:ok, [:native]}
          entry -> scmp_arches(entry["subArchitectures"] || [], "archMap")
        end

      true ->
        {:ok, [:native]}
    end
  end

  defp scmp_arches(names, where) do
    Enum.reduce_while(names, {:ok, [:native]}, fn name, {:ok, acc} ->
      with "SCMP_ARCH_" <> rest <- name,
           atom = rest |> String.downcase() |> String.to_atom(),
           true <- atom in Policy.arches() do
        {:cont, {:ok, acc ++ [atom]}}
      else
        _ -> {:halt, invalid("#{where}: unknown architecture #{inspect(name)}")}
      end
    end)
    |> case do
      {:ok, arches} -> {:ok, Enum.uniq(Enum.map(arches, &native_alias/1))}
      error -> error
    end
  end

  # The native arch listed by name is the same filter arch as :native.
  defp native_alias(arch) do
    if Atom.to_string(arch) == native_arch(), do: :native, else: arch
  end

  defp syscalls(entries, ctx) when is_list(entries) do
    entries
    |> Enum.with_index()
    |> Linx.Result.flat_map_ok(fn {entry, i} ->
      with {:ok, rules} <- entry(entry, "syscalls[#{i}]", ctx),
           do: {:ok, Enum.map(rules, &{i, &1})}
    end)
  end

  defp syscalls(other, _), do: invalid("syscalls: expected a list, got #{inspect(other)}")

  defp entry(entry, where, ctx) when is_map(entry) do
    with {:ok, names} <- names(entry, where),
         {:ok, action} <- action(entry["action"], entry["errnoRet"], "#{where}.action"),
         {:ok, conds} <- args(entry["args"] || [], where) do
      cond do
        not applies?(entry, ctx) ->
          {:ok, []}

        names == [] ->
          {:ok, []}

        same_arg_twice?(conds) ->
          {:ok, for(c <- conds, do: {action, names, [c]})}

        true ->
          {:ok, [{action, names, conds}]}
      end
    end
  end

  defp entry(other, where, _), do: invalid("#{where}: expected an object, got #{inspect(other)}")

  defp names(%{"names" => names}, where) when is_list(names) do
    if Enum.all?(names, &(is_binary(&1) and &1 != "")),
      do: {:ok, names},
      else: invalid("#{where}.names: expected a list of non-empty strings")
  end

  defp names(%{"name" => name}, _) when is_binary(name) and name != "", do: {:ok, [name]}
  defp names(_, where), do: invalid("#{where}: no \"names\" list")

  defp args(args, where) when is_list(args) do
    args
    |> Enum.with_index()
    |> Linx.Result.map_ok(fn {arg, i} -> arg(arg, "#{where}.args[#{i}]") end)
  end

  defp args(other, where), do: invalid("#{where}.args: expected a list, got #{inspect(other)}")

  defp arg(%{"index" => index, "op" => op} = arg, where) do
    value = arg["value"] || 0
    two = arg["valueTwo"] || 0

    cond do
      not (is_integer(index) and index in 0..5) ->
        invalid("#{where}.index: #{inspect(index)} is not 0..5")

      not (is_integer(value) and is_integer(two)) ->
        invalid("#{where}: value and valueTwo must be integers")

      not Map.has_key?(@ops, op) ->
        invalid("#{where}.op: unknown comparison #{inspect(op)}")

      op == "SCMP_CMP_MASKED_EQ" ->
        {:ok, {index, :masked_eq, value, two}}

      true ->
        {:ok, {index, Map.fetch!(@ops, op), value}}
    end
  end

  defp arg(other, where),
    do: invalid("#{where}: expected an object with index and op, got #{inspect(other)}")

  defp same_arg_twice?(conds) do
    indexes = Enum.map(conds, &elem(&1, 0))
    length(Enum.uniq(indexes)) != length(indexes)
  end

  # Docker's rule (moby profiles/seccomp): skip when any exclude matches,
  # keep only when every include matches.
  defp applies?(entry, ctx) do
    ex = entry["excludes"] || %{}
    inc = entry["includes"] || %{}
    goarch = Map.get(@goarch, ctx.arch, ctx.arch)

    excluded =
      goarch in (ex["arches"] || []) or
        Enum.any?(ex["caps"] || [], &(&1 in ctx.caps)) or
        (is_binary(ex["minKernel"]) and kernel_at_least?(ctx.kernel, ex["minKernel"]))

    included =
      ((inc["arches"] || []) == [] or goarch in inc["arches"]) and
        Enum.all?(inc["caps"] || [], &(&1 in ctx.caps)) and
        (not is_binary(inc["minKernel"]) or kernel_at_least?(ctx.kernel, inc["minKernel"]))

    not excluded and included
  end

  defp kernel_at_least?({major, minor}, version) do
    case version |> String.split(".") |> Enum.map(&Integer.parse/1) do
      [{maj, _}, {min, _} | _] -> {major, minor} >= {maj, min}
      [{maj, _}] -> major >= maj
      _ -> false
    end
  end

  # What libseccomp does with the rules crun/runc add in entry order
  # (db.c, db_rule_add): rules whose action is the default are skipped
  # first (by crun and runc, before libseccomp sees them); then, per
  # syscall, the first unconditional rule wins and every other rule for
  # that syscall -- a later unconditional one, or a conditional one before
  # or after it -- has no effect. Conditional rules of syscalls without an
  # unconditional rule are left to libseccomp as they are.
  defp resolve_overrides(tagged, default) do
    {:ok, default_value} = Policy.action_value(default)
    value = fn action -> elem(Policy.action_value(action), 1) end

    winners =
      Enum.reduce(tagged, %{}, fn {i, {action, names, conds}}, acc ->
        if conds == [] and value.(action) != default_value do
          Enum.reduce(names, acc, &Map.put_new(&2, &1, {i, action}))
        else
          acc
        end
      end)

    {rules, warnings} =
      Enum.map_reduce(tagged, [], fn {i, {action, names, conds} = rule}, warnings ->
        {kept, dropped} =
          Enum.split_with(names, fn name ->
            case Map.fetch(winners, name) do
              :error -> true
              {:ok, {^i, _}} -> conds == []
              {:ok, _} -> value.(action) == default_value
            end
          end)

        new =
          for name <- Enum.uniq(dropped),
              {j, winner} = Map.fetch!(winners, name),
              value.(winner) != value.(action),
              do: overridden(name, i, action, conds, j, winner)

        {if(kept == [], do: nil, else: {i, put_elem(rule, 1, kept)}), warnings ++ new}
      end)

    {Enum.reject(rules, &is_nil/1), warnings}
  end

  # Policy.lint/1's findings, named by the profile's entry rather than the
  # policy's rule.
  defp lint_entries(policy, entries) do
    for %{rule: r} = w <- Policy.lint(policy) do
      i = Enum.at(entries, r)

      %{w | message: String.replace_prefix(w.message, "rules[#{r}]", "syscalls[#{i}]")}
      |> Map.put(:entry, i)
    end
  end

  defp overridden(name, i, action, conds, j, winner) do
    how = if conds == [], do: "", else: " (conditional)"

    %{
      kind: :overridden,
      syscall: name,
      entry: i,
      action: action,
      conditional: conds != [],
      by_entry: j,
      by_action: winner,
      message:
        "syscalls[#{i}] #{name}: #{inspect(action)}#{how} has no effect: syscalls[#{j}] " <>
          "decides #{name} unconditionally (#{inspect(winner)}); libseccomp keeps the first " <>
          "unconditional rule of a syscall, as crun and runc load it"
    }
  end
end
