defmodule Linx.Process do
  # The guide (options, events, flow control, errors, supervision, other
  # nodes) is long enough to live beside this file: lib/linx/process.md.
  @external_resource Path.join(__DIR__, "process.md")
  @moduledoc File.read!(Path.join(__DIR__, "process.md"))

  alias Linx.Process.{Options, Run, Server, Start, Wire}

  require Wire

  @typedoc "A running (or finished) workload: the pid of the server owning its agent."
  @type t :: pid

  @typedoc "An error before exec: the errno (atom where known) and the stage."
  @type start_error ::
          {atom | integer, atom | {:limit, atom} | {:mount, non_neg_integer}}

  @typedoc "The last event of a workload."
  @type terminal ::
          {:exited, non_neg_integer}
          | {:signaled, pos_integer}
          | {:error, atom | integer, atom | {:mount, non_neg_integer}}
          | {:agent_died, integer | {:port_closed, term}}
          | :aborted
          | {:lost, :noconnection}

  ## Public API

  @doc """
  Starts a workload in fresh namespaces.

  Returns `{:ok, proc}` once the workload has exec'd (or, with
  `checkpoint: true`, once it waits at its checkpoint), or
  `{:error, {errno, stage}}` if it never ran. See the module doc for the
  options.

      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], namespaces: [:user, :pid])
      {:exited, 0} = Linx.Process.await(proc)
  """
  @spec spawn(keyword) :: {:ok, t} | {:error, start_error}
  def spawn(opts) do
    {where, opts} = Options.take_node!(opts)
    validated = Options.validate!(opts, :spawn)
    Start.start_at(where, validated, {:spawn, nil, opts})
  end

  @doc """
  Starts a workload inside the namespaces of the running host process
  `target_os_pid`.

  With no `:namespaces` option every namespace of the target is joined
  (a type is left out only when the kernel lacks it); with it, exactly the
  listed ones. A namespace that cannot be joined is always an error:
  entering a process that does not exist fails with
  `{:error, {:enoent, :open_ns_<ns>}}`, and so does entering a zombie or
  a process whose main thread has exited (they have lost their
  namespaces; typically `{:enoent, :open_ns_mount}`).

  The workload's whole tree is killed when it ends (see "Whole-tree
  lifetime" in `docs/protocol.md`), with one gap: in the target's pid
  namespace and without a cgroup (`cgroup: false`, or `:auto` where cgroup
  v2 is not usable), a daemon the workload double-forks is adopted by the
  target's init and survives the workload, until that pid namespace ends.
  It never delays the terminal event: output is drained for at most 2 s
  after the workload's tree is gone, then its pipes are closed. Use a
  cgroup when that matters.

      {:ok, target} = Linx.Process.spawn(argv: ["/bin/sleep", "60"], namespaces: [:uts, :net])
      {:ok, proc} = Linx.Process.enter(Linx.Process.os_pid(target), argv: ["/bin/hostname"])
  """
  @spec enter(pos_integer, keyword) :: {:ok, t} | {:error, start_error}
  def enter(target_os_pid, opts) do
    unless is_integer(target_os_pid) and target_os_pid > 0 do
      raise ArgumentError,
            "invalid target: got #{inspect(target_os_pid)}, expected a positive OS pid"
    end

    {where, opts} = Options.take_node!(opts)
    validated = Options.validate!(opts, :enter)
    Start.start_at(where, %{validated | target: target_os_pid}, {:enter, target_os_pid, opts})
  end

  @doc """
  Runs a command to completion and returns `{output, exit_status}`, like
  `System.cmd/3`.

  `argv` is the program and its arguments; `opts` are those of `spawn/1`
  (minus `:stdio`, `:owner`, `:checkpoint`, `:name` and `:log_output`)
  plus these, which shape what is fed and collected:

    * `:input` - what the workload reads on stdin, then EOF: a binary,
      iodata, or an `Enumerable` of binaries (a `File.stream!/2`, a
      `Stream`), written as it is enumerated within the input window.
      Without it stdin is `/dev/null`.
    * `:into` - any `Collectable` the output goes into (default `""`), as
      in `System.cmd/3`: `into: []`, `into: File.stream!(path)`,
      `into: IO.stream()`.
    * `:lines` - a positive integer `max`, the longest line: the output
      is cut into lines (`"\\n"` included, not counted in `max`) before
      it goes into `:into`; a line longer than `max` bytes comes in
      pieces of `max` bytes (a 64 KiB line with `lines: 1024`: 64
      pieces, the last with the `"\\n"`). `into: []` then collects a
      list of lines.
    * `:stderr` - `:inherit` (default: the BEAM's stderr, as
      `System.cmd/3`), `:devnull`, `:stdout` (into the same output) or
      `:capture`: collected apart, and `run/2` returns
      `{output, stderr_binary, status}`. `stderr_to_stdout: true` is an
      alias of `stderr: :stdout`.
    * `:cd` - an alias of `:cwd`, as `System.cmd/3` names it.
    * `:max_output` - at most this many bytes of output (stdout and
      collected stderr together) are kept: past it the workload and its
      tree are killed and the status is `:output_limit`, as in
      `{first_bytes, :output_limit}`.

  A workload killed by signal `n` reports `128 + n`, as ports do. With
  `:timeout`, a workload still running when it passes is stopped (SIGTERM,
  then SIGKILL after `:kill_timeout`) and `run/2` returns `{output,
  :timeout}` with the output it wrote until then. A workload that never
  ran raises `Linx.Process.Error`.

      iex> Linx.Process.run(["/bin/sh", "-c", "echo started; sleep 30"], timeout: 300)
      {"started\\n", :timeout}

      iex> Linx.Process.run(["/bin/echo", "hi"])
      {"hi\\n", 0}
  """
  @spec run([binary], keyword) ::
          {Collectable.t(), non_neg_integer | :output_limit | :timeout}
          | {Collectable.t(), binary, non_neg_integer | :output_limit | :timeout}
  def run(argv, opts \\ []) do
    {where, opts} = Options.take_node!(opts)
    Run.run(argv, opts, &Start.start_run(where, &1, &2))
  end

  @doc false
  # run/2 whose {:notified, map} events (notify: [events: true]) are
  # handed to `on_notified`, in order, in the calling process
  # (Linx.Seccomp.Profile.record/2 counts calls this way).
  def run_observed(argv, opts, on_notified) when is_function(on_notified, 1) do
    {where, opts} = Options.take_node!(opts)
    Run.run(argv, opts, &Start.start_run(where, &1, &2), on_notified)
  end

  @doc """
  Runs a command lazily: a `Stream` of its output chunks (binaries).

  Nothing starts until the stream is run; the workload then runs with
  the caller of `Enum`/`Stream` as its owner. Halting the stream early
  (`Enum.take/2`, `Stream.take_while/2`, an exception downstream) kills
  the workload and everything it started. The output window applies (see
  "Flow control"): a consumer slower than the workload pauses the
  workload in write(2) instead of filling its own mailbox, so
  `stream/2 |> Stream.map(...) |> Enum.into(File.stream!(path))` runs in
  bounded memory whatever the size of the output.

  `opts` are those of `spawn/1` (minus `:stdio`, `:owner`, `:checkpoint`,
  `:name`, `:log_output`) plus `:input`, `:lines` and `:stderr`
  (`:stdout`, `:inherit` or `:devnull`) as for `run/2`. The exit status is
  not part of the stream. A workload that never ran raises
  `Linx.Process.Error` when the stream is run.

      Linx.Process.stream(["/bin/sh", "-c", "echo a; echo b"], lines: 80) |> Enum.to_list()
      #=> ["a\\n", "b\\n"]
  """
  @spec stream([binary], keyword) :: Enumerable.t()
  def stream(argv, opts \\ []) do
    {where, opts} = Options.take_node!(opts)
    Run.stream(argv, opts, &Start.start_run(where, &1, &2))
  end

  @last_error {__MODULE__, :last_error}

  @doc """
  The last start error of the calling process, with the agent's text.

  After `spawn/1`, `enter/2`, `start_link/1`, `proceed/1`, `abort/1` or
  `capabilities/1` returned `{:error, {errno, stage}}`, this is a
  `Linx.Process.Error` with that `errno` and `stage` and, where the agent
  explained it, `detail` (e.g. `"drop cap 5 from the bounding set"`);
  `nil` before any such error. Kept per calling process, like a last
  errno.

      {:error, {:eperm, :cap_set_ambient}} = Linx.Process.proceed(proc)
      %Linx.Process.Error{detail: "raise ambient cap 12"} = Linx.Process.last_error()
  """
  @spec last_error() :: Linx.Process.Error.t() | nil
  def last_error, do: Process.get(@last_error)

  @doc """
  The agent's text for the last `{:error, errno, stage}` of `proc` (an
  event of the owner, a refused command, a start error), or `nil` when it
  sent none or the workload's server is gone.
  """
  @spec error_text(t) :: binary | nil
  def error_text(proc) do
    GenServer.call(proc, :error_text, 5000)
  catch
    :exit, _ -> nil
  end

  @doc """
  Releases a workload held at its checkpoint (`checkpoint: true`).

  Returns `:ok` once it has exec'd, `{:error, {errno, stage}}` if a step
  before exec failed (`last_error/0` has the agent's text), or
  `{:error, :not_at_checkpoint}` if it is not (or no longer) waiting
  there — for example killed by a signal at the checkpoint, whose
  terminal event is then `{:signaled, n}`. Should the agent refuse the
  command, the answer is `{:error, {:einval, :bad_state}}`.
  """
  @spec proceed(t) :: :ok | {:error, start_error | :not_at_checkpoint}
  def proceed(proc), do: Start.unwrap(GenServer.call(proc, :proceed, :infinity))

  @doc """
  Stops a workload held at its checkpoint without ever running it.
  Returns `:ok` once the agent has reaped it; the owner receives `:aborted`.
  """
  @spec abort(t) :: :ok | {:error, :not_at_checkpoint | start_error}
  def abort(proc), do: Start.unwrap(GenServer.call(proc, :abort, :infinity))

  @doc """
  Waits for the workload's terminal event and returns it.

  If the caller is the owner, the matching `{:linx_process, proc, event}`
  message is removed from its mailbox. Any process may await: the server
  keeps the terminal event for a second after the workload ends (the
  owner has it in its mailbox for good). Returns `{:error, :timeout}` if
  `timeout` passes first, `{:error, :noproc}` if `proc` is gone and its
  terminal event is not in the caller's mailbox. A timed-out await leaves
  nothing behind: no registration in the server, no late message, so
  `await(proc, 0)` is a cheap poll. For a `proc` on another node (`:node`)
  that went away, or whose connection was lost, it returns
  `{:lost, :noconnection}`.

      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "exit 3"])
      Linx.Process.await(proc)
      #=> {:exited, 3}
  """
  @spec await(t | GenServer.name(), timeout) :: terminal | {:error, :timeout | :noproc}
  def await(proc, timeout \\ :infinity)

  # A registered name (name:): the pid it stands for now, as
  # GenServer.call/3 would resolve it; nobody registered is a server gone.
  def await(name, timeout) when not is_pid(name) do
    case GenServer.whereis(name) do
      pid when is_pid(pid) -> await(pid, timeout)
      _ -> {:error, :noproc}
    end
  end

  def await(proc, timeout) do
    # The monitor doubles as an alias: the server answers to it, and once
    # it is gone (demonitor) a late answer is dropped by the runtime, so a
    # timed-out await leaves no stray message behind.
    ref = :erlang.monitor(:process, proc, alias: :demonitor)
    send(proc, {:await, {ref, ref}})

    receive do
      {^ref, terminal} ->
        Process.demonitor(ref, [:flush])
        flush_terminal(proc, terminal)
        terminal

      {:DOWN, ^ref, _, _, reason} ->
        receive do
          {:linx_process, ^proc, terminal} when Wire.is_terminal(terminal) ->
            terminal
        after
          0 -> if reason == :noconnection, do: Linx.Cluster.lost(proc), else: {:error, :noproc}
        end
    after
      timeout ->
        Process.demonitor(ref, [:flush])
        # ... and the server forgets us (a thousand polls are no list).
        send(proc, {:unawait, ref})

        receive do
          {^ref, terminal} -> terminal
        after
          0 -> {:error, :timeout}
        end
    end
  end

  defp flush_terminal(proc, terminal) do
    receive do
      {:linx_process, ^proc, ^terminal} -> :ok
    after
      0 -> :ok
    end
  end

  @doc """
  Sends a signal to the workload: an atom (`:sigterm` or `:term`) or a
  number 1..64. Delivered through a pidfd, so it can never hit a recycled
  pid. Returns `{:error, :not_running}` once the workload has ended, also
  after its server is gone (as `write/2`, `close_stdin/1` and `resize/3`).

      :ok = Linx.Process.signal(proc, :sigterm)
      {:signaled, 15} = Linx.Process.await(proc)
  """
  @spec signal(t, atom | pos_integer) :: :ok | {:error, :not_running}
  def signal(proc, sig) do
    case Linx.Signal.number(sig) do
      {:ok, n} -> call_running(proc, {:signal, n})
      :error -> raise ArgumentError, "unknown signal #{inspect(sig)}"
    end
  end

  @doc """
  Stops the workload: SIGTERM, then SIGKILL if it is still running after
  `grace` milliseconds (default: the workload's `:kill_timeout`, 5000
  unless given). Returns the terminal event.

  Killing the workload ends its agent, which then kills everything the
  workload left behind (see "Whole-tree lifetime" in `docs/protocol.md`).

      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "trap '' TERM; sleep 60"])
      Linx.Process.stop(proc, 100)
      #=> {:signaled, 9}
  """
  @spec stop(t, non_neg_integer | nil) :: terminal | {:error, :noproc}
  def stop(proc, grace \\ nil) when is_nil(grace) or (is_integer(grace) and grace >= 0) do
    grace = grace || kill_timeout(proc)

    with :ok <- safe_signal(proc, 15),
         {:error, :timeout} <- await(proc, grace),
         :ok <- safe_signal(proc, 9) do
      await(proc)
    else
      {:error, :not_running} -> await(proc)
      {:error, :noproc} -> await(proc)
      terminal -> terminal
    end
  end

  defp kill_timeout(proc) do
    GenServer.call(proc, :kill_timeout)
  catch
    :exit, _ -> 5000
  end

  @doc """
  The resource usage of a running workload, read from its cgroups:
  `memory` and `memory_peak` (bytes), `cpu_usec`, `user_usec`,
  `system_usec`, `pids` (tasks now) and `oom_kills` (processes the OOM
  killer ended). A key that cannot be read on this host is absent, not
  zero: memory needs a memory group (a `:limits` memory key on a cgroup v1
  host), CPU time and pids the workload's own v2 group or the matching
  controller (see `Linx.Cgroup.Limits`). `{:error, :not_running}` once
  the workload has ended; its final usage came as `{:usage, map}`.

      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "5"], limits: [memory: 64 * 1024 * 1024])
      {:ok, %{memory: bytes, cpu_usec: _}} = Linx.Process.stats(proc)
  """
  @spec stats(t) :: {:ok, %{optional(atom) => non_neg_integer}} | {:error, :not_running}
  def stats(proc) do
    GenServer.call(proc, :stats)
  catch
    :exit, _ -> {:error, :not_running}
  end

  defp safe_signal(proc, n) do
    GenServer.call(proc, {:signal, n})
  catch
    :exit, _ -> {:error, :noproc}
  end

  @doc """
  Writes to the workload's stdin pipe (`stdio: :pipe` or `stdin: :pipe`)
  or to its PTY (`stdio: :pty`).

  Returns `:ok` once every byte is handed to the agent, which then owes
  at most `:stdio_window` bytes to the workload: with a workload that
  reads slowly or not at all, `write/2` **blocks** (without a timeout)
  until enough has been read; writes of any size are delivered whole and
  in order. `{:error, :not_running}` if the workload ended before all of
  `data` was handed over (some of it may have been).

  `timeout` (default `:infinity`) bounds the wait: after it `write/3`
  returns `{:error, :timeout}` and the rest of `data` is still delivered
  in the background, in order, before any later write.

      :ok = Linx.Process.write(proc, "hello\n")
      {:error, :timeout} = Linx.Process.write(proc, big, 1000)
  """
  @spec write(t, iodata, timeout) :: :ok | {:error, :no_input | :not_running | :timeout}
  def write(proc, data, timeout \\ :infinity) do
    call_running(proc, {:write, IO.iodata_to_binary(data)}, timeout)
  catch
    :exit, {:timeout, {GenServer, :call, _}} -> {:error, :timeout}
  end

  @doc """
  Closes the workload's stdin pipe once every byte already written has
  been delivered (the EOF is ordered after the data). Waits, like
  `write/2`, for writers still blocked ahead of it.
  """
  @spec close_stdin(t) :: :ok | {:error, :no_input | :not_running}
  def close_stdin(proc), do: call_running(proc, :close_stdin, :infinity)

  @doc "Sets the size of the workload's PTY (`TIOCSWINSZ`)."
  @spec resize(t, 0..65535, 0..65535) :: :ok | {:error, :no_pty | :not_running}
  def resize(proc, rows, cols)
      when is_integer(rows) and rows in 0..65535 and is_integer(cols) and cols in 0..65535 do
    call_running(proc, {:resize, rows, cols})
  end

  # A workload whose server has already gone (it lingers a second
  # after the end) is simply not running: an answer, not an exit.
  defp call_running(proc, request, timeout \\ 5000) do
    GenServer.call(proc, request, timeout)
  catch
    :exit, {reason, {GenServer, :call, _}} when reason in [:noproc, :normal, :shutdown] ->
      {:error, :not_running}

    # ... or it ended as its workload did (a server's exit reason, issue 15)
    :exit, {{:shutdown, {tag, _}}, {GenServer, :call, _}}
    when tag in [:exited, :signaled, :agent_died] ->
      {:error, :not_running}

    :exit, {{tag, _}, {GenServer, :call, _}} when tag in [:exited, :signaled, :agent_died] ->
      {:error, :not_running}

    # A remote workload whose node went away (docs/distributed.md)
    :exit, {{:nodedown, _}, {GenServer, :call, _}} ->
      {:error, :not_running}
  end

  @doc """
  Reads the capability sets of a workload held at its checkpoint
  (`checkpoint: true`), as the child has them right now: what it would
  exec with. Each set is a list of capability names, by number (those of
  `Linx.Capabilities`; a bit newer than its table is `{:unknown, n}`);
  `Linx.Capabilities.to_mask/1` turns a list back into the kernel's mask.

      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], checkpoint: true,
                                       capabilities: [keep: [:kill]])
      {:ok, %{effective: [:kill], bounding: [:kill], ambient: []}} =
        Linx.Process.capabilities(proc)
  """
  @spec capabilities(t) ::
          {:ok, %{atom => [Linx.Capabilities.cap()]}}
          | {:error, :not_at_checkpoint | start_error}
  def capabilities(proc) do
    case Start.unwrap(GenServer.call(proc, :caps_query, :infinity)) do
      {:ok, masks} ->
        {:ok, Map.new(masks, fn {set, m} -> {set, Linx.Capabilities.from_mask(m)} end)}

      error ->
        error
    end
  end

  @doc "The workload's pid as the host sees it."
  @spec os_pid(t) :: pos_integer | nil
  def os_pid(proc), do: GenServer.call(proc, :os_pid)

  @doc "The workload's pid as seen inside its own pid namespace (1 in a new one)."
  @spec ns_pid(t) :: pos_integer | nil
  def ns_pid(proc), do: GenServer.call(proc, :ns_pid)

  @doc """
  Starts a workload linked to the caller, for supervision trees:
  `{Linx.Process, argv: [...], ...}` as a child spec.
  """
  @spec start_link(keyword) :: {:ok, t} | {:error, start_error}
  def start_link(opts), do: Start.start_link_with(opts, :shutdown)

  @doc false
  # DynamicSupervisor hands us the already validated options.
  def child_spec(%Options{} = opts) do
    %{
      id: __MODULE__,
      start: {GenServer, :start_link, [Server, opts, Start.gen_opts(opts)]},
      restart: :temporary
    }
  end

  # :id, :restart and :shutdown among the options are the child spec's,
  # as Supervisor.child_spec/2 would set them.
  def child_spec(opts) when is_list(opts) do
    {spec, opts} = Keyword.split(opts, [:id, :restart, :shutdown])
    id = Keyword.get(opts, :name, __MODULE__)
    base = %{id: id, start: {__MODULE__, :start_supervised, [opts]}, restart: :temporary}
    Map.merge(base, Map.new(spec))
  end

  @doc false
  # child_spec/1's start: start_link/1 whose server exits with the
  # terminal event itself after a failure (see "Under a supervisor").
  def start_supervised(opts) do
    Start.start_link_with(opts, :abnormal)
  end
end
