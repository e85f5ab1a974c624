defmodule Linx.Seccomp.Notify.Structs do
  @moduledoc """
  Encoders for the x86_64 structs an emulated answer writes into the
  caller's memory with `{:write, {:arg, i}, binary}`.

      # uname(2) answered with a fake nodename
      %{syscall: :uname,
        then: [{:write, {:arg, 0}, Linx.Seccomp.Notify.Structs.utsname(nodename: "box")}, {:return, 0}]}
  """

  import Bitwise

  @uts_fields [:sysname, :nodename, :release, :version, :machine, :domainname]

  @doc """
  A `struct utsname` (6 fields of 65 bytes, NUL-padded; 390 bytes). Missing
  fields are the host's (read from `/proc/sys/kernel`), `machine` is
  `"x86_64"`. A value longer than 64 bytes raises `ArgumentError`.

      iex> u = Linx.Seccomp.Notify.Structs.utsname(sysname: "Linux", nodename: "box", release: "1", version: "v", domainname: "(none)")
      iex> byte_size(u)
      390
      iex> binary_part(u, 65, 4)
      "box\\0"
  """
  @spec utsname(keyword()) :: binary()
  def utsname(fields \\ []) do
    case Keyword.keys(fields) -- @uts_fields do
      [] -> :ok
      extra -> raise ArgumentError, "utsname: unknown fields #{inspect(extra)}"
    end

    for f <- @uts_fields, into: <<>> do
      value = Keyword.get_lazy(fields, f, fn -> host_uts(f) end)

      if byte_size(value) > 64,
        do: raise(ArgumentError, "utsname: #{f} longer than 64 bytes")

      value <> :binary.copy(<<0>>, 65 - byte_size(value))
    end
  end

  defp host_uts(:machine), do: "x86_64"

  defp host_uts(field) do
    file =
      case field do
        :sysname -> "ostype"
        :nodename -> "hostname"
        :release -> "osrelease"
        :version -> "version"
        :domainname -> "domainname"
      end

    case File.read("/proc/sys/kernel/" <> file) do
      {:ok, text} -> String.trim_trailing(text, "\n")
      {:error, _} -> ""
    end
  end

  @sysinfo_fields [
    :uptime,
    :loads,
    :totalram,
    :freeram,
    :sharedram,
    :bufferram,
    :totalswap,
    :freeswap,
    :procs,
    :totalhigh,
    :freehigh,
    :mem_unit
  ]

  @doc """
  A `struct sysinfo` (112 bytes on x86_64). Fields default to 0, `loads`
  to `{0, 0, 0}` (fixed point, 1.0 = 65536), `mem_unit` to 1.

      iex> s = Linx.Seccomp.Notify.Structs.sysinfo(uptime: 42, procs: 3, totalram: 1 <<< 30)
      iex> byte_size(s)
      112
      iex> <<uptime::little-64, _::binary-24, total::little-64, _::binary>> = s
      iex> {uptime, total}
      {42, 1073741824}
  """
  @spec sysinfo(keyword()) :: binary()
  def sysinfo(fields \\ []) do
    case Keyword.keys(fields) -- @sysinfo_fields do
      [] -> :ok
      extra -> raise ArgumentError, "sysinfo: unknown fields #{inspect(extra)}"
    end

    g = &Keyword.get(fields, &1, 0)
    {l1, l5, l15} = Keyword.get(fields, :loads, {0, 0, 0})

    <<g.(:uptime)::little-signed-64, l1::little-64, l5::little-64, l15::little-64,
      g.(:totalram)::little-64, g.(:freeram)::little-64, g.(:sharedram)::little-64,
      g.(:bufferram)::little-64, g.(:totalswap)::little-64, g.(:freeswap)::little-64,
      g.(:procs)::little-16, 0::16, 0::32, g.(:totalhigh)::little-64, g.(:freehigh)::little-64,
      Keyword.get(fields, :mem_unit, 1)::little-32, 0::32>>
  end

  @doc """
  The `dev_t` of a device number as `makedev(3)` encodes it (what `mknod`
  passes).

      iex> Linx.Seccomp.Notify.Structs.makedev(1, 3)
      0x103
  """
  @spec makedev(non_neg_integer(), non_neg_integer()) :: non_neg_integer()
  def makedev(major, minor) do
    (major &&& 0xFFF) <<< 8 ||| (major &&& ~~~0xFFF) <<< 32 ||| (minor &&& 0xFF) |||
      (minor &&& ~~~0xFF) <<< 12
  end
end
