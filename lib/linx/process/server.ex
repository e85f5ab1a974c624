defmodule Linx.Process.Server do
  @moduledoc false
  # The GenServer behind a `Linx.Process` pid (the public API and its docs
  # are in Linx.Process). One per workload: it owns the port of the agent
  # (priv/linx_process), sends it the request, then
  #
  #   * follows the agent's frames (docs/protocol.md, "Life of a session"):
  #     (the agent writes the id maps of the request itself), answers the
  #     callers of spawn/enter/proceed/abort/capabilities, forwards output
  #     and the terminal event to the owner and to awaiters;
  #   * runs flow control in both directions (Linx.Process.Flow);
  #   * dispatches seccomp notifications: rules here, the rest to the
  #     handler process (Linx.Seccomp.Notify.Handler);
  #   * makes and removes the workload's cgroup (Linx.Cgroup).
  #
  # An error the agent explains ({:error_detail, …} before {:error, …})
  # keeps its text in last_error: callers answered {:error, {errno,
  # stage}} get {:error, {errno, stage}, text} here (reply/3), which
  # Linx.Process unwraps into Linx.Process.last_error/0. A refusal naming a
  # command whose call waits (proceed, abort, caps_query) answers that call.
  #
  # Every frame is built and read by Linx.Process.Wire.

  use GenServer, restart: :temporary

  import Linx.Process.Server.Agent
  import Linx.Process.Server.Groups

  alias Linx.Process.{Flow, Options, Wire}

  require Logger
  require Wire

  @typedoc "Where the workload is on its way (see the agent_frame/2 clauses)."
  @type phase ::
          :starting
          | :proceeding_internal
          | :ready
          | :proceeding
          | :aborting
          | :running
          | :done

  @typedoc "The server state."
  @type t :: %__MODULE__{
          port: port | Linx.Spawner.channel() | nil,
          opts: Options.t(),
          owner: pid | nil,
          owner_ref: reference | nil,
          phase: phase,
          os_pid: pos_integer | nil,
          ns_pid: pos_integer | nil,
          start_from: GenServer.from() | nil,
          proceed_from: GenServer.from() | nil,
          abort_from: GenServer.from() | nil,
          caps_from: GenServer.from() | nil,
          awaiters: [{pid | reference, term}],
          terminal: Linx.Process.terminal() | nil,
          malformed: {atom, binary} | nil,
          detail: %{stage: atom, command: atom | nil, text: binary} | nil,
          last_error: {atom | integer, atom, binary} | nil,
          input: :pipe | :pty | nil,
          notify: Linx.Seccomp.Notify.t() | nil,
          flow: Flow.t(),
          handler: pid | nil,
          cgroup: Path.t() | nil,
          cgroup_by_agent?: boolean,
          retry_agent?: boolean,
          limit_groups: Linx.Cgroup.Limits.groups(),
          log_bufs: %{atom => binary},
          start_failed?: boolean
        }

  @enforce_keys [:port, :opts, :flow]
  defstruct port: nil,
            opts: nil,
            owner: nil,
            owner_ref: nil,
            phase: :starting,
            os_pid: nil,
            ns_pid: nil,
            start_from: nil,
            proceed_from: nil,
            abort_from: nil,
            caps_from: nil,
            awaiters: [],
            terminal: nil,
            malformed: nil,
            detail: nil,
            last_error: nil,
            input: nil,
            notify: nil,
            flow: nil,
            handler: nil,
            cgroup: nil,
            cgroup_by_agent?: false,
            agent_usage: nil,
            retry_agent?: false,
            notify_failures: 0,
            limit_groups: %{},
            log_bufs: %{},
            start_failed?: false

  # How long the server outlives its workload: a late await/2 from a
  # process other than the owner still gets the terminal event. Short, as
  # the exit reason (and a supervisor's restart) waits for it.
  @linger_ms 1_000
  @notify_failures_logged 10

  @impl true
  def init(%Options{} = opts) do
    Process.flag(:trap_exit, true)

    # Every failure here is a start error {errno, stage}: the owner is
    # gone (:owner), the cgroup could not be made (:cgroup), or no agent
    # could be opened, e.g. out of file descriptors (:agent).
    case check_owner(opts.owner) do
      :ok -> {:ok, %__MODULE__{port: nil, opts: opts, flow: nil}, {:continue, :start}}
      {:error, errno, stage} -> {:stop, {errno, stage}}
    end
  end

  # The group, the agent and the request are made here, not in init/1:
  # the DynamicSupervisor waits for each child's init/1 in turn, so that
  # work serialised every spawn of the BEAM (docs/performance.md,
  # "Throughput"). A failure is kept as the start error: the :started
  # call gets it and the server ends (start_failed/2).
  @impl true
  def handle_continue(:start, %{opts: opts} = s) do
    with {:ok, cgroup} <- make_cgroup(opts),
         {:ok, opts, groups} <- make_limits(opts, cgroup),
         {:ok, port, pooled?} <- open_agent(),
         request = Wire.encode(Wire.request(opts, opts.checkpoint, cgroup)),
         {:ok, port, pooled?} <- send_request(port, pooled?, request) do
      case init_state(opts, port, cgroup, pooled?) do
        {:ok, state} ->
          {:noreply, %{state | limit_groups: groups}}

        # EOF on fd 3 makes the agent kill what it started
        {:stop, reason} ->
          close(port)
          {:noreply, start_failed(s, reason)}
      end
    else
      {:error, errno, stage} -> {:noreply, start_failed(s, {errno, stage})}
    end
  end

  # Nobody else knows this pid yet: the caller's :started call takes the
  # error, and the server stops then (or after the linger, should the
  # caller be gone). A group made for it is removed by the janitor.
  defp start_failed(s, {errno, stage}) do
    Process.send_after(self(), :linger_over, @linger_ms)
    %{s | terminal: {:error, errno, stage}, phase: :done, start_failed?: true}
  end

  # The final usage, just before the terminal event (Groups.final_usage/2)
  defp notify_usage(s, terminal) do
    if usage = final_usage(s, terminal), do: notify(s, {:usage, usage})
    :ok
  end

  defp init_state(opts, port, cgroup, pooled?) do
    state = %__MODULE__{
      port: port,
      opts: opts,
      owner: opts.owner,
      owner_ref: opts.owner && Process.monitor(opts.owner),
      input: input_kind(opts.stdio),
      notify: opts.notify,
      flow: Flow.new(opts.stdio_window),
      cgroup: cgroup_path(cgroup),
      cgroup_by_agent?: by_agent?(cgroup),
      # A pooled agent found dead before it answered is replaced once.
      retry_agent?: pooled?
    }

    # running, for Linx.Cluster.load/0, until finish/2
    Linx.Cluster.track(self())

    case start_handler(state) do
      {:ok, state} -> {:ok, state}
      {:error, reason} -> {:stop, {handler_errno(reason), :notify_handler}}
    end
  end

  # The notifier's own reason is logged; the start error stays {atom, stage}.
  defp handler_errno(reason) when is_atom(reason), do: reason

  defp handler_errno(reason) do
    Logger.error("linx_process: the notify handler did not start: #{inspect(reason)}")
    :crashed
  end

  # A Linx.Seccomp.Notifier module runs in its own process, so a slow
  # handler never blocks this server; it writes its answers to the port.
  defp start_handler(%{notify: nil} = s), do: {:ok, s}

  defp start_handler(%{notify: notify, port: port} = s) do
    if Linx.Seccomp.Notify.handler?(notify) do
      send_fun = fn term -> command(port, Wire.encode(term)) end

      with {:ok, pid} <- Linx.Seccomp.Notify.Handler.start_link(notify, send_fun) do
        {:ok, %{s | handler: pid}}
      end
    else
      {:ok, s}
    end
  end

  defp input_kind(:pty), do: :pty
  defp input_kind(:pipe), do: :pipe
  defp input_kind(stdio) when is_list(stdio), do: if(stdio[:stdin] == :pipe, do: :pipe)
  defp input_kind(_), do: nil

  @impl true
  def handle_call(:started, _from, %{start_failed?: true, terminal: t} = s),
    do: {:stop, :normal, start_error(t), s}

  # checkpoint: true and :ready came: the start succeeded, whatever ended
  # the workload since (a checkpoint step's error is proceed/1's answer,
  # and the owner was told). The call can come after both frames.
  def handle_call(:started, _from, %{terminal: t, opts: %{checkpoint: true}, ns_pid: ns} = s)
      when t != nil and ns != nil,
      do: {:reply, {:ok, self()}, s}

  def handle_call(:started, _from, %{terminal: t} = s) when t != nil,
    do: {:reply, with_text(start_error(t), s), s}

  def handle_call(:started, from, %{phase: phase} = s)
      when phase in [:starting, :proceeding_internal],
      do: {:noreply, %{s | start_from: from}}

  def handle_call(:started, _from, s), do: {:reply, {:ok, self()}, s}

  def handle_call(:proceed, from, %{phase: :ready} = s) do
    send_frame(s, Wire.command(:proceed))
    {:noreply, %{s | phase: :proceeding, proceed_from: from}}
  end

  # A step of the checkpoint (an option's command) failed before the
  # owner called proceed/1: that error is the answer, as if it had waited.
  def handle_call(:proceed, _from, %{terminal: {:error, _, _} = t} = s),
    do: {:reply, with_text(start_error(t), s), s}

  def handle_call(:proceed, _from, s), do: {:reply, {:error, :not_at_checkpoint}, s}

  def handle_call(:abort, from, %{phase: :ready} = s) do
    send_frame(s, Wire.command(:abort))
    {:noreply, %{s | phase: :aborting, abort_from: from}}
  end

  def handle_call(:abort, _from, s), do: {:reply, {:error, :not_at_checkpoint}, s}

  def handle_call(:caps_query, from, %{phase: :ready, caps_from: nil} = s) do
    send_frame(s, Wire.command(:caps_query))
    {:noreply, %{s | caps_from: from}}
  end

  def handle_call(:caps_query, _from, s), do: {:reply, {:error, :not_at_checkpoint}, s}

  def handle_call(:error_text, _from, s),
    do: {:reply, s.last_error && elem(s.last_error, 2), s}

  def handle_call(:os_pid, _from, s), do: {:reply, s.os_pid, s}
  def handle_call(:kill_timeout, _from, s), do: {:reply, s.opts.kill_timeout, s}
  def handle_call(:ns_pid, _from, s), do: {:reply, s.ns_pid, s}

  def handle_call(_, _from, %{terminal: t} = s) when t != nil,
    do: {:reply, {:error, :not_running}, s}

  def handle_call(:stats, _from, s), do: {:reply, {:ok, usage(s)}, s}

  def handle_call({:signal, n}, _from, s) do
    send_frame(s, Wire.signal(n))
    {:reply, :ok, s}
  end

  # Writers are answered once their data is handed to the agent, within
  # the input window (Linx.Process.Flow); the reply may come later.
  def handle_call({:write, data}, from, %{input: input} = s) when input in [:pipe, :pty] do
    tag = if input == :pipe, do: :stdin, else: :pty_in
    {:noreply, flow_input(s, &Flow.input(&1, from, {:data, tag, data}))}
  end

  def handle_call({:write, _}, _from, s), do: {:reply, {:error, :no_input}, s}

  def handle_call(:close_stdin, from, %{input: :pipe} = s) do
    {:noreply, flow_input(s, &Flow.input(&1, from, :close))}
  end

  def handle_call(:close_stdin, _from, s), do: {:reply, {:error, :no_input}, s}

  def handle_call({:resize, rows, cols}, _from, %{input: :pty} = s) do
    send_frame(s, Wire.pty_winsize(rows, cols))
    {:reply, :ok, s}
  end

  def handle_call({:resize, _, _}, _from, s), do: {:reply, {:error, :no_pty}, s}

  @impl true
  # Frames from the agent.
  def handle_info({port, {:data, bin}}, %{port: port} = s) do
    frame = Wire.decode(bin)
    s = agent_frame(frame, s)
    {:noreply, if(last_frame?(frame), do: close_agent(s), else: s)}
  end

  # A pooled agent that died before answering anything (killed from
  # outside while it waited in the pool): the workload never started, so
  # start it once more with a fresh agent. Not with a notify handler,
  # which writes to the first port.
  def handle_info({port, {:exit_status, _}} = msg, %{port: port, retry_agent?: true} = s)
      when s.phase == :starting and s.os_pid == nil and s.terminal == nil and s.handler == nil do
    s = %{s | retry_agent?: false}

    with {:ok, cgroup} <- fresh_cgroup(s),
         {:ok, opts, groups} <- fresh_limits(s, cgroup),
         {:ok, fresh} <- Linx.Pool.try_open_agent() do
      request = Wire.request(opts, opts.checkpoint, cgroup)
      Port.command(fresh, Wire.encode(request))
      s = %{s | cgroup: cgroup_path(cgroup), cgroup_by_agent?: by_agent?(cgroup)}
      {:noreply, %{s | port: fresh, opts: opts, limit_groups: groups}}
    else
      _ -> handle_info(msg, s)
    end
  end

  # The agent exited. After a terminal frame that is the normal end; before
  # one, the agent died and we say so instead of leaving callers waiting.
  def handle_info({port, {:exit_status, status}}, %{port: port} = s),
    do: {:noreply, agent_gone(s, status)}

  def handle_info(:linger_over, s), do: stop_server(s)

  def handle_info(:flow_check, s) do
    {:noreply, flow_output(s, &Flow.check(Flow.timer_fired(&1), s.owner))}
  end

  def handle_info(:release, %{port: nil} = s), do: stop_server(s)
  def handle_info(:release, s), do: {:noreply, s}

  # Waiting reads no output: from now on it is not held back (see Flow).
  def handle_info({:await, {pid, tag}}, %{terminal: nil} = s) do
    s = flow_output(s, &Flow.check(Flow.free(&1), s.owner))
    {:noreply, %{s | awaiters: [{pid, tag} | s.awaiters]}}
  end

  def handle_info({:await, {pid, tag}}, s) do
    send(pid, {tag, s.terminal})
    {:noreply, s}
  end

  def handle_info({:unawait, tag}, s),
    do: {:noreply, %{s | awaiters: Enum.reject(s.awaiters, &match?({_, ^tag}, &1))}}

  # The owner is gone: closing the port makes the agent see EOF on fd 3,
  # and it kills the workload's whole tree (unless on_exit: :detach).
  def handle_info({:DOWN, ref, :process, _, _}, %{owner_ref: ref} = s),
    do: {:stop, :normal, s}

  # The port's own exit signal: :normal follows its exit_status (handled
  # above). Anything else (:epipe: a write found the agent gone) means the
  # port closed without an exit status, and possibly without the frames
  # the agent wrote last: end here rather than wait for a status that will
  # never come.
  def handle_info({:EXIT, port, :normal}, s) when is_port(port), do: {:noreply, s}

  def handle_info({:EXIT, port, reason}, %{port: port} = s) do
    handle_info({port, {:exit_status, {:port_closed, reason}}}, s)
  end

  def handle_info({:EXIT, port, _reason}, s) when is_port(port), do: {:noreply, s}

  # The zygote of Linx.Spawner died: so did our agent, if we still had one.
  def handle_info({:DOWN, _, :port, zygote, reason}, %{port: {:linx_spawner, zygote, _}} = s),
    do: handle_info({s.port, {:exit_status, {:port_closed, reason}}}, s)

  def handle_info({:DOWN, _, :port, _, _}, s), do: {:noreply, s}

  # Linked (start_link) parent exits: same as the owner going away.
  def handle_info({:EXIT, _from, reason}, s), do: {:stop, reason, s}

  def handle_info(_other, s), do: {:noreply, s}

  @impl true
  def terminate(_reason, s) do
    close(s.port)

    # Closing the port makes the agent kill the tree; unless detached,
    # make sure with the cgroup too, then remove it once empty.
    if s.cgroup && s.opts.on_exit == :kill && s.terminal == nil, do: Linx.Cgroup.kill(s.cgroup)
    release_cgroup(s)
    release_limit_groups(s)
    :ok
  end

  ## Agent frames (docs/protocol.md, "Life of a session")

  defp agent_frame({:status, :spawned, pid}, s), do: %{s | os_pid: pid}

  defp agent_frame({:status, :ready, ns_pid}, s) do
    s = %{s | ns_pid: ns_pid}

    if s.opts.checkpoint do
      s = reply(s, :start_from, {:ok, self()})
      %{s | phase: :ready}
    else
      %{s | phase: :proceeding_internal}
    end
  end

  defp agent_frame({:status, :running}, s) do
    s = reply(s, :start_from, {:ok, self()})
    s = reply(s, :proceed_from, :ok)
    %{s | phase: :running}
  end

  defp agent_frame({:status, :aborted, _}, s) do
    s = reply(s, :abort_from, :ok)

    case s.terminal do
      nil -> finish(s, :aborted)
      _ -> s
    end
  end

  # The agent's timeout passed: SIGTERM is on its way (docs/protocol.md)
  defp agent_frame({:status, :timeout, _ms}, s) do
    notify(s, :timeout)
    s
  end

  defp agent_frame({:status, :exited, code}, s), do: finish(s, {:exited, code})
  defp agent_frame({:status, :signaled, sig}, s), do: finish(s, {:signaled, sig})

  # The agent could not make the optional group it was to make: the
  # workload runs without one, as with cgroup: :auto on a host without.
  defp agent_frame({:cgroup, :not_made, _errno}, s) do
    Linx.Cgroup.Janitor.unwatch()
    %{s | cgroup: nil, cgroup_by_agent?: false}
  end

  # Right before the terminal frame, from the group the agent made
  defp agent_frame({:usage, usage}, s) when is_map(usage), do: %{s | agent_usage: usage}

  defp agent_frame({:malformed, stage, what}, s) do
    Logger.warning("linx_process #{inspect(stage)}: #{what}")
    # its text is the detail of the {:error, errno, stage} that follows
    %{s | malformed: {stage, what}, detail: %{stage: stage, command: nil, text: what}}
  end

  # What the next {:error, errno, stage} is about (docs/protocol.md, "Errors")
  defp agent_frame({:error_detail, _, _, _} = frame, s),
    do: %{s | detail: Wire.error_detail(frame)}

  # A refused command: the call that sent it (if one waits) gets the
  # error; the owner is told as before.
  defp agent_frame({:error, errno, stage}, s) when Wire.is_command_refusal(stage) do
    errno = Linx.Errno.name(errno)
    {command, s} = take_detail(s, errno, stage)
    s = answer_refused(s, command, {:error, {errno, stage}})
    notify(s, {:error, errno, stage})
    s
  end

  defp agent_frame({:error, errno, stage}, s) do
    errno = Linx.Errno.name(errno)
    {_command, s} = take_detail(s, errno, stage)
    s = reply(s, :start_from, {:error, {errno, stage}})
    s = reply(s, :proceed_from, {:error, {errno, stage}})
    s = reply(s, :abort_from, {:error, {errno, stage}})
    s = reply(s, :caps_from, {:error, {errno, stage}})

    case s.terminal do
      nil -> finish(s, {:error, errno, stage})
      _ -> s
    end
  end

  # One intercepted system call: rules answer at once, here; what they do
  # not match goes to the handler process. The caller is always answered.
  defp agent_frame({:notify, id, _, _, _, _, _, _, _} = frame, s) do
    notification = Wire.notification(frame)

    case s.notify && Linx.Seccomp.Notify.decide(s.notify, notification) do
      {:reply, steps} -> send_frame(s, Wire.notify_reply(id, steps))
      :handler -> Linx.Seccomp.Notify.Handler.handle(s.handler, notification)
      nil -> send_frame(s, Wire.notify_unanswered(id))
    end

    s
  end

  defp agent_frame({tag, _ref, _result} = frame, s) when Wire.is_notify_agent_reply(tag) do
    if s.handler, do: Linx.Seccomp.Notify.Handler.agent_reply(s.handler, frame)
    s
  end

  # A call the agent decided by itself (compiled rules), already
  # answered: observation only (notify: [events: true]).
  defp agent_frame({:notified, nr, pid, action}, s) do
    notify(s, {:notified, %{syscall: Linx.Syscalls.name(nr) || nr, pid: pid, action: action}})
    s
  end

  # A workload decides how often its calls fail, so it must not decide how
  # much the node logs: the first @notify_failures_logged failures of a
  # workload are logged, the rest only counted.
  defp agent_frame({:notify_failed, id, step, errno}, s) do
    n = s.notify_failures + 1

    cond do
      n < @notify_failures_logged ->
        Logger.warning(notify_failed_text(id, step, errno))

      n == @notify_failures_logged ->
        Logger.warning(
          notify_failed_text(id, step, errno) <>
            " (further failures of this workload are not logged)"
        )

      true ->
        :ok
    end

    %{s | notify_failures: n}
  end

  defp agent_frame({:caps, _, _, _, _, _} = frame, s) do
    reply(s, :caps_from, {:ok, Wire.caps(frame)})
  end

  defp agent_frame({stream, data}, %{opts: %{log_output: level}} = s)
       when stream in [:stdout, :stderr, :pty_out] and level != nil do
    s = log_output(s, stream, data)
    flow_output(s, &Flow.output(&1, byte_size(data), nil))
  end

  defp agent_frame({stream, data}, s) when stream in [:stdout, :stderr, :pty_out] do
    notify(s, {stream, data})
    flow_output(s, &Flow.output(&1, byte_size(data), s.owner))
  end

  defp agent_frame({:stdin_ack, bytes}, s) do
    flow_input(s, &Flow.stdin_ack(&1, bytes))
  end

  defp agent_frame({:undecodable, bin}, s) do
    Logger.error("linx_process: undecodable frame from the agent: #{inspect(bin, limit: 64)}")
    s
  end

  defp agent_frame(other, s) do
    Logger.warning("linx_process: unexpected frame #{inspect(other, limit: 10)}")
    s
  end

  # The agent's last frame: its terminal status, or the error that ended
  # it before exec (docs/protocol.md, "Life of a session").
  defp last_frame?({:status, tag, _}) when tag in [:exited, :signaled, :aborted], do: true
  defp last_frame?({:error, _, stage}), do: not Wire.is_command_refusal(stage)
  defp last_frame?(_), do: false

  # The request asked for the close handshake (Wire.request/3): the agent
  # holds fd 3 open until we close the port, so nothing we write can meet
  # a closed pipe before we had its last frame, and it exits the moment
  # we close.
  defp close_agent(%{port: port} = s) when port != nil do
    release(port)
    agent_gone(agent_released(s), :closed)
  end

  defp close_agent(s), do: s

  defp agent_gone(s, status) do
    s = %{s | port: nil}
    # An agent that died without a terminal frame could not kill the tree:
    # the cgroup can, whatever escaped it.
    if s.terminal == nil and s.cgroup, do: Linx.Cgroup.kill(s.cgroup)
    s = release_cgroup(s)
    s = release_limit_groups(s)
    s = if s.terminal == nil, do: finish(s, {:agent_died, status}), else: s
    # The agent is gone; the server lingers briefly so that a late await/2
    # (from a process other than the owner) still gets the terminal event.
    Process.send_after(self(), :linger_over, @linger_ms)
    s
  end

  # The detail of this error, if the agent sent one for its stage: kept as
  # last_error (its text) and logged.
  defp take_detail(%{detail: %{stage: stage} = d} = s, errno, stage) do
    Logger.warning("linx_process #{errno} at #{Linx.Process.Error.stage_text(stage)}: #{d.text}")
    {d.command, %{s | detail: nil, last_error: {errno, stage, d.text}}}
  end

  defp take_detail(s, _errno, _stage), do: {nil, %{s | detail: nil}}

  # A refused proceed/abort/caps_query leaves the workload where it was:
  # its caller gets the error, and the server is back at the checkpoint.
  defp answer_refused(%{proceed_from: f} = s, :proceed, err) when f != nil,
    do: %{reply(s, :proceed_from, err) | phase: :ready}

  defp answer_refused(%{abort_from: f} = s, :abort, err) when f != nil,
    do: %{reply(s, :abort_from, err) | phase: :ready}

  defp answer_refused(%{caps_from: f} = s, :caps_query, err) when f != nil,
    do: reply(s, :caps_from, err)

  defp answer_refused(s, _command, _err), do: s

  # An error reply carries the agent's text along (unwrapped by Linx.Process)
  defp with_text({:error, {errno, stage}}, %{last_error: {errno, stage, text}}),
    do: {:error, {errno, stage}, text}

  defp with_text(value, _s), do: value

  # The terminal event: told to the owner first, then to awaiters, so an
  # owner that awaits finds the event already in its mailbox and await/2
  # can flush it.
  defp finish(s, terminal) do
    s = flush_log_output(s)
    # no longer running, for Linx.Cluster.load/0
    Linx.Cluster.finished(self())
    notify_summary(s)
    notify_usage(s, terminal)
    s = reply(s, :start_from, start_error(terminal))
    s = reply(s, :proceed_from, proceed_result(terminal))
    s = reply(s, :abort_from, {:error, :not_at_checkpoint})
    s = reply(s, :caps_from, {:error, :not_at_checkpoint})

    # A start error is returned by spawn/enter itself; the owner is told
    # only about workloads it was handed.
    unless s.phase in [:starting, :proceeding_internal] and
             start_error(terminal) != {:ok, self()},
           do: notify(s, terminal)

    for {pid, tag} <- s.awaiters, do: send(pid, {tag, terminal})
    # Writers still waiting can never be served now
    {replies, flow} = Flow.drop_writers(s.flow, {:error, :not_running})
    for {from, reply} <- replies, do: GenServer.reply(from, reply)
    %{s | terminal: terminal, awaiters: [], phase: :done, flow: flow}
  end

  ## Flow control (Linx.Process.Flow, docs/protocol.md "Flow control")

  defp flow_output(s, fun) do
    {bytes, recheck?, flow} = fun.(s.flow)
    if bytes > 0, do: send_ack(s, Wire.output_ack(bytes))
    if recheck?, do: Process.send_after(self(), :flow_check, Flow.recheck_ms())
    %{s | flow: flow}
  end

  defp flow_input(s, fun) do
    {frames, replies, flow} = fun.(s.flow)
    for frame <- frames, do: send_frame(s, frame)
    for {from, reply} <- replies, do: GenServer.reply(from, reply)
    # An owner now held in write/2 reads no output: release what it owes
    flow_output(%{s | flow: flow}, &Flow.check(&1, s.owner))
  end

  # An ack may race the agent's exit (the port then closes under us):
  # nothing is owed to an agent that is gone.
  defp send_ack(s, term) do
    send_frame(s, term)
  catch
    :error, :badarg -> :ok
  end

  # A handler's summary reaches the owner just before the terminal event.
  defp notify_summary(%{handler: nil}), do: :ok

  defp notify_summary(%{handler: h} = s) do
    case Linx.Seccomp.Notify.Handler.summary(h) do
      {:ok, summary} -> notify(s, {:notify_summary, summary})
      :none -> :ok
    end
  catch
    :exit, _ -> :ok
  end

  # A proceed/1 still waiting when the workload ends never saw it exec:
  # killed at its checkpoint by a signal, it is no longer there.
  defp proceed_result(terminal) do
    case start_error(terminal) do
      {:ok, _} -> {:error, :not_at_checkpoint}
      error -> error
    end
  end

  defp start_error({:error, errno, stage}), do: {:error, {errno, stage}}

  defp start_error({:agent_died, {:port_closed, reason}}) when is_atom(reason),
    do: {:error, {reason, :agent_died}}

  defp start_error({:agent_died, {:port_closed, _}}), do: {:error, {:port_closed, :agent_died}}
  defp start_error({:agent_died, status}), do: {:error, {status, :agent_died}}
  defp start_error(:aborted), do: {:error, {:aborted, :checkpoint}}
  defp start_error(_), do: {:ok, self()}

  defp reply(s, key, value) do
    case Map.fetch!(s, key) do
      nil ->
        s

      from ->
        GenServer.reply(from, with_text(value, s))
        Map.put(s, key, nil)
    end
  end

  ## Everyday use (issue 15): exit reason, log_output

  # The server's exit reason says how the workload ended (issue 15):
  # :normal after exit 0, {:shutdown, terminal} after a failure. OTP
  # supervisors take {:shutdown, _} for a normal end, though, so a server
  # started from child_spec/1 (exit_reasons: :abnormal) exits with the
  # terminal event itself and `restart: :transient` restarts a failed
  # workload. A start error (the caller of spawn/proceed was answered)
  # and abort/1 end normally.
  defp exit_reason(t, style) do
    case {failure(t), style} do
      {nil, _} -> :normal
      {t, :abnormal} -> t
      {t, :shutdown} -> {:shutdown, t}
    end
  end

  defp failure({:exited, 0}), do: nil
  defp failure({tag, _} = t) when tag in [:exited, :signaled, :agent_died], do: t
  defp failure(_other), do: nil

  # A failed workload is not a crash of this server: {:stop, reason} would
  # have gen_server log it as one (and proc_lib write a crash report), once
  # per failed workload. So the server cleans up as terminate/2 would and
  # ends by an exit signal to itself, which nothing logs; links and
  # monitors see the reason.
  defp stop_server(s) do
    case exit_reason(s.terminal, s.opts.exit_reasons) do
      :normal ->
        {:stop, :normal, s}

      reason ->
        # The notify handler (a gen_server we started) would stop with our
        # reason on our EXIT, and be logged as a crash: it ends first.
        stop_handler(s.handler)
        terminate(reason, s)
        Process.flag(:trap_exit, false)
        Process.exit(self(), reason)
        # not reached: a signal to oneself is acted on before exit/2 returns
        {:stop, reason, s}
    end
  end

  defp stop_handler(nil), do: :ok

  defp stop_handler(pid) do
    GenServer.stop(pid, :shutdown)
  catch
    :exit, _ -> :ok
  end

  # log_output: each line of output (of each stream) goes to Logger at
  # that level, the owner gets no output events; a line longer than
  # @log_line_max comes in pieces.
  @log_line_max 16_384

  defp log_output(s, stream, data) do
    buf = Map.get(s.log_bufs, stream, "") <> data
    {lines, rest} = Linx.Process.Run.split_lines(buf, @log_line_max)
    Enum.each(lines, &log_line(s, &1))
    %{s | log_bufs: Map.put(s.log_bufs, stream, rest)}
  end

  defp flush_log_output(s) do
    for {_, rest} <- s.log_bufs, rest != "", do: log_line(s, rest)
    %{s | log_bufs: %{}}
  end

  defp log_line(s, line) do
    Logger.log(s.opts.log_output, String.trim_trailing(line, "\n"), linx_os_pid: s.os_pid)
  end

  defp notify(%{owner: nil}, _event), do: :ok
  defp notify(s, event), do: send(s.owner, {:linx_process, self(), event})

  defp send_frame(%{port: nil}, _term), do: :ok
  defp send_frame(%{port: port}, term), do: command(port, Wire.encode(term))

  defp notify_failed_text(id, step, errno) do
    "linx_process: notification #{id}: step #{step} failed with #{Linx.Errno.name(errno)}"
  end
end
