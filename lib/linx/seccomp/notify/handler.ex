defmodule Linx.Seccomp.Notify.Handler do
  @moduledoc """
  The process that runs a `Linx.Seccomp.Notifier` module for one workload.

  `Linx.Process` starts it (`start_link/2`) when the `notify:` option has a
  handler, passes it every notification `Linx.Seccomp.Notify.decide/2`
  answers with `:handler` (`handle/2`, a cast), forwards the agent's
  `{:notify_mem, ref, _}` and `{:notify_fd_path, ref, _}` frames to it
  (`agent_reply/2`), and asks for `summary/2` before the terminal event.

  Calls are handled one at a time, in order, each in its own process under
  `handler_timeout`: the server itself never runs user code, so it stays
  responsive while a call waits for the agent (`read_memory/3`). The answer
  goes out as `{:notify_reply, id, steps}` through `send_fun` (called from
  this server and from the per-call process: it must work from any
  process). A raise, an invalid answer or a timeout answers
  `{:errno, handler_errno}`, logs an error and keeps the previous state.

  Nothing here outlives the workload's server: the handler traps exits and
  stops when the process that started it (the `Linx.Process` server) exits
  for any reason, `:normal` included, and a call process running at that
  moment is killed with it, whatever is left of its `handler_timeout`.
  """

  use GenServer

  require Logger

  alias Linx.Process.Wire
  alias Linx.Seccomp.Notify

  require Wire

  @typedoc "Sends one term to the agent (encoded and written by `Linx.Process`)."
  @type send_fun :: (term() -> any())

  @doc """
  Starts the handler: runs `module.init(arg)` in this process (a raise or
  an answer other than `{:ok, state}` makes `start_link` return
  `{:error, reason}`). Linked to the caller.
  """
  @spec start_link(Notify.t(), send_fun(), GenServer.options()) :: GenServer.on_start()
  def start_link(%Notify{handler: {_, _}} = notify, send_fun, opts \\ [])
      when is_function(send_fun, 1) do
    GenServer.start_link(__MODULE__, {notify, send_fun}, opts)
  end

  @doc "Queues one notification (a map as `Linx.Seccomp.Notify.notification/1` builds). Asynchronous."
  @spec handle(GenServer.server(), map()) :: :ok
  def handle(server, notification), do: GenServer.cast(server, {:handle, notification})

  @doc """
  Delivers an agent frame `{:notify_mem, ref, result}` or
  `{:notify_fd_path, ref, result}` to the call waiting for it (unknown refs
  are dropped: the call timed out).
  """
  @spec agent_reply(GenServer.server(), tuple()) :: :ok
  def agent_reply(server, {tag, _ref, _result} = frame)
      when Wire.is_notify_agent_reply(tag),
      do: GenServer.cast(server, {:agent_reply, frame})

  @doc """
  The module's `summary(state)` after every queued call is answered:
  `{:ok, term}`, or `:none` when the module has no `summary/1`, it raised,
  or `timeout` ms passed.
  """
  @spec summary(GenServer.server(), timeout()) :: {:ok, term()} | :none
  def summary(server, timeout \\ 5000) do
    GenServer.call(server, :summary, timeout)
  catch
    :exit, _ -> :none
  end

  # --- server --------------------------------------------------------------

  @impl true
  def init({%Notify{handler: {mod, arg}} = notify, send_fun}) do
    # The parent (the Linx.Process server) stops with :normal when the
    # owner goes away: only a trapped exit makes that stop us too, and lets
    # terminate/2 end a call still running (gen_server stops on the
    # parent's EXIT whatever its reason).
    Process.flag(:trap_exit, true)

    case safe_init(mod, arg) do
      {:ok, state} ->
        {:ok,
         %{
           notify: notify,
           mod: mod,
           state: state,
           send: send_fun,
           queue: :queue.new(),
           job: nil,
           waiting: %{}
         }}

      {:error, reason} ->
        {:stop, reason}
    end
  end

  defp safe_init(mod, arg) do
    case mod.init(arg) do
      {:ok, state} -> {:ok, state}
      other -> {:error, {:bad_init, mod, other}}
    end
  rescue
    e -> {:error, {:init_raised, mod, e}}
  end

  @impl true
  def handle_cast({:handle, notification}, s), do: {:noreply, enqueue(s, {:call, notification})}

  def handle_cast({:agent_reply, frame}, s) do
    {ref, result} = Wire.notify_agent_reply(frame)

    case Map.pop(s.waiting, ref) do
      {nil, _} ->
        {:noreply, s}

      {pid, waiting} ->
        send(pid, {:linx_notify_agent, ref, result})
        {:noreply, %{s | waiting: waiting}}
    end
  end

  @impl true
  def handle_call(:summary, from, s) do
    if function_exported?(s.mod, :summary, 1),
      do: {:noreply, enqueue(s, {:summary, from})},
      else: {:reply, :none, s}
  end

  # A call process announces the ref it is about to send, so the agent's
  # answer (arriving through Linx.Process) can be routed back to it.
  def handle_call({:await_agent, ref}, {pid, _}, s),
    do: {:reply, :ok, %{s | waiting: Map.put(s.waiting, ref, pid)}}

  @impl true
  def handle_info({tag, result}, %{job: %{tag: tag} = job} = s) do
    Process.demonitor(job.mref, [:flush])
    Process.cancel_timer(job.timer)
    s = finish(%{s | job: nil}, job, result)
    {:noreply, run_next(s)}
  end

  def handle_info({:job_timeout, tag}, %{job: %{tag: tag} = job} = s) do
    Process.exit(job.pid, :kill)
    Process.demonitor(job.mref, [:flush])
    s = finish(%{s | job: nil}, job, :timeout)
    {:noreply, run_next(s)}
  end

  # The call process died without answering (killed from outside).
  def handle_info({:DOWN, mref, :process, _, reason}, %{job: %{mref: mref} = job} = s) do
    Process.cancel_timer(job.timer)
    s = finish(%{s | job: nil}, job, {:caught, :exit, reason, []})
    {:noreply, run_next(s)}
  end

  # Late messages of a job already finished (its timeout raced its answer),
  # and the EXIT of a call process we already accounted for (its DOWN or
  # its answer): the link only makes it die with us.
  def handle_info(_other, s), do: {:noreply, s}

  @impl true
  # A call still running dies with us, and after us: a reaper kills it once
  # we are gone, so whoever sees the call process dead finds this handler
  # dead too (the link alone would spare it when we stop with :normal).
  def terminate(_reason, %{job: %{pid: pid}}) do
    handler = self()

    spawn(fn ->
      ref = Process.monitor(handler)

      receive do
        {:DOWN, ^ref, :process, _, _} -> Process.exit(pid, :kill)
      end
    end)

    :ok
  end

  def terminate(_reason, _s), do: :ok

  # --- jobs ----------------------------------------------------------------

  defp enqueue(s, job), do: run_next(%{s | queue: :queue.in(job, s.queue)})

  defp run_next(%{job: nil} = s) do
    case :queue.out(s.queue) do
      {{:value, job}, queue} -> start_job(%{s | queue: queue}, job)
      {:empty, _} -> s
    end
  end

  defp run_next(s), do: s

  defp start_job(s, {kind, payload}) do
    parent = self()
    tag = make_ref()
    mod = s.mod
    state = s.state
    timeout = s.notify.handler_timeout
    ctx = %{handler: parent, send: s.send, timeout: timeout}

    fun =
      case kind do
        :call -> fn -> mod.handle_syscall(payload, state) end
        :summary -> fn -> mod.summary(state) end
      end

    # Linked, so that it dies with this server even if we are killed; the
    # monitor (not the EXIT) tells us how it ended.
    {pid, mref} =
      :erlang.spawn_opt(
        fn ->
          Process.put(Notify.handler_ctx_key(), ctx)

          result =
            try do
              {:ok, fun.()}
            catch
              kind, reason -> {:caught, kind, reason, __STACKTRACE__}
            end

          send(parent, {tag, result})
        end,
        [:link, :monitor]
      )

    timer = Process.send_after(self(), {:job_timeout, tag}, timeout)
    %{s | job: %{tag: tag, pid: pid, mref: mref, timer: timer, kind: kind, payload: payload}}
  end

  defp finish(s, job, result) do
    s = %{s | waiting: Map.reject(s.waiting, fn {_, pid} -> pid == job.pid end)}
    finish_job(s, job.kind, job.payload, result)
  end

  defp finish_job(s, :call, n, {:ok, {action, new_state}}) do
    steps = Notify.steps_for(action, n)
    reply(s, n, steps)
    %{s | state: new_state}
  rescue
    e in ArgumentError ->
      fail(s, n, "answered #{inspect(action)}: #{Exception.message(e)}")
  end

  defp finish_job(s, :call, n, {:ok, other}),
    do: fail(s, n, "returned #{inspect(other)}, expected {action, new_state}")

  defp finish_job(s, :call, n, :timeout),
    do: fail(s, n, "timed out after #{s.notify.handler_timeout} ms")

  defp finish_job(s, :call, n, {:caught, kind, reason, stack}),
    do: fail(s, n, "failed:\n" <> Exception.format(kind, reason, stack))

  defp finish_job(s, :summary, from, {:ok, term}) do
    GenServer.reply(from, {:ok, term})
    s
  end

  defp finish_job(s, :summary, from, other) do
    Logger.error("#{inspect(s.mod)}.summary/1 gave no summary: #{inspect(other)}")
    GenServer.reply(from, :none)
    s
  end

  defp fail(s, n, why) do
    Logger.error(
      "#{inspect(s.mod)}.handle_syscall/2 for #{inspect(n[:syscall] || n[:nr])} " <>
        "(pid #{inspect(n[:pid])}) #{why}; answering errno #{s.notify.handler_errno}"
    )

    reply(s, n, [{:errno, s.notify.handler_errno}])
    s
  end

  defp reply(s, n, steps) do
    s.send.(Wire.notify_reply(n.id, steps))
  rescue
    e ->
      Logger.error("Linx.Seccomp.Notify.Handler: sending a reply failed: #{Exception.message(e)}")
  catch
    kind, reason ->
      Logger.error(
        "Linx.Seccomp.Notify.Handler: sending a reply failed: #{inspect({kind, reason})}"
      )
  end
end
