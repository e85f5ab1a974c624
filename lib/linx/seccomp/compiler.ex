defmodule Linx.Seccomp.Compiler do
  @moduledoc """
  Owns one port to `priv/linx_seccomp` (the libseccomp compiler program)
  and an ETS cache of compiled filters keyed by the normalised policy:
  each distinct policy is compiled once per node.

  Callers normally go through `Linx.Seccomp.compile/1`. The server starts
  lazily (`ensure_started/0`, unlinked, registered as `#{inspect(__MODULE__)}`);
  an application may instead put it in its own supervision tree with the
  child spec `Linx.Seccomp.Compiler`. A cache hit is an ETS lookup in the
  caller's process; only misses go through the server, which pipelines them
  to the port (replies come back in request order).

  If the program dies, every pending caller gets
  `{:error, {:compiler_died, exit_status}}` and the next request starts a
  new one.
  """

  use GenServer
  require Logger

  @table __MODULE__.Cache
  @timeout 30_000

  @doc """
  Starts the server linked to the caller (for a supervision tree).

      children = [Linx.Seccomp.Compiler]
  """
  @spec start_link(keyword) :: GenServer.on_start()
  def start_link(opts \\ []), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @doc """
  Starts the server unless it runs already; not linked to the caller.

      iex> {:ok, pid} = Linx.Seccomp.Compiler.ensure_started()
      iex> is_pid(pid)
      true
  """
  @spec ensure_started() :: {:ok, pid} | {:error, term}
  def ensure_started do
    case Process.whereis(__MODULE__) do
      nil ->
        case GenServer.start(__MODULE__, [], name: __MODULE__) do
          {:ok, pid} -> {:ok, pid}
          {:error, {:already_started, pid}} -> {:ok, pid}
          error -> error
        end

      pid ->
        {:ok, pid}
    end
  end

  @doc """
  Compiles a wire-term policy (see `Linx.Seccomp.Policy.normalise/1`),
  answering from the cache when it can. `warnings` lists the names skipped
  under `unknown_syscalls: :ignore`: `{:unknown_syscall, name}` (libseccomp
  does not know it) or `{:not_on_arch, name}` (none of the filter's arches
  has it).

      iex> {:ok, wire} = Linx.Seccomp.Policy.normalise(%Linx.Seccomp.Policy{default: :allow})
      iex> {:ok, bpf, []} = Linx.Seccomp.Compiler.compile(wire)
      iex> rem(byte_size(bpf), 8)
      0
  """
  @spec compile(Linx.Seccomp.Policy.wire()) :: {:ok, binary, [warning]} | {:error, term}
        when warning: {:unknown_syscall | :not_on_arch, String.t()}
  def compile(wire) do
    case lookup({:compile, wire}) do
      {:ok, result} ->
        result

      :miss ->
        case request({:compile, wire}) do
          {:ok, bpf, unknown, absent} ->
            result =
              {:ok, bpf,
               Enum.map(unknown, &{:unknown_syscall, &1}) ++
                 Enum.map(absent, &{:not_on_arch, &1})}

            :ets.insert(@table, {{:compile, wire}, result})
            log_unknown(unknown)
            result

          error ->
            wire_error(error)
        end
    end
  end

  @doc """
  libseccomp's own rendering of the filter (its "PFC" pseudo code), for
  reading what a policy compiles to.

      iex> {:ok, wire} = Linx.Seccomp.Policy.normalise(%Linx.Seccomp.Policy{default: :allow})
      iex> {:ok, text} = Linx.Seccomp.Compiler.pfc(wire)
      iex> text =~ "action ALLOW"
      true
  """
  @spec pfc(Linx.Seccomp.Policy.wire()) :: {:ok, String.t()} | {:error, term}
  def pfc(wire) do
    case request({:pfc, wire}) do
      {:ok, text, _, _} -> {:ok, text}
      error -> wire_error(error)
    end
  end

  # The compiler program's error answers, as Linx.Seccomp reasons.
  defp wire_error({:error, {:unknown_syscalls, unknown, absent}}),
    do: {:error, {:unknown_syscalls, unknown ++ absent}}

  defp wire_error({:error, what}) when is_binary(what), do: {:error, {:libseccomp, what}}
  defp wire_error({:error, _} = error), do: error

  @doc """
  Resolves syscall names for the native arch with libseccomp.

      iex> Linx.Seccomp.Compiler.resolve(["read", "no_such_call"])
      {:ok, [0, :unknown]}
  """
  @spec resolve([String.t()]) :: {:ok, [non_neg_integer | :unknown]} | {:error, term}
  def resolve(names) when is_list(names) do
    case request({:resolve, names}) do
      {:ok, numbers} -> {:ok, numbers}
      {:error, what} when is_binary(what) -> {:error, {:libseccomp, what}}
      {:error, _} = error -> error
    end
  end

  @doc """
  libseccomp's version, API level and native arch, as the program sees them.

      iex> {:ok, {2, _, _}, api, arch} = Linx.Seccomp.Compiler.version()
      iex> is_integer(api) and is_binary(arch)
      true
  """
  @spec version() ::
          {:ok, {non_neg_integer, non_neg_integer, non_neg_integer}, non_neg_integer, String.t()}
          | {:error, term}
  def version do
    case lookup(:version) do
      {:ok, result} ->
        result

      :miss ->
        with {:ok, _, _, _} = result <- request(:version) do
          :ets.insert(@table, {:version, result})
          result
        end
    end
  end

  @doc """
  Empties the cache (tests, or after replacing the program).

      iex> Linx.Seccomp.Compiler.clear_cache()
      :ok
  """
  @spec clear_cache() :: :ok
  def clear_cache do
    with {:ok, _} <- ensure_started(), do: :ets.delete_all_objects(@table)
    :ok
  end

  # Skipped names are never silent: the ones libseccomp does not know at all
  # (newer than it, or misspelt) are logged once, when the policy is first
  # compiled. Names merely absent from the filter's arches are normal for
  # arch-neutral profiles and only returned as warnings.
  defp log_unknown([]), do: :ok

  defp log_unknown(names) do
    Logger.warning(
      "seccomp: libseccomp does not know these syscalls; their rules were skipped " <>
        "(unknown_syscalls: :ignore): " <> Enum.join(names, ", ")
    )
  end

  defp lookup(key) do
    case :ets.whereis(@table) do
      :undefined ->
        :miss

      _ ->
        case :ets.lookup(@table, key) do
          [{^key, result}] -> {:ok, result}
          [] -> :miss
        end
    end
  rescue
    ArgumentError -> :miss
  end

  defp request(term) do
    with {:ok, pid} <- ensure_started() do
      GenServer.call(pid, {:request, term}, @timeout)
    end
  catch
    :exit, reason -> {:error, {:compiler_unavailable, reason}}
  end

  # -- server --

  @impl true
  def init(_opts) do
    :ets.new(@table, [:named_table, :public, :set, read_concurrency: true])
    {:ok, %{port: nil, pending: :queue.new()}}
  end

  @impl true
  def handle_call({:request, term}, from, state) do
    case ensure_port(state) do
      {:ok, state} ->
        Port.command(state.port, :erlang.term_to_binary(term))
        {:noreply, %{state | pending: :queue.in(from, state.pending)}}

      {:error, reason} ->
        {:reply, {:error, {:compiler_unavailable, reason}}, state}
    end
  end

  @impl true
  # One reply frame per request, in request order.
  def handle_info({port, {:data, data}}, %{port: port} = state) do
    reply =
      try do
        :erlang.binary_to_term(data, [:safe])
      rescue
        ArgumentError -> {:error, {:bad_reply, data}}
      end

    case :queue.out(state.pending) do
      {{:value, from}, pending} ->
        GenServer.reply(from, reply)
        {:noreply, %{state | pending: pending}}

      {:empty, _} ->
        Logger.warning("linx_seccomp sent a reply nobody asked for: #{inspect(reply)}")
        {:noreply, state}
    end
  end

  # The program died (it only exits by itself on a broken channel): fail
  # every pending caller; the next request starts a new program.
  def handle_info({port, {:exit_status, status}}, %{port: port} = state) do
    for from <- :queue.to_list(state.pending),
        do: GenServer.reply(from, {:error, {:compiler_died, status}})

    {:noreply, %{state | port: nil, pending: :queue.new()}}
  end

  # A message from a port we already gave up on.
  def handle_info({port, _}, state) when is_port(port), do: {:noreply, state}

  defp ensure_port(%{port: port} = state) when is_port(port), do: {:ok, state}

  defp ensure_port(state) do
    path = program_path()

    if File.regular?(path) do
      port =
        Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

      {:ok, %{state | port: port}}
    else
      {:error, {:not_built, path}}
    end
  rescue
    e in ErlangError -> {:error, e.original}
  end

  @doc """
  Where the compiler program is: `:seccomp_compiler` in the `:linx`
  application environment, else `priv/linx_seccomp` of the `:linx` app.

      iex> Path.basename(Linx.Seccomp.Compiler.program_path())
      "linx_seccomp"
  """
  @spec program_path() :: String.t()
  def program_path do
    case Application.get_env(:linx, :seccomp_compiler) do
      nil ->
        case :code.priv_dir(:linx) do
          {:error, _} -> Path.expand("priv/linx_seccomp")
          dir -> Path.join(to_string(dir), "linx_seccomp")
        end

      path ->
        path
    end
  end
end
