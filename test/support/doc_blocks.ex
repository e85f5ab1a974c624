defmodule Linx.DocBlocks do
  @moduledoc false
  # The ```elixir blocks of a Markdown file, run as written.
  #
  # A block runs top to bottom in one binding. A line `code #=> value` (or a
  # line `#=> value` after a multi-line expression) ends a step: the value
  # of everything since the previous step is compared with `value`. A block
  # that cannot run in CI is preceded by
  #
  #     <!-- doc-test: skip REASON -->
  #
  # and is reported as skipped with that reason, never silently.

  @skip ~r/^<!--\s*doc-test:\s*skip\s+(.+?)\s*-->\s*$/

  @typedoc "One block: its code, the line of its first code line, a skip reason or nil."
  @type block :: %{code: String.t(), line: pos_integer, skip: String.t() | nil}

  @spec blocks(Path.t()) :: [block]
  def blocks(path) do
    path
    |> File.read!()
    |> String.split("\n")
    |> Enum.with_index(1)
    |> scan(nil, nil, [])
  end

  defp scan([], _skip, nil, acc), do: Enum.reverse(acc)
  defp scan([], _skip, {line, _, _}, _acc), do: raise("unclosed ```elixir block at line #{line}")

  defp scan([{"```elixir" <> _, n} | rest], skip, nil, acc),
    do: scan(rest, nil, {n + 1, skip, []}, acc)

  defp scan([{"```" <> _, _} | rest], _skip, {line, skip, lines}, acc) do
    block = %{code: lines |> Enum.reverse() |> Enum.join("\n"), line: line, skip: skip}
    scan(rest, nil, nil, [block | acc])
  end

  defp scan([{text, _} | rest], skip, {line, bskip, lines}, acc),
    do: scan(rest, skip, {line, bskip, [text | lines]}, acc)

  defp scan([{text, _} | rest], skip, nil, acc) do
    cond do
      m = Regex.run(@skip, text) -> scan(rest, Enum.at(m, 1), nil, acc)
      String.trim(text) == "" -> scan(rest, skip, nil, acc)
      true -> scan(rest, nil, nil, acc)
    end
  end

  @doc """
  Runs a block's steps; returns `:ok` or `{:mismatch, line, expected_text,
  expected, actual}` for the first step whose value differs.
  """
  @spec run(block, Path.t()) :: :ok | {:mismatch, pos_integer, String.t(), term, term}
  def run(%{code: code, line: line}, file) do
    code
    |> String.split("\n")
    |> Enum.with_index(line)
    |> steps([], line, [])
    |> Enum.reduce_while({:ok, []}, fn step, {:ok, binding} ->
      case run_step(step, binding, file) do
        {:ok, binding} -> {:cont, {:ok, binding}}
        mismatch -> {:halt, mismatch}
      end
    end)
    |> case do
      {:ok, _} -> :ok
      mismatch -> mismatch
    end
  end

  # Cut the lines into {first_line, code, expectation | nil} steps.
  defp steps([], [], _first, acc), do: Enum.reverse(acc)
  defp steps([], lines, first, acc), do: Enum.reverse([{first, join(lines), nil} | acc])

  defp steps([{text, n} | rest], lines, first, acc) do
    case String.split(text, "#=>", parts: 2) do
      [code, expected] ->
        step = {first, join([code | lines]), {n, String.trim(expected)}}
        steps(rest, [], n + 1, [step | acc])

      [_] ->
        steps(rest, [text | lines], first, acc)
    end
  end

  defp join(reversed), do: reversed |> Enum.reverse() |> Enum.join("\n")

  defp run_step({first, code, expectation}, binding, file) do
    {value, binding} = Code.eval_string(code, binding, file: file, line: first)

    case expectation do
      nil ->
        {:ok, binding}

      {n, text} ->
        {expected, _} = Code.eval_string(text, binding, file: file, line: n)
        if value == expected, do: {:ok, binding}, else: {:mismatch, n, text, expected, value}
    end
  end
end
