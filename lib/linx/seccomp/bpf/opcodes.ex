defmodule Linx.Seccomp.BPF.Opcodes do
  @moduledoc false
  # Classic BPF opcode constants (<linux/bpf_common.h>, <linux/filter.h>) and
  # the two opcode sets the kernel checks a seccomp filter against:
  #
  #   * classic/0  - net/core/filter.c chk_code_allowed(): what the classic BPF
  #                  checker knows at all;
  #   * seccomp/0  - kernel/seccomp.c seccomp_check_filter(): the subset seccomp
  #                  accepts (compared on the exact 16-bit code, so stray bits
  #                  make an instruction invalid).

  import Bitwise

  # classes
  def ld, do: 0x00
  def ldx, do: 0x01
  def st, do: 0x02
  def stx, do: 0x03
  def alu, do: 0x04
  def jmp, do: 0x05
  def ret, do: 0x06
  def misc, do: 0x07

  # ld/ldx sizes and modes
  def w, do: 0x00
  def h, do: 0x08
  def b, do: 0x10
  def imm, do: 0x00
  def abs, do: 0x20
  def ind, do: 0x40
  def mem, do: 0x60
  def len, do: 0x80
  def msh, do: 0xA0

  # sources
  def k, do: 0x00
  def x, do: 0x08
  def a, do: 0x10

  # The one ALU table: name, op bits, the C operator the disassembler
  # prints, and whether seccomp_check_filter() accepts it (BPF_MOD is
  # classic BPF but not seccomp). The assembler, the disassembler and the
  # opcode sets below all read it.
  @alu [
    {:add, 0x00, "+", true},
    {:sub, 0x10, "-", true},
    {:mul, 0x20, "*", true},
    {:div, 0x30, "/", true},
    {:or, 0x40, "|", true},
    {:and, 0x50, "&", true},
    {:lsh, 0x60, "<<", true},
    {:rsh, 0x70, ">>", true},
    {:mod, 0x90, "%", false},
    {:xor, 0xA0, "^", true}
  ]
  @alu_ops for {name, bits, _, _} <- @alu, do: {name, bits}
  @neg 0x80
  # jumps
  @jmp_ops [ja: 0x00, jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40]
  # misc
  @tax 0x00
  @txa 0x80

  def alu_ops, do: @alu_ops

  @doc "The ALU table (`alu_table/0`): `{name, op_bits, c_operator, seccomp_allowed?}`."
  def alu_table, do: @alu

  @doc "Op bits of each ALU operation seccomp accepts, by name."
  def seccomp_alu_ops, do: Map.new(for {name, bits, _, true} <- @alu, do: {name, bits})

  @doc "`{c_operator, seccomp_allowed?}` of ALU op bits, or nil."
  def alu_op(bits) do
    Enum.find_value(@alu, fn {_, b, sym, ok?} -> if b == bits, do: {sym, ok?} end)
  end

  def jmp_ops, do: @jmp_ops
  def neg, do: @neg
  def tax, do: @tax
  def txa, do: @txa

  @seccomp_alu for {_op, bits, _sym, true} <- @alu,
                   src <- [0x00, 0x08],
                   do: 0x04 ||| bits ||| src
  @cond_jumps for {op, bits} <- @jmp_ops,
                  op != :ja,
                  src <- [0x00, 0x08],
                  do: 0x05 ||| bits ||| src

  @seccomp MapSet.new(
             [
               # RET K, RET A
               0x06,
               0x16,
               # ALU NEG
               0x84,
               # LD IMM, LDX IMM, LD MEM, LDX MEM, ST, STX
               0x00,
               0x01,
               0x60,
               0x61,
               0x02,
               0x03,
               # TAX, TXA
               0x07,
               0x87,
               # JA
               0x05,
               # LD W ABS, LD W LEN, LDX W LEN
               0x20,
               0x80,
               0x81
             ] ++ @seccomp_alu ++ @cond_jumps
           )

  @classic MapSet.union(
             @seccomp,
             MapSet.new([
               # ALU ops seccomp refuses (MOD), K and X
               # LD H ABS, LD B ABS, LD W/H/B IND, LDX B MSH
               0x28,
               0x30,
               0x40,
               0x48,
               0x50,
               0xB1
             ])
           )
           |> MapSet.union(
             MapSet.new(
               for {_, bits, _, false} <- @alu, src <- [0x00, 0x08], do: 0x04 ||| bits ||| src
             )
           )

  def seccomp, do: @seccomp
  def classic, do: @classic
  def cond_jumps, do: @cond_jumps

  def cond_jump?(code), do: code in @cond_jumps
end
