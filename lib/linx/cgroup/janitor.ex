defmodule Linx.Cgroup.Janitor do
  @moduledoc false
  # Removes the cgroup of a Linx.Process server that died without doing it
  # itself: terminate/2 does not run when the server is killed
  # (`Process.exit(proc, :kill)`) or crashes without trapping, and the
  # group would stay for the life of the BEAM.
  #
  # Every server that owns a group registers it here (watch/2, a cast: a
  # monitor on a server that is already dead fires at once). When the
  # server goes:
  #   * on_exit: :kill - the port closed with the server, so the agent saw
  #     EOF and killed the tree; cgroup.kill finishes the job if anything
  #     remains (an agent that died too), then the group is removed once
  #     empty (Linx.Cgroup.remove/1 retries in the background);
  #   * on_exit: :detach - the workload lives on: nothing is killed, the
  #     group is removed only when empty. Detached groups still populated
  #     are kept in a list and tried again every @retry_ms, so a detached
  #     workload that ended leaves no group behind for long.
  # A group the server already removed is simply gone (enoent): no-op.
  # Started before Linx.ProcessSupervisor, so it is stopped after it.
  use GenServer

  @doc false
  def start_link(_opts \\ []), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "Watch `path`, the group of the calling server, until the caller dies."
  @spec watch(Path.t(), :kill | :detach) :: :ok
  def watch(path, on_exit), do: GenServer.cast(__MODULE__, {:watch, self(), path, on_exit})

  @doc """
  The calling server removed its group itself: stop watching it (cheaper
  than an rmdir that finds nothing when the server goes).
  """
  @spec unwatch() :: :ok
  def unwatch, do: GenServer.cast(__MODULE__, {:unwatch, self()})

  @impl true
  def init([]), do: {:ok, %{watched: %{}, detached: [], refs: %{}}}

  @impl true
  def handle_cast({:watch, pid, path, on_exit}, s) do
    ref = Process.monitor(pid)
    watched = Map.put(s.watched, ref, {path, on_exit})
    {:noreply, %{s | watched: watched, refs: Map.put(s.refs, pid, ref)}}
  end

  def handle_cast({:unwatch, pid}, s) do
    case Map.pop(s.refs, pid) do
      {nil, _} ->
        {:noreply, s}

      {ref, refs} ->
        Process.demonitor(ref, [:flush])
        {:noreply, %{s | watched: Map.delete(s.watched, ref), refs: refs}}
    end
  end

  @retry_ms 1_000

  @impl true
  def handle_info({:DOWN, ref, :process, pid, _}, s) do
    {entry, watched} = Map.pop(s.watched, ref)
    s = %{s | refs: Map.delete(s.refs, pid)}

    detached =
      case entry do
        {path, :detach} -> keep_if_busy(path) ++ s.detached
        {path, _kill} -> clean(path, s.detached)
        nil -> s.detached
      end

    # One timer while the list is not empty.
    if s.detached == [] and detached != [], do: Process.send_after(self(), :retry, @retry_ms)
    {:noreply, %{s | watched: watched, detached: detached}}
  end

  def handle_info(:retry, s) do
    detached = Enum.flat_map(s.detached, &keep_if_busy/1)
    if detached != [], do: Process.send_after(self(), :retry, @retry_ms)
    {:noreply, %{s | detached: detached}}
  end

  def handle_info(_other, s), do: {:noreply, s}

  # Usually the server removed the group already (enoent) or it is
  # empty: one rmdir, nothing to kill.
  defp clean(path, detached) do
    if Linx.Cgroup.remove_if_empty(path) != :ok do
      Linx.Cgroup.kill(path)
      Linx.Cgroup.remove(path)
    end

    detached
  end

  defp keep_if_busy(path) do
    case Linx.Cgroup.remove_if_empty(path) do
      {:error, :ebusy} -> [path]
      _ -> []
    end
  end
end
