defmodule Linx.Process.Mounts do
  @moduledoc false
  # The `:root` and `:mounts` options (docs/sandbox.md): validated here,
  # for Linx.Process.Options, and turned into the request's wire entries
  # {kind, dst, arg, mode, size, flags} for Linx.Process.Wire
  # (docs/protocol.md, "mounts"). The child applies them in order
  # (c_src/mounts.c).

  import Bitwise

  # Bits of an entry's flags (c_src/mounts.h, MNT_F_*)
  @optional 1
  @dev 2
  @noexec 4
  @suid 8

  @max 256

  @kinds "{:bind | :ro_bind, src, dst}, {:bind | :ro_bind, src, dst, opts}, {:tmpfs, dst}, " <>
           "{:tmpfs, dst, size: bytes, mode: mode}, {:proc, dst}, {:dev, dst}, {:dir, dst}, " <>
           "{:dir, dst, mode}, {:symlink, target, dst}, {:file, dst, contents}, {:remount_ro, dst}"

  @typedoc "One entry of `mounts:` (see `Linx.Process.spawn/1`)."
  @type entry ::
          {:bind | :ro_bind, Path.t(), Path.t()}
          | {:bind | :ro_bind, Path.t(), Path.t(), keyword}
          | {:tmpfs, Path.t()}
          | {:tmpfs, Path.t(), keyword}
          | {:proc | :dev | :remount_ro, Path.t()}
          | {:dir, Path.t()}
          | {:dir, Path.t(), non_neg_integer}
          | {:symlink, binary, Path.t()}
          | {:file, Path.t(), binary}

  @doc "Validates `root:`; returns `:host`, `:tmpfs` or the directory."
  @spec root!(term) :: :host | :tmpfs | Path.t()
  def root!(root) when root in [:host, :tmpfs], do: root

  def root!(dir) when is_binary(dir) do
    unless absolute?(dir) do
      raise ArgumentError,
            "invalid option :root: got #{inspect(dir)}, expected :host, :tmpfs or an " <>
              "absolute directory path without NUL bytes"
    end

    dir
  end

  def root!(other) do
    raise ArgumentError,
          "invalid option :root: got #{inspect(other)}, expected :host, :tmpfs or an " <>
            "absolute directory path"
  end

  @doc "Validates `mounts:` (a list of entries); returns it unchanged."
  @spec mounts!(term) :: [entry]
  def mounts!(list) when is_list(list) and length(list) <= @max do
    list |> Enum.with_index() |> Enum.each(fn {m, i} -> entry!(m, i) end)
    list
  end

  def mounts!(list) when is_list(list) do
    raise ArgumentError, "invalid option :mounts: at most #{@max} entries, got #{length(list)}"
  end

  def mounts!(other) do
    raise ArgumentError,
          "invalid option :mounts: got #{inspect(other)}, expected a list of #{@kinds}"
  end

  @doc "True if an entry mounts a fresh procfs (it needs a new pid namespace)."
  @spec proc?(entry) :: boolean
  def proc?(entry), do: elem(entry, 0) == :proc

  @doc "The wire form of the entries: `{kind, dst, arg, mode, size, flags}`."
  @spec wire([entry]) :: [tuple]
  def wire(mounts), do: Enum.map(mounts, &wire_entry/1)

  defp wire_entry({kind, src, dst}) when kind in [:bind, :ro_bind],
    do: wire_entry({kind, src, dst, []})

  defp wire_entry({kind, src, dst, opts}) when kind in [:bind, :ro_bind] do
    flags =
      bit(opts[:optional] == true, @optional) ||| bit(opts[:dev] == true, @dev) |||
        bit(opts[:exec] == false, @noexec) ||| bit(opts[:suid] == true, @suid)

    {kind, dst, src, 0, 0, flags}
  end

  defp wire_entry({:tmpfs, dst}), do: wire_entry({:tmpfs, dst, []})

  defp wire_entry({:tmpfs, dst, opts}),
    do: {:tmpfs, dst, "", Keyword.get(opts, :mode, 0), Keyword.get(opts, :size, 0), 0}

  defp wire_entry({:dir, dst}), do: {:dir, dst, "", 0, 0, 0}
  defp wire_entry({:dir, dst, mode}), do: {:dir, dst, "", mode, 0, 0}
  defp wire_entry({:symlink, target, dst}), do: {:symlink, dst, target, 0, 0, 0}
  defp wire_entry({:file, dst, contents}), do: {:file, dst, contents, 0, 0, 0}
  defp wire_entry({kind, dst}), do: {kind, dst, "", 0, 0, 0}

  defp bit(true, b), do: b
  defp bit(false, _), do: 0

  ## Validation, one clause per kind

  defp entry!({kind, src, dst}, i) when kind in [:bind, :ro_bind],
    do: entry!({kind, src, dst, []}, i)

  defp entry!({kind, src, dst, opts} = m, i) when kind in [:bind, :ro_bind] do
    path!(m, i, src, "source")
    path!(m, i, dst, "destination")

    unless Keyword.keyword?(opts) do
      bad!(m, i, "its options must be a keyword list of optional:, dev:, exec:, suid:")
    end

    for {k, v} <- opts do
      unless k in [:optional, :dev, :exec, :suid] and is_boolean(v) do
        bad!(
          m,
          i,
          "unknown option #{inspect({k, v})}; expected booleans optional:, dev:, exec:, suid:"
        )
      end
    end

    m
  end

  defp entry!({:tmpfs, dst} = m, i), do: path!(m, i, dst, "destination")

  defp entry!({:tmpfs, dst, opts} = m, i) do
    path!(m, i, dst, "destination")
    unless Keyword.keyword?(opts), do: bad!(m, i, "expected size: bytes, mode: mode")

    for {k, v} <- opts do
      case k do
        :size when is_integer(v) and v > 0 ->
          :ok

        :mode when is_integer(v) and v >= 0 and v <= 0o7777 ->
          :ok

        _ ->
          bad!(
            m,
            i,
            "bad tmpfs option #{inspect({k, v})}; expected size: bytes > 0, mode: 0..0o7777"
          )
      end
    end

    m
  end

  defp entry!({kind, dst} = m, i) when kind in [:proc, :dev, :dir, :remount_ro],
    do: path!(m, i, dst, "destination")

  defp entry!({:dir, dst, mode} = m, i) do
    path!(m, i, dst, "destination")

    unless is_integer(mode) and mode >= 0 and mode <= 0o7777,
      do: bad!(m, i, "mode must be 0..0o7777")

    m
  end

  defp entry!({:symlink, target, dst} = m, i) do
    path!(m, i, dst, "destination")

    unless is_binary(target) and target != "" and not String.contains?(target, <<0>>) do
      bad!(m, i, "the target must be a non-empty binary without NUL bytes")
    end

    m
  end

  defp entry!({:file, dst, contents} = m, i) do
    path!(m, i, dst, "destination")
    unless is_binary(contents), do: bad!(m, i, "the contents must be a binary")
    m
  end

  defp entry!(m, i) do
    raise ArgumentError,
          "invalid option :mounts: entry #{i} (#{inspect(m)}) is not one of #{@kinds}"
  end

  # Absolute, no NUL, no ".." component: a destination stays inside the
  # new root (c_src/mounts.c joins it under /newroot).
  defp path!(m, i, path, what) do
    unless absolute?(path) do
      bad!(m, i, "the #{what} must be an absolute path without NUL bytes or \"..\" components")
    end

    m
  end

  defp absolute?(path) do
    is_binary(path) and String.starts_with?(path, "/") and not String.contains?(path, <<0>>) and
      ".." not in Path.split(path)
  end

  defp bad!(m, i, why) do
    raise ArgumentError, "invalid option :mounts: entry #{i} (#{inspect(m)}): #{why}"
  end
end
