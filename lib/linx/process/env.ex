defmodule Linx.Process.Env do
  @moduledoc false
  # The environment of a workload, as Linx.Process.Options validates it:
  # as System.cmd/3, {name, value} pairs (env:) merged over the BEAM's
  # environment; a nil value unsets; clear_env: true starts from nothing.
  # Returned as the "NAME=value" binaries the request carries.

  @spec resolve(keyword) :: [binary]
  def resolve(opts) do
    clear? = Keyword.get(opts, :clear_env, false)

    case Keyword.get(opts, :env, []) do
      # the common case: the BEAM's environment as it is
      [] when not clear? ->
        beam_env()

      changes ->
        base = if clear?, do: %{}, else: Map.new(beam_env(), &split/1)

        changes
        |> Enum.reduce(base, fn
          {name, nil}, env -> Map.delete(env, name)
          {name, value}, env -> Map.put(env, name, value)
        end)
        |> Enum.map(fn {k, v} -> k <> "=" <> v end)
    end
  end

  # The BEAM's environment as "NAME=value" binaries, converted once per
  # change: :os.env/0 is cheap, turning ~50 charlists into binaries on
  # every spawn was not (~90 µs, docs/performance.md). The cache is keyed
  # by what :os.env/0 returns, so System.put_env/2 is seen at once.
  @key {__MODULE__, :beam_env}
  defp beam_env do
    raw = :os.env()

    case :persistent_term.get(@key, nil) do
      {^raw, list} ->
        list

      _ ->
        list = for {k, v} <- System.get_env(), do: k <> "=" <> v
        :persistent_term.put(@key, {raw, list})
        list
    end
  end

  defp split(kv) do
    [k, v] = :binary.split(kv, "=")
    {k, v}
  end
end
