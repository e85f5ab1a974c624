defmodule Linx.Process.Resources do
  @moduledoc false
  # The resource options of Linx.Process (`:limits`, `:rlimits`, `:nice`,
  # `:cpus`, `:timeout`, `:kill_timeout`): their validation (called by
  # Linx.Process.Options, one clause per option) and the request keys the
  # agent applies (c_src/resources.c, c_src/deadline.c; docs/protocol.md).
  # The cgroup limits themselves are written by Linx.Cgroup.Limits.

  alias Linx.Process.Options

  @options [:limits, :rlimits, :nice, :cpus, :timeout, :kill_timeout]
  @limit_keys [:memory, :memory_swap, :cpu, :cpu_weight, :pids]
  @rlimits [:nofile, :as, :cpu, :core, :nproc, :fsize, :stack, :memlock]
  @infinity 18_446_744_073_709_551_615
  @max_ms 4_294_967_296
  @max_cpus 1024

  @doc "The option names handled here."
  @spec options() :: [atom]
  def options, do: @options

  @doc "The keys of `limits:`."
  @spec limit_keys() :: [atom]
  def limit_keys, do: @limit_keys

  @doc "The names of `rlimits:`."
  @spec rlimit_names() :: [atom]
  def rlimit_names, do: @rlimits

  @doc "Validates one resource option into the options struct (raises ArgumentError)."
  @spec option(Options.t(), atom, term) :: Options.t()
  def option(acc, :limits, limits) do
    unless Keyword.keyword?(limits) do
      bad!(:limits, limits, "a keyword list of #{inspect(@limit_keys)}")
    end

    Enum.each(limits, fn {key, value} -> limit!(key, value) end)

    if limits[:memory_swap] do
      unless is_integer(limits[:memory]) and limits[:memory_swap] >= limits[:memory] do
        raise ArgumentError,
              "invalid option :limits: memory_swap (memory + swap, as Docker's " <>
                "--memory-swap) needs memory: and must be >= it, got: #{inspect(limits)}"
      end
    end

    %{acc | limits: limits}
  end

  def option(acc, :rlimits, rlimits) do
    unless Keyword.keyword?(rlimits) do
      bad!(:rlimits, rlimits, "a keyword list of #{inspect(@rlimits)}")
    end

    %{acc | rlimits: Enum.map(rlimits, fn {name, value} -> rlimit!(name, value) end)}
  end

  def option(acc, :nice, n) when is_integer(n) and n >= -20 and n <= 19, do: %{acc | nice: n}
  def option(_, :nice, n), do: bad!(:nice, n, "an integer -20..19")

  def option(acc, :cpus, cpus) do
    unless is_list(cpus) and cpus != [] and
             Enum.all?(cpus, &(is_integer(&1) and &1 >= 0 and &1 < @max_cpus)) do
      bad!(:cpus, cpus, "a non-empty list of CPU indices 0..#{@max_cpus - 1}")
    end

    %{acc | cpus: Enum.uniq(cpus)}
  end

  def option(acc, :timeout, ms) when is_integer(ms) and ms > 0 and ms <= @max_ms,
    do: %{acc | timeout: ms}

  def option(_, :timeout, ms), do: bad!(:timeout, ms, "milliseconds, an integer 1..2^32")

  def option(acc, :kill_timeout, ms) when is_integer(ms) and ms >= 0 and ms <= @max_ms,
    do: %{acc | kill_timeout: ms}

  def option(_, :kill_timeout, ms),
    do: bad!(:kill_timeout, ms, "milliseconds, an integer 0..2^32")

  defp limit!(key, v) when key in [:memory, :memory_swap] and is_integer(v) and v >= 4096,
    do: :ok

  # No limit, but a group that accounts (stats/1, {:usage, map})
  defp limit!(key, :infinity) when key in [:memory, :cpu, :pids], do: :ok

  defp limit!(:cpu, v) when is_number(v) and v >= 0.01, do: :ok
  defp limit!(:cpu_weight, v) when is_integer(v) and v >= 1 and v <= 10_000, do: :ok
  defp limit!(:pids, v) when is_integer(v) and v >= 1, do: :ok

  defp limit!(key, v) when key in @limit_keys do
    expected =
      case key do
        :cpu -> "a number of CPUs >= 0.01 (0.5: half of one CPU) or :infinity"
        :cpu_weight -> "an integer 1..10_000"
        :pids -> "a positive integer or :infinity"
        :memory -> "a number of bytes >= 4096 or :infinity"
        :memory_swap -> "a number of bytes >= 4096"
      end

    raise ArgumentError, "invalid option :limits: #{key}: #{inspect(v)}, expected #{expected}"
  end

  defp limit!(key, _v) do
    raise ArgumentError,
          "invalid option :limits: unknown limit #{inspect(key)}, " <>
            "expected some of #{inspect(@limit_keys)}"
  end

  defp rlimit!(name, value) when name in @rlimits do
    {soft, hard} =
      case value do
        {soft, hard} -> {rlim!(name, soft), rlim!(name, hard)}
        one -> {rlim!(name, one), rlim!(name, one)}
      end

    if soft > hard do
      raise ArgumentError,
            "invalid option :rlimits: #{name}: soft limit #{inspect(elem(value, 0))} " <>
              "is above the hard one #{inspect(elem(value, 1))}"
    end

    {name, soft, hard}
  end

  defp rlimit!(name, _value) do
    raise ArgumentError,
          "invalid option :rlimits: unknown rlimit #{inspect(name)}, " <>
            "expected some of #{inspect(@rlimits)}"
  end

  defp rlim!(_name, :infinity), do: @infinity
  defp rlim!(_name, n) when is_integer(n) and n >= 0 and n < @infinity, do: n

  defp rlim!(name, v) do
    raise ArgumentError,
          "invalid option :rlimits: #{name}: #{inspect(v)}, expected a non-negative " <>
            "integer, :infinity or {soft, hard} of those"
  end

  @doc """
  The request keys of `opts` (docs/protocol.md): `cgroups_v1`, `rlimits`
  (`{name, soft, hard}`, 2^64-1 for infinity), `nice`, `cpus`, `timeout`,
  `kill_timeout` — each only when set.
  """
  @spec request_keys(Options.t()) :: map
  def request_keys(%Options{} = o) do
    %{
      cgroups_v1: nonempty(o.cgroups_v1),
      rlimits: nonempty(o.rlimits),
      nice: o.nice,
      cpus: o.cpus,
      timeout: o.timeout,
      kill_timeout: if(o.timeout && o.kill_timeout != 5000, do: o.kill_timeout)
    }
    |> Map.reject(fn {_key, value} -> value == nil end)
  end

  defp nonempty([]), do: nil
  defp nonempty(list), do: list

  defp bad!(key, value, expected) do
    raise ArgumentError,
          "invalid option #{inspect(key)}: got #{inspect(value)}, expected #{expected}"
  end
end
