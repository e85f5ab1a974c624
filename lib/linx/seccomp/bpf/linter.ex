defmodule Linx.Seccomp.BPF.Linter do
  @moduledoc false
  # Bypass checks for Linx.Seccomp.BPF.lint/1. Most checks run the filter
  # (Emulator) over chosen seccomp_data rather than pattern-match its code:
  # what matters is the decision the kernel would make, however the filter
  # is written. "Denied" means killed, trapped or failed with an errno;
  # "allowed" means ALLOW or LOG (NOTIFY and TRACE hand the call to someone
  # else and count as neither).

  import Bitwise

  alias Linx.Seccomp.BPF
  alias Linx.Seccomp.BPF.Emulator
  alias Linx.Syscalls

  @x86_64 0xC000003E
  @i386 0x40000003
  @x32_bit 0x40000000
  @enosys Linx.Errno.number!(:enosys)

  # numbers sampled when comparing decisions across ABIs
  @sample_nrs 0..470

  # i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl) of calls worth
  # checking for a foreign-ABI way around an x86_64 rule.
  @i386_calls [
    execve: 11,
    execveat: 358,
    open: 5,
    openat: 295,
    openat2: 437,
    ptrace: 26,
    mount: 21,
    unshare: 310,
    setns: 346,
    bpf: 357,
    init_module: 128,
    finit_module: 350,
    kexec_load: 283,
    chroot: 61,
    pivot_root: 217,
    keyctl: 288,
    perf_event_open: 336,
    userfaultfd: 374,
    socket: 359,
    clone: 120,
    clone3: 435
  ]

  # x32 numbers (bit 0x40000000 set) of the x32-only entries for execve and
  # execveat; other x32 calls share x86_64's numbers.
  @x32_only [execve: 520, execveat: 545]

  # Calls that do the same job: denying one but allowing another is a hole.
  @families [
    [:execve, :execveat],
    [:open, :openat, :openat2, :creat],
    [:fork, :vfork, :clone],
    [:rename, :renameat, :renameat2],
    [:unlink, :unlinkat],
    [:rmdir, :unlinkat],
    [:mkdir, :mkdirat],
    [:mknod, :mknodat],
    [:link, :linkat],
    [:symlink, :symlinkat],
    [:chmod, :fchmod, :fchmodat],
    [:chown, :fchown, :lchown, :fchownat],
    [:access, :faccessat, :faccessat2],
    [:readlink, :readlinkat],
    [:stat, :lstat, :newfstatat, :statx],
    [:utime, :utimes, :futimesat, :utimensat],
    [:truncate, :ftruncate],
    [:dup2, :dup3],
    [:pipe, :pipe2],
    [:accept, :accept4],
    [:kill, :tkill, :tgkill, :pidfd_send_signal],
    [:mount, :fsmount, :move_mount],
    [:select, :pselect6],
    [:poll, :ppoll],
    [:epoll_wait, :epoll_pwait, :epoll_pwait2],
    [:eventfd, :eventfd2],
    [:signalfd, :signalfd4],
    [:inotify_init, :inotify_init1],
    [:wait4, :waitid],
    [:getdents, :getdents64],
    [:setuid, :setreuid, :setresuid],
    [:setgid, :setregid, :setresgid],
    [:sendto, :sendmsg, :sendmmsg],
    [:recvfrom, :recvmsg, :recvmmsg]
  ]

  # argument vectors used to see whether clone3's decision depends on args
  @clone3_args [
    [0, 0, 0, 0, 0, 0],
    [0x7FFF_0000_1000, 88, 0, 0, 0, 0],
    [0x1000_0000, 0x10000, 0x10000, 0, 0, 0],
    [0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF, 0, 0, 0, 0]
  ]

  def lint(bin) do
    case BPF.validate(bin) do
      {:error, {pc, reason}} ->
        [
          %{
            kind: :invalid,
            index: pc,
            reason: reason,
            message: "the kernel refuses this filter: instruction #{pc}: #{inspect(reason)}"
          }
        ]

      :ok ->
        prog = BPF.prepare!(bin)

        arch_warnings(prog) ++
          x32_warnings(prog) ++
          family_warnings(prog) ++
          clone3_warnings(prog) ++ int_arg_warnings(prog) ++ unreachable_warnings(prog)
    end
  end

  defp outcome(prog, nr, arch \\ @x86_64, args \\ [0, 0, 0, 0, 0, 0]) do
    data = BPF.seccomp_data(%{nr: nr, arch: arch, args: args})
    prog |> Emulator.run(data) |> BPF.effective_action()
  end

  defp allowed?(action), do: action in [:allow, :log]

  defp denied?(action) do
    case action do
      :kill_process -> true
      :kill_thread -> true
      {:errno, _} -> true
      {:trap, _} -> true
      _ -> false
    end
  end

  defp sys!(name) do
    {:ok, nr} = Syscalls.number(name)
    nr
  end

  # --- architecture ------------------------------------------------------------

  defp arch_warnings(prog) do
    native = Enum.map(@sample_nrs, &outcome(prog, &1))
    varies? = native |> Enum.uniq() |> length() > 1

    # i386 (int 0x80) is the foreign ABI an x86_64 process can reach.
    ignores_arch? = varies? and Enum.map(@sample_nrs, &outcome(prog, &1, @i386)) == native

    cond do
      ignores_arch? ->
        how =
          if reads_arch?(prog),
            do: "its decisions do not depend on seccomp_data.arch",
            else: "it never loads seccomp_data.arch"

        [
          %{
            kind: :no_arch_check,
            message:
              "the filter has no architecture check (#{how}): the same numbers mean other calls " <>
                "under another ABI (i386 through int 0x80: 11 is execve there, munmap here). " <>
                "Load arch first and kill anything but AUDIT_ARCH_X86_64."
          }
        ]

      true ->
        foreign_warnings(prog)
    end
  end

  defp foreign_warnings(prog) do
    holes =
      for {name, i386_nr} <- @i386_calls,
          denied?(outcome(prog, sys!(name))),
          allowed?(outcome(prog, i386_nr, @i386)),
          do: name

    if holes == [] do
      []
    else
      [
        %{
          kind: :foreign_arch_allowed,
          calls: holes,
          message:
            "denied on x86_64 but allowed for the i386 ABI (int 0x80): #{Enum.join(holes, ", ")}. " <>
              "Kill other architectures, or filter each one with its own numbers."
        }
      ]
    end
  end

  defp reads_arch?(prog) do
    prog |> Tuple.to_list() |> Enum.any?(&match?({0x20, _, _, 4}, &1))
  end

  # --- x32 -----------------------------------------------------------------

  defp x32_warnings(prog) do
    denied = for nr <- @sample_nrs, denied?(outcome(prog, nr)), do: nr

    shared =
      for nr <- denied,
          allowed?(outcome(prog, nr ||| @x32_bit)),
          do: {nr ||| @x32_bit, Syscalls.name(nr) || nr}

    only =
      for {name, x32_nr} <- @x32_only,
          denied?(outcome(prog, sys!(name))),
          allowed?(outcome(prog, x32_nr ||| @x32_bit)),
          do: {x32_nr ||| @x32_bit, name}

    case only ++ shared do
      [] ->
        []

      holes ->
        examples =
          holes
          |> Enum.take(3)
          |> Enum.map_join(", ", fn {nr, name} ->
            "0x#{String.downcase(Integer.to_string(nr, 16))} (x32 #{name})"
          end)

        [
          %{
            kind: :x32_allowed,
            numbers: Enum.map(holes, &elem(&1, 0)),
            message:
              "x32 system calls get through: #{examples} allowed while the x86_64 call is denied. " <>
                "After the arch check, refuse nr >= 0x40000000 unless x32 is meant to work."
          }
        ]
    end
  end

  # --- equivalent calls -------------------------------------------------------

  # Only a deny list (default allow) is undone by an allowed sibling:
  # an allow list that has openat but not open simply chose the modern call.
  defp family_warnings(prog) do
    if deny_list?(prog), do: sibling_warnings(prog), else: []
  end

  # The default action is what numbers no rule names get: unallocated ones.
  defp deny_list?(prog) do
    unnamed = [350, 380, 400, 423, 500, 1000, 0x3FFFFFFF]
    Enum.count(unnamed, &allowed?(outcome(prog, &1))) * 2 > length(unnamed)
  end

  defp sibling_warnings(prog) do
    for family <- @families,
        outcomes = Enum.map(family, &{&1, outcome(prog, sys!(&1))}),
        {denied_name, denied_action} <- Enum.filter(outcomes, fn {_, a} -> denied?(a) end),
        allowed = for({name, a} <- outcomes, allowed?(a), do: name),
        allowed != [],
        uniq: true do
      %{
        kind: :alternative_allowed,
        denied: denied_name,
        allowed: allowed,
        message:
          "#{denied_name} is denied (#{inspect(denied_action)}) but #{Enum.join(allowed, ", ")} " <>
            "#{if length(allowed) == 1, do: "is", else: "are"} allowed and can do the same; deny the whole family."
      }
    end
  end

  # --- clone3 ------------------------------------------------------------------

  defp clone3_warnings(prog) do
    clone3 = sys!(:clone3)
    outcomes = Enum.map(@clone3_args, &outcome(prog, clone3, @x86_64, &1))
    clone3_action = hd(outcomes)

    by_args =
      if outcomes |> Enum.uniq() |> length() > 1 do
        [
          %{
            kind: :clone3_filtered_by_args,
            message:
              "clone3's decision depends on its arguments, but they are a pointer and a size: " <>
                "its flags are in memory, out of the filter's reach. Return ENOSYS for clone3 " <>
                "(libc then falls back to clone, whose flags a filter can see)."
          }
        ]
      else
        []
      end

    enosys =
      if allowed?(outcome(prog, sys!(:clone))) and denied?(clone3_action) and
           clone3_action != {:errno, @enosys} do
        [
          %{
            kind: :clone3_not_enosys,
            message:
              "clone is allowed but clone3 gets #{inspect(clone3_action)}: glibc tries clone3 first and " <>
                "falls back to clone only on ENOSYS, so threads and posix_spawn fail. Return ERRNO(38) for clone3."
          }
        ]
      else
        []
      end

    by_args ++ enosys
  end

  # --- 32-bit arguments compared as 64 bits ---------------------------------

  # The kernel reads these arguments as 32-bit values (Linx.Seccomp.IntArgs)
  # but seccomp_data holds the whole register: if the decision for a low
  # word changes with the high word, a caller picks the answer it wants.
  # Only arguments whose high word the filter loads are tried, with the
  # low words the filter compares against (and their neighbours).
  defp int_arg_warnings(prog) do
    insns = Tuple.to_list(prog)
    loaded_hi = for {0x20, _, _, k} <- insns, k >= 20, rem(k - 20, 8) == 0, do: div(k - 20, 8)
    lows = low_constants(insns)

    for {name, args} <- Linx.Seccomp.IntArgs.all(),
        {:ok, nr} = Syscalls.number(name),
        arg <- args,
        arg in loaded_hi,
        hole = int_arg_hole(prog, nr, arg, args, lows),
        hole != nil do
      {call_args, wide_args, a_low, a_high} = hole
      hex = fn v -> "0x" <> String.downcase(Integer.to_string(v, 16)) end
      show = fn list -> "#{name}(#{list |> Enum.take(3) |> Enum.map_join(", ", hex)}, …)" end

      %{
        kind: :int_arg_high_bits,
        syscall: name,
        arg: arg,
        message:
          "#{name}'s argument #{arg} is 32-bit for the kernel, but the filter's answer depends " <>
            "on its high 32 bits: #{show.(call_args)} gets #{inspect(a_low)}, #{show.(wide_args)} " <>
            "(the same call for the kernel) gets #{inspect(a_high)}. Compare the low 32 bits only " <>
            "({{:u32, #{arg}}, op, value} in a Linx policy; SCMP_CMP_MASKED_EQ with mask 0xffffffff)."
      }
    end
  end

  # arg index => the constants compared with (or masking) its low word: the
  # jumps and ANDs that follow a load of that word, up to the next load.
  defp low_constants(insns) do
    insns
    |> Enum.reduce({nil, %{}}, fn
      {0x20, _, _, k}, {_, acc} when k >= 16 and rem(k - 16, 8) == 0 ->
        {div(k - 16, 8), acc}

      {code, _, _, _}, {_, acc} when (code &&& 0x07) in [0x00, 0x01] ->
        {nil, acc}

      {code, _, _, k}, {arg, acc} when arg != nil and ((code &&& 0x07) == 0x05 or code == 0x54) ->
        near = [k, k + 1 &&& 0xFFFFFFFF, k - 1 &&& 0xFFFFFFFF]
        {arg, Map.update(acc, arg, near, &(near ++ &1))}

      _, state ->
        state
    end)
    |> elem(1)
    |> Map.new(fn {arg, ks} -> {arg, Enum.uniq(ks)} end)
  end

  # The other arguments are zero, or one of them holds one of its own
  # compared constants (Podman: family != 16 matters only with protocol 9).
  defp int_arg_hole(prog, nr, arg, args, lows) do
    zeros = [0, 0, 0, 0, 0, 0]
    others = for j <- args, j != arg, k <- Map.get(lows, j, []), do: List.replace_at(zeros, j, k)
    candidates = Map.get(lows, arg, []) ++ [0, 1, 0xFFFFFFFF]

    Enum.find_value([zeros | others], fn base_args ->
      Enum.find_value(candidates, fn low ->
        call_args = List.replace_at(base_args, arg, low)
        base = outcome(prog, nr, @x86_64, call_args)

        Enum.find_value([1, 0xFFFFFFFF, 0x80000000], fn high ->
          wide = List.replace_at(base_args, arg, high <<< 32 ||| low)
          other = outcome(prog, nr, @x86_64, wide)
          if other != base, do: {call_args, wide, base, other}
        end)
      end)
    end)
  end

  # --- unreachable code -----------------------------------------------------------

  defp unreachable_warnings(prog) do
    n = tuple_size(prog)
    reached = reach(prog, [0], MapSet.new())
    dead = for pc <- 0..(n - 1), not MapSet.member?(reached, pc), do: pc

    if dead == [] do
      []
    else
      [
        %{
          kind: :unreachable,
          indices: dead,
          message:
            "no path reaches instruction#{if length(dead) > 1, do: "s"} #{Enum.join(dead, ", ")}"
        }
      ]
    end
  end

  defp reach(_prog, [], seen), do: seen

  defp reach(prog, [pc | rest], seen) do
    if MapSet.member?(seen, pc) do
      reach(prog, rest, seen)
    else
      {code, jt, jf, k} = elem(prog, pc)

      next =
        cond do
          code in [0x06, 0x16] -> []
          code == 0x05 -> [pc + 1 + k]
          (code &&& 0x07) == 0x05 -> [pc + 1 + jt, pc + 1 + jf]
          true -> [pc + 1]
        end

      reach(prog, next ++ rest, MapSet.put(seen, pc))
    end
  end
end
