defmodule Linx.Pool do
  @moduledoc """
  A small pool of port agents started ahead of time.

  Starting a workload costs two process creations: the BEAM opens the
  agent (`priv/linx_process`, an exec), then the agent clones and execs the
  workload. The pool takes the first one off the critical path: it keeps a
  few agents already started and blocked on their first frame, hands one
  to each new `Linx.Process`, and opens a replacement in the background.
  Each agent still serves exactly one workload and then exits.

  With the pool on, `Linx.Spawner` comes first: its zygote forks each
  workload's agent instead of the BEAM spawning one, and the pool's idle
  agents serve while the zygote is (re)starting. `resize(0)` turns both
  off: every spawn then opens its own agent (the cold path).

  ## Configuration

      # config/config.exs
      config :linx, pool_size: 2   # default 2; 0 turns the pool off

  The size can also be changed at run time with `resize/1`. With the pool
  off (or empty at the moment of a spawn) the agent is opened on demand,
  which is always correct, just slower.

  The pool never takes the application down. When an agent cannot be
  opened (the BEAM is out of file descriptors: `:emfile`), it tries again
  later, waiting twice as long each time (10 ms up to 5 s), and meanwhile
  hands out nothing, so `Linx.Process` opens its own agent and reports
  `{:error, {:emfile, :agent}}` if that fails too. An idle agent killed
  from outside is dropped when its exit is seen, and never handed out:
  `checkout/0` skips agents whose port is closed or whose OS process is
  gone or a zombie.

  A pooled agent was started in the BEAM's working directory and
  environment of that moment; `Linx.Process` always sends the workload's
  environment, and the working directory when one is given, so a spawn
  behaves the same whether its agent came from the pool or not.
  """
  use GenServer

  @default_size 2

  @doc false
  def start_link(opts \\ []) do
    GenServer.start_link(__MODULE__, opts, name: __MODULE__)
  end

  @doc """
  Takes an agent port from the pool, making the caller its owner (and
  linking it). Returns `nil` when the pool is off or empty; the caller
  then opens its own.
  """
  @spec checkout() :: port | nil
  def checkout do
    case Process.whereis(__MODULE__) do
      nil -> nil
      pool -> GenServer.call(pool, {:checkout, self()})
    end
  catch
    :exit, _ -> nil
  end

  @doc """
  Sets the number of idle agents kept ready (0 turns the pool off).

      Linx.Pool.resize(0)
      #=> :ok
  """
  @spec resize(non_neg_integer) :: :ok
  def resize(size) when is_integer(size) and size >= 0 do
    # the spawner (the warm path before the pool's agents) follows
    Linx.Spawner.enable(size > 0)
    GenServer.call(__MODULE__, {:resize, size})
  end

  @doc "How many agents are idle in the pool right now."
  @spec idle() :: non_neg_integer
  def idle, do: GenServer.call(__MODULE__, :idle)

  @doc """
  Opens one agent port owned by the caller, without the pool: what
  `Linx.Process` does on a cold start. Raises when the port cannot be
  opened (see `try_open_agent/0`).
  """
  @spec open_agent() :: port
  def open_agent, do: open_agent_with([])

  defp open_agent_with(args) do
    Port.open({:spawn_executable, agent_path()}, [
      :binary,
      :nouse_stdio,
      {:packet, 4},
      :exit_status,
      args: args
    ])
  end

  @doc """
  Opens one agent port owned by the caller, or says why it could not:
  `{:error, :emfile}` (or `:enfile`, `:eagain`, …) when the BEAM is out
  of file descriptors or processes, `{:error, :enoent}` when the agent is
  not built.
  """
  @spec try_open_agent() :: {:ok, port} | {:error, atom}
  def try_open_agent, do: try_open_agent([])

  @doc false
  # The same with arguments for the agent (Linx.Spawner: ["--zygote", n]).
  def try_open_agent(args) do
    {:ok, open_agent_with(args)}
  rescue
    e in ErlangError ->
      {:error, if(is_atom(e.original), do: e.original, else: :eio)}

    e in RuntimeError ->
      require Logger
      Logger.error(Exception.message(e))
      {:error, :enoent}
  end

  @doc false
  # Checked without File (one process, the file server, serves every
  # File call of the BEAM) and remembered once found: this runs for every
  # agent opened.
  def agent_path do
    case :persistent_term.get({__MODULE__, :agent_path}, nil) do
      nil ->
        path = Path.join(:code.priv_dir(:linx), "linx_process")

        unless match?({:ok, _}, :prim_file.read_file_info(path)) do
          raise "the agent #{path} is missing: run `mix compile` (it builds priv/ with make)"
        end

        :persistent_term.put({__MODULE__, :agent_path}, path)
        path

      path ->
        path
    end
  end

  ## Server

  # After a failed open (out of fds, of processes) the pool waits before
  # trying again, twice as long each time up to @max_backoff_ms, and
  # serves checkouts with nil meanwhile: never a crash, which would take
  # the application (and every running workload) down with it.
  @min_backoff_ms 10
  @max_backoff_ms 5_000

  @doc false
  # The wait before the next open after a failed one (the pool's, and
  # Linx.Spawner's for its zygote): twice the last, 10 ms to 5 s.
  def next_backoff(last), do: min(2 * (last || div(@min_backoff_ms, 2)), @max_backoff_ms)

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    size = Keyword.get(opts, :size, Application.get_env(:linx, :pool_size, @default_size))
    send(self(), :refill)
    {:ok, %{size: size, idle: :queue.new(), backoff: nil, opener: nil}}
  end

  @impl true
  def handle_call({:checkout, pid}, _from, s) do
    {port, idle} = take_live(s.idle, pid)
    refill_later(s)
    {:reply, port, %{s | idle: idle}}
  end

  def handle_call({:resize, size}, _from, s) do
    s = %{s | size: size} |> shrink()
    send(self(), :refill)
    {:reply, :ok, s}
  end

  def handle_call(:idle, _from, s), do: {:reply, :queue.len(s.idle), s}

  @impl true
  # Opens one agent at a time, in another process (open_agent/1): the
  # port open waits for the BEAM's one port spawner (erl_child_setup),
  # busy with every other port of the BEAM, and checkouts queued behind
  # that wait serialised spawns (docs/performance.md, "Throughput").
  def handle_info(:refill, %{opener: nil} = s) do
    if :queue.len(s.idle) < s.size,
      do: {:noreply, %{s | opener: open_agent(self())}},
      else: {:noreply, s}
  end

  def handle_info(:refill, s), do: {:noreply, s}

  def handle_info({:opened, opener, result}, %{opener: opener} = s) do
    s = %{s | opener: nil}

    case result do
      {:ok, port} ->
        send(self(), :refill)
        {:noreply, shrink(%{s | idle: :queue.in(port, s.idle), backoff: nil})}

      # The agent is not built (yet): run without a pool.
      {:error, :enoent} ->
        {:noreply, %{s | size: 0}}

      {:error, _errno} ->
        backoff = next_backoff(s.backoff)
        Process.send_after(self(), :retry_refill, backoff)
        {:noreply, %{s | backoff: backoff}}
    end
  end

  def handle_info(:retry_refill, s), do: handle_info(:refill, s)

  # An idle agent died (killed from outside): forget it, open another.
  def handle_info({port, {:exit_status, _}}, s) when is_port(port) do
    refill_later(s)
    {:noreply, %{s | idle: :queue.filter(&(&1 != port), s.idle)}}
  end

  def handle_info({:EXIT, _port, _}, s), do: {:noreply, s}
  def handle_info(_, s), do: {:noreply, s}

  # The first idle agent that is still alive, handed to `pid`; dead ones
  # (killed from outside, their exit_status not handled yet) are dropped.
  defp take_live(idle, pid) do
    case :queue.out(idle) do
      {{:value, port}, rest} ->
        if alive?(port) and hand_over(port, pid) do
          {port, rest}
        else
          close(port)
          take_live(rest, pid)
        end

      {:empty, rest} ->
        {nil, rest}
    end
  end

  # The opener makes the pool the port's owner (and link) and leaves: the
  # port's messages come here from then on. Should the pool be gone, the
  # port dies with the opener.
  defp open_agent(pool) do
    spawn_link(fn ->
      result =
        with {:ok, port} <- try_open_agent() do
          try do
            Port.connect(port, pool)
            Process.unlink(port)
            {:ok, port}
          rescue
            # the agent died at once: try again later, as after a failure
            ArgumentError -> {:error, :port_closed}
          end
        end

      send(pool, {:opened, self(), result})
    end)
  end

  # The port is open and its OS process exists and is not a zombie.
  defp alive?(port) do
    case Port.info(port, :os_pid) do
      {:os_pid, os_pid} ->
        case :prim_file.read_file("/proc/#{os_pid}/stat") do
          {:ok, stat} -> not Regex.match?(~r/^.*\) [ZXx]/s, stat)
          {:error, :enoent} -> false
          # Unknown (out of fds): let the new owner find out.
          {:error, _} -> true
        end

      nil ->
        false
    end
  end

  # The new owner gets the port's messages and its link; ours goes.
  defp hand_over(port, pid) do
    Port.connect(port, pid)
    Process.unlink(port)
    true
  rescue
    ArgumentError -> false
  end

  defp close(port) do
    Port.close(port)
  rescue
    ArgumentError -> :ok
  end

  # Opening an agent is a fork and an exec on a machine with few cores: not
  # while the workload that just took one is being cloned and exec'd.
  # While backing off, the pending retry refills.
  @refill_delay_ms 5
  defp refill_later(%{backoff: nil}), do: Process.send_after(self(), :refill, @refill_delay_ms)
  defp refill_later(_s), do: :ok

  defp shrink(s) do
    if :queue.len(s.idle) > s.size do
      {{:value, port}, rest} = :queue.out(s.idle)
      close(port)
      shrink(%{s | idle: rest})
    else
      s
    end
  end
end
