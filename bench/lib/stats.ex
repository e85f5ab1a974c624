defmodule Bench.Stats do
  @moduledoc """
  Order statistics of a sample: median, p99 (nearest rank), min, max.
  """

  @type summary :: %{
          n: non_neg_integer,
          median: number,
          p99: number,
          min: number,
          max: number,
          mean: float
        }

  @doc "Summary of a non-empty list of numbers."
  @spec summary([number]) :: summary
  def summary([_ | _] = xs) do
    sorted = Enum.sort(xs)
    n = length(sorted)

    %{
      n: n,
      median: median_sorted(sorted, n),
      p99: percentile_sorted(sorted, n, 99),
      min: hd(sorted),
      max: List.last(sorted),
      mean: Enum.sum(sorted) / n
    }
  end

  @doc "The median (mean of the two middle values for an even count)."
  @spec median([number]) :: number
  def median([_ | _] = xs) do
    sorted = Enum.sort(xs)
    median_sorted(sorted, length(sorted))
  end

  @doc "The `p`-th percentile by nearest rank (`p` in 1..100)."
  @spec percentile([number], 1..100) :: number
  def percentile([_ | _] = xs, p) do
    sorted = Enum.sort(xs)
    percentile_sorted(sorted, length(sorted), p)
  end

  @doc """
  Median of the per-iteration ratios `a_i / b_i`: the contenders ran
  interleaved, so pairing them cancels drift of the machine over the run.
  """
  @spec paired_ratio([number], [number]) :: float
  def paired_ratio(as, bs) do
    as |> Enum.zip_with(bs, fn a, b -> a / max(b, 1) end) |> median()
  end

  defp median_sorted(sorted, n) when rem(n, 2) == 1, do: Enum.at(sorted, div(n, 2))

  defp median_sorted(sorted, n) do
    [a, b] = Enum.slice(sorted, div(n, 2) - 1, 2)
    (a + b) / 2
  end

  defp percentile_sorted(sorted, n, p) do
    rank = max(ceil(p * n / 100), 1)
    Enum.at(sorted, rank - 1)
  end
end
