defmodule Linx.Seccomp.Notify.Rules do
  @moduledoc false
  # Validation and normalisation of the `notify:` option: rules, predicates
  # and actions, checked once when given (Linx.Seccomp.Notify.new!/1) so
  # that decide/2 only interprets trusted, normalised data. Every error is
  # an ArgumentError naming where (`rules[2] (:connect) match[0]`) and what.
  # The grammar is documented in Linx.Seccomp.Notify's moduledoc and
  # docs/notify.md.

  import Bitwise

  alias Linx.{Errno, Syscalls}

  @u64 0xFFFF_FFFF_FFFF_FFFF
  @u32 0xFFFF_FFFF

  # PATH_MAX: a C string longer than this cannot be a path the kernel takes.
  @cstring_max 4096
  # sizeof(struct sockaddr_storage)
  @sockaddr_max 128

  @cmp_ops [:==, :!=, :<, :<=, :>, :>=]
  @families %{unix: 1, inet: 2, inet6: 10}
  @namespaces [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]

  # x86_64 open(2) flags (asm-generic/fcntl.h as x86_64 uses it).
  @open_flags %{
    creat: 0o100,
    excl: 0o200,
    noctty: 0o400,
    trunc: 0o1000,
    append: 0o2000,
    nonblock: 0o4000,
    dsync: 0o10000,
    async: 0o20000,
    direct: 0o40000,
    largefile: 0o100000,
    directory: 0o200000,
    nofollow: 0o400000,
    noatime: 0o1000000,
    cloexec: 0o2000000,
    sync: 0o4010000,
    path: 0o10000000,
    tmpfile: 0o20200000
  }
  @access_modes %{rdonly: 0, wronly: 1, rdwr: 2}

  @doc "The kind of read (protocol `notify_reads`) for a C string argument."
  @spec cstring_kind() :: {:cstring, pos_integer()}
  def cstring_kind, do: {:cstring, @cstring_max}

  @doc "The longest C string a read returns (strings this long were cut)."
  @spec cstring_max() :: pos_integer()
  def cstring_max, do: @cstring_max

  @doc "x86_64 open flag names and values (`:sync` and `:tmpfile` are multi-bit)."
  @spec open_flags() :: %{atom() => non_neg_integer()}
  def open_flags, do: @open_flags

  @doc "The errno number of a name or number; raises `ArgumentError` if unknown."
  @spec errno!(atom() | integer(), String.t()) :: pos_integer()
  def errno!(e, where) do
    case Errno.number(e) do
      {:ok, n} ->
        n

      :error ->
        fail!(where, "unknown errno #{inspect(e)} (expected a name like :eperm or 1..4095)")
    end
  end

  @doc "Raises the `ArgumentError` every validation error becomes."
  @spec fail!(String.t(), String.t()) :: no_return()
  def fail!(where, msg), do: raise(ArgumentError, "notify #{where}: #{msg}")

  # --- rules ---------------------------------------------------------------

  @doc """
  Validates a list of rules. Returns normalised rules
  `%{index, syscalls: [{name, nr}], match, then, reads}` where `reads` is
  `[{nr, arg, kind}]`.
  """
  @spec rules!(term()) :: [map()]
  def rules!(rules) when is_list(rules) do
    rules
    |> Enum.with_index()
    |> Enum.map(fn {rule, i} -> rule!(rule, i) end)
    |> check_shadowing!()
  end

  def rules!(other),
    do: fail!("rules", "expected a list of rules, got #{inspect(other)}")

  defp rule!(rule, i) when is_list(rule) do
    if Keyword.keyword?(rule),
      do: rule!(Map.new(rule), i),
      else: fail!("rules[#{i}]", "expected a map or keyword list, got #{inspect(rule)}")
  end

  defp rule!(%{} = rule, i) do
    where = "rules[#{i}]"

    case Map.keys(rule) -- [:syscall, :match, :then, :name] do
      [] ->
        :ok

      extra ->
        fail!(where, "unknown keys #{inspect(extra)} (known: :syscall, :match, :then, :name)")
    end

    syscalls =
      case Map.fetch(rule, :syscall) do
        {:ok, names} when is_list(names) and names != [] ->
          Enum.map(names, &syscall!(&1, where))

        {:ok, name} when is_atom(name) or is_integer(name) ->
          [syscall!(name, where)]

        {:ok, other} ->
          fail!(where, "syscall: expected a name or a list of names, got #{inspect(other)}")

        :error ->
          fail!(where, "missing :syscall")
      end

    where = "#{where} (#{inspect(elem(hd(syscalls), 0))})"

    match =
      case Map.get(rule, :match, []) do
        list when is_list(list) ->
          list |> Enum.with_index() |> Enum.map(fn {p, j} -> pred!(p, "#{where} match[#{j}]") end)

        p ->
          [pred!(p, "#{where} match")]
      end

    then =
      case Map.fetch(rule, :then) do
        {:ok, action} -> actions!(action, "#{where} then", mem: true)
        :error -> fail!(where, "missing :then (the action)")
      end

    reads = rule_reads!(syscalls, match, then, where)

    %{
      index: i,
      name: Map.get(rule, :name),
      syscalls: syscalls,
      match: match,
      then: then,
      reads: reads
    }
  end

  defp rule!(other, i),
    do: fail!("rules[#{i}]", "expected a map or keyword list, got #{inspect(other)}")

  @doc "A syscall name (or number) to `{name, nr}`; raises if unknown."
  @spec syscall!(term(), String.t()) :: {atom(), non_neg_integer()}
  def syscall!(name, where) when is_atom(name) do
    case Syscalls.number(name) do
      {:ok, nr} -> {name, nr}
      :error -> fail!(where, "unknown syscall #{inspect(name)} (not in the x86_64 table)")
    end
  end

  def syscall!(nr, where) when is_integer(nr) do
    case Syscalls.name(nr) do
      nil when nr in 0..1023 -> {nr, nr}
      nil -> fail!(where, "syscall number #{nr} out of range")
      name -> {name, nr}
    end
  end

  # an entry of Linx.Syscalls.all/0 as it is: `trap: Linx.Syscalls.all()`
  def syscall!({name, nr} = entry, where) when is_atom(name) and is_integer(nr) do
    case syscall!(name, where) do
      {^name, ^nr} = s -> s
      {^name, other} -> fail!(where, "#{inspect(entry)}: #{name} is syscall #{other}, not #{nr}")
    end
  end

  def syscall!(other, where), do: fail!(where, "expected a syscall name, got #{inspect(other)}")

  # A rule without predicates matches every call of its syscalls: any later
  # rule for one of them could never match. seitan lets that pass silently.
  defp check_shadowing!(rules) do
    Enum.reduce(rules, %{}, fn rule, catch_all ->
      Enum.each(rule.syscalls, fn {name, nr} ->
        case catch_all do
          %{^nr => j} ->
            fail!(
              "rules[#{rule.index}] (#{inspect(name)})",
              "can never match: rules[#{j}] matches every #{inspect(name)} call before it"
            )

          _ ->
            :ok
        end
      end)

      if rule.match == [],
        do:
          Enum.reduce(rule.syscalls, catch_all, fn {_, nr}, acc ->
            Map.put(acc, nr, rule.index)
          end),
        else: catch_all
    end)

    rules
  end

  # --- predicates ----------------------------------------------------------

  defp pred!({:arg, i, test}, w), do: {:arg, arg!(i, w), int_test!(test, :u64, w)}
  defp pred!({:int, i, test}, w), do: {:int, arg!(i, w), int_test!(test, :s32, w)}
  defp pred!({:string, i, test}, w), do: {:string, arg!(i, w), str_test!(test, false, w)}

  defp pred!({:sockaddr, i, fields}, w) do
    i = arg!(i, w)
    if i == 5, do: fail!(w, "a sockaddr's length is the next argument: arg 5 has none")

    unless Keyword.keyword?(fields) and fields != [],
      do: fail!(w, "sockaddr fields: expected a keyword list like [family: :unix, path: \"/x\"]")

    {:sockaddr, i, Enum.map(fields, &sockaddr_field!(&1, w))}
  end

  defp pred!({:open_flags, i, checks}, w) do
    i = arg!(i, w)

    unless Keyword.keyword?(checks) and checks != [],
      do: fail!(w, "open_flags: expected a keyword list like [access: :wronly, any: [:creat]]")

    {:open_flags, i, Enum.map(checks, &open_check!(&1, w))}
  end

  defp pred!({:any, preds}, w) when is_list(preds) and preds != [],
    do: {:any, sub_preds!(preds, w)}

  defp pred!({:all, preds}, w) when is_list(preds) and preds != [],
    do: {:all, sub_preds!(preds, w)}

  defp pred!({:not, p}, w), do: {:not, pred!(p, "#{w} not")}

  defp pred!(other, w) do
    fail!(
      w,
      "unknown predicate #{inspect(other)} (expected {:arg, i, test}, {:int, i, test}, " <>
        "{:string, i, test}, {:sockaddr, i, fields}, {:open_flags, i, checks}, " <>
        "{:any, [..]}, {:all, [..]} or {:not, p})"
    )
  end

  defp sub_preds!(preds, w),
    do: preds |> Enum.with_index() |> Enum.map(fn {p, j} -> pred!(p, "#{w}[#{j}]") end)

  defp arg!(i, _w) when is_integer(i) and i in 0..5, do: i
  defp arg!(i, w), do: fail!(w, "arg index #{inspect(i)} out of range 0..5")

  defp int_test!(v, kind, w) when is_integer(v), do: {:eq, int!(v, kind, w)}

  defp int_test!({op, v}, kind, w) when op in @cmp_ops and is_integer(v),
    do: {:cmp, op, int!(v, kind, w)}

  defp int_test!({:in, vs}, kind, w) when is_list(vs) and vs != [] do
    unless Enum.all?(vs, &is_integer/1), do: fail!(w, "{:in, list}: expected integers")
    {:in, Enum.map(vs, &int!(&1, kind, w))}
  end

  defp int_test!({:mask, m, v}, kind, w) when is_integer(m) and is_integer(v) do
    m = mask!(m, kind, w)
    v = mask!(v, kind, w)
    if (v &&& m) != v, do: fail!(w, "{:mask, m, v}: v has bits outside m, it can never match")
    {:mask, m, v}
  end

  defp int_test!({:all_set, m}, kind, w) when is_integer(m) do
    m = mask!(m, kind, w)
    {:mask, m, m}
  end

  defp int_test!({:none_set, m}, kind, w) when is_integer(m), do: {:mask, mask!(m, kind, w), 0}
  defp int_test!({:any_set, m}, kind, w) when is_integer(m), do: {:any_set, mask!(m, kind, w)}

  defp int_test!(other, _kind, w) do
    fail!(
      w,
      "unknown integer test #{inspect(other)} (expected an integer, {op, n} with op in " <>
        "#{inspect(@cmp_ops)}, {:in, list}, {:mask, m, v}, {:all_set, m}, {:any_set, m} or {:none_set, m})"
    )
  end

  # :u64 values are compared as the 64-bit register the kernel reports
  # (a negative literal is its two's complement); :s32 as a C int (the low
  # 32 bits, signed).
  defp int!(v, :u64, _w) when v >= -0x8000_0000_0000_0000 and v <= @u64, do: v &&& @u64
  defp int!(v, :s32, _w) when v >= -0x8000_0000 and v <= 0x7FFF_FFFF, do: v
  defp int!(v, :s32, _w) when v > 0x7FFF_FFFF and v <= @u32, do: v - 0x1_0000_0000
  defp int!(v, kind, w), do: fail!(w, "#{v} does not fit a #{kind} argument")

  defp mask!(v, :u64, _w) when v >= 0 and v <= @u64, do: v
  defp mask!(v, :s32, _w) when v >= 0 and v <= @u32, do: v
  defp mask!(v, kind, w), do: fail!(w, "mask #{v} does not fit a #{kind} argument")

  defp str_test!(b, nul?, w) when is_binary(b), do: {:eq, str!(b, nul?, w)}
  defp str_test!({:prefix, b}, nul?, w) when is_binary(b), do: {:prefix, str!(b, nul?, w)}
  defp str_test!({:suffix, b}, nul?, w) when is_binary(b), do: {:suffix, str!(b, nul?, w)}

  defp str_test!({:contains, b}, nul?, w) when is_binary(b) and b != "",
    do: {:contains, str!(b, nul?, w)}

  defp str_test!({:in, bs}, nul?, w) when is_list(bs) and bs != [] do
    unless Enum.all?(bs, &is_binary/1), do: fail!(w, "{:in, list}: expected binaries")
    {:in, Enum.map(bs, &str!(&1, nul?, w))}
  end

  defp str_test!({:under, "/" <> _ = dir}, nul?, w) do
    dir = str!(dir, nul?, w)

    case normalize_path(dir) do
      ^dir -> {:under, dir}
      other -> fail!(w, "{:under, dir}: write the directory as #{inspect(other)}")
    end
  end

  defp str_test!({:under, dir}, _nul?, w),
    do: fail!(w, "{:under, dir}: dir must be an absolute path, got #{inspect(dir)}")

  defp str_test!(other, _nul?, w) do
    fail!(
      w,
      "unknown string test #{inspect(other)} (expected a binary, {:prefix, b}, {:suffix, b}, " <>
        "{:contains, b}, {:in, list} or {:under, dir})"
    )
  end

  defp str!(b, true, _w), do: b

  defp str!(b, false, w) do
    if String.contains?(b, <<0>>),
      do: fail!(w, "#{inspect(b)} contains a NUL byte: a C string can never equal it"),
      else: b
  end

  @doc """
  Lexical normalisation of an absolute path: `//`, `.` and `..` collapsed
  (`..` at the root stays at the root), no trailing slash.

      iex> Linx.Seccomp.Notify.Rules.normalize_path("/a/./b//../c/")
      "/a/c"
  """
  @spec normalize_path(String.t()) :: String.t()
  def normalize_path(path) do
    path
    |> String.split("/", trim: true)
    |> Enum.reduce([], fn
      ".", acc -> acc
      "..", [] -> []
      "..", [_ | acc] -> acc
      seg, acc -> [seg | acc]
    end)
    |> Enum.reverse()
    |> then(&("/" <> Enum.join(&1, "/")))
  end

  defp sockaddr_field!({:family, f}, _w) when is_map_key(@families, f),
    do: {:family, Map.fetch!(@families, f)}

  defp sockaddr_field!({:family, f}, _w) when is_integer(f) and f in 0..0xFFFF, do: {:family, f}
  defp sockaddr_field!({:path, t}, w), do: {:path, str_test!(t, true, "#{w} path")}
  defp sockaddr_field!({:port, t}, w), do: {:port, port_test!(t, "#{w} port")}

  defp sockaddr_field!({:addr, a}, w) do
    addrs = if is_list(a), do: a, else: [a]
    if addrs == [], do: fail!(w, "addr: empty list")
    {:addr, Enum.map(addrs, &cidr!(&1, w))}
  end

  defp sockaddr_field!({field, value}, w) do
    fail!(
      w,
      "unknown sockaddr field #{inspect(field)}: #{inspect(value)} (known: family (:unix, :inet, " <>
        ":inet6 or a number), path, addr, port)"
    )
  end

  defp port_test!(t, w) do
    case int_test!(t, :u64, w) do
      {:eq, p} when p > 0xFFFF -> fail!(w, "port #{p} out of range 0..65535")
      test -> test
    end
  end

  defp cidr!({ip, bits}, w) when is_tuple(ip) and is_integer(bits) do
    {fam, bin} = ip!(ip, w)
    if bits < 0 or bits > bit_size(bin), do: fail!(w, "prefix length #{bits} out of range")
    {fam, bin, bits}
  end

  defp cidr!(ip, w) when is_tuple(ip) do
    {fam, bin} = ip!(ip, w)
    {fam, bin, bit_size(bin)}
  end

  defp cidr!(other, w),
    do: fail!(w, "addr: expected an IP tuple or {ip, prefix_len}, got #{inspect(other)}")

  defp ip!(ip, w) do
    case ip do
      {_, _, _, _} = ip4 ->
        if ip4 |> Tuple.to_list() |> Enum.all?(&(is_integer(&1) and &1 in 0..255)),
          do: {2, ip4 |> Tuple.to_list() |> :binary.list_to_bin()},
          else: fail!(w, "bad IPv4 address #{inspect(ip)}")

      {_, _, _, _, _, _, _, _} = ip6 ->
        words = Tuple.to_list(ip6)

        if Enum.all?(words, &(is_integer(&1) and &1 in 0..0xFFFF)),
          do: {10, for(x <- words, into: <<>>, do: <<x::16>>)},
          else: fail!(w, "bad IPv6 address #{inspect(ip)}")

      _ ->
        fail!(w, "bad IP address #{inspect(ip)} (a 4- or 8-tuple as :inet uses)")
    end
  end

  defp open_check!({:access, modes}, w) do
    modes = List.wrap(modes)

    {:access,
     Enum.map(modes, fn m ->
       case Map.fetch(@access_modes, m) do
         {:ok, v} -> v
         :error -> fail!(w, "unknown access mode #{inspect(m)} (known: :rdonly, :wronly, :rdwr)")
       end
     end)}
  end

  defp open_check!({how, flags}, w) when how in [:all, :any, :none] do
    m = flag_mask!(List.wrap(flags), w)

    case how do
      :all -> {:mask, m, m}
      :none -> {:mask, m, 0}
      :any -> {:any_set, m}
    end
  end

  defp open_check!({k, v}, w),
    do:
      fail!(
        w,
        "unknown open_flags check #{inspect(k)}: #{inspect(v)} (known: access, all, any, none)"
      )

  @doc "The bits of a list of open flag names (raises on unknown names)."
  @spec flag_mask!([atom()], String.t()) :: non_neg_integer()
  def flag_mask!(flags, w) do
    Enum.reduce(flags, 0, fn f, acc ->
      case Map.fetch(@open_flags, f) do
        {:ok, v} ->
          acc ||| v

        :error ->
          fail!(
            w,
            "unknown open flag #{inspect(f)} (known: #{@open_flags |> Map.keys() |> Enum.sort() |> inspect()})"
          )
      end
    end)
  end

  # --- actions -------------------------------------------------------------

  @doc """
  Validates an action or a sequence of actions; returns the normalised list,
  whose last element is a response. `mem: false` refuses `{:mem, i}`
  (the default action, which has no declared reads).
  """
  @spec actions!(term(), String.t(), keyword()) :: [term()]
  def actions!(actions, w, opts \\ [])

  def actions!([], w, _opts), do: fail!(w, "an empty action list")

  def actions!(list, w, opts) when is_list(list) do
    last = length(list) - 1

    list
    |> Enum.with_index()
    |> Enum.flat_map(fn {a, j} ->
      where = "#{w}[#{j}]"
      {kind, step} = action!(a, where, opts)

      cond do
        j < last and kind == :response ->
          fail!(where, "#{inspect(a)} answers the call: it must be the last action")

        j == last and kind == :step ->
          fail!(where, "#{inspect(a)} does not answer the call: end the sequence with a response")

        j == last and kind == :result ->
          [step, :return_last]

        true ->
          [step]
      end
    end)
  end

  def actions!(action, w, opts), do: actions!([action], w, opts)

  # kind: :response (answers), :step (must be followed by a response),
  # :result (a step whose result is returned when it ends a sequence).
  defp action!(:continue, _w, _o), do: {:response, :continue}
  defp action!(:return_last, _w, _o), do: {:response, :return_last}

  defp action!({:return, v}, _w, _o)
       when is_integer(v) and v >= -0x8000_0000_0000_0000 and v <= 0x7FFF_FFFF_FFFF_FFFF,
       do: {:response, {:return, v}}

  defp action!({:errno, e}, w, _o), do: {:response, {:errno, errno!(e, w)}}

  defp action!({:write, target, data}, w, _o) when is_binary(data) and data != "" do
    target =
      case target do
        {:arg, i} ->
          {:arg, arg!(i, w), 0}

        {:arg, i, off} when is_integer(off) ->
          {:arg, arg!(i, w), off}

        addr when is_integer(addr) and addr > 0 ->
          addr

        other ->
          fail!(
            w,
            "write: bad target #{inspect(other)} (expected {:arg, i}, {:arg, i, offset} or an address)"
          )
      end

    {:step, {:write, target, data}}
  end

  defp action!({:call, name, args}, w, o), do: action!({:call, name, args, []}, w, o)

  defp action!({:call, name, args, ctx}, w, o) when is_list(args) do
    {_, nr} = syscall!(name, w)
    if length(args) > 6, do: fail!(w, "call: at most 6 arguments, got #{length(args)}")

    args =
      args |> Enum.with_index() |> Enum.map(fn {a, j} -> call_arg!(a, "#{w} arg #{j}", o) end)

    {:result, {:call, nr, args, ctx!(ctx, w)}}
  end

  defp action!({:inject_fd, source, opts}, w, _o) when is_list(opts) do
    unless Keyword.keyword?(opts), do: fail!(w, "inject_fd: options must be a keyword list")

    case Keyword.keys(opts) -- [:at, :send, :cloexec] do
      [] ->
        :ok

      extra ->
        fail!(w, "inject_fd: unknown options #{inspect(extra)} (known: :at, :send, :cloexec)")
    end

    at =
      case Keyword.get(opts, :at) do
        nil ->
          -1

        n when is_integer(n) and n >= 0 ->
          n

        {:arg, i} ->
          {:arg, arg!(i, w)}

        other ->
          fail!(w, "inject_fd at: expected an fd number or {:arg, i}, got #{inspect(other)}")
      end

    send? = bool!(Keyword.get(opts, :send, false), "#{w} send", "inject_fd")
    cloexec? = bool!(Keyword.get(opts, :cloexec, false), "#{w} cloexec", "inject_fd")
    flags = if(cloexec?, do: [:cloexec], else: []) ++ if(send?, do: [:send], else: [])
    step = {:addfd, fd_source!(source, w), at, flags}
    {if(send?, do: :response, else: :result), step}
  end

  defp action!({:inject_fd, source}, w, o), do: action!({:inject_fd, source, []}, w, o)

  defp action!(other, w, _o) do
    fail!(
      w,
      "unknown action #{inspect(other)} (expected :continue, {:return, n}, {:errno, name}, " <>
        "{:write, target, binary}, {:call, syscall, args, ctx}, {:inject_fd, source, opts} or :return_last)"
    )
  end

  defp bool!(b, _w, _what) when is_boolean(b), do: b
  defp bool!(b, w, what), do: fail!(w, "#{what}: expected a boolean, got #{inspect(b)}")

  defp fd_source!({:open, path, flags, mode}, w) when is_binary(path) do
    flags =
      cond do
        is_integer(flags) and flags >= 0 -> flags
        is_list(flags) -> open_flag_list!(flags, w)
        true -> fail!(w, "inject_fd {:open, ...}: flags must be an integer or a list of names")
      end

    unless is_integer(mode) and mode in 0..0o7777,
      do: fail!(w, "inject_fd {:open, ...}: mode must be 0..0o7777")

    {:open, path, flags, mode}
  end

  defp fd_source!({:open, path, flags}, w), do: fd_source!({:open, path, flags, 0}, w)

  defp fd_source!({:connect_unix, path} = s, _w) when is_binary(path) and path != "", do: s

  defp fd_source!({:getfd, pid, fd} = s, _w)
       when is_integer(pid) and pid > 0 and is_integer(fd) and fd >= 0,
       do: s

  defp fd_source!(other, w) do
    fail!(
      w,
      "inject_fd: unknown source #{inspect(other)} (expected {:open, path, flags, mode}, " <>
        "{:connect_unix, path} or {:getfd, os_pid, fd})"
    )
  end

  # [:rdwr, :cloexec] -> O_RDWR | O_CLOEXEC
  defp open_flag_list!(flags, w) do
    {modes, rest} = Enum.split_with(flags, &Map.has_key?(@access_modes, &1))

    mode =
      case modes do
        [] -> 0
        [m] -> Map.fetch!(@access_modes, m)
        _ -> fail!(w, "inject_fd {:open, ...}: more than one access mode in #{inspect(flags)}")
      end

    mode ||| flag_mask!(rest, w)
  end

  defp call_arg!(v, _w, _o) when is_integer(v) and v >= -0x8000_0000_0000_0000 and v <= @u64,
    do: v

  defp call_arg!({:arg, i}, w, _o), do: {:arg, arg!(i, w)}

  defp call_arg!({:mem, i}, w, o) do
    if Keyword.get(o, :mem, false),
      do: {:mem, arg!(i, w)},
      else:
        fail!(w, "{:mem, #{inspect(i)}} is only available in a rule (whose reads are declared)")
  end

  defp call_arg!({tag, b} = v, _w, _o) when tag in [:str, :buf] and is_binary(b), do: v
  defp call_arg!(v, _w, _o) when v in [:caller_uid, :caller_gid, :caller_pid], do: v

  defp call_arg!(other, w, _o) do
    fail!(
      w,
      "bad call argument #{inspect(other)} (expected an integer, {:arg, i}, {:mem, i}, " <>
        "{:str, binary}, {:buf, binary}, :caller_uid, :caller_gid or :caller_pid)"
    )
  end

  defp ctx!(ctx, w) when is_list(ctx) do
    unless Keyword.keyword?(ctx), do: fail!(w, "call context: expected a keyword list")

    Enum.reduce(ctx, %{ns: [:mount], root: true, cwd: true, creds: false, resolve: :safe}, fn
      {:ns, ns}, acc when is_list(ns) ->
        case ns -- @namespaces do
          [] ->
            %{acc | ns: ns}

          bad ->
            fail!(
              w,
              "call context ns: unknown namespaces #{inspect(bad)} (known: #{inspect(@namespaces)})"
            )
        end

      {:creds, :caller_fs}, acc ->
        %{acc | creds: :caller_fs}

      {:creds, v}, acc ->
        unless is_boolean(v),
          do:
            fail!(w, "call context creds: expected true, false or :caller_fs, got #{inspect(v)}")

        %{acc | creds: v}

      {:resolve, r}, acc when r in [:safe, :follow] ->
        %{acc | resolve: r}

      {:resolve, r}, _acc ->
        fail!(w, "call context resolve: expected :safe or :follow, got #{inspect(r)}")

      {:beneath, dir}, acc ->
        Map.put(acc, :beneath, beneath!(dir, w))

      {k, v}, acc when k in [:root, :cwd] ->
        Map.put(acc, k, bool!(v, w, "call context #{k}"))

      {k, v}, _acc ->
        fail!(
          w,
          "call context: unknown key #{inspect(k)}: #{inspect(v)} " <>
            "(known: :ns, :root, :cwd, :creds, :resolve, :beneath)"
        )
    end)
    |> check_beneath!(w)
  end

  defp ctx!(other, w),
    do: fail!(w, "call context: expected a keyword list, got #{inspect(other)}")

  # beneath: confines safe resolution: it means nothing with resolve: :follow.
  defp check_beneath!(%{resolve: :follow, beneath: _}, w),
    do: fail!(w, "call context: beneath: needs resolve: :safe (it confines safe resolution)")

  defp check_beneath!(ctx, _w), do: ctx

  defp beneath!("/" <> _ = dir, w) do
    dir = str!(dir, false, "#{w} call context beneath")

    case normalize_path(dir) do
      ^dir -> dir
      other -> fail!(w, "call context beneath: write the directory as #{inspect(other)}")
    end
  end

  defp beneath!(dir, w),
    do: fail!(w, "call context beneath: expected an absolute directory path, got #{inspect(dir)}")

  # --- reads ---------------------------------------------------------------

  defp rule_reads!(syscalls, match, then, where) do
    wanted = pred_reads(match) ++ action_reads(then, pred_reads(match))

    reads = for {_, nr} <- syscalls, {arg, kind} <- Enum.uniq(wanted), do: {nr, arg, kind}

    check_reads!(reads, where)
    reads
  end

  defp pred_reads(preds), do: Enum.flat_map(preds, &pred_read/1)

  defp pred_read({:string, i, _}), do: [{i, cstring_kind()}]
  defp pred_read({:sockaddr, i, _}), do: [{i, {:bytes_arg, i + 1, @sockaddr_max}}]
  defp pred_read({tag, ps}) when tag in [:any, :all], do: pred_reads(ps)
  defp pred_read({:not, p}), do: pred_read(p)
  defp pred_read(_), do: []

  # {:mem, i} reuses the predicate's read of arg i, else reads a C string.
  defp action_reads(actions, pred_reads) do
    for {:call, _, args, _} <- actions, {:mem, i} <- args do
      case List.keyfind(pred_reads, i, 0) do
        nil -> {i, cstring_kind()}
        read -> read
      end
    end
  end

  @doc "Raises if one (nr, arg) is read two different ways."
  @spec check_reads!([{non_neg_integer(), 0..5, term()}], String.t()) :: :ok
  def check_reads!(reads, where) do
    reads
    |> Enum.group_by(fn {nr, arg, _} -> {nr, arg} end, fn {_, _, kind} -> kind end)
    |> Enum.each(fn {{nr, arg}, kinds} ->
      case Enum.uniq(kinds) do
        [_] ->
          :ok

        kinds ->
          fail!(
            where,
            "arg #{arg} of #{inspect(Syscalls.name(nr) || nr)} is read as #{inspect(kinds)}: " <>
              "one argument can be read only one way"
          )
      end
    end)
  end
end
