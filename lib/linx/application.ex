defmodule Linx.Application do
  @moduledoc false
  # One DynamicSupervisor holds the servers of workloads started with
  # Linx.Process.spawn/1, enter/2 and run/2. They are :temporary: a
  # workload's end is reported to its owner, never "restarted".
  # Linx.Cgroup.Janitor removes the cgroup of a server that died without
  # removing it (killed); it starts first so that it stops last.
  use Application

  @impl true
  def start(_type, _args) do
    preload_modules()

    children = [
      Linx.Cgroup.Janitor,
      {DynamicSupervisor, name: Linx.ProcessSupervisor, strategy: :one_for_one},
      Linx.Pool,
      # the zygote: workloads' agents forked, not spawned (warm path)
      Linx.Spawner,
      # Linx.Cluster (node: and docs/distributed.md): the :pg scope of the
      # nodes running Linx, the owners' watchers of remote workloads, and
      # the membership and load of this node.
      %{id: :pg, start: {:pg, :start_link, [Linx.Cluster.scope()]}},
      {Registry, keys: :unique, name: Linx.Cluster.Watchers},
      Linx.Cluster
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: Linx.Supervisor)
  end

  # Loads Linx's modules, and the modules they call, now. A BEAM in
  # interactive mode (mix, `elixir -pa`) loads a module on its first call,
  # which opens its .beam file: out of file descriptors (issue 20, item 4)
  # that load fails, and a spawn that should answer {:error, {:emfile,
  # :agent}} raised UndefinedFunctionError instead, or a server crashed
  # at the workload's end. A release (embedded mode) has them all loaded.
  defp preload_modules do
    if :code.get_mode() == :interactive do
      for mod <- Application.spec(:linx, :modules) || [] do
        Code.ensure_loaded(mod)
        Enum.each(imports(mod), &Code.ensure_loaded/1)
      end

      # Called without being named in any import: `rescue` turns an Erlang
      # error into an exception module (ErlangError for Port.open's
      # :emfile), "#{n}" calls the String.Chars implementation, run/2
      # collects into a binary (Collectable), and an error is inspected.
      # Through Linx.Spawner a spawn needs no new descriptor, so a BEAM out
      # of them gets that far.
      for mod <- Application.spec(:elixir, :modules) || [],
          name = Atom.to_string(mod),
          String.ends_with?(name, "Error") or
            String.starts_with?(name, [
              "Elixir.String.Chars.",
              "Elixir.Collectable.",
              "Elixir.Enumerable.",
              "Elixir.Inspect"
            ]),
          do: Code.ensure_loaded(mod)
    end

    :ok
  end

  defp imports(mod) do
    case :beam_lib.chunks(:code.which(mod), [:imports]) do
      {:ok, {_, [imports: imports]}} -> imports |> Enum.map(&elem(&1, 0)) |> Enum.uniq()
      _ -> []
    end
  end
end
