defmodule Linx.Seccomp.BPF.Disassembler do
  @moduledoc false
  # seccomp-tools style listing. A small forward data-flow pass records, for
  # every instruction, where A came from on all paths that reach it
  # ({:data, offset} when every path agrees, nil otherwise), so that
  # comparisons print syscall and architecture names only when A really
  # holds seccomp_data.nr or .arch.

  import Bitwise

  alias Linx.Seccomp.BPF
  alias Linx.Seccomp.BPF.Opcodes
  alias Linx.Syscalls

  @arch_names %{
    0xC000003E => "ARCH_X86_64",
    0x40000003 => "ARCH_I386",
    0xC00000B7 => "ARCH_AARCH64",
    0x40000028 => "ARCH_ARM",
    0xC00000F3 => "ARCH_RISCV64",
    0x400000F3 => "ARCH_RISCV32",
    0xC0000015 => "ARCH_PPC64LE",
    0x80000015 => "ARCH_PPC64",
    0x00000014 => "ARCH_PPC",
    0x80000016 => "ARCH_S390X",
    0x00000016 => "ARCH_S390",
    0x00000008 => "ARCH_MIPS",
    0x40000008 => "ARCH_MIPSEL",
    0x80000008 => "ARCH_MIPS64",
    0xC0000008 => "ARCH_MIPSEL64",
    0xC0000102 => "ARCH_LOONGARCH64"
  }

  @doc false
  def lines(insns) do
    prog = List.to_tuple(insns)
    sources = a_sources(prog)

    insns
    |> Enum.with_index()
    |> Enum.map(fn {{code, jt, jf, k} = insn, pc} ->
      text = describe(insn, pc, Map.get(sources, pc))

      "#{line(pc)}: 0x#{pad_hex(code, 2)} 0x#{pad_hex(jt, 2)} 0x#{pad_hex(jf, 2)} 0x#{pad_hex(k, 8)}  #{text}"
    end)
  end

  # --- data flow: where does A come from? ------------------------------------

  defp a_sources(prog) do
    n = tuple_size(prog)
    initial = %{0 => [%{a: :zero, x: :zero, mem: %{}}]}
    flow(prog, 0, n, initial, %{})
  end

  defp flow(_prog, pc, n, _incoming, acc) when pc >= n, do: acc

  defp flow(prog, pc, n, incoming, acc) do
    case Map.get(incoming, pc) do
      nil ->
        # unreachable: nothing known
        flow(prog, pc + 1, n, incoming, acc)

      states ->
        state = merge(states)
        acc = Map.put(acc, pc, state.a)
        {code, jt, jf, k} = elem(prog, pc)
        incoming = Enum.reduce(successors(code, jt, jf, k, pc, state), incoming, &push/2)
        flow(prog, pc + 1, n, incoming, acc)
    end
  end

  defp push({target, state}, incoming), do: Map.update(incoming, target, [state], &[state | &1])

  defp successors(code, jt, jf, k, pc, state) do
    cls = code &&& 0x07

    cond do
      cls == 0x06 -> []
      code == 0x05 -> [{pc + 1 + k, state}]
      cls == 0x05 -> Enum.uniq([{pc + 1 + jt, state}, {pc + 1 + jf, state}])
      true -> [{pc + 1, transfer(code, k, state)}]
    end
  end

  defp transfer(code, k, state) do
    case code do
      0x20 -> %{state | a: {:data, k}}
      0x00 -> %{state | a: :const}
      0x80 -> %{state | a: :const}
      0x01 -> %{state | x: :const}
      0x81 -> %{state | x: :const}
      0x60 -> %{state | a: Map.get(state.mem, k)}
      0x61 -> %{state | x: Map.get(state.mem, k)}
      0x02 -> %{state | mem: Map.put(state.mem, k, state.a)}
      0x03 -> %{state | mem: Map.put(state.mem, k, state.x)}
      0x07 -> %{state | x: state.a}
      0x87 -> %{state | a: state.x}
      c when (c &&& 0x07) == 0x04 -> %{state | a: nil}
      c when (c &&& 0x07) in [0x00, 0x01] -> %{state | a: nil, x: nil}
      _ -> state
    end
  end

  defp merge([state]), do: state

  defp merge([first | rest]) do
    Enum.reduce(rest, first, fn s, acc ->
      %{
        a: same(acc.a, s.a),
        x: same(acc.x, s.x),
        mem: Map.new(acc.mem, fn {i, v} -> {i, same(v, Map.get(s.mem, i))} end)
      }
    end)
  end

  defp same(v, v), do: v
  defp same(_, _), do: nil

  # --- one instruction -------------------------------------------------------

  defp describe({code, jt, jf, k}, pc, a_source) do
    case code do
      0x06 -> "return " <> ret_name(k)
      0x16 -> "return A"
      0x20 -> "A = " <> data_name(k)
      0x28 -> "A = half data[#{k}] (not allowed in seccomp)"
      0x30 -> "A = byte data[#{k}] (not allowed in seccomp)"
      0x40 -> "A = data[X + #{k}] (not allowed in seccomp)"
      0x48 -> "A = half data[X + #{k}] (not allowed in seccomp)"
      0x50 -> "A = byte data[X + #{k}] (not allowed in seccomp)"
      0xB1 -> "X = 4 * (data[#{k}] & 0xf) (not allowed in seccomp)"
      0x00 -> "A = #{k}"
      0x01 -> "X = #{k}"
      0x80 -> "A = 64"
      0x81 -> "X = 64"
      0x60 -> "A = mem[#{k}]"
      0x61 -> "X = mem[#{k}]"
      0x02 -> "mem[#{k}] = A"
      0x03 -> "mem[#{k}] = X"
      0x07 -> "X = A"
      0x87 -> "A = X"
      0x84 -> "A = -A"
      0x05 -> "goto " <> line(pc + 1 + k)
      _ -> describe_class(code, jt, jf, k, pc, a_source)
    end
  end

  defp describe_class(code, jt, jf, k, pc, a_source) do
    op = code &&& 0xF0
    x? = (code &&& 0x08) != 0

    alu = Opcodes.alu_op(op)
    exact_alu? = (code &&& 0x07) == 0x04 and alu != nil and (code &&& ~~~0xF8) == 0x04

    exact_jmp? = (code &&& ~~~0xF8) == 0x05 and op in [0x10, 0x20, 0x30, 0x40]

    cond do
      exact_alu? ->
        {sym, seccomp?} = alu
        src = if x?, do: "X", else: alu_operand(op, k)
        suffix = if seccomp?, do: "", else: " (not allowed in seccomp)"
        "A #{sym}= #{src}" <> suffix

      exact_jmp? ->
        src = if x?, do: "X", else: constant(k, a_source)
        jump_text(op, src, jt, jf, pc)

      true ->
        "invalid opcode 0x" <> Integer.to_string(code, 16)
    end
  end

  defp alu_operand(op, k) when op in [0x60, 0x70], do: Integer.to_string(k)
  defp alu_operand(_op, k), do: hex(k)

  defp jump_text(op, src, jt, jf, pc) do
    cond do
      jt == 0 and jf == 0 ->
        "/* no-op */"

      jt == jf ->
        "goto " <> line(pc + 1 + jt)

      jt != 0 and jf != 0 ->
        cond_text(op, src, false) <> " goto #{line(pc + 1 + jt)} else goto #{line(pc + 1 + jf)}"

      jf == 0 ->
        cond_text(op, src, false) <> " goto " <> line(pc + 1 + jt)

      true ->
        cond_text(op, src, true) <> " goto " <> line(pc + 1 + jf)
    end
  end

  defp cond_text(0x10, src, false), do: "if (A == #{src})"
  defp cond_text(0x10, src, true), do: "if (A != #{src})"
  defp cond_text(0x20, src, false), do: "if (A > #{src})"
  defp cond_text(0x20, src, true), do: "if (A <= #{src})"
  defp cond_text(0x30, src, false), do: "if (A >= #{src})"
  defp cond_text(0x30, src, true), do: "if (A < #{src})"
  defp cond_text(0x40, src, false), do: "if (A & #{src})"
  defp cond_text(0x40, src, true), do: "if (!(A & #{src}))"

  defp constant(k, {:data, 0}) do
    case Syscalls.name(k) do
      nil -> hex(k)
      name -> Atom.to_string(name)
    end
  end

  defp constant(k, {:data, 4}), do: Map.get(@arch_names, k, hex(k))
  defp constant(k, _), do: hex(k)

  defp data_name(0), do: "sys_number"
  defp data_name(4), do: "arch"
  defp data_name(8), do: "instruction_pointer"
  defp data_name(12), do: "instruction_pointer >> 32"

  defp data_name(k) when k >= 16 and k < 64 and rem(k, 4) == 0 do
    i = div(k - 16, 8)
    if rem(k - 16, 8) == 0, do: "args[#{i}]", else: "args[#{i}] >> 32"
  end

  defp data_name(k), do: "data[#{k}] (invalid offset)"

  defp ret_name(k) do
    data = k &&& 0xFFFF

    case BPF.action_from_value(k) do
      :allow -> with_data("ALLOW", data)
      :kill_process -> with_data("KILL_PROCESS", data)
      :kill_thread -> with_data("KILL", data)
      :log -> with_data("LOG", data)
      :notify -> with_data("USER_NOTIF", data)
      {:errno, n} -> "ERRNO(#{n})"
      {:trap, n} -> with_data("TRAP", n)
      {:trace, n} -> with_data("TRACE", n)
      {:unknown, v} -> hex8(v)
    end
  end

  defp with_data(name, 0), do: name
  defp with_data(name, data), do: "#{name}(#{data})"

  defp line(n), do: n |> Integer.to_string() |> String.pad_leading(4, "0")
  defp hex(k), do: "0x" <> String.downcase(Integer.to_string(k, 16))
  defp hex8(k), do: "0x" <> pad_hex(k, 8)

  defp pad_hex(k, width),
    do: k |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(width, "0")
end
