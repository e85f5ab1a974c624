defmodule Linx.Seccomp.BPF.Validator do
  @moduledoc false
  # The checks the kernel runs before it accepts a seccomp filter, in the
  # kernel's terms (see Linx.Seccomp.BPF.validate/1 for the list):
  #
  #   seccomp_prepare_filter():   1..BPF_MAXINSNS instructions
  #   bpf_check_classic():        known opcode, per-opcode operand checks,
  #                               last instruction a RET,
  #                               check_load_and_stores() (scratch memory flow)
  #   seccomp_check_filter():     seccomp's opcode subset, LD W ABS offsets
  #
  # The kernel answers only EINVAL; we report the first offending instruction.
  # The per-instruction checks of both checkers run in one pass in program
  # order, then the last-instruction check, then the memory-flow check.

  import Bitwise

  alias Linx.Seccomp.BPF.Opcodes

  @max_insns 4096
  @memwords 16
  @seccomp_data_size 64

  @type reason ::
          :empty
          | :too_long
          | :truncated
          | {:unknown_opcode, non_neg_integer()}
          | {:not_allowed_in_seccomp, non_neg_integer()}
          | :division_by_zero
          | {:shift_out_of_range, non_neg_integer()}
          | {:bad_mem_index, non_neg_integer()}
          | :jump_out_of_range
          | {:bad_offset, non_neg_integer()}
          | :no_return_at_end
          | {:mem_read_before_write, non_neg_integer()}

  @spec validate(binary()) :: :ok | {:error, {non_neg_integer(), reason()}}
  def validate(bin) when is_binary(bin) do
    size = byte_size(bin)

    cond do
      rem(size, 8) != 0 -> {:error, {div(size, 8), :truncated}}
      size == 0 -> {:error, {0, :empty}}
      div(size, 8) > @max_insns -> {:error, {@max_insns, :too_long}}
      true -> validate_insns(List.to_tuple(decode(bin)))
    end
  end

  @doc false
  def decode(bin) do
    for <<code::little-16, jt::8, jf::8, k::little-32 <- bin>>, do: {code, jt, jf, k}
  end

  defp validate_insns(prog) do
    flen = tuple_size(prog)

    with :ok <- each_insn(prog, 0, flen),
         :ok <- last_is_return(prog, flen) do
      load_and_stores(prog, flen)
    end
  end

  defp each_insn(_prog, pc, flen) when pc == flen, do: :ok

  defp each_insn(prog, pc, flen) do
    case check_insn(elem(prog, pc), pc, flen) do
      :ok -> each_insn(prog, pc + 1, flen)
      reason -> {:error, {pc, reason}}
    end
  end

  defp check_insn({code, jt, jf, k}, pc, flen) do
    cond do
      code not in Opcodes.classic() -> {:unknown_opcode, code}
      code not in Opcodes.seccomp() -> {:not_allowed_in_seccomp, code}
      true -> check_operands(code, jt, jf, k, pc, flen)
    end
  end

  # ALU DIV K
  defp check_operands(0x34, _jt, _jf, 0, _pc, _flen), do: :division_by_zero
  # ALU LSH K, ALU RSH K
  defp check_operands(code, _jt, _jf, k, _pc, _flen) when code in [0x64, 0x74] and k >= 32,
    do: {:shift_out_of_range, k}

  # LD MEM, LDX MEM, ST, STX
  defp check_operands(code, _jt, _jf, k, _pc, _flen)
       when code in [0x60, 0x61, 0x02, 0x03] and k >= @memwords,
       do: {:bad_mem_index, k}

  # JA: the kernel compares k (u32) against flen - pc - 1
  defp check_operands(0x05, _jt, _jf, k, pc, flen) do
    if k >= flen - pc - 1, do: :jump_out_of_range, else: :ok
  end

  # LD W ABS: seccomp_data is 64 bytes, loads are 32-bit aligned
  defp check_operands(0x20, _jt, _jf, k, _pc, _flen) do
    if k >= @seccomp_data_size or (k &&& 3) != 0, do: {:bad_offset, k}, else: :ok
  end

  defp check_operands(code, jt, jf, _k, pc, flen) do
    cond do
      not Opcodes.cond_jump?(code) -> :ok
      pc + jt + 1 >= flen or pc + jf + 1 >= flen -> :jump_out_of_range
      true -> :ok
    end
  end

  defp last_is_return(prog, flen) do
    case elem(prog, flen - 1) do
      {code, _, _, _} when code in [0x06, 0x16] -> :ok
      _ -> {:error, {flen - 1, :no_return_at_end}}
    end
  end

  # A faithful copy of the kernel's check_load_and_stores(): one forward pass;
  # `memvalid` holds the cells written on the path being scanned, `masks[pc]`
  # the intersection over every jump into pc. Note what the kernel does *not*
  # do: a RET does not reset `memvalid`, so the cells valid before a RET are
  # intersected into the instruction after it even when only jumps reach it.
  # We keep that (over-strict) behaviour because it decides acceptance.
  defp load_and_stores(prog, flen) do
    scan_mem(prog, 0, flen, 0, %{})
  end

  defp scan_mem(_prog, pc, flen, _memvalid, _masks) when pc == flen, do: :ok

  defp scan_mem(prog, pc, flen, memvalid, masks) do
    memvalid = memvalid &&& Map.get(masks, pc, 0xFFFF)
    {code, jt, jf, k} = elem(prog, pc)

    cond do
      code in [0x02, 0x03] ->
        scan_mem(prog, pc + 1, flen, memvalid ||| 1 <<< k, masks)

      code in [0x60, 0x61] ->
        if (memvalid &&& 1 <<< k) == 0 do
          {:error, {pc, {:mem_read_before_write, k}}}
        else
          scan_mem(prog, pc + 1, flen, memvalid, masks)
        end

      code == 0x05 ->
        masks = and_mask(masks, pc + 1 + k, memvalid)
        scan_mem(prog, pc + 1, flen, 0xFFFF, masks)

      Opcodes.cond_jump?(code) ->
        masks = masks |> and_mask(pc + 1 + jt, memvalid) |> and_mask(pc + 1 + jf, memvalid)
        scan_mem(prog, pc + 1, flen, 0xFFFF, masks)

      true ->
        scan_mem(prog, pc + 1, flen, memvalid, masks)
    end
  end

  defp and_mask(masks, at, memvalid), do: Map.update(masks, at, memvalid, &(&1 &&& memvalid))
end
