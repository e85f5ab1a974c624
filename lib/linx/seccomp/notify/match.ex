defmodule Linx.Seccomp.Notify.Match do
  @moduledoc false
  # Evaluates normalised predicates (Linx.Seccomp.Notify.Rules) against one
  # notification: `args` is a tuple of six u64, `mem` a map arg => binary |
  # {:error, errno}. Pure: no I/O. A predicate that needs memory the agent
  # could not read is false (the rule does not match).

  import Bitwise

  alias Linx.Seccomp.Notify.Rules

  @u32 0xFFFF_FFFF

  @doc "True when every predicate holds."
  @spec all?([term()], tuple(), map()) :: boolean()
  def all?(preds, args, mem), do: Enum.all?(preds, &holds?(&1, args, mem))

  @doc "True when one predicate holds."
  @spec holds?(term(), tuple(), map()) :: boolean()
  def holds?({:arg, i, test}, args, _mem), do: int?(test, elem(args, i), elem(args, i))

  def holds?({:int, i, test}, args, _mem) do
    low = elem(args, i) &&& @u32
    int?(test, s32(low), low)
  end

  def holds?({:string, i, test}, _args, mem) do
    case cstring(Map.get(mem, i)) do
      {:ok, s, complete?} -> str?(test, s, complete?)
      :error -> false
    end
  end

  def holds?({:sockaddr, i, fields}, _args, mem) do
    case sockaddr(Map.get(mem, i)) do
      {:ok, sa} -> Enum.all?(fields, &field?(&1, sa))
      :error -> false
    end
  end

  def holds?({:open_flags, i, checks}, args, _mem) do
    flags = elem(args, i) &&& @u32
    Enum.all?(checks, &open?(&1, flags))
  end

  def holds?({:any, ps}, args, mem), do: Enum.any?(ps, &holds?(&1, args, mem))
  def holds?({:all, ps}, args, mem), do: all?(ps, args, mem)
  def holds?({:not, p}, args, mem), do: not holds?(p, args, mem)

  # `v` is compared, `bits` is masked (the same number for :arg; the
  # unsigned low word for :int).
  defp int?({:eq, x}, v, _bits), do: v == x
  defp int?({:in, xs}, v, _bits), do: v in xs
  defp int?({:cmp, op, x}, v, _bits), do: cmp(op, v, x)
  defp int?({:mask, m, x}, _v, bits), do: (bits &&& m) == x
  defp int?({:any_set, m}, _v, bits), do: (bits &&& m) != 0

  defp cmp(:==, a, b), do: a == b
  defp cmp(:!=, a, b), do: a != b
  defp cmp(:<, a, b), do: a < b
  defp cmp(:<=, a, b), do: a <= b
  defp cmp(:>, a, b), do: a > b
  defp cmp(:>=, a, b), do: a >= b

  defp s32(v) when v > 0x7FFF_FFFF, do: v - 0x1_0000_0000
  defp s32(v), do: v

  @doc """
  The C string in a read: `{:ok, string, complete?}`; `complete?` is false
  when no NUL was seen within the read's limit (the string was cut).
  """
  @spec cstring(term()) :: {:ok, binary(), boolean()} | :error
  def cstring(bin) when is_binary(bin) do
    case :binary.match(bin, <<0>>) do
      {pos, _} -> {:ok, binary_part(bin, 0, pos), true}
      :nomatch -> {:ok, bin, byte_size(bin) < Rules.cstring_max()}
    end
  end

  def cstring(_), do: :error

  # A cut string can only be tested by prefix.
  defp str?({:prefix, p}, s, _complete?), do: String.starts_with?(s, p)
  defp str?(_test, _s, false), do: false
  defp str?({:eq, x}, s, true), do: s == x
  defp str?({:in, xs}, s, true), do: s in xs
  defp str?({:suffix, x}, s, true), do: String.ends_with?(s, x)
  defp str?({:contains, x}, s, true), do: :binary.match(s, x) != :nomatch

  defp str?({:under, dir}, "/" <> _ = s, true) do
    path = Rules.normalize_path(s)
    dir == "/" or path == dir or String.starts_with?(path, dir <> "/")
  end

  defp str?({:under, _dir}, _relative, true), do: false

  @doc """
  Parses a `struct sockaddr` read from the caller:
  `%{family: n, path: bin | nil, addr: {family, bin} | nil, port: n | nil}`.
  A unix path stops at its first NUL, except an abstract one (leading NUL),
  which is every byte the caller passed.
  """
  @spec sockaddr(term()) :: {:ok, map()} | :error
  def sockaddr(<<1::little-16, rest::binary>>) do
    path =
      case rest do
        <<0, _::binary>> -> rest
        _ -> rest |> :binary.split(<<0>>) |> hd()
      end

    {:ok, %{family: 1, path: path, addr: nil, port: nil}}
  end

  def sockaddr(<<2::little-16, port::16, a::binary-4, _::binary>>),
    do: {:ok, %{family: 2, path: nil, addr: {2, a}, port: port}}

  def sockaddr(<<10::little-16, port::16, _flow::32, a::binary-16, _::binary>>),
    do: {:ok, %{family: 10, path: nil, addr: {10, a}, port: port}}

  def sockaddr(<<fam::little-16, _::binary>>),
    do: {:ok, %{family: fam, path: nil, addr: nil, port: nil}}

  def sockaddr(_), do: :error

  defp field?({:family, f}, sa), do: sa.family == f
  defp field?({:path, _}, %{path: nil}), do: false
  defp field?({:path, test}, %{path: p}), do: str?(test, p, true)
  defp field?({:port, _}, %{port: nil}), do: false
  defp field?({:port, test}, %{port: p}), do: int?(test, p, p)
  defp field?({:addr, _}, %{addr: nil}), do: false

  defp field?({:addr, cidrs}, %{addr: {fam, a}}) do
    Enum.any?(cidrs, fn {f, net, bits} ->
      f == fam and prefix(a, bits) == prefix(net, bits)
    end)
  end

  defp prefix(bin, bits) do
    <<p::bitstring-size(bits), _::bitstring>> = bin
    p
  end

  defp open?({:access, modes}, flags), do: (flags &&& 3) in modes
  defp open?({:mask, m, x}, flags), do: (flags &&& m) == x
  defp open?({:any_set, m}, flags), do: (flags &&& m) != 0
end
