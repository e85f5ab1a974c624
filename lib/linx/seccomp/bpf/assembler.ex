defmodule Linx.Seccomp.BPF.Assembler do
  @moduledoc false
  # Two passes: (1) expand each tuple to one instruction with symbolic jump
  # targets and record label positions; (2) resolve targets to relative
  # offsets, checking direction and range. The tuple language is documented
  # in Linx.Seccomp.BPF's moduledoc.

  import Bitwise

  alias Linx.Seccomp.BPF
  alias Linx.Syscalls

  # seccomp's ALU operations, from the one table (Opcodes.alu/0)
  @alu_ops Linx.Seccomp.BPF.Opcodes.seccomp_alu_ops()
  @jmp_ops %{jeq: {0x10, false}, jgt: {0x20, false}, jge: {0x30, false}, jset: {0x40, false}}
  # the negated forms swap jt and jf
  @neg_jmp_ops %{jne: 0x10, jle: 0x20, jlt: 0x30}

  @doc false
  def assemble(items) when is_list(items) do
    {insns, labels, _} =
      Enum.reduce(items, {[], %{}, 0}, fn
        {:label, name}, {acc, labels, pc} ->
          if name == :next,
            do: raise(ArgumentError, "a label may not be named :next (it means fall through)")

          if Map.has_key?(labels, name),
            do: raise(ArgumentError, "label #{inspect(name)} defined twice")

          {acc, Map.put(labels, name, pc), pc}

        item, {acc, labels, pc} ->
          {[{expand(item), item, pc} | acc], labels, pc + 1}
      end)

    insns
    |> Enum.reverse()
    |> Enum.map(fn {insn, item, pc} -> resolve(insn, item, pc, labels, length(insns)) end)
    |> BPF.encode()
  end

  # --- pass 1 ----------------------------------------------------------------

  defp expand({:ld, src}), do: load(0x00, src)
  defp expand({:ldx, src}), do: loadx(src)
  defp expand({:st, i}), do: {0x02, 0, 0, mem_index(i)}
  defp expand({:stx, i}), do: {0x03, 0, 0, mem_index(i)}
  defp expand(:tax), do: {0x07, 0, 0, 0}
  defp expand(:txa), do: {0x87, 0, 0, 0}
  defp expand(:neg), do: {0x84, 0, 0, 0}
  defp expand({:neg}), do: {0x84, 0, 0, 0}
  defp expand({:ret, :a}), do: {0x16, 0, 0, 0}
  defp expand({:ret, action}), do: {0x06, 0, 0, BPF.action_value(action)}
  defp expand({:ja, target}), do: {:ja, target}
  defp expand({:raw, code, jt, jf, k}), do: {u(code, 16), u(jt, 8), u(jf, 8), u(k, 32)}

  defp expand({op, src}) when is_map_key(@alu_ops, op) do
    bits = Map.fetch!(@alu_ops, op)
    if src == :x, do: {0x0C ||| bits, 0, 0, 0}, else: {0x04 ||| bits, 0, 0, u(src, 32)}
  end

  defp expand({op, k, jt}) when is_map_key(@jmp_ops, op) or is_map_key(@neg_jmp_ops, op),
    do: expand({op, k, jt, :next})

  defp expand({op, k, jt, jf}) when is_map_key(@jmp_ops, op) do
    {bits, _} = Map.fetch!(@jmp_ops, op)
    jump(bits, k, jt, jf)
  end

  defp expand({op, k, jt, jf}) when is_map_key(@neg_jmp_ops, op) do
    jump(Map.fetch!(@neg_jmp_ops, op), k, jf, jt)
  end

  defp expand(item), do: raise(ArgumentError, "unknown BPF instruction #{inspect(item)}")

  defp jump(bits, :x, jt, jf), do: {:jcond, 0x05 ||| bits ||| 0x08, 0, jt, jf}
  defp jump(bits, k, jt, jf), do: {:jcond, 0x05 ||| bits, constant(k), jt, jf}

  defp constant(k) when is_integer(k), do: u(k, 32)
  defp constant({:sys, name}), do: sys(name)
  defp constant({:arch, name}), do: arch(name)
  defp constant(name) when is_atom(name), do: sys(name)
  defp constant(other), do: raise(ArgumentError, "bad jump operand #{inspect(other)}")

  defp sys(name) do
    case Syscalls.number(name) do
      {:ok, nr} -> nr
      :error -> raise ArgumentError, "unknown x86_64 system call #{inspect(name)}"
    end
  end

  defp arch(name) do
    case Syscalls.arch(name) do
      {:ok, value} -> value
      :error -> raise ArgumentError, "unknown architecture #{inspect(name)}"
    end
  end

  defp load(_, :nr), do: {0x20, 0, 0, 0}
  defp load(_, :arch), do: {0x20, 0, 0, 4}
  defp load(_, :ip), do: {0x20, 0, 0, 8}
  defp load(_, :ip_hi), do: {0x20, 0, 0, 12}
  defp load(_, {:arg, i}) when i in 0..5, do: {0x20, 0, 0, 16 + 8 * i}
  defp load(_, {:arg_hi, i}) when i in 0..5, do: {0x20, 0, 0, 20 + 8 * i}
  defp load(_, {:abs, k}), do: {0x20, 0, 0, u(k, 32)}
  defp load(_, {:imm, k}), do: {0x00, 0, 0, constant(k)}
  defp load(_, {:mem, i}), do: {0x60, 0, 0, mem_index(i)}
  defp load(_, :len), do: {0x80, 0, 0, 0}
  defp load(_, src), do: raise(ArgumentError, "bad load source #{inspect(src)}")

  defp loadx({:imm, k}), do: {0x01, 0, 0, constant(k)}
  defp loadx({:mem, i}), do: {0x61, 0, 0, mem_index(i)}
  defp loadx(:len), do: {0x81, 0, 0, 0}

  defp loadx(src),
    do:
      raise(
        ArgumentError,
        "bad ldx source #{inspect(src)} (X loads only {:imm, k}, {:mem, i} or :len)"
      )

  defp mem_index(i) when is_integer(i) and i >= 0 and i < 16, do: i

  defp mem_index(i),
    do: raise(ArgumentError, "scratch memory index must be 0..15, got #{inspect(i)}")

  defp u(v, bits) when is_integer(v) and v >= 0 and v < 1 <<< bits, do: v

  defp u(v, bits) when is_integer(v) and v < 0 and v >= -(1 <<< (bits - 1)),
    do: v &&& (1 <<< bits) - 1

  defp u(v, bits), do: raise(ArgumentError, "#{inspect(v)} does not fit in #{bits} bits")

  # --- pass 2 ----------------------------------------------------------------

  defp resolve({:ja, target}, item, pc, labels, n) do
    {0x05, 0, 0, offset(target, item, pc, labels, n, 0xFFFFFFFF)}
  end

  defp resolve({:jcond, code, k, jt, jf}, item, pc, labels, n) do
    {code, offset(jt, item, pc, labels, n, 255), offset(jf, item, pc, labels, n, 255), k}
  end

  defp resolve(insn, _item, _pc, _labels, _n), do: insn

  defp offset(:next, _item, _pc, _labels, _n, _max), do: 0

  defp offset(rel, item, pc, _labels, n, max) when is_integer(rel) do
    cond do
      rel < 0 ->
        raise ArgumentError, "#{inspect(item)} at #{pc}: BPF jumps only forward (offset #{rel})"

      pc + 1 + rel >= n ->
        raise ArgumentError,
              "#{inspect(item)} at #{pc}: offset #{rel} jumps past the end (#{n} instructions)"

      rel > max ->
        raise ArgumentError, "#{inspect(item)} at #{pc}: offset #{rel} does not fit (max #{max})"

      true ->
        rel
    end
  end

  defp offset(label, item, pc, labels, n, max) do
    case Map.fetch(labels, label) do
      :error ->
        raise ArgumentError, "#{inspect(item)} at #{pc}: unknown label #{inspect(label)}"

      {:ok, target} when target <= pc ->
        raise ArgumentError,
              "#{inspect(item)} at #{pc}: label #{inspect(label)} is not ahead (BPF jumps only forward)"

      {:ok, target} when target >= n ->
        raise ArgumentError,
              "#{inspect(item)} at #{pc}: label #{inspect(label)} is at the end, no instruction follows it"

      {:ok, target} when target - pc - 1 > max ->
        raise ArgumentError,
              "#{inspect(item)} at #{pc}: label #{inspect(label)} is #{target - pc - 1} instructions ahead, " <>
                "too far for a conditional jump (max #{max}); jump to a nearby {:ja, #{inspect(label)}}"

      {:ok, target} ->
        target - pc - 1
    end
  end
end
