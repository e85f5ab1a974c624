defmodule Linx.Seccomp.BPF.Emulator do
  @moduledoc false
  # Runs validated classic BPF over a 64-byte seccomp_data, the way the
  # kernel runs it after bpf_convert_filter():
  #
  #   * A and X start at 0 (the converted program clears both first);
  #   * ALU is 32-bit and wraps; DIV is unsigned; DIV by X == 0 makes the
  #     whole filter return 0 (the converter inserts that check), which
  #     seccomp reads as SECCOMP_RET_KILL_THREAD;
  #   * shifts by X use the low 5 bits of X (x86-64 JIT, and the
  #     interpreter's SHT macro); shifts by a constant >= 32 never get here;
  #   * LD W LEN / LDX W LEN load 64 (seccomp_check_filter rewrites them);
  #   * loads from seccomp_data are native (little) endian 32-bit words.
  #
  # Stacks follow seccomp_run_filters(): newest filter first, a result
  # replaces the current one only if its action, as a signed 32-bit value,
  # is strictly lower, starting from SECCOMP_RET_ALLOW.

  import Bitwise

  @mask32 0xFFFFFFFF

  @doc false
  # prog: tuple of {code, jt, jf, k}; data: 64-byte binary. Returns u32.
  def run(prog, data), do: step(prog, data, 0, 0, 0, %{})

  defp step(prog, data, pc, a, x, mem) do
    {code, jt, jf, k} = elem(prog, pc)

    case code do
      # RET K / RET A
      0x06 ->
        k

      0x16 ->
        a

      # LD W ABS
      0x20 ->
        <<_::binary-size(k), v::little-32, _::binary>> = data
        step(prog, data, pc + 1, v, x, mem)

      0x00 ->
        step(prog, data, pc + 1, k, x, mem)

      0x01 ->
        step(prog, data, pc + 1, a, k, mem)

      0x80 ->
        step(prog, data, pc + 1, 64, x, mem)

      0x81 ->
        step(prog, data, pc + 1, a, 64, mem)

      0x60 ->
        step(prog, data, pc + 1, Map.fetch!(mem, k), x, mem)

      0x61 ->
        step(prog, data, pc + 1, a, Map.fetch!(mem, k), mem)

      0x02 ->
        step(prog, data, pc + 1, a, x, Map.put(mem, k, a))

      0x03 ->
        step(prog, data, pc + 1, a, x, Map.put(mem, k, x))

      0x07 ->
        step(prog, data, pc + 1, a, a, mem)

      0x87 ->
        step(prog, data, pc + 1, x, x, mem)

      0x84 ->
        step(prog, data, pc + 1, -a &&& @mask32, x, mem)

      0x05 ->
        step(prog, data, pc + 1 + k, a, x, mem)

      _ when (code &&& 0x07) == 0x04 ->
        src = if (code &&& 0x08) != 0, do: x, else: k

        case alu(code &&& 0xF0, a, src) do
          :div_by_zero -> 0
          a -> step(prog, data, pc + 1, a, x, mem)
        end

      _ when (code &&& 0x07) == 0x05 ->
        src = if (code &&& 0x08) != 0, do: x, else: k
        taken = jump?(code &&& 0xF0, a, src)
        step(prog, data, pc + 1 + if(taken, do: jt, else: jf), a, x, mem)
    end
  end

  defp alu(0x00, a, s), do: a + s &&& @mask32
  defp alu(0x10, a, s), do: a - s &&& @mask32
  defp alu(0x20, a, s), do: a * s &&& @mask32
  defp alu(0x30, _a, 0), do: :div_by_zero
  defp alu(0x30, a, s), do: div(a, s)
  defp alu(0x40, a, s), do: a ||| s
  defp alu(0x50, a, s), do: a &&& s
  defp alu(0x60, a, s), do: a <<< (s &&& 31) &&& @mask32
  defp alu(0x70, a, s), do: a >>> (s &&& 31)
  defp alu(0xA0, a, s), do: bxor(a, s)

  defp jump?(0x10, a, s), do: a == s
  defp jump?(0x20, a, s), do: a > s
  defp jump?(0x30, a, s), do: a >= s
  defp jump?(0x40, a, s), do: (a &&& s) != 0

  @doc false
  # progs: list of prepared programs, oldest first. Returns the winning u32.
  def run_stack(progs, data) do
    progs
    |> Enum.reverse()
    |> Enum.reduce(0x7FFF0000, fn prog, best ->
      value = run(prog, data)
      if action_only(value) < action_only(best), do: value, else: best
    end)
  end

  # ACTION_ONLY(): the action bits as a signed 32-bit value.
  defp action_only(value) do
    <<signed::signed-32>> = <<value &&& 0xFFFF0000::32>>
    signed
  end
end
