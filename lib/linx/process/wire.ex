defmodule Linx.Process.Wire do
  @moduledoc false
  # Encodes validated options into the agent's request frame, builds every
  # frame the BEAM sends (commands, acks, notify replies and reads) and
  # decodes the agent's frames, and says which of the agent's events end a
  # workload. The grammar is docs/protocol.md; this module is its only
  # Elixir reader and writer.

  alias Linx.Process.{IdMaps, Options}

  @enosys Linx.Errno.number!(:enosys)

  @doc "The request term for a validated option set."
  @spec request(Options.t(), boolean, Path.t() | {:make, Path.t(), :required | :optional} | nil) ::
          {:spawn | :enter, map}
  def request(%Options{} = o, agent_checkpoint?, cgroup \\ nil) do
    map =
      %{
        argv: resolve_argv(o.argv),
        env: o.env,
        stdio: o.stdio,
        no_new_privs: o.no_new_privs,
        # Linx.Process closes the port on the terminal frame: the agent
        # holds fd 3 until then, so no write of ours can meet a closed
        # pipe (EPIPE) and cost the frames erts had not read yet.
        close_handshake: true,
        on_exit: o.on_exit,
        checkpoint: agent_checkpoint?,
        commands: o.commands
      }
      |> Map.merge(IdMaps.request_keys(o))
      |> put_if(:cwd, cwd(o))
      |> put_if(:winsize, o.winsize)
      |> put_namespaces(o)
      |> put_if(:target, o.target)
      |> put_if(:cgroup, cgroup)
      # the final {:usage, map} from the group the agent makes (usage.c)
      |> put_if(:usage, if(match?({:make, _, _}, cgroup) and o.usage_event, do: true))
      |> put_if(:notify_reads, o.notify && Linx.Seccomp.Notify.reads(o.notify))
      |> put_if(:notify_program, o.notify && Linx.Seccomp.Notify.program(o.notify))
      |> put_if(:notify_events, o.notify && o.notify.events && true)
      |> put_if(:stdio_window, o.stdio_window)
      |> Map.merge(Linx.Process.Resources.request_keys(o))
      |> put_sandbox(o)
      |> put_if(:init, o.init || nil)
      |> put_if(:fds, if(o.fds != [], do: o.fds))
      |> put_if(:landlock, o.landlock)
      # issue 15: argv[0] apart from the path, termios of a new PTY
      |> put_if(:arg0, o.arg0)
      |> put_if(:pty_modes, o.pty_modes)

    {o.mode, map}
  end

  @doc "Encodes a term as a frame body."
  @spec encode(term) :: binary
  def encode(term), do: :erlang.term_to_binary(term)

  # Every atom the agent may send (docs/protocol.md). Naming them here makes
  # them exist before a frame is decoded with [:safe], which refuses to
  # create atoms: a frame from the agent can never grow the atom table.
  # The stage atoms are read from the agent's own table, c_src/error.h, at
  # compile time, so the two cannot drift apart.
  @error_h Path.expand("../../../c_src/error.h", __DIR__)
  @external_resource @error_h

  @stage_atoms (for [_, name] <- Regex.scan(~r/^\s*X\(\w+,\s*"(\w+)"/m, File.read!(@error_h)) do
                  String.to_atom(name)
                end)

  if length(@stage_atoms) < 10,
    do: raise(CompileError, description: "no stage table found in #{@error_h}")

  # error_detail names the command it answers by its tag: every command
  # tag is an agent atom too.
  @command_tags ~w(proceed abort caps_query close_stdin set_ids cap_drop_bounding
    cap_set_thread cap_set_ambient seccomp_install pty_winsize signal pty_in stdin
    seccomp_notify_install notify_reply notify_read notify_fd_path output_ack landlock)a

  @agent_atoms ~w(status spawned ready running exited signaled aborted error malformed
    error_detail stdout stderr pty_out stdin_ack caps decoded set_ids setgroups setresgid
    setresuid notify notify_failed notify_mem notify_fd_path notified not_made usage cpu_usec
    user_usec system_usec pids)a ++
                 @command_tags ++
                 @stage_atoms ++
                 ~w(timeout resources cgroups_v1 rlimits kill_timeout nofile as cpu core nproc
    fsize stack memlock)a

  @doc "The stage atoms of the agent's table (c_src/error.h), in its order."
  @spec stages() :: [atom]
  def stages, do: @stage_atoms

  @doc false
  def agent_atoms, do: Enum.uniq(@agent_atoms)

  ## Events: what ends a workload

  # A command the agent refuses (docs/protocol.md, "Commands") is answered
  # {:error, errno, stage} with one of these stages, and the workload goes
  # on: the one definition of a non-fatal error.
  @command_refusals [:malformed_command, :bad_state, :command_too_big]

  @doc "The stages of a refused command: `{:error, errno, stage}` events that are not terminal."
  @spec command_refusals() :: [atom]
  def command_refusals, do: @command_refusals

  @doc "True for the stage of a refused command (the workload goes on)."
  defguard is_command_refusal(stage) when stage in @command_refusals

  @doc """
  True for a terminal event of `Linx.Process` (its `t:Linx.Process.terminal/0`):
  exited, signaled, agent died, aborted, or an error that is not a refused
  command.
  """
  defguard is_terminal(event)
           when event == :aborted or
                  (is_tuple(event) and tuple_size(event) == 2 and
                     elem(event, 0) in [:exited, :signaled, :agent_died, :lost]) or
                  (is_tuple(event) and tuple_size(event) == 3 and elem(event, 0) == :error and
                     not is_command_refusal(elem(event, 2)))

  ## Frames the BEAM sends (docs/protocol.md, "Commands")

  @doc "Checkpoint command: drop these capabilities (a mask) from the bounding set."
  @spec cap_drop_bounding(non_neg_integer) :: tuple
  def cap_drop_bounding(mask), do: {:cap_drop_bounding, mask}

  @doc "Checkpoint command: set the thread's effective, permitted, inheritable masks."
  @spec cap_set_thread(non_neg_integer, non_neg_integer, non_neg_integer) :: tuple
  def cap_set_thread(eff, prm, inh), do: {:cap_set_thread, eff, prm, inh}

  @doc "Checkpoint command: raise these capabilities (a mask) into the ambient set."
  @spec cap_set_ambient(non_neg_integer) :: tuple
  def cap_set_ambient(mask), do: {:cap_set_ambient, mask}

  @doc "Checkpoint command: install a seccomp filter (raw `struct sock_filter`s)."
  @spec seccomp_install(binary) :: {:seccomp_install, binary}
  def seccomp_install(bpf), do: {:seccomp_install, bpf}

  @doc "Checkpoint command: install the notify filter and hand its listener to the agent."
  @spec seccomp_notify_install(binary) :: {:seccomp_notify_install, binary}
  def seccomp_notify_install(bpf), do: {:seccomp_notify_install, bpf}

  @doc "Checkpoint command: apply the request's `landlock` rules (Landlock, restrict_self)."
  @spec landlock() :: :landlock
  def landlock, do: :landlock

  @doc "True for a `seccomp_install/1` command."
  @spec seccomp_install?(tuple) :: boolean
  def seccomp_install?(cmd), do: elem(cmd, 0) == :seccomp_install

  @doc "Checkpoint command: become `uid`/`gid` inside the user namespace."
  @spec set_ids(non_neg_integer, non_neg_integer) :: tuple
  def set_ids(uid, gid), do: {:set_ids, uid, gid}

  @doc "Input for the workload: `tag` is `:stdin` (its pipe) or `:pty_in`."
  @spec input(:stdin | :pty_in, binary) :: {:stdin | :pty_in, binary}
  def input(tag, data) when tag in [:stdin, :pty_in], do: {tag, data}

  @doc "Close the workload's stdin pipe (after the input already sent)."
  @spec close_stdin() :: :close_stdin
  def close_stdin, do: :close_stdin

  @doc "Checkpoint and control commands without arguments."
  @spec command(:proceed | :abort | :caps_query) :: atom
  def command(cmd) when cmd in [:proceed, :abort, :caps_query], do: cmd

  @doc "Send signal `n` to the workload (through its pidfd)."
  @spec signal(pos_integer) :: {:signal, pos_integer}
  def signal(n) when is_integer(n) and n > 0, do: {:signal, n}

  @doc "Set the PTY's window size."
  @spec pty_winsize(0..65535, 0..65535) :: {:pty_winsize, tuple}
  def pty_winsize(rows, cols), do: {:pty_winsize, {rows, cols, 0, 0}}

  @doc "Give the agent `n` bytes of output credit back (flow control)."
  @spec output_ack(pos_integer) :: {:output_ack, pos_integer}
  def output_ack(n), do: {:output_ack, n}

  @doc "The answer to notification `id`: wire steps (see `Linx.Seccomp.Notify`)."
  @spec notify_reply(non_neg_integer, list) :: {:notify_reply, non_neg_integer, list}
  def notify_reply(id, steps) when is_list(steps), do: {:notify_reply, id, steps}

  @doc "The answer to notification `id` when nothing decides it: the call fails with ENOSYS."
  @spec notify_unanswered(non_neg_integer) :: {:notify_reply, non_neg_integer, list}
  def notify_unanswered(id), do: notify_reply(id, [{:errno, @enosys}])

  @doc "Ask the agent for `len` bytes at `addr` of the caller of notification `id`."
  @spec notify_read(integer, non_neg_integer, pos_integer, non_neg_integer, non_neg_integer) ::
          tuple
  def notify_read(ref, id, pid, addr, len), do: {:notify_read, ref, id, pid, addr, len}

  @doc "Ask the agent for the path of fd `fd` of the caller of notification `id`."
  @spec notify_fd_path(integer, non_neg_integer, pos_integer, non_neg_integer) :: tuple
  def notify_fd_path(ref, id, pid, fd), do: {:notify_fd_path, ref, id, pid, fd}

  ## Frames the agent sends (docs/protocol.md)

  @doc "Tags of the agent's answers to a handler's `notify_read` / `notify_fd_path`."
  defguard is_notify_agent_reply(tag) when tag in [:notify_mem, :notify_fd_path]

  @doc "`{ref, result}` of an agent's `{:notify_mem | :notify_fd_path, ref, result}` frame."
  @spec notify_agent_reply(tuple) :: {integer, term}
  def notify_agent_reply({tag, ref, result}) when is_notify_agent_reply(tag), do: {ref, result}

  @doc """
  The notification map `Linx.Seccomp.Notify.decide/2` and handlers take,
  from the agent's `{:notify, id, pid, tid, nr, arch, ip, args, mem}` frame.
  """
  @spec notification(tuple) :: Linx.Seccomp.Notifier.notification()
  def notification({:notify, id, pid, tid, nr, arch, ip, args, mem}) do
    %{
      id: id,
      pid: pid,
      tid: tid,
      nr: nr,
      syscall: Linx.Syscalls.name(nr),
      arch: arch,
      ip: ip,
      args: args |> Linx.Seccomp.Notify.Steps.args_tuple() |> Tuple.to_list(),
      mem: Linx.Seccomp.Notify.Steps.mem_map(mem)
    }
  end

  @doc """
  The detail of the `{:error, errno, stage}` frame that follows, from the
  agent's `{:error_detail, stage, command, text}` frame: `command` is the
  tag of the command the error answers (a refused one) or `nil`, `text`
  what failed, e.g. `"drop cap 5 from the bounding set"`.
  """
  @spec error_detail(tuple) :: %{stage: atom, command: atom | nil, text: binary}
  def error_detail({:error_detail, stage, command, text}) when is_binary(text),
    do: %{stage: stage, command: if(command != :none, do: command), text: text}

  @doc "The capability sets of a `{:caps, eff, prm, inh, bnd, amb}` frame, as masks."
  @spec caps(tuple) :: %{atom => non_neg_integer}
  def caps({:caps, eff, prm, inh, bnd, amb}),
    do: %{effective: eff, permitted: prm, inheritable: inh, bounding: bnd, ambient: amb}

  @doc """
  Decodes a frame body from the agent. A frame that is not valid ETF, or
  names an atom this side never heard of, becomes `{:undecodable, bin}`.
  """
  @spec decode(binary) :: term
  def decode(bin) do
    :erlang.binary_to_term(bin, [:safe])
  rescue
    ArgumentError -> {:undecodable, bin}
  end

  # The agent execs argv[0] as a path (no PATH search, so nothing in the
  # child depends on the environment): a bare name is looked up here, in the
  # BEAM's PATH, as System.cmd/3 does. A name that is not found is passed as
  # is and fails with {:enoent, :execve}.
  defp resolve_argv([prog | args] = argv) do
    if String.contains?(prog, "/") do
      argv
    else
      [System.find_executable(prog) || prog | args]
    end
  end

  # A spawned workload starts in the BEAM's working directory of now, even
  # when its agent was started earlier by Linx.Pool. In enter mode the
  # default is the target's root (a host path may not exist there).
  # With a root of its own (root: :tmpfs or a directory) the BEAM's
  # directory means nothing inside: "/".
  # The agent reads the BEAM's directory itself (cwd: {:pid, os_pid}) when
  # the workload starts: asking :prim_file.get_cwd/0 here woke a dirty I/O
  # scheduler for every workload (docs/performance.md, "Throughput, a
  # third time"), and File.cwd!/0 is a call to the BEAM's one file server.
  defp cwd(%Options{cwd: nil, mode: :spawn, root: root}) when root != :host, do: "/"

  defp cwd(%Options{cwd: nil, mode: :spawn}), do: {:pid, beam_os_pid()}

  defp cwd(%Options{cwd: cwd}), do: cwd

  @pid_key {__MODULE__, :os_pid}

  defp beam_os_pid do
    case :persistent_term.get(@pid_key, nil) do
      nil ->
        pid = String.to_integer(System.pid())
        :persistent_term.put(@pid_key, pid)
        pid

      pid ->
        pid
    end
  end

  # Enter mode: no :namespaces key means "all of the target's".
  defp put_namespaces(map, %Options{mode: :enter, namespaces: nil}), do: map
  defp put_namespaces(map, %Options{namespaces: nil}), do: Map.put(map, :namespaces, [])
  defp put_namespaces(map, %Options{namespaces: ns}), do: Map.put(map, :namespaces, ns)

  # root, mounts, hostname, loopback, time_offsets (docs/sandbox.md); lo
  # is brought up only in a new net namespace, so loopback goes only then.
  defp put_sandbox(map, %Options{mode: :enter}), do: map

  defp put_sandbox(map, %Options{} = o) do
    map
    |> put_if(:root, if(o.root != :host, do: o.root))
    |> put_if(:mounts, if(o.mounts != [], do: Linx.Process.Mounts.wire(o.mounts)))
    |> put_if(:hostname, o.hostname)
    |> put_if(:loopback, if(o.loopback and :net in (o.namespaces || []), do: true))
    |> put_if(:time_offsets, o.time_offsets)
  end

  defp put_if(map, _key, nil), do: map
  defp put_if(map, key, value), do: Map.put(map, key, value)
end
