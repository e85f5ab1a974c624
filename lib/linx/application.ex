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
    children = [
      Linx.Cgroup.Janitor,
      {DynamicSupervisor, name: Linx.ProcessSupervisor, strategy: :one_for_one},
      Linx.Pool,
      # Linx.Cluster (node: and docs/distributed.md): the :pg scope of the
      # nodes running Linx, the owners' watchers of remote workloads, and
      # the membership and load of this node.
      %{id: :pg, start: {:pg, :start_link, [Linx.Cluster.scope()]}},
      {Registry, keys: :unique, name: Linx.Cluster.Watchers},
      Linx.Cluster
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: Linx.Supervisor)
  end
end
