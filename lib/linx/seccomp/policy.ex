defmodule Linx.Seccomp.Policy do
  @moduledoc """
  A seccomp policy as data: what happens to a syscall no rule matches
  (`default`), and `rules`, each `{action, syscall_or_list, conditions}`.

      %Linx.Seccomp.Policy{
        default: {:errno, :eperm},
        rules: [
          {:allow, [:read, :write, :exit_group]},
          {:allow, :socket, [{0, :!=, 40}]},
          {{:errno, :enosys}, :clone3}
        ]
      }

  Build it with `Linx.Seccomp.policy/3` (which validates) or as a struct
  literal (validated when compiled). See `Linx.Seccomp` for the meaning of
  each field, the actions and the conditions.

  This module also turns a policy into the *wire term* the compiler program
  `priv/linx_seccomp` reads (`normalise/1`, documented in `docs/seccomp.md`).
  The wire term is also the compile cache's key: two policies that mean the
  same filter rule by rule share one cached BPF.
  """

  import Bitwise

  @typedoc "What the kernel does with a matching syscall."
  @type action ::
          :allow
          | :kill_process
          | :kill_thread
          | :log
          | :notify
          | {:errno, atom | 0..4095}
          | {:trap, 0..0xFFFF}
          | {:trace, 0..0xFFFF}

  @typedoc "A syscall by name (resolved by libseccomp) or by native number."
  @type syscall :: atom | String.t() | 0..4095

  @typedoc """
  A condition on argument 0..5: `{arg, op, value}` or
  `{arg, :masked_eq, mask, value}` compare all 64 bits; with `{:u32, arg}`
  in place of `arg` only the low 32 bits are compared (unsigned), as the
  kernel reads an `int` argument — high bits cannot get around it.
  """
  @type condition ::
          {0..5 | {:u32, 0..5}, :== | :!= | :< | :<= | :> | :>=, integer}
          | {0..5 | {:u32, 0..5}, :masked_eq, integer, integer}

  @type rule :: {action, syscall | [syscall]} | {action, syscall | [syscall], [condition]}

  @typedoc "An arch libseccomp knows (`:native` is the running one)."
  @type arch ::
          :native
          | :x86_64
          | :x86
          | :x32
          | :aarch64
          | :arm
          | :mips
          | :mipsel
          | :mips64
          | :mipsel64
          | :mips64n32
          | :mipsel64n32
          | :ppc
          | :ppc64
          | :ppc64le
          | :s390
          | :s390x
          | :parisc
          | :parisc64
          | :riscv64

  @type t :: %__MODULE__{
          default: action,
          rules: [rule],
          arches: [arch],
          bad_arch: action,
          unknown_syscalls: :error | :ignore
        }

  defstruct default: :kill_process,
            rules: [],
            arches: [:native],
            bad_arch: :kill_process,
            unknown_syscalls: :error

  @typedoc "The normalised policy sent to `priv/linx_seccomp` (docs/seccomp.md)."
  @type wire ::
          {:policy, non_neg_integer, non_neg_integer, [String.t()],
           [{non_neg_integer, String.t() | non_neg_integer, [wire_condition]}], :error | :ignore}

  @type wire_condition ::
          {0..5, :eq | :ne | :lt | :le | :gt | :ge | :masked_eq, non_neg_integer, non_neg_integer}

  @arches [
    :native,
    :x86_64,
    :x86,
    :x32,
    :aarch64,
    :arm,
    :mips,
    :mipsel,
    :mips64,
    :mipsel64,
    :mips64n32,
    :mipsel64n32,
    :ppc,
    :ppc64,
    :ppc64le,
    :s390,
    :s390x,
    :parisc,
    :parisc64,
    :riscv64
  ]

  @ops %{:== => :eq, :!= => :ne, :< => :lt, :<= => :le, :> => :gt, :>= => :ge}
  @u64 0xFFFF_FFFF_FFFF_FFFF
  @u32 0xFFFF_FFFF
  # wire rules one policy rule may expand to through its 32-bit conditions
  @max_alternatives 1024

  @doc """
  The arches a policy may list.

      iex> :x32 in Linx.Seccomp.Policy.arches()
      true
  """
  @spec arches() :: [arch]
  def arches, do: @arches

  @doc """
  The kernel's 32-bit return value for an action (SECCOMP_RET_*).

      iex> Linx.Seccomp.Policy.action_value({:errno, :enosys})
      {:ok, 0x00050026}
      iex> Linx.Seccomp.Policy.action_value(:allow)
      {:ok, 0x7FFF0000}
      iex> Linx.Seccomp.Policy.action_value(:maybe)
      {:error, "unknown action :maybe"}
  """
  @spec action_value(action) :: {:ok, non_neg_integer} | {:error, String.t()}
  def action_value(:allow), do: {:ok, 0x7FFF0000}
  def action_value(:log), do: {:ok, 0x7FFC0000}
  def action_value(:notify), do: {:ok, 0x7FC00000}
  def action_value(:kill_process), do: {:ok, 0x80000000}
  def action_value(:kill_thread), do: {:ok, 0x00000000}

  def action_value({:errno, e}) do
    case errno(e) do
      {:ok, n} -> {:ok, 0x00050000 ||| n}
      :error -> {:error, "{:errno, #{inspect(e)}}: expected an errno atom or 0..4095"}
    end
  end

  def action_value({:trap, d}) when is_integer(d) and d in 0..0xFFFF, do: {:ok, 0x00030000 ||| d}
  def action_value({:trace, d}) when is_integer(d) and d in 0..0xFFFF, do: {:ok, 0x7FF00000 ||| d}

  def action_value({tag, d}) when tag in [:trap, :trace],
    do: {:error, "{#{inspect(tag)}, #{inspect(d)}}: data must be an integer 0..65535"}

  def action_value(other), do: {:error, "unknown action #{inspect(other)}"}

  defp errno(n) when is_integer(n) and n in 0..4095, do: {:ok, n}
  defp errno(a) when is_atom(a), do: Linx.Errno.number(a)
  defp errno(_), do: :error

  @doc """
  Validates a policy and turns it into the wire term (docs/seccomp.md):
  one rule per syscall, actions as kernel values, conditions with u64
  operands. Rules whose action is the default are dropped (they cannot
  change the outcome, and libseccomp refuses them).

  Within one filter a syscall may have one unconditional action: a second
  unconditional rule with another action, or a conditional rule with
  another action beside an unconditional one, would be silently ignored by
  libseccomp, so it is an error here. Layer such decisions by stacking
  filters instead (`seccomp: [base, extra]`).

      iex> p = %Linx.Seccomp.Policy{default: {:errno, :eperm}, rules: [{:allow, [:read, "write"]}]}
      iex> Linx.Seccomp.Policy.normalise(p)
      {:ok, {:policy, 0x50001, 0x80000000, ["native"],
             [{0x7FFF0000, "read", []}, {0x7FFF0000, "write", []}], :error}}
  """
  @spec normalise(t) :: {:ok, wire} | {:error, term}
  def normalise(%__MODULE__{} = p) do
    with {:ok, default} <- field_action(p.default, "default"),
         {:ok, bad_arch} <- field_action(p.bad_arch, "bad_arch"),
         {:ok, arches} <- normalise_arches(p.arches),
         :ok <- check_unknown_mode(p.unknown_syscalls),
         {:ok, rules} <- normalise_rules(p.rules),
         rules = Enum.reject(rules, fn {{_, a}, _, _} -> a == default end),
         :ok <- check_conflicts(rules) do
      wire_rules = Enum.map(rules, fn {{_, a}, sc, conds} -> {a, sc, conds} end)
      {:ok, {:policy, default, bad_arch, arches, wire_rules, p.unknown_syscalls}}
    end
  end

  def normalise(other),
    do: {:error, {:invalid_policy, "expected a %Linx.Seccomp.Policy{}, got #{inspect(other)}"}}

  defp invalid(msg), do: {:error, {:invalid_policy, msg}}

  defp field_action(action, field) do
    case action_value(action) do
      {:ok, v} -> {:ok, v}
      {:error, msg} -> invalid("#{field}: #{msg}")
    end
  end

  defp check_unknown_mode(mode) when mode in [:error, :ignore], do: :ok

  defp check_unknown_mode(mode),
    do: invalid("unknown_syscalls: expected :error or :ignore, got #{inspect(mode)}")

  defp normalise_arches([_ | _] = arches) do
    case Enum.reject(arches, &(&1 in @arches)) do
      [] -> {:ok, arches |> Enum.uniq() |> Enum.map(&Atom.to_string/1)}
      bad -> invalid("arches: unknown arch #{inspect(hd(bad))} (known: #{inspect(@arches)})")
    end
  end

  defp normalise_arches(other),
    do: invalid("arches: expected a non-empty list of arches, got #{inspect(other)}")

  defp normalise_rules(rules) when is_list(rules) do
    rules
    |> Enum.with_index()
    |> Linx.Result.flat_map_ok(fn {rule, i} ->
      case normalise_rule(rule) do
        {:error, msg} -> invalid("rules[#{i}] #{inspect(rule)}: #{msg}")
        ok -> ok
      end
    end)
  end

  defp normalise_rules(other), do: invalid("rules: expected a list, got #{inspect(other)}")

  defp normalise_rule({action, syscalls}), do: normalise_rule({action, syscalls, []})

  defp normalise_rule({action, syscalls, conds}) when is_list(conds) do
    with {:ok, value} <- action_value(action),
         {:ok, names} <- syscalls(List.wrap(syscalls)),
         {:ok, alternatives} <- conditions(conds) do
      {:ok,
       for(name <- names, wire_conds <- alternatives, do: {{action, value}, name, wire_conds})}
    end
  end

  defp normalise_rule(_),
    do: {:error, "expected {action, syscall_or_list} or {action, syscall_or_list, conditions}"}

  defp syscalls([]), do: {:error, "no syscall named"}

  defp syscalls(list) do
    Enum.reduce_while(list, {:ok, []}, fn
      nr, {:ok, acc} when is_integer(nr) and nr in 0..4095 ->
        {:cont, {:ok, [nr | acc]}}

      name, {:ok, acc} when is_atom(name) and name not in [nil, true, false] ->
        {:cont, {:ok, [Atom.to_string(name) | acc]}}

      name, {:ok, acc} when is_binary(name) and byte_size(name) in 1..4096 ->
        if String.contains?(name, <<0>>),
          do: {:halt, {:error, "syscall name #{inspect(name)} contains a NUL byte"}},
          else: {:cont, {:ok, [name | acc]}}

      other, _ ->
        {:halt,
         {:error, "#{inspect(other)} is not a syscall (expected an atom, a string or 0..4095)"}}
    end)
    |> case do
      {:ok, acc} -> {:ok, Enum.reverse(acc)}
      error -> error
    end
  end

  defp conditions(conds) when length(conds) > 6,
    do: {:error, "at most 6 conditions per rule, got #{length(conds)}"}

  # A rule's conditions as alternatives (an OR of AND-lists of wire
  # conditions): a 64-bit condition is one alternative of itself, a 32-bit
  # one (`{:u32, arg}`) expands to masked comparisons (`u32_alternatives/3`);
  # the rule becomes one wire rule per combination.
  defp conditions(conds) do
    conds
    |> Linx.Result.map_ok(fn c ->
      case condition(c) do
        {:error, msg} -> {:error, "condition #{inspect(c)}: #{msg}"}
        {:ok, {:u32, alts}} -> {:ok, alts}
        {:ok, wire} -> {:ok, [[wire]]}
      end
    end)
    |> case do
      {:ok, per_cond} ->
        combos =
          Enum.reduce(per_cond, [[]], fn alts, acc ->
            for prefix <- acc, alt <- alts, do: prefix ++ alt
          end)

        cond do
          length(combos) > @max_alternatives ->
            {:error,
             "its 32-bit conditions expand to #{length(combos)} masked comparisons " <>
               "(at most #{@max_alternatives}): split the rule"}

          Enum.any?(combos, &(length(&1) > 6)) ->
            {:error, "at most 6 conditions per rule"}

          true ->
            {:ok, Enum.uniq(combos)}
        end

      error ->
        error
    end
  end

  defp condition({{:u32, arg}, :masked_eq, mask, value}) do
    with :ok <- check_arg(arg), {:ok, m} <- u32(mask), {:ok, v} <- u32(value) do
      {:ok, {:u32, [[{arg, :masked_eq, m, v}]]}}
    end
  end

  defp condition({{:u32, arg}, op, value}) when is_map_key(@ops, op) do
    with :ok <- check_arg(arg), {:ok, v} <- u32(value) do
      {:ok, {:u32, u32_alternatives(arg, op, v)}}
    end
  end

  defp condition({arg, :masked_eq, mask, value}) do
    with :ok <- check_arg(arg), {:ok, m} <- u64(mask), {:ok, v} <- u64(value) do
      {:ok, {arg, :masked_eq, m, v}}
    end
  end

  defp condition({arg, op, value}) when is_map_key(@ops, op) do
    with :ok <- check_arg(arg), {:ok, v} <- u64(value) do
      {:ok, {arg, Map.fetch!(@ops, op), v, 0}}
    end
  end

  defp condition(_),
    do:
      {:error,
       "expected {arg, op, value} with op one of == != < <= > >=, or {arg, :masked_eq, mask, value} " <>
         "(arg 0..5, or {:u32, 0..5} to compare the low 32 bits)"}

  # The low 32 bits compared unsigned, written with SCMP_CMP_MASKED_EQ
  # only (libseccomp compares 64 bits otherwise): `x < v` holds iff, for
  # some bit b set in v, x has b clear and agrees with v above b -- one
  # masked comparison per such bit; `x > v` likewise over the bits clear
  # in v; `x != v` iff some bit differs. [] = never holds, [[]] = always.
  defp u32_alternatives(arg, :==, v), do: [[{arg, :masked_eq, @u32, v}]]

  defp u32_alternatives(arg, :!=, v) do
    for b <- 0..31, bit = 1 <<< b, do: [{arg, :masked_eq, bit, bnot(v) &&& bit}]
  end

  defp u32_alternatives(arg, :<, v) do
    for b <- 0..31, (v &&& 1 <<< b) != 0 do
      above = @u32 <<< (b + 1) &&& @u32
      [{arg, :masked_eq, above ||| 1 <<< b, v &&& above}]
    end
  end

  defp u32_alternatives(arg, :>, v) do
    for b <- 0..31, (v &&& 1 <<< b) == 0 do
      above = @u32 <<< (b + 1) &&& @u32
      [{arg, :masked_eq, above ||| 1 <<< b, (v &&& above) ||| 1 <<< b}]
    end
  end

  defp u32_alternatives(_arg, :<=, @u32), do: [[]]
  defp u32_alternatives(arg, :<=, v), do: u32_alternatives(arg, :<, v + 1)
  defp u32_alternatives(_arg, :>=, 0), do: [[]]
  defp u32_alternatives(arg, :>=, v), do: u32_alternatives(arg, :>, v - 1)

  # -2^31..2^32-1; negative values as 32-bit two's complement.
  defp u32(v) when is_integer(v) and v >= -(1 <<< 31) and v <= @u32, do: {:ok, v &&& @u32}
  defp u32(v), do: {:error, "#{inspect(v)} is not an integer that fits in 32 bits"}

  defp check_arg(arg) when is_integer(arg) and arg in 0..5, do: :ok
  defp check_arg(arg), do: {:error, "argument index #{inspect(arg)} is not 0..5"}

  # Negative values are taken as two's complement 64-bit (-1 == 0xFFFF_FFFF_FFFF_FFFF).
  defp u64(v) when is_integer(v) and v >= -(1 <<< 63) and v <= @u64, do: {:ok, v &&& @u64}
  defp u64(v), do: {:error, "#{inspect(v)} is not an integer that fits in 64 bits"}

  defp check_conflicts(rules) do
    rules
    |> Enum.group_by(fn {_, sc, _} -> sc end)
    |> Enum.find_value(:ok, fn {sc, group} ->
      case Enum.find(group, fn {_, _, conds} -> conds == [] end) do
        nil ->
          nil

        {{a1, v1}, _, _} ->
          case Enum.find(group, fn {{_, v}, _, _} -> v != v1 end) do
            nil ->
              nil

            {{a2, _}, _, conds} ->
              how = if conds == [], do: "unconditionally", else: "with conditions"

              invalid(
                "syscall #{sc}: an unconditional #{inspect(a1)} rule and a rule with " <>
                  "#{inspect(a2)} #{how}; one filter holds one unconditional action per " <>
                  "syscall (libseccomp would ignore the other): stack filters to layer decisions"
              )
          end
      end
    end)
  end

  @doc """
  Findings about a policy that compiles but may not mean what it says
  (maps with `:kind`, `:message` and details, as `Linx.Seccomp.BPF.lint/1`):

    * `:int_arg_64bit` — a 64-bit comparison (`{arg, op, value}`, or
      `:masked_eq` with a mask reaching the high 32 bits) on an argument
      the kernel reads as 32 bits (`Linx.Seccomp.IntArgs`): setting the
      high bits changes the filter's answer but not what the kernel does
      (`socket(0x100000028, …)` is an `AF_VSOCK` socket that passes
      `{0, :!=, 40}`). Write `{{:u32, arg}, op, value}` instead.

  Syscalls are looked up in the x86_64 table. Not an error: Docker's and
  Podman's profiles do this, and `Linx.Seccomp.OCI.from_oci_with_warnings/2`
  reports it.

      iex> p = %Linx.Seccomp.Policy{default: {:errno, :eperm}, rules: [{:allow, :socket, [{0, :!=, 40}]}]}
      iex> [w] = Linx.Seccomp.Policy.lint(p)
      iex> {w.kind, w.syscall, w.arg}
      {:int_arg_64bit, "socket", 0}
      iex> Linx.Seccomp.Policy.lint(%{p | rules: [{:allow, :socket, [{{:u32, 0}, :!=, 40}]}]})
      []
  """
  @spec lint(t) :: [
          %{required(:kind) => atom, required(:message) => String.t(), optional(atom) => term}
        ]
  def lint(%__MODULE__{rules: rules}) when is_list(rules) do
    for {rule, r} <- Enum.with_index(rules),
        {syscalls, conds} <- rule_parts(rule),
        syscall <- List.wrap(syscalls),
        name = syscall_name(syscall),
        ints = Linx.Seccomp.IntArgs.of(syscall),
        ints != [],
        c <- conds,
        arg = wide_int_arg(c, ints),
        arg != nil,
        uniq: true do
      %{
        kind: :int_arg_64bit,
        rule: r,
        syscall: name,
        arg: arg,
        condition: c,
        message:
          "rules[#{r}] #{name}: #{inspect(c)} compares all 64 bits of argument #{arg}, which " <>
            "the kernel reads as 32 bits: a caller setting the high bits gets another answer " <>
            "for the same call. Compare the low 32 bits: #{inspect(put_elem(c, 0, {:u32, arg}))}"
      }
    end
  end

  def lint(_), do: []

  defp rule_parts({_action, syscalls}), do: [{syscalls, []}]
  defp rule_parts({_action, syscalls, conds}) when is_list(conds), do: [{syscalls, conds}]
  defp rule_parts(_), do: []

  defp syscall_name(nr) when is_integer(nr), do: to_string(Linx.Syscalls.name(nr) || nr)
  defp syscall_name(name), do: to_string(name)

  defp wide_int_arg({arg, :masked_eq, mask, _}, ints) when is_integer(arg) and is_integer(mask) do
    if arg in ints and (mask &&& @u64) > @u32, do: arg
  end

  defp wide_int_arg({arg, op, _}, ints) when is_integer(arg) and is_map_key(@ops, op) do
    if arg in ints, do: arg
  end

  defp wide_int_arg(_, _), do: nil
end
