defmodule Linx.Capabilities do
  @moduledoc """
  Linux capabilities: names <-> numbers, bit masks, and the capability sets
  a process shows in `/proc/PID/status`.

  Names are the kernel's `CAP_*` constants in lower case without the prefix
  (`CAP_SYS_ADMIN` is `:sys_admin`). The table is copied from
  `/usr/include/linux/capability.h` (`CAP_CHOWN` 0 … `CAP_CHECKPOINT_RESTORE`
  40). A running kernel may know more: `last_cap/0` reads its highest number
  from `/proc/sys/kernel/cap_last_cap`, and a capability this table does not
  name appears as `{:unknown, n}` instead of being refused or dropped.

      iex> Linx.Capabilities.to_mask([:chown, :kill])
      0x21
      iex> Linx.Capabilities.from_mask(0x21)
      [:chown, :kill]
      iex> Linx.Capabilities.format_mask(0x21)
      "0000000000000021"
  """

  import Bitwise

  # From /usr/include/linux/capability.h, in number order.
  @table [
    chown: 0,
    dac_override: 1,
    dac_read_search: 2,
    fowner: 3,
    fsetid: 4,
    kill: 5,
    setgid: 6,
    setuid: 7,
    setpcap: 8,
    linux_immutable: 9,
    net_bind_service: 10,
    net_broadcast: 11,
    net_admin: 12,
    net_raw: 13,
    ipc_lock: 14,
    ipc_owner: 15,
    sys_module: 16,
    sys_rawio: 17,
    sys_chroot: 18,
    sys_ptrace: 19,
    sys_pacct: 20,
    sys_admin: 21,
    sys_boot: 22,
    sys_nice: 23,
    sys_resource: 24,
    sys_time: 25,
    sys_tty_config: 26,
    mknod: 27,
    lease: 28,
    audit_write: 29,
    audit_control: 30,
    setfcap: 31,
    mac_override: 32,
    mac_admin: 33,
    syslog: 34,
    wake_alarm: 35,
    block_suspend: 36,
    audit_read: 37,
    perfmon: 38,
    bpf: 39,
    checkpoint_restore: 40
  ]

  @by_name Map.new(@table)
  @by_number Map.new(@table, fn {name, n} -> {n, name} end)
  @by_string Map.new(@table, fn {name, n} -> {Atom.to_string(name), n} end)
  @header_last_cap 40

  # The kernel keeps capability sets in two u32 words (VFS_CAP_U32 = 2).
  @max_cap 63

  @status_fields [
    {"CapInh", :inheritable},
    {"CapPrm", :permitted},
    {"CapEff", :effective},
    {"CapBnd", :bounding},
    {"CapAmb", :ambient}
  ]

  @typedoc "A capability: its name, or `{:unknown, n}` for a number the table does not name."
  @type cap :: atom() | {:unknown, non_neg_integer()}

  @typedoc "A capability set as a bit mask (bit n = capability n)."
  @type mask :: non_neg_integer()

  @typedoc "The five sets of `/proc/PID/status`."
  @type sets :: %{
          effective: mask(),
          permitted: mask(),
          inheritable: mask(),
          bounding: mask(),
          ambient: mask()
        }

  @doc """
  Every capability name this module knows, in number order.

      iex> Linx.Capabilities.all() |> Enum.take(3)
      [:chown, :dac_override, :dac_read_search]
      iex> length(Linx.Capabilities.all())
      41
  """
  @spec all() :: [atom()]
  def all, do: Keyword.keys(@table)

  @doc """
  The number of a capability. Accepts an atom (`:sys_admin`), a string in
  either spelling (`"sys_admin"`, `"CAP_SYS_ADMIN"`), `{:unknown, n}` or a
  plain integer 0..63.

      iex> Linx.Capabilities.number(:sys_admin)
      {:ok, 21}
      iex> Linx.Capabilities.number("CAP_NET_RAW")
      {:ok, 13}
      iex> Linx.Capabilities.number(:superpowers)
      :error
  """
  @spec number(cap() | String.t() | non_neg_integer()) :: {:ok, non_neg_integer()} | :error
  def number(name) when is_atom(name), do: Map.fetch(@by_name, name)

  def number(name) when is_binary(name) do
    key = name |> String.downcase() |> String.replace_prefix("cap_", "")
    Map.fetch(@by_string, key)
  end

  def number({:unknown, n}) when is_integer(n) and n >= 0 and n <= @max_cap, do: {:ok, n}
  def number(n) when is_integer(n) and n >= 0 and n <= @max_cap, do: {:ok, n}
  def number(_), do: :error

  @doc """
  The name of capability number `n`, or `{:unknown, n}` when the table does
  not name it (a capability newer than the headers).

      iex> Linx.Capabilities.name(0)
      :chown
      iex> Linx.Capabilities.name(41)
      {:unknown, 41}
  """
  @spec name(non_neg_integer()) :: cap()
  def name(n) when is_integer(n) and n >= 0, do: Map.get(@by_number, n, {:unknown, n})

  @doc """
  The highest capability number the running kernel knows, from
  `/proc/sys/kernel/cap_last_cap` (falls back to the headers' value, 40,
  when that file cannot be read).

      iex> Linx.Capabilities.last_cap() >= 40
      true
  """
  @spec last_cap() :: non_neg_integer()
  def last_cap do
    with {:ok, text} <- File.read("/proc/sys/kernel/cap_last_cap"),
         {n, _} <- Integer.parse(String.trim(text)) do
      n
    else
      _ -> @header_last_cap
    end
  end

  @doc """
  The bit mask of a list of capabilities, or of every capability the running
  kernel knows (`:all`, bits 0..`last_cap/0`). Raises `ArgumentError` naming
  an entry it does not know.

      iex> Linx.Capabilities.to_mask([:sys_admin])
      0x200000
      iex> Linx.Capabilities.to_mask([])
      0
      iex> Linx.Capabilities.to_mask([:chown, {:unknown, 41}])
      0x20000000001
  """
  @spec to_mask([cap() | String.t() | non_neg_integer()] | :all) :: mask()
  def to_mask(:all), do: (1 <<< (last_cap() + 1)) - 1

  def to_mask(caps) when is_list(caps) do
    Enum.reduce(caps, 0, fn cap, acc ->
      case number(cap) do
        {:ok, n} ->
          acc ||| 1 <<< n

        :error ->
          raise ArgumentError,
                "unknown capability #{inspect(cap)} (expected one of Linx.Capabilities.all/0, " <>
                  "{:unknown, n} or an integer 0..#{@max_cap})"
      end
    end)
  end

  @doc """
  The capabilities set in a mask, in number order; bits this module does not
  name come back as `{:unknown, n}`.

      iex> Linx.Capabilities.from_mask(0x200001)
      [:chown, :sys_admin]
      iex> Linx.Capabilities.from_mask(0x20000000000)
      [{:unknown, 41}]
  """
  @spec from_mask(mask()) :: [cap()]
  def from_mask(mask) when is_integer(mask) and mask >= 0 do
    for n <- 0..@max_cap, (mask >>> n &&& 1) == 1, do: name(n)
  end

  @doc """
  A mask as the kernel prints it in `/proc/PID/status`: 16 hex digits.

      iex> Linx.Capabilities.format_mask(0x1ffffffffff)
      "000001ffffffffff"
  """
  @spec format_mask(mask()) :: String.t()
  def format_mask(mask) when is_integer(mask) and mask >= 0 do
    mask |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(16, "0")
  end

  @doc """
  The capability sets from the text of a `/proc/PID/status` file (its
  `CapInh`, `CapPrm`, `CapEff`, `CapBnd` and `CapAmb` lines). Kernels before
  4.3 have no `CapAmb` line; the ambient set is then 0. Raises
  `ArgumentError` if one of the other four lines is missing or malformed.

      iex> text = "Name:\\tsh\\nCapInh:\\t0000000000000000\\nCapPrm:\\t0000000000000021\\n" <>
      ...>   "CapEff:\\t0000000000000001\\nCapBnd:\\t000001ffffffffff\\nCapAmb:\\t0000000000000000\\n"
      iex> Linx.Capabilities.parse_status(text)
      %{ambient: 0, bounding: 0x1ffffffffff, effective: 1, inheritable: 0, permitted: 0x21}
  """
  @spec parse_status(String.t()) :: sets()
  def parse_status(text) when is_binary(text) do
    found =
      text
      |> String.split("\n")
      |> Enum.reduce(%{}, fn line, acc ->
        case String.split(line, ":", parts: 2) do
          [key, value] -> Map.put(acc, key, String.trim(value))
          _ -> acc
        end
      end)

    Map.new(@status_fields, fn {key, field} ->
      case {Map.fetch(found, key), field} do
        {:error, :ambient} ->
          {field, 0}

        {:error, _} ->
          raise ArgumentError, "no #{key} line in the status text"

        {{:ok, hex}, _} ->
          case Integer.parse(hex, 16) do
            {mask, ""} -> {field, mask}
            _ -> raise ArgumentError, "#{key} is not a hex mask: #{inspect(hex)}"
          end
      end
    end)
  end

  @doc """
  The capability sets of a process, read from `/proc/PID/status` (`:self`
  for the BEAM itself).

      iex> %{bounding: bnd} = Linx.Capabilities.read_status(:self)
      iex> is_integer(bnd)
      true
  """
  @spec read_status(pos_integer() | :self) :: sets()
  def read_status(pid \\ :self) when pid == :self or (is_integer(pid) and pid > 0) do
    "/proc/#{pid}/status" |> File.read!() |> parse_status()
  end
end
