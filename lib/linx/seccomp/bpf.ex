defmodule Linx.Seccomp.BPF do
  @moduledoc """
  A toolkit for seccomp's classic BPF, in pure Elixir: check a filter the way
  the kernel will, read it, run it, find the classic bypasses in it, and
  write one.

  A filter is a binary of `struct sock_filter` (8 bytes each: u16 `code`,
  u8 `jt`, u8 `jf`, u32 `k`, little-endian), exactly the bytes handed to
  `seccomp(SECCOMP_SET_MODE_FILTER, …)`.

    * `validate/1` — the kernel's acceptance rules (classic BPF checker and
      seccomp's own), with the first offending instruction and why.
    * `disassemble/1` — a seccomp-tools style listing.
    * `emulate/2` — the action the kernel takes for one filter or a stack
      of filters and a given `seccomp_data`.
    * `lint/1` — warnings for classic bypasses (no arch check, x32,
      `execveat` next to a denied `execve`, …).
    * `assemble/1` — a readable tuple language with labels.
    * `decode/1`, `encode/1`, `action_value/1`, `action_from_value/1`.

  ## The seccomp_data a filter sees

  | offset | field | `assemble/1` source |
  |---|---|---|
  | 0 | `nr` | `:nr` |
  | 4 | `arch` | `:arch` |
  | 8, 12 | `instruction_pointer` low, high word | `:ip`, `:ip_hi` |
  | 16 + 8·i, 20 + 8·i | `args[i]` low, high word | `{:arg, i}`, `{:arg_hi, i}` |

  ## Actions

  `:kill_process`, `:kill_thread` (also `:kill`), `{:trap, data}`,
  `{:errno, n}`, `:notify` (`SECCOMP_RET_USER_NOTIF`), `{:trace, data}`,
  `:log`, `:allow`. `:trap` and `:trace` alone mean data 0.

  ## The assembler's tuple language

  One tuple per instruction, plus `{:label, name}` which takes no slot.

  | tuple | instruction |
  |---|---|
  | `{:ld, :nr \\| :arch \\| :ip \\| :ip_hi}` | `A = seccomp_data field` |
  | `{:ld, {:arg, i}}`, `{:ld, {:arg_hi, i}}` | `A = low / high word of args[i]` |
  | `{:ld, {:abs, offset}}` | `A = 32-bit word at offset` |
  | `{:ld, {:imm, k}}`, `{:ld, {:mem, i}}`, `{:ld, :len}` | `A = k`, `A = M[i]`, `A = 64` |
  | `{:ldx, {:imm, k}}`, `{:ldx, {:mem, i}}`, `{:ldx, :len}` | the same into X |
  | `{:st, i}`, `{:stx, i}` | `M[i] = A`, `M[i] = X` (i in 0..15) |
  | `{:add \\| :sub \\| :mul \\| :div \\| :and \\| :or \\| :xor \\| :lsh \\| :rsh, k \\| :x}` | `A op= k` or `A op= X` |
  | `:neg`, `:tax`, `:txa` | `A = -A`, `X = A`, `A = X` |
  | `{:ja, target}` | jump always (32-bit offset: reaches anywhere ahead) |
  | `{:jeq \\| :jgt \\| :jge \\| :jset, operand, jt, jf}` | jump to `jt` if the test holds, else `jf` |
  | `{:jne \\| :jle \\| :jlt, operand, jt, jf}` | the negated tests (encoded with jt/jf swapped) |
  | `{:jeq, operand, jt}` | as above with `jf` = `:next` |
  | `{:ret, action}`, `{:ret, :a}` | return an action (see above, or a raw u32), return A |
  | `{:raw, code, jt, jf, k}` | any instruction, unchecked |

  A jump `operand` is an integer, `:x`, a syscall name (`:execve` or
  `{:sys, :execve}`, x86_64 numbers) or `{:arch, :x86_64}`. A jump target
  is a label (any term but `:next`), `:next` (the following instruction)
  or a relative integer offset (0 = the following instruction). BPF jumps
  only forward, and `jt`/`jf` are single bytes: a conditional jump further
  than 255 instructions raises, as do unknown or backward labels — jump to a
  nearby `{:ja, far_label}` instead.

      iex> alias Linx.Seccomp.BPF
      iex> filter = BPF.assemble([
      ...>   {:ld, :arch},
      ...>   {:jeq, {:arch, :x86_64}, :next, :kill},
      ...>   {:ld, :nr},
      ...>   {:jge, 0x40000000, :kill},
      ...>   {:jeq, :execve, :deny},
      ...>   {:jeq, :execveat, :deny},
      ...>   {:ret, :allow},
      ...>   {:label, :deny},
      ...>   {:ret, {:errno, 1}},
      ...>   {:label, :kill},
      ...>   {:ret, :kill_process}
      ...> ])
      iex> BPF.validate(filter)
      :ok
      iex> BPF.emulate(filter, %{nr: 59})
      {:errno, 1}
      iex> BPF.emulate(filter, %{nr: 0})
      :allow
      iex> BPF.emulate(filter, %{nr: 11, arch: :x86})
      :kill_process
      iex> BPF.disassemble(filter) |> String.split("\\n") |> Enum.at(4)
      "0004: 0x15 0x02 0x00 0x0000003b  if (A == execve) goto 0007"
  """

  import Bitwise

  alias Linx.Seccomp.BPF.{Assembler, Disassembler, Emulator, Linter, Validator}

  @typedoc "One decoded instruction: `{code, jt, jf, k}`."
  @type insn ::
          {code :: 0..0xFFFF, jt :: 0..255, jf :: 0..255, k :: 0..0xFFFFFFFF}

  @typedoc "What seccomp does with a system call."
  @type action ::
          :allow
          | :log
          | :notify
          | {:trace, 0..0xFFFF}
          | {:errno, non_neg_integer()}
          | {:trap, 0..0xFFFF}
          | :kill_thread
          | :kill_process

  @typedoc "Why `validate/1` refuses a filter."
  @type reason :: Validator.reason()

  @typedoc """
  The data a filter runs over: a map (missing keys default to `arch:
  :x86_64`, `instruction_pointer: 0`, `args: [0, 0, 0, 0, 0, 0]`; `arch`
  may be an `AUDIT_ARCH_*` integer or a name known to `Linx.Syscalls.arch/1`;
  fewer than six args are padded with zeros) or the raw 64-byte
  `struct seccomp_data`.
  """
  @type seccomp_data ::
          %{
            required(:nr) => integer(),
            optional(:arch) => atom() | non_neg_integer(),
            optional(:instruction_pointer) => non_neg_integer(),
            optional(:args) => [integer()]
          }
          | <<_::512>>

  @typedoc "A lint finding: `kind` is an atom, `message` says what and how to fix it."
  @type warning :: %{
          required(:kind) => atom(),
          required(:message) => String.t(),
          optional(atom()) => term()
        }

  # --- encoding -------------------------------------------------------------

  @doc """
  Splits a filter binary into `{code, jt, jf, k}` tuples. Raises
  `ArgumentError` if its size is not a multiple of 8.

      iex> Linx.Seccomp.BPF.decode(<<0x06, 0, 0, 0, 0, 0, 0xFF, 0x7F>>)
      [{0x06, 0, 0, 0x7FFF0000}]
  """
  @spec decode(binary()) :: [insn()]
  def decode(bin) when is_binary(bin) do
    if rem(byte_size(bin), 8) != 0 do
      raise ArgumentError, "a BPF program is a multiple of 8 bytes, got #{byte_size(bin)}"
    end

    Validator.decode(bin)
  end

  @doc """
  Packs `{code, jt, jf, k}` tuples into a filter binary.

      iex> Linx.Seccomp.BPF.encode([{0x06, 0, 0, 0x7FFF0000}])
      <<6, 0, 0, 0, 0, 0, 255, 127>>
  """
  @spec encode([insn()]) :: binary()
  def encode(insns) when is_list(insns) do
    for {code, jt, jf, k} <- insns, into: <<>> do
      unless code in 0..0xFFFF and jt in 0..255 and jf in 0..255 and k in 0..0xFFFFFFFF do
        raise ArgumentError, "instruction out of range: #{inspect({code, jt, jf, k})}"
      end

      <<code::little-16, jt::8, jf::8, k::little-32>>
    end
  end

  @doc """
  The 32-bit value a filter returns for an action. Also accepts
  `:kill` (= `:kill_thread`), `:user_notif` (= `:notify`), `:trap`,
  `:trace` (data 0) and a raw integer (returned as is).

      iex> Linx.Seccomp.BPF.action_value({:errno, 1})
      0x00050001
      iex> Linx.Seccomp.BPF.action_value(:kill_process)
      0x80000000
  """
  @spec action_value(action() | :kill | :user_notif | :trap | :trace | non_neg_integer()) ::
          non_neg_integer()
  def action_value(:kill_process), do: 0x80000000
  def action_value(:kill_thread), do: 0x00000000
  def action_value(:kill), do: 0x00000000
  def action_value(:trap), do: 0x00030000
  def action_value({:trap, data}), do: 0x00030000 ||| data16(data)
  def action_value({:errno, n}), do: 0x00050000 ||| data16(n)
  def action_value(:notify), do: 0x7FC00000
  def action_value(:user_notif), do: 0x7FC00000
  def action_value(:trace), do: 0x7FF00000
  def action_value({:trace, data}), do: 0x7FF00000 ||| data16(data)
  def action_value(:log), do: 0x7FFC0000
  def action_value(:allow), do: 0x7FFF0000
  def action_value(value) when is_integer(value) and value in 0..0xFFFFFFFF, do: value
  def action_value(other), do: raise(ArgumentError, "unknown seccomp action #{inspect(other)}")

  defp data16(n) when is_integer(n) and n in 0..0xFFFF, do: n
  defp data16(n), do: raise(ArgumentError, "action data must be 0..65535, got #{inspect(n)}")

  @doc """
  Reads a filter's 32-bit return value as the kernel does (action bits
  `0xffff0000`, data `0xffff`). Values the kernel does not know come back
  as `{:unknown, value}` — the kernel kills the process for them — and
  ERRNO data is not capped here (see `emulate/2` for what the caller sees).

      iex> Linx.Seccomp.BPF.action_from_value(0x00050001)
      {:errno, 1}
      iex> Linx.Seccomp.BPF.action_from_value(0x7FFF0000)
      :allow
      iex> Linx.Seccomp.BPF.action_from_value(0x00010000)
      {:unknown, 0x00010000}
  """
  @spec action_from_value(non_neg_integer()) :: action() | {:unknown, non_neg_integer()}
  def action_from_value(value) when is_integer(value) and value in 0..0xFFFFFFFF do
    data = value &&& 0xFFFF

    case value &&& 0xFFFF0000 do
      0x80000000 -> :kill_process
      0x00000000 -> :kill_thread
      0x00030000 -> {:trap, data}
      0x00050000 -> {:errno, data}
      0x7FC00000 -> :notify
      0x7FF00000 -> {:trace, data}
      0x7FFC0000 -> :log
      0x7FFF0000 -> :allow
      _ -> {:unknown, value}
    end
  end

  # --- validation -----------------------------------------------------------

  @doc """
  Checks a filter against the rules the kernel applies before it installs
  it (`seccomp_prepare_filter`, `bpf_check_classic`, `seccomp_check_filter`):

    * 1..4096 instructions (`:empty`, `:too_long`), whole instructions
      (`:truncated`);
    * only seccomp's opcodes: `RET K/A`; ALU `ADD SUB MUL DIV AND OR XOR LSH
      RSH` with K or X, and `NEG`; `LD/LDX IMM`, `LD/LDX MEM`, `ST`, `STX`;
      `TAX`, `TXA`; `JA`, `JEQ JGE JGT JSET` with K or X; `LD W ABS`;
      `LD W LEN`, `LDX W LEN` — `{:unknown_opcode, code}` for what classic
      BPF does not know, `{:not_allowed_in_seccomp, code}` for the rest
      (`MOD`, byte/half loads, `IND`, `MSH`, …);
    * `LD W ABS k`: k 4-byte aligned and below 64 (`{:bad_offset, k}`);
    * division by the constant 0 (`:division_by_zero`), shift by a constant
      of 32 or more (`{:shift_out_of_range, k}`), scratch index 16 or more
      (`{:bad_mem_index, k}`);
    * every jump lands inside the program (`:jump_out_of_range`);
    * the last instruction is a return (`:no_return_at_end`);
    * each scratch cell `M[i]` is written before it is read on every path,
      as the kernel's `check_load_and_stores` computes it
      (`{:mem_read_before_write, i}`). The kernel's pass does not reset its
      state after a `RET`, so it also refuses a read reached only by jumps
      that store when the instruction just before it is a `RET` reached
      without the store; we refuse the same programs.

  Returns `{:error, {index, reason}}` for the first offending instruction:
  the per-instruction checks in program order, then the last-instruction
  check, then the memory check. The kernel itself answers only `EINVAL`.
  (Installing also needs `NO_NEW_PRIVS` or `CAP_SYS_ADMIN`, and a whole
  stack may hold at most 32768 instructions counting 4 extra per filter;
  neither is a property of one program.)

      iex> Linx.Seccomp.BPF.validate(Linx.Seccomp.BPF.assemble([{:ret, :allow}]))
      :ok
      iex> Linx.Seccomp.BPF.validate(Linx.Seccomp.BPF.assemble([{:ld, {:abs, 2}}, {:ret, :a}]))
      {:error, {0, {:bad_offset, 2}}}
      iex> Linx.Seccomp.BPF.validate(Linx.Seccomp.BPF.assemble([{:ld, {:mem, 0}}, {:ret, :a}]))
      {:error, {0, {:mem_read_before_write, 0}}}
  """
  @spec validate(binary()) :: :ok | {:error, {non_neg_integer(), reason()}}
  def validate(bin) when is_binary(bin), do: Validator.validate(bin)

  # --- disassembly ----------------------------------------------------------

  @doc """
  A seccomp-tools style listing, one line per instruction:
  `LINE: CODE JT JF K  meaning`, line numbers in decimal, the rest in hex.
  Comparisons name x86_64 system calls when A holds `sys_number` and
  architectures when A holds `arch` on every path to the comparison; a
  conditional jump whose true branch falls through is printed negated.
  Invalid programs are listed too (unknown opcodes as `invalid opcode`);
  a binary that is not a whole number of instructions raises
  `ArgumentError`.

      iex> alias Linx.Seccomp.BPF
      iex> BPF.assemble([{:ld, :nr}, {:jeq, :execve, :next, 1}, {:ret, :kill}, {:ret, :allow}])
      ...> |> BPF.disassemble()
      \"""
      0000: 0x20 0x00 0x00 0x00000000  A = sys_number
      0001: 0x15 0x00 0x01 0x0000003b  if (A != execve) goto 0003
      0002: 0x06 0x00 0x00 0x00000000  return KILL
      0003: 0x06 0x00 0x00 0x7fff0000  return ALLOW
      \"""
  """
  @spec disassemble(binary()) :: String.t()
  def disassemble(bin) when is_binary(bin) do
    case disassemble_lines(bin) do
      [] -> ""
      lines -> Enum.join(lines, "\n") <> "\n"
    end
  end

  @doc """
  The lines of `disassemble/1`, without newlines.

      iex> Linx.Seccomp.BPF.disassemble_lines(Linx.Seccomp.BPF.assemble([{:ld, {:arg_hi, 1}}, {:ret, :a}]))
      ["0000: 0x20 0x00 0x00 0x0000001c  A = args[1] >> 32", "0001: 0x16 0x00 0x00 0x00000000  return A"]
  """
  @spec disassemble_lines(binary()) :: [String.t()]
  def disassemble_lines(bin) when is_binary(bin), do: Disassembler.lines(decode(bin))

  # --- emulation ------------------------------------------------------------

  @doc """
  The action the kernel takes for a system call described by
  `seccomp_data` (see `t:seccomp_data/0`), under one filter or a stack.

  A stack is a list of filter binaries **in installation order: the oldest
  first, the newest (installed last) at the end**. As in
  `seccomp_run_filters()`, every filter runs and the result whose action
  is lowest, compared as a signed 32-bit value, wins (so `:kill_process`
  beats everything, then `:kill_thread`, `{:trap, _}`, `{:errno, _}`,
  `:notify`, `{:trace, _}`, `:log`, `:allow`); among equal actions the
  newest filter's data wins.

  The answer is what the kernel does: `{:errno, n}` with n capped at 4095
  (`MAX_ERRNO`; note `{:errno, 0}` makes the call return 0), and a return
  value with an unknown action kills the process (`:kill_process`).
  Without a listener or tracer, `:notify` and `{:trace, _}` make the call
  fail with `ENOSYS`; `:log` allows it.

  Raises `ArgumentError` if a filter does not pass `validate/1`.

      iex> alias Linx.Seccomp.BPF
      iex> deny_open = BPF.assemble([{:ld, :nr}, {:jeq, :open, :next, 1}, {:ret, {:errno, 13}}, {:ret, :allow}])
      iex> trap_all = BPF.assemble([{:ret, {:trap, 7}}])
      iex> BPF.emulate(deny_open, %{nr: 2})
      {:errno, 13}
      iex> BPF.emulate([deny_open, trap_all], %{nr: 2})
      {:trap, 7}
      iex> BPF.emulate(BPF.assemble([{:ret, {:errno, 5000}}]), %{nr: 0})
      {:errno, 4095}
  """
  @spec emulate(binary() | [binary()], seccomp_data()) :: action()
  def emulate(filters, data) do
    filters |> emulate_value(data) |> effective_action()
  end

  @doc """
  The raw 32-bit value that wins for a filter or stack (see `emulate/2`),
  before the kernel interprets it.

      iex> Linx.Seccomp.BPF.emulate_value(Linx.Seccomp.BPF.assemble([{:ld, :nr}, {:ret, :a}]), %{nr: 39})
      39
  """
  @spec emulate_value(binary() | [binary()], seccomp_data()) :: non_neg_integer()
  def emulate_value(filters, data) do
    progs = filters |> List.wrap() |> Enum.map(&prepare!/1)

    if progs == [] do
      raise ArgumentError, "emulate needs at least one filter"
    end

    Emulator.run_stack(progs, seccomp_data(data))
  end

  @doc false
  # Validated program as a tuple, for repeated runs (lint).
  def prepare!(bin) when is_binary(bin) do
    case validate(bin) do
      :ok ->
        List.to_tuple(decode(bin))

      {:error, {pc, reason}} ->
        raise ArgumentError, "invalid filter at instruction #{pc}: #{inspect(reason)}"
    end
  end

  def prepare!(other), do: raise(ArgumentError, "a filter is a binary, got #{inspect(other)}")

  @doc false
  def effective_action(value) do
    case action_from_value(value) do
      {:errno, n} -> {:errno, min(n, 4095)}
      {:unknown, _} -> :kill_process
      action -> action
    end
  end

  @doc """
  Builds the 64-byte `struct seccomp_data` from a map (see
  `t:seccomp_data/0`); a binary is checked and returned as is.

      iex> data = Linx.Seccomp.BPF.seccomp_data(%{nr: 59, args: [1]})
      iex> byte_size(data)
      64
      iex> <<59::little-32, 0xC000003E::little-32, _::binary>> = data
  """
  @spec seccomp_data(seccomp_data()) :: <<_::512>>
  def seccomp_data(<<_::binary-size(64)>> = bin), do: bin

  def seccomp_data(%{nr: nr} = map) when is_integer(nr) do
    arch =
      case Map.get(map, :arch, :x86_64) do
        a when is_integer(a) ->
          a

        a when is_atom(a) ->
          case Linx.Syscalls.arch(a) do
            {:ok, v} -> v
            :error -> raise ArgumentError, "unknown architecture #{inspect(a)}"
          end
      end

    args = Map.get(map, :args, [])

    if length(args) > 6 or not Enum.all?(args, &is_integer/1) do
      raise ArgumentError, "args must be at most six integers, got #{inspect(args)}"
    end

    args = args ++ List.duplicate(0, 6 - length(args))
    ip = Map.get(map, :instruction_pointer, Map.get(map, :ip, 0))

    <<nr &&& 0xFFFFFFFF::little-32, arch &&& 0xFFFFFFFF::little-32,
      ip &&& 0xFFFFFFFFFFFFFFFF::little-64>> <>
      for(a <- args, into: <<>>, do: <<a &&& 0xFFFFFFFFFFFFFFFF::little-64>>)
  end

  def seccomp_data(other), do: raise(ArgumentError, "not seccomp data: #{inspect(other)}")

  # --- lint -----------------------------------------------------------------

  @doc """
  Warnings about classic ways around a filter, found by running it (for
  the x86_64 ABI, the i386 ABI and x32 numbers) and by reading its code.
  Each warning is a map with `:kind` and `:message` (and details):

    * `:invalid` — the kernel would refuse the filter (nothing else is checked);
    * `:no_arch_check` — decisions do not depend on `arch`, so the same
      numbers mean other calls under another ABI (i386 via `int 0x80`);
    * `:x32_allowed` — x86_64 calls are filtered but numbers with bit
      `0x40000000` (the x32 ABI) get through;
    * `:alternative_allowed` — a deny list (a filter whose default, for
      numbers no rule names, is to allow) denies a call but allows an
      equivalent one (`execve`/`execveat`,
      `open`/`openat`/`openat2`, …);
    * `:foreign_arch_allowed` — the filter checks `arch` but lets i386
      calls through that it denies on x86_64;
    * `:clone3_filtered_by_args` — `clone3`'s flags are in memory, a filter
      cannot see them;
    * `:clone3_not_enosys` — `clone` is allowed but `clone3` fails with an
      errno other than `ENOSYS`, which stops libc falling back to `clone`;
    * `:int_arg_high_bits` — the answer for an argument the kernel reads
      as 32 bits (`socket`'s family, `personality`, fds, …; see
      `Linx.Seccomp.IntArgs`) depends on its high 32 bits, which the
      caller can set freely: `socket(0x100000028, …)` is an `AF_VSOCK`
      socket that a 64-bit `family == 40` rule does not see;
    * `:unreachable` — instructions no path reaches.

      iex> alias Linx.Seccomp.BPF
      iex> f = BPF.assemble([{:ld, :nr}, {:jeq, :execve, :next, 1}, {:ret, :kill_process}, {:ret, :allow}])
      iex> BPF.lint(f) |> Enum.map(& &1.kind)
      [:no_arch_check, :x32_allowed, :alternative_allowed]
  """
  @spec lint(binary()) :: [warning()]
  def lint(bin) when is_binary(bin), do: Linter.lint(bin)

  # --- assembly -------------------------------------------------------------

  @doc """
  Assembles the tuple language described in the module documentation into
  a filter binary. Raises `ArgumentError` for an unknown instruction,
  label, syscall or architecture name, a backward or out-of-range jump, or
  an operand that does not fit. The result is not validated: pass it to
  `validate/1`.

      iex> Linx.Seccomp.BPF.assemble([{:ld, :nr}, {:jeq, 39, :yes, :next}, {:ret, :allow}, {:label, :yes}, {:ret, {:errno, 1}}])
      ...> |> Linx.Seccomp.BPF.decode()
      [{0x20, 0, 0, 0}, {0x15, 1, 0, 39}, {0x06, 0, 0, 0x7FFF0000}, {0x06, 0, 0, 0x50001}]
  """
  @spec assemble([tuple() | atom()]) :: binary()
  def assemble(items) when is_list(items), do: Assembler.assemble(items)
end
