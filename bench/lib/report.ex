defmodule Bench.Report do
  @moduledoc """
  Prints results as Markdown tables (readable in a terminal, pasted as-is
  into docs/performance.md) and checks the project's targets.
  """

  @doc "A section heading and optional notes."
  def section(title, notes \\ []) do
    IO.puts("\n## #{title}\n")
    for n <- List.wrap(notes), do: IO.puts(n)
    if notes != [], do: IO.puts("")
  end

  @doc "Latency rows (from `Bench.Runner.rows/2`), times in µs."
  def latency_table(rows, baseline) do
    table(
      ["contender", "n", "median µs", "p99 µs", "min µs", "max µs", "× #{baseline}", "paired ×"],
      Enum.map(rows, fn r ->
        [
          r.label,
          r.n,
          us(r.median),
          us(r.p99),
          us(r.min),
          us(r.max),
          ratio(r.ratio),
          ratio(r.paired)
        ]
      end)
    )
  end

  @doc """
  A generic table: header and rows of printable cells. The first `left`
  columns are left-aligned, the others (figures) right-aligned.
  """
  def table(header, rows, left \\ 1) do
    cells = [header | Enum.map(rows, fn row -> Enum.map(row, &to_string/1) end)]

    widths =
      cells
      |> Enum.zip_with(& &1)
      |> Enum.map(fn col -> col |> Enum.map(&String.length/1) |> Enum.max() end)

    line = fn row ->
      padded =
        row
        |> Enum.zip(widths)
        |> Enum.with_index()
        |> Enum.map(fn {{c, w}, i} ->
          if i < left, do: String.pad_trailing(c, w), else: String.pad_leading(c, w)
        end)

      "| " <> Enum.join(padded, " | ") <> " |"
    end

    sep =
      widths
      |> Enum.with_index()
      |> Enum.map(fn {w, i} ->
        if i < left, do: String.duplicate("-", w + 2), else: String.duplicate("-", w + 1) <> ":"
      end)

    IO.puts(line.(hd(cells)))
    IO.puts("|" <> Enum.join(sep, "|") <> "|")
    for row <- tl(cells), do: IO.puts(line.(row))
    :ok
  end

  @doc """
  A target: `measured` against `limit` (met when `measured <= limit`), or
  `:na` with a reason.
  """
  def target(name, measured, limit, how, note \\ nil)

  def target(name, measured, limit, how, note) when is_number(measured) do
    %{
      name: name,
      limit: how,
      measured: if(note, do: "#{ratio(measured)} (#{note})", else: ratio(measured)),
      status: if(measured <= limit, do: "met", else: "missed")
    }
  end

  def target(name, {:na, why}, _limit, how, _note),
    do: %{name: name, limit: how, measured: "—", status: "n/a (#{why})"}

  def targets_table([]), do: :ok

  def targets_table(targets) do
    section("Targets")

    table(
      ["target", "limit", "measured", "status"],
      Enum.map(targets, &[&1.name, &1.limit, &1.measured, &1.status]),
      2
    )
  end

  def us(ns), do: :erlang.float_to_binary(ns / 1000, decimals: 1)
  def ratio(x), do: :erlang.float_to_binary(x / 1, decimals: 2) <> "×"

  def kib(kb), do: Integer.to_string(kb)
end
