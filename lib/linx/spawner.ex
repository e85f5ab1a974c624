defmodule Linx.Spawner do
  @moduledoc """
  Linx's own fork server: the warm path of `Linx.Process`.

  A port agent costs a port spawn per workload: the BEAM's `erl_child_setup`
  forks, the agent execs and runs its C start-up, and only then clones the
  workload. The spawner pays that once. It keeps one agent running in a
  special mode, the *zygote* (`linx_process --zygote`), which forks a fresh
  agent for every workload (a couple of them forked ahead of time, waiting
  for their request) and passes each one the BEAM's frames; the agents
  write theirs onto the zygote's port themselves, tagged with a channel
  id. Every workload still has an agent of its own,
  which ends with it: nothing about a workload depends on the path it took
  (docs/protocol.md, "The spawner"; docs/performance.md, "Throughput").

  It is on whenever `Linx.Pool` is (the default, `pool_size: 2`), and used
  before the pool's idle agents, which remain the fallback while the
  zygote is starting or restarting; `Linx.Pool.resize(0)` turns both off,
  so that every spawn opens its own agent (the cold path). There is
  nothing to call: `Linx.Process` uses it by itself.

      Linx.Spawner.enabled?()
      #=> true

  ## Guarantees

  - A workload's agent is forked from the zygote, so it starts in the
    zygote's environment, working directory and limits; `Linx.Process`
    sends the workload's environment and working directory with every
    request, as it does for pooled agents.
  - When the server of a workload dies, the spawner closes its channel:
    the agent sees EOF on its fd 3, exactly as when a port closes, and
    kills the workload's tree.
  - When the zygote dies, every agent it forked sees EOF and kills its
    workload; their servers see `{:agent_died, {:port_closed, reason}}`.
    The spawner restarts the zygote (its supervisor restarts the spawner).
  """
  use GenServer
  require Logger

  @table __MODULE__
  @key {__MODULE__, :channel}
  # A request larger than the agent's limit goes to a port agent, which
  # answers it with {:error, :emsgsize, :request_too_big}.
  @max_request 16 * 1024 * 1024

  @typedoc "One agent behind the zygote: messages arrive as from a port."
  @type channel :: {:linx_spawner, port, pos_integer}

  @doc false
  def start_link(opts \\ []), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @doc """
  Whether new workloads get their agent from the spawner (see the module
  documentation: on with `Linx.Pool`).
  """
  @spec enabled?() :: boolean
  def enabled? do
    case :persistent_term.get(@key, nil) do
      {_port, flag, _counter} -> :atomics.get(flag, 1) == 1
      nil -> false
    end
  end

  @doc """
  The zygote's OS pid (the parent of every agent it forked), or `nil`
  while it is not running.
  """
  @spec os_pid() :: pos_integer | nil
  def os_pid do
    with {port, _flag, _counter} <- :persistent_term.get(@key, nil),
         {:os_pid, pid} <- Port.info(port, :os_pid) do
      pid
    else
      _ -> nil
    end
  end

  @doc false
  # Linx.Pool.resize/1: the spawner follows the pool on and off.
  def enable(on?) do
    case :persistent_term.get(@key, nil) do
      {_port, flag, _counter} -> :atomics.put(flag, 1, if(on?, do: 1, else: 0))
      nil -> :ok
    end

    Application.put_env(:linx, :spawner_enabled, on?)
  end

  @doc false
  # A channel for the calling process (a Linx.Process server), or nil when
  # the spawner is off or its zygote is not running. Its messages come as
  # {channel, {:data, frame}} and {channel, {:exit_status, status}}.
  @spec checkout() :: channel | nil
  def checkout do
    with {port, flag, counter} <- :persistent_term.get(@key, nil),
         1 <- :atomics.get(flag, 1) do
      id = next_id(counter)
      :ets.insert(@table, {id, self()})
      # the spawner closes the channel should this process die
      send(__MODULE__, {:watch, id, self()})
      :erlang.monitor(:port, port)
      {:linx_spawner, port, id}
    else
      _ -> nil
    end
  catch
    # the table went with a spawner that stopped in between
    :error, :badarg -> nil
  end

  # Ids are 32 bits on the wire and never 0 (the zygote's "no channel").
  defp next_id(counter) do
    case :atomics.add_get(counter, 1, 1) |> Bitwise.band(0xFFFFFFFF) do
      0 -> next_id(counter)
      id -> id
    end
  end

  @doc false
  # The agent's request: the zygote forks (or takes a forked-ahead agent)
  # and hands it over. Raises ArgumentError as Port.command/2 does when
  # the zygote's port is closed; :too_big for a port agent to refuse.
  def spawn_agent({:linx_spawner, port, id}, request) do
    if IO.iodata_length(request) > @max_request do
      :too_big
    else
      Port.command(port, [<<1, id::32>> | request])
      :ok
    end
  end

  @doc false
  # One frame (an encoded command) for the channel's agent.
  def command({:linx_spawner, port, id}, frame), do: Port.command(port, [<<2, id::32>> | frame])

  @doc false
  # After the agent's last frame: it exits by itself (a forked agent does
  # not wait for the close, docs/protocol.md), so nothing is sent; only
  # its exit status, which nobody waits for any more, is not delivered.
  def forget({:linx_spawner, _port, id}) do
    :ets.delete(@table, id)
    :ok
  end

  @doc false
  # As Port.close/1: the agent sees EOF on fd 3; nothing more arrives.
  def close({:linx_spawner, port, id}) do
    :ets.delete(@table, id)
    Port.command(port, <<3, id::32>>)
    :ok
  rescue
    ArgumentError -> :ok
  end

  ## Server

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    :ets.new(@table, [:named_table, :public, :set, write_concurrency: true])
    on? = Application.get_env(:linx, :pool_size, 2) > 0
    on? = Keyword.get(opts, :enabled, Application.get_env(:linx, :spawner_enabled, on?))
    flag = :atomics.new(1, [])
    :atomics.put(flag, 1, if(on?, do: 1, else: 0))
    send(self(), :open)
    state = %{port: nil, flag: flag, counter: :atomics.new(1, []), watched: %{}, backoff: nil}
    {:ok, Map.put(state, :pieces, %{})}
  end

  @impl true
  def handle_info(:open, s) do
    case open_zygote() do
      {:ok, port} ->
        :persistent_term.put(@key, {port, s.flag, s.counter})
        {:noreply, %{s | port: port, backoff: nil}}

      # not built: Linx.Process opens its own agents (and says why)
      {:error, :enoent} ->
        {:noreply, s}

      {:error, _errno} ->
        backoff = Linx.Pool.next_backoff(s.backoff)
        Process.send_after(self(), :open, backoff)
        {:noreply, %{s | backoff: backoff}}
    end
  end

  # Frames on the zygote's port: <<op, id:32, payload>> (c_src/zygote.c).
  # The agents write theirs there themselves, each cut into pieces that
  # fit one atomic pipe write: op 5 pieces, then the op 2 piece that ends
  # the frame; the pieces of one channel come in order.
  def handle_info({port, {:data, <<2, id::32, piece::binary>>}}, %{port: port} = s) do
    {head, pieces} = Map.pop(s.pieces, id, [])

    case :ets.lookup(@table, id) do
      [{_, pid}] ->
        frame = if head == [], do: piece, else: IO.iodata_to_binary([head, piece])
        send(pid, {{:linx_spawner, port, id}, {:data, frame}})

      [] ->
        :ok
    end

    {:noreply, %{s | pieces: pieces}}
  end

  def handle_info({port, {:data, <<5, id::32, piece::binary>>}}, %{port: port} = s) do
    # nobody to hand the frame to (closed, forgotten): not kept
    if :ets.member(@table, id),
      do: {:noreply, %{s | pieces: Map.update(s.pieces, id, [piece], &[&1, piece])}},
      else: {:noreply, s}
  end

  # After every frame of the agent (they were in the pipe before it
  # exited); a frame it did not finish is dropped with it.
  def handle_info({port, {:data, <<3, id::32, status::32>>}}, %{port: port} = s) do
    case :ets.take(@table, id) do
      [{_, pid}] -> send(pid, {{:linx_spawner, port, id}, {:exit_status, status}})
      [] -> :ok
    end

    {:noreply, %{s | pieces: Map.delete(s.pieces, id)}}
  end

  def handle_info({port, {:data, <<4, id::32, text::binary>>}}, %{port: port} = s) do
    Logger.error("linx_process --zygote refused a frame of channel #{id}: #{text}")
    {:noreply, s}
  end

  def handle_info({:watch, id, pid}, s) do
    ref = Process.monitor(pid)
    {:noreply, %{s | watched: Map.put(s.watched, ref, id)}}
  end

  # A server ended: a channel it did not close is closed now.
  def handle_info({:DOWN, ref, :process, pid, _}, s) do
    {id, watched} = Map.pop(s.watched, ref)

    case :ets.lookup(@table, id) do
      [{_, ^pid}] -> close({:linx_spawner, s.port, id})
      _ -> :ok
    end

    {:noreply, %{s | watched: watched, pieces: Map.delete(s.pieces, id)}}
  end

  # The zygote died (its agents see EOF and end their workloads, their
  # servers are told by their port monitor): start another.
  def handle_info({port, {:exit_status, status}}, %{port: port} = s) do
    Logger.error("linx_process --zygote exited with status #{status}; starting another")
    {:noreply, restart(s)}
  end

  def handle_info({:EXIT, port, reason}, %{port: port} = s) when reason != :normal do
    Logger.error("linx_process --zygote's port closed: #{inspect(reason)}; starting another")
    {:noreply, restart(s)}
  end

  def handle_info(_other, s), do: {:noreply, s}

  @impl true
  def terminate(_reason, _s) do
    :persistent_term.erase(@key)
    :ok
  end

  defp restart(s) do
    :persistent_term.erase(@key)
    :ets.delete_all_objects(@table)
    send(self(), :open)
    %{s | port: nil, pieces: %{}}
  end

  # the zygote's own default of agents forked ahead (ZYGOTE_PREFORK, 2)
  defp open_zygote, do: Linx.Pool.try_open_agent(["--zygote"])
end
