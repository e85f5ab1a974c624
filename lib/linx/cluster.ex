defmodule Linx.Cluster do
  @moduledoc """
  The nodes of an Erlang cluster that run Linx, and where `node: :any`
  puts a workload.

  Every node that runs the `:linx` application joins the `:pg` group
  `:linx` of the scope `:linx_cluster` (plain Erlang distribution and
  `:pg`: no transport or membership of Linx's own). `nodes/0` lists the
  group's nodes, `load/0` asks each of them, over `:erpc`, how many Linx
  workloads it is running.

  `Linx.Process.spawn/1`, `enter/2` and `run/2` take `node:` — `node()`
  (the default), a node name, or `:any`. With `:any` the placement
  strategy picks among `load/0`'s nodes. The default,
  `Linx.Cluster.LeastLoaded`, picks the node with the fewest running
  workloads, the local node first on a tie, then the others in name order.
  Another strategy is configured with

      # config/config.exs
      config :linx, placement: MyApp.Placement

  a module implementing `Linx.Cluster.Placement`: `choose(nodes_with_load,
  opts)` gets `[{node, running}]` (the local node first, then by name) and
  the options of the call (without `:node`), and returns a node. A node
  that turns out to be down or without Linx is left out and the strategy
  asked again.

  The model, the failure semantics and the security of remote workloads
  are in `docs/distributed.md`.
  """
  use GenServer

  @scope :linx_cluster
  @group :linx
  @watchers Linx.Cluster.Watchers
  @erpc_timeout 10_000

  ## Public API

  @doc """
  The nodes running Linx that this node can see (its own included), in
  name order.
  """
  @spec nodes() :: [node]
  def nodes do
    @scope
    |> :pg.get_members(@group)
    |> Enum.map(&node/1)
    |> Enum.uniq()
    |> Enum.sort()
  end

  @doc """
  The running Linx workloads of each node of `nodes/0`: `%{node =>
  running}`. A workload counts from the moment its server starts until
  its terminal event. A node that does not answer within 10 s is left out.
  """
  @spec load() :: %{node => non_neg_integer}
  def load do
    nodes = nodes()

    nodes
    |> :erpc.multicall(__MODULE__, :local_load, [], @erpc_timeout)
    |> Enum.zip(nodes)
    |> Enum.flat_map(fn
      {{:ok, n}, node} when is_integer(n) -> [{node, n}]
      _ -> []
    end)
    |> Map.new()
  end

  @doc false
  # The running workloads of this node (one answer of load/0).
  @spec local_load() :: non_neg_integer
  def local_load, do: GenServer.call(__MODULE__, :load)

  ## Used by Linx.Process

  @doc false
  # A server of this node started (called by it): counted until
  # finished/1 or its end. Casts from the server itself, so in order; and
  # a spawn returns after its server's cast is queued here, so a later
  # local_load/0 counts it.
  def track(pid), do: GenServer.cast(__MODULE__, {:track, pid})

  @doc false
  # Its terminal event: no longer running (the server lingers a little).
  def finished(pid), do: GenServer.cast(__MODULE__, {:finished, pid})

  @doc false
  # Starts the workload `spec` ({kind, target, keyword}) on `where` (a
  # node or :any) for `owner`. Returns Linx.Process's raw start result.
  def start_remote(:any, spec, owner), do: start_any(spec, owner, [], nil)
  def start_remote(node, spec, owner), do: start_on(node, spec, owner)

  defp start_any({_, _, opts} = spec, owner, excluded, last_error) do
    loads =
      load()
      |> Map.drop(excluded)
      |> Enum.sort_by(fn {n, _} -> {n != node(), n} end)

    if loads == [] do
      last_error || {:error, {:nodedown, :any}, "no node running Linx is reachable"}
    else
      strategy = Application.get_env(:linx, :placement, Linx.Cluster.LeastLoaded)
      chosen = strategy.choose(loads, Keyword.delete(opts, :owner))

      # a node that failed is left out, once: a strategy naming it again
      # gets its error back
      case chosen in excluded || start_on(chosen, spec, owner) do
        true ->
          last_error

        {:error, {why, ^chosen}, _} = error when why in [:nodedown, :nolinx] ->
          start_any(spec, owner, [chosen | excluded], error)

        result ->
          result
      end
    end
  end

  defp start_on(node, spec, _owner) when node == node(), do: Linx.Process.Start.start_here(spec)

  defp start_on(node, spec, owner) do
    if Node.connect(node) == true do
      node
      |> erpc_start(spec)
      |> watched(owner)
    else
      nodedown(node)
    end
  end

  defp erpc_start(node, spec) do
    :erpc.call(node, __MODULE__, :start_here, [spec], :infinity)
  catch
    :error, {:erpc, :noconnection} ->
      nodedown(node)

    # an older node, or one without Linx's code
    :error, {:exception, :undef, [{__MODULE__, :start_here, _, _} | _]} ->
      nolinx(node)

    # an ArgumentError of the remote validation, as if raised here
    :error, {:exception, reason, stack} ->
      :erlang.raise(:error, reason, stack)
  end

  @doc false
  # Runs on the workload's node (:erpc).
  def start_here(spec) do
    if Process.whereis(Linx.ProcessSupervisor) && Process.whereis(__MODULE__) do
      Linx.Process.Start.start_here(spec)
    else
      nolinx(node())
    end
  end

  defp nodedown(node), do: {:error, {:nodedown, node}, "node #{node} is not reachable"}
  defp nolinx(node), do: {:error, {:nolinx, node}, "node #{node} does not run Linx"}

  defp watched({:ok, proc} = ok, owner) do
    {:ok, _} = :proc_lib.start(__MODULE__, :watcher, [proc, owner, self()])
    ok
  end

  defp watched(other, _owner), do: other

  @doc false
  # One per remote workload, on the owner's node: if the workload's node
  # goes away before the terminal event reached us, the owner gets
  # {:lost, :noconnection} as its terminal event instead. Being an awaiter
  # of the server, it is told of the terminal event after the owner, on
  # the same connection: once it has it, so has the owner.
  def watcher(proc, owner, parent) do
    {:ok, _} = Registry.register(@watchers, proc, owner)
    server = Process.monitor(proc)
    owner_ref = Process.monitor(owner)
    tag = make_ref()
    send(proc, {:await, {self(), tag}})
    :proc_lib.init_ack(parent, {:ok, self()})

    receive do
      {^tag, _terminal} ->
        :ok

      {:DOWN, ^server, :process, _, :noconnection} ->
        send(owner, {:linx_process, proc, {:lost, :noconnection}})

      {:DOWN, ^server, :process, _, _} ->
        :ok

      {:DOWN, ^owner_ref, :process, _, _} ->
        :ok
    end
  end

  @doc false
  # await/2 of a remote proc whose node went away: the owner takes the
  # {:lost, :noconnection} its watcher sends (or has sent) out of its
  # mailbox, as await/2 does with every terminal event.
  def lost(proc) do
    me = self()

    with [{watcher, ^me}] <- Registry.lookup(@watchers, proc) do
      ref = Process.monitor(watcher)

      receive do
        {:DOWN, ^ref, _, _, _} -> :ok
      end
    end

    receive do
      {:linx_process, ^proc, {:lost, _} = terminal} -> terminal
    after
      0 -> {:lost, :noconnection}
    end
  end

  ## The server: membership and the count of running workloads.

  @doc false
  def start_link(_), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc false
  def scope, do: @scope

  @impl true
  def init([]) do
    :ok = :pg.join(@scope, @group, self())
    {:ok, %{}}
  end

  @impl true
  def handle_call(:load, _from, running), do: {:reply, map_size(running), running}

  @impl true
  def handle_cast({:track, pid}, running) do
    {:noreply, Map.put_new_lazy(running, pid, fn -> Process.monitor(pid) end)}
  end

  def handle_cast({:finished, pid}, running) do
    case Map.pop(running, pid) do
      {nil, running} ->
        {:noreply, running}

      {ref, running} ->
        Process.demonitor(ref, [:flush])
        {:noreply, running}
    end
  end

  @impl true
  def handle_info({:DOWN, _ref, :process, pid, _}, running),
    do: {:noreply, Map.delete(running, pid)}

  def handle_info(_, running), do: {:noreply, running}
end

defmodule Linx.Cluster.Placement do
  @moduledoc """
  A placement strategy for `node: :any` (see `Linx.Cluster`).

      config :linx, placement: MyApp.Placement
  """

  @doc """
  Picks the node for a workload. `nodes_with_load` is `[{node, running}]`
  of the reachable nodes running Linx (the local node first, then by
  name), never empty; `opts` are the options of the call without `:node`.
  """
  @callback choose(nodes_with_load :: [{node, non_neg_integer}], opts :: keyword) :: node
end

defmodule Linx.Cluster.LeastLoaded do
  @moduledoc """
  The default placement: the node with the fewest running Linx workloads;
  on a tie the first in the list (the local node, then name order).
  """
  @behaviour Linx.Cluster.Placement

  @impl true
  def choose(nodes_with_load, _opts) do
    {node, _} = Enum.min_by(nodes_with_load, fn {_, running} -> running end)
    node
  end
end
