defmodule Linx.Process.RunOptions do
  @moduledoc false
  # The options of run/2 and stream/2 (issue 15) that shape the
  # collection: input, into, lines, stderr, max_output. Split off here;
  # the rest goes to Linx.Process.Options.validate!/2.

  # Options of run/2 (and stream/2) only, split off by run_options!/2.
  @run_only [:input, :into, :lines, :stderr, :max_output]
  @stderr_modes [:stdout, :capture, :inherit, :devnull]

  import Linx.Process.Options, only: [bad!: 3]

  @doc false
  # Splits off and validates the options of run/2 (stream/2 takes `keys`,
  # a subset): {the rest, for validate!/2, %{input, into, lines, stderr,
  # max_output}}. stderr_to_stdout: true is an alias of stderr: :stdout.
  @spec run_options!(term, [atom]) :: {term, map}
  def run_options!(opts, keys \\ @run_only) do
    if Keyword.keyword?(opts) do
      {mine, rest} = Keyword.split(cd_alias!(opts), keys)
      base = %{input: nil, into: "", lines: nil, stderr: nil, max_output: nil}
      run = Enum.reduce(mine, base, fn {key, v}, acc -> run_option(acc, key, v) end)
      {rest, %{run | stderr: stderr_mode(run.stderr, Keyword.get(rest, :stderr_to_stdout))}}
    else
      {opts, nil}
    end
  end

  # System.cmd/3's :cd, an alias of :cwd
  defp cd_alias!(opts) do
    case Keyword.pop_values(opts, :cd) do
      {[], opts} ->
        opts

      {[dir], opts} ->
        if Keyword.has_key?(opts, :cwd) do
          raise ArgumentError,
                "invalid options: cd: is an alias of cwd: (as in System.cmd/3); give one of them"
        end

        opts ++ [cwd: dir]

      {_, _} ->
        raise ArgumentError, "invalid option :cd: given more than once"
    end
  end

  defp run_option(acc, :input, v) when is_binary(v), do: %{acc | input: v}

  defp run_option(acc, :input, v) do
    cond do
      is_list(v) and iodata?(v) -> %{acc | input: IO.iodata_to_binary(v)}
      Enumerable.impl_for(v) != nil -> %{acc | input: {:stream, v}}
      true -> bad!(:input, v, "a binary, iodata or an Enumerable of binaries")
    end
  end

  defp run_option(acc, :into, v) do
    if Collectable.impl_for(v) == nil, do: bad!(:into, v, "a Collectable")
    %{acc | into: v}
  end

  defp run_option(acc, :lines, v) when is_integer(v) and v > 0, do: %{acc | lines: v}

  defp run_option(_, :lines, v),
    do: bad!(:lines, v, "a positive integer (the longest line, in bytes)")

  defp run_option(acc, :stderr, v) when v in @stderr_modes, do: %{acc | stderr: v}
  defp run_option(_, :stderr, v), do: bad!(:stderr, v, "one of #{inspect(@stderr_modes)}")

  defp run_option(acc, :max_output, v) when is_integer(v) and v > 0, do: %{acc | max_output: v}
  defp run_option(_, :max_output, v), do: bad!(:max_output, v, "a positive number of bytes")

  defp iodata?(v) do
    _ = IO.iodata_length(v)
    true
  rescue
    ArgumentError -> false
  end

  defp stderr_mode(nil, true), do: :stdout
  defp stderr_mode(nil, _), do: :inherit
  defp stderr_mode(mode, alias) when alias in [nil, false] or mode == :stdout, do: mode

  defp stderr_mode(mode, true) do
    raise ArgumentError,
          "invalid options: stderr: #{inspect(mode)} contradicts stderr_to_stdout: true " <>
            "(an alias of stderr: :stdout); give one of them"
  end
end
