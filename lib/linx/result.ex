defmodule Linx.Result do
  @moduledoc false
  # The one traversal the validators share: map a list through a function
  # that answers {:ok, value} or an error, stopping at the first error.

  @doc false
  @spec map_ok(list, (term -> {:ok, term} | term)) :: {:ok, list} | term
  def map_ok(list, fun) do
    list
    |> Enum.reduce_while({:ok, []}, fn x, {:ok, acc} ->
      case fun.(x) do
        {:ok, v} -> {:cont, {:ok, [v | acc]}}
        error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, acc} -> {:ok, Enum.reverse(acc)}
      error -> error
    end
  end

  @doc false
  # The same, for functions answering a list each: the lists are joined.
  @spec flat_map_ok(list, (term -> {:ok, list} | term)) :: {:ok, list} | term
  def flat_map_ok(list, fun) do
    with {:ok, lists} <- map_ok(list, fun), do: {:ok, Enum.concat(lists)}
  end
end
