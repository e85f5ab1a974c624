defmodule Linx.Process do
  @moduledoc """
  Run a Linux workload the way a container runtime would, supervised from
  the BEAM.

  Each workload gets its own port agent (`priv/linx_process`). The agent
  clones the workload into fresh namespaces (`spawn/1`) or forks it inside
  the namespaces of a running process (`enter/2`), holds it at a
  checkpoint while capabilities and seccomp filters are applied, then
  execs it and relays its output and exit status. A `Linx.Process` is a
  `GenServer` that owns that port; its pid is the handle every function
  here takes.

      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/echo", "hello"], stdio: :pipe)
      receive do
        {:linx_process, ^proc, {:stdout, data}} -> data
      end
      #=> "hello\\n"
      Linx.Process.await(proc)
      #=> {:exited, 0}

  The one-line case is `run/2`, which works like `System.cmd/3`:

      Linx.Process.run(["/bin/sh", "-c", "echo $$"], namespaces: [:pid])
      #=> {"1\\n", 0}

  ## Options (`spawn/1`, `enter/2`, `run/2`)

    * `:argv` (required) - the program and its arguments, binaries. A
      program name without a `/` is looked up in the BEAM's `PATH`.
    * `:env` - `{name, value}` pairs merged over the BEAM's environment,
      as in `System.cmd/3`; a `nil` value unsets the variable.
    * `:clear_env` - `true` starts from an empty environment (default `false`).
    * `:cwd` - the working directory, entered just before exec.
    * `:namespaces` - a list of `:user, :mount, :uts, :ipc, :cgroup, :net,
      :time, :pid`. For `spawn/1`, the new namespaces (default `[]`); for
      `enter/2`, the target's namespaces to join (default: all of them).
    * `:stdio` - `:inherit` (stdout and stderr are the BEAM's; stdin is
      `/dev/null`, so the workload never reads the BEAM's terminal),
      `:devnull`, `:pty` (a new pseudo-terminal; output arrives as
      `{:pty_out, data}`), `:pipe` (stdout and stderr arrive as
      `{:stdout, data}` and `{:stderr, data}`; `write/2` feeds stdin), or a
      keyword list `[stdin: m, stdout: m, stderr: m]` where `m` is
      `:inherit`, `:devnull`, `:pipe` or `{:connect_unix, path}`; missing
      keys are `:devnull` for stdin and `:inherit` for the others.
      Default `:inherit`. `{:connect_unix, path}` is connected just before
      exec; a listener whose backlog stays full for 5 s fails the start
      with `{:error, {:etimedout, :stdio}}`. The workload gets an ordinary
      blocking socket.
    * `:winsize` - `{rows, cols}` of the PTY at spawn (with `stdio: :pty`).
    * `:stdio_window` - bytes of flow control in each direction, an
      integer from 1024 up to 2^40 (default 1 MiB, `1_048_576`). Output:
      at most this many bytes of `{:stdout | :stderr | :pty_out, data}`
      are on their way to the owner before it has consumed them (each
      message counts 256 bytes more than its data, so that many tiny
      chunks are bounded too); past that the agent stops
      reading the workload's pipes or PTY, and the workload blocks in
      write(2) until the owner catches up (nothing is dropped). Input: at
      most this many bytes of `write/2` are queued in the agent; past that
      `write/2` blocks. See "Flow control" below.
    * `:no_new_privs` - set `PR_SET_NO_NEW_PRIVS` before exec (default `false`).
    * `:uid_map`, `:gid_map` - lists of `{inside, outside, count}` written
      to the new user namespace's maps right after the clone, by the agent
      itself, before anything else runs at the checkpoint (needs `:user` in
      `:namespaces`; no round trip to the BEAM), or `:caller`: the BEAM's
      own uid (gid) becomes 0 inside, like `unshare -r` — the map that works
      whoever runs the BEAM, root or not.
    * `:setgroups` - `:auto` (default: write `deny` to `/proc/PID/setgroups`
      before the gid map only when the BEAM is not root, as the kernel then
      requires), `:allow` or `:deny`.
    * `:checkpoint` - `true` stops the workload before exec: `spawn/1`
      returns at that point, the caller does host-side setup and then calls
      `proceed/1` or `abort/1`. Default `false`. A signal there (`stop/2`,
      `signal/2`) kills the waiting workload like a running one: the
      terminal event is `{:signaled, n}`.
    * `:on_exit` - what happens to the workload when its owner or this
      server goes away: `:kill` (default; the workload and everything it
      started are killed, including double-forked daemons) or `:detach`.
    * `:owner` - the process that receives events (default: the caller).
      When the owner exits, the workload is stopped as `:on_exit` says.
    * `:notify` - seccomp user notification: the listed system calls are
      trapped and decided by rules (data, compiled and run by the agent
      unless `evaluate: :beam`), by a `Linx.Seccomp.Notifier` module
      `{module, arg}`, or both — see `Linx.Seccomp.Notify` and
      `docs/notify.md`. The owner receives `{:notify_summary, term}` before
      the terminal event when the handler has a `summary/1` callback, and
      with `events: true` `{:notified, %{syscall: name, pid: pid, action:
      action}}` after each call the agent answered by itself.
    * `:uid`, `:gid` - the ids the workload runs as, inside its user
      namespace (both or neither). Set at the checkpoint after the maps are
      written, before the capabilities; supplementary groups are dropped
      where the kernel allows it. With `uid_map: [{0, 100_000, 65_536}]`,
      `uid: 0, gid: 0` makes the workload root inside, 100000 outside.
    * `:cgroup` - `:auto` (default), `true` or `false`: put the workload in
      a cgroup v2 group of its own, so that the whole tree can be killed
      even if the agent itself is killed (see `Linx.Cgroup`). `:auto` goes
      without one where cgroup v2 is not usable. Without a group, `enter/2`
      into a pid namespace cannot kill a daemon the workload double-forks:
      it is adopted by the target's init, out of the agent's reach, and
      lives until that pid namespace ends (see `enter/2`).
    * `:capabilities` - the capability sets to exec with, as a keyword
      list: `keep: [...]` (only these), `drop: [...] | :all`, `ambient:
      [...]` (raised into the ambient set, so they survive exec for a
      non-root uid), or explicit `effective:`, `permitted:`,
      `inheritable:`, `bounding:` lists (or `:all`). Names are those of
      `Linx.Capabilities`. Applied at the checkpoint in the order the
      kernel needs (bounding, thread sets, ambient); an impossible
      combination (ambient not permitted and inheritable, effective not
      permitted, inheritable outside bounding) raises `ArgumentError`.
      Example: `[keep: [:net_bind_service], ambient: [:net_bind_service]]`.
    * `:seccomp` - a filter or a list of filters, installed in order after
      the capabilities, the last thing before exec (the kernel runs every
      one; the most restrictive answer wins). A filter is a
      `Linx.Seccomp.policy/3`, an OCI/Docker `linux.seccomp` map (see
      `Linx.Seccomp.from_oci/2`), or `{:bpf, binary}` of raw
      `struct sock_filter`s. Policies are compiled by libseccomp and cached
      before anything starts; a bad one raises `ArgumentError`.
    * `:root` - the workload's `/`: `:host` (default), `:tmpfs` (an empty
      tmpfs, populated by `:mounts`) or a directory (made `/` by
      `pivot_root`; the host's tree is detached). Adds `:mount` to
      `:namespaces`. See `docs/sandbox.md`.
    * `:mounts` - a list applied in order inside the new root:
      `{:bind | :ro_bind, src, dst}` (or with `optional:`, `dev:`, `exec:`,
      `suid:`), `{:tmpfs, dst}` / `{:tmpfs, dst, size: bytes, mode: m}`,
      `{:proc, dst}` (needs `:pid` or `init: true`), `{:dev, dst}`, `{:dir, dst}` /
      `{:dir, dst, mode}`, `{:symlink, target, dst}`,
      `{:file, dst, contents}`, `{:remount_ro, dst}`. Adds `:mount`.
      A failing entry is the stage `{:mount, index}`; nothing is ever
      created on the host's filesystem (`docs/sandbox.md`). In a new
      `:user` namespace without `:uid_map`/`:gid_map`, `:root`/`:mounts`
      map the caller's own uid and gid to themselves.
    * `:hostname` - set in a new UTS namespace (adds `:uts`).
    * `:loopback` - `lo` is up in a new `:net` namespace (default `true`);
      `false` leaves it down.
    * `:time_offsets` - `[monotonic: seconds, boottime: seconds]` for a new
      `:time` namespace (added).

  The sandbox options are not taken by `enter/2`; `Linx.Sandbox.options/2`
  builds them from presets.

  Resources and time (see "Resources" in `docs/sandbox.md`):

    * `:limits` - cgroup limits, a keyword list: `memory:` (bytes),
      `memory_swap:` (bytes of memory + swap, as Docker's `--memory-swap`;
      needs `memory:`), `cpu:` (CPUs: `0.5` is half of one CPU),
      `cpu_weight:` (1..10_000), `pids:` (processes and threads). Written
      to cgroup v2 where the controller is enabled there, else to cgroup v1
      (see `Linx.Cgroup.Limits`); a limit that cannot be applied fails the
      start with `{:error, {errno, {:limit, key}}}`, e.g.
      `{:error, {:enoent, {:limit, :memory_swap}}}` on a host without swap
      accounting. Never silently dropped.
    * `:rlimits` - `[nofile: n | {soft, hard}, as:, cpu:, core:, nproc:,
      fsize:, stack:, memlock:]` (`:infinity` allowed), set on the child
      before exec (`prlimit(2)`, by the agent; stage `:rlimit`).
    * `:nice` - -20..19, `setpriority(2)` before exec (stage `:nice`).
    * `:cpus` - a list of CPU indices, `sched_setaffinity(2)` before exec
      (stage `:cpus`).
    * `:timeout` - milliseconds from exec: then the owner receives
      `:timeout`, the workload SIGTERM, and `:kill_timeout` later SIGKILL
      with its whole tree. Kept by the agent, so a busy BEAM cannot delay it.
    * `:kill_timeout` - milliseconds between SIGTERM and SIGKILL, for
      `:timeout` and for `stop/1` (default 5000).
    * `:init` - `true` runs a minimal init as pid 1 of a new pid namespace
      (`:pid` is added to `:namespaces`): the agent's own code, forked at
      `proceed`, with the workload's credentials, capabilities, Landlock
      rules and seccomp filters. It forwards every signal it gets to the
      workload, reaps orphans, and ends when the workload ends (the
      kernel then kills what is left in the namespace). So a workload
      without a SIGTERM handler stops on `stop/2`'s SIGTERM at once
      (as pid 1 it would ignore it, and `stop/2` would wait the whole
      grace period). The terminal event is the workload's (`{:signaled,
      15}`), `os_pid/1` and `ns_pid/1` (1) are the init's, the workload is
      its child, pid 2, in a session of its own. A seccomp filter must
      allow the init's calls (`rt_sigprocmask`, `rt_sigtimedwait`,
      `wait4`, `kill`, `write`, `close_range`, `exit_group`; Docker's
      default profile does). Default `false`; `spawn/1` and `run/2` only.
      Example: `init: true`.
    * `:fds` - more descriptors for the workload, like nsjail's `--pass_fd`
      and crun's `--preserve-fds`: a list of `{target_fd, source}` with
      `target_fd` in 3..255 (fds 0-2 are `:stdio`'s), each at most once,
      and `source` one of `{:file, path, flags}` (`flags` a list of
      `:read`, `:write`, `:append`, `:create`, `:truncate`, `:exclusive`,
      with `:read` or `:write`) or `{:connect_unix, path}` (a connected
      stream socket). Each source is opened by the agent before the clone,
      with the BEAM's view of the filesystem and its credentials, as a
      shell redirection would be: a sandbox that sees none of the host can
      still be handed one file. A source that cannot be opened fails the
      start with `{:error, {errno, :fds}}` (`last_error/0` names it). The
      descriptors are placed just before exec; nothing else above 2 is
      inherited. Example: `fds: [{3, {:file, "/srv/data.db", [:read]}},
      {4, {:connect_unix, "/run/app.sock"}}]`.
    * `:landlock` - Landlock rules (Linux 5.13+), `[read: paths,
      read_write: paths, execute: paths]`, absolute paths as the workload
      sees them after its mounts: `read` lets it read files and list
      directories beneath, `execute` exec files beneath (a dynamic program
      also needs `read` on its loader and libraries), `read_write`
      everything but exec (write, create, remove, rename, truncate, device
      ioctls). Every other filesystem access is denied (EACCES), whatever
      the file permissions. Applied at the checkpoint, first: after the
      mounts, before `:uid`/`:gid`, the capabilities and seccomp; a
      missing path fails with `{:error, {:enoent, :landlock}}`, and a
      kernel without Landlock with `{:error, {:eopnotsupp, :landlock}}`,
      never a silent skip. Example: `landlock: [read: ["/usr", "/etc"],
      execute: ["/usr"], read_write: ["/tmp"]]`. See `docs/sandbox.md`.

    * `:arg0` - `argv[0]` as the program sees it (its `/proc/PID/cmdline`,
      `$0` of a shell), when it should differ from the program path, as
      `System.cmd/3`'s `:arg0`. The program run is still `argv`'s first
      element.
    * `:pty` - termios modes of the new PTY, set before the workload
      runs, like erlexec's `{pty, Modes}`; without `:stdio` it asks for
      the PTY too (`stdio: :pty`; `spawn/1` and `enter/2` only):
      `echo: false` (what is written is not echoed back), `raw: true`
      (`cfmakeraw`: no line editing, no signals from `^C`, no `\\r\\n`
      translation). Example: `stdio: :pty, pty: [echo: false]`.
    * `:name` (`spawn/1`, `enter/2`, `start_link/1`) - registers the
      server under a name, as any `GenServer`: an atom, `{:global, term}`
      or `{:via, module, term}`. Functions here take the name as well as
      the pid (`Linx.Process.await(:worker)`); `GenServer.whereis/1`
      finds the pid, which is what events carry.
    * `:log_output` (`spawn/1`, `enter/2`, `start_link/1`) - a `Logger`
      level: each line of the workload's output is logged at that level
      with metadata `linx_os_pid` (like MuonTrap's `:log_output`) instead
      of being sent to the owner as `{:stdout | :stderr | :pty_out, data}`;
      stdout and stderr are pipes unless `:stdio` says otherwise. A line
      longer than 16 KiB is logged in pieces.
    * `:node` - where the workload runs: `node()` (default), a node name,
      or `:any` (the least loaded node running Linx, see `Linx.Cluster`).
      See "On another node" below and `docs/distributed.md`.

  `run/2` also takes `:input`, `:into`, `:lines`, `:stderr`,
  `:max_output`, `:stderr_to_stdout` and `:cd` (see `run/2`). `run/2` collects
  the output as it arrives, so it sets no output window unless
  `:stdio_window` is given.

  Every option is validated before any port opens; a bad one raises
  `ArgumentError` naming the option, the value and what was expected.

  ## Events

  The owner receives `{:linx_process, proc, event}` where `event` is one of

    * `{:stdout, binary}`, `{:stderr, binary}` - output of piped fds;
    * `{:pty_out, binary}` - output of the PTY;
    * `{:exited, code}` - the workload exited (terminal);
    * `{:signaled, signum}` - the workload was killed by a signal (terminal);
    * `{:error, errno, stage}` - it failed before exec (terminal), or a
      command was refused (`stage` is `:malformed_command`, `:bad_state`
      or `:command_too_big`; not terminal). `errno` is an atom such as
      `:enoent` where Linux has a name for it; `error_text/1` gives the
      agent's words for it (see "What failed, in words");
    * `{:agent_died, exit_status}` - the agent exited without a terminal
      frame (terminal); `exit_status` is `{:port_closed, reason}` when the
      port closed without one;
    * `:aborted` - `abort/1` stopped the workload before exec (terminal);
    * `:timeout` - the `:timeout` passed and SIGTERM is on its way (the
      terminal event follows);
    * `{:usage, map}` - just before `{:exited, _}` or `{:signaled, _}` of
      a workload that has a cgroup (its own v2 group, the default
      `cgroup: :auto`, or the groups of its `:limits`): its final usage,
      the keys of `stats/1`. An owner that waits for the terminal event
      skips it like output.
    * `{:lost, :noconnection}` - the workload ran on another node (`:node`)
      and that node went away, or the connection to it was lost, before
      its terminal event arrived (terminal). The workload does not outlive
      that: see "On another node".

  Every byte of output the workload's tree wrote arrives before the
  terminal event. Output from outside the tree (a descendant that escaped
  it, see `enter/2`) is read for at most 2 s more, then dropped.

  ## Flow control

  A workload can write faster than its owner reads, and an owner can
  write faster than its workload reads. Neither grows memory without
  bound:

    * **Output.** The server forwards output to the owner and gives the
      agent credit back (`{:output_ack, n}` in `docs/protocol.md`) once the
      owner has consumed it, judged from the owner's
      `:message_queue_len`: while the owner's mailbox holds at most a few
      messages, or shrinks, output flows; while it only grows, at most
      `:stdio_window` bytes wait in it (plus up to 16 messages of at
      most 64 KiB each, let through while it was still short) and the
      workload is paused in write(2). Owners need nothing
      special: receiving the messages is the acknowledgement. An owner
      that never reads holds the workload (and its terminal event, which
      comes after the last byte) until it reads or exits; when it exits
      the workload is stopped as `:on_exit` says. Once some process waits
      in `await/2` (or `stop/2`) the limit is lifted for good, since
      waiting reads no output; so it is while the owner itself is held in `write/2` or
      `close_stdin/1` (an owner feeding a filter such as `cat` more than a
      window before reading its output would otherwise wait for a
      workload that waits for it). Owners on another node, or no owner,
      get no limit.
    * **Input.** `write/2` returns once its data is handed to the agent,
      and at most `:stdio_window` bytes are in the agent not yet written
      to the workload; a writer beyond that blocks until the workload
      reads (writes are served in order; `close_stdin/1` waits its turn
      behind them). Large writes are split into frames below the agent's
      16 MiB frame limit. `signal/2` and `stop/2` work while a writer is
      blocked.

  ## Errors before exec

  `spawn/1`, `enter/2` and `proceed/1` return `{:error, {errno, stage}}`
  when the workload never ran, where `stage` names the step that failed:
  `:execve` (`{:enoent, :execve}` for a missing program), `:chdir`,
  `:stdio`, `:clone`, `:open_ns_<ns>` / `:setns_<ns>` (enter), `:uid_map`
  / `:gid_map` / `:setgroups` (writing the maps), `:seccomp_install`, … —
  the full list is in `docs/protocol.md`.

  `stage` is always an atom and `errno` an atom or an integer, never a
  stacktrace. Besides the agent's stages, `Linx.Process` itself reports:

    * `{errno, :agent}` - no agent could be started: `:emfile` / `:enfile`
      (out of file descriptors), `:eagain`, or `:enoent` (the agent is not
      built). Linx keeps running; a later spawn works once the cause is gone;
    * `{:noproc, :owner}` - the `:owner` was not alive (nothing is started);
    * `{errno, {:limit, key}}` - the cgroup limit `key` of `:limits` could
      not be applied (`:enoent`: no such controller here);
    * `{:enoent, :cgroup}` (or another errno) - `cgroup: true` and the
      group could not be made;
    * `{status, :agent_died}` - the agent exited before it answered:
      `status` is its exit status (`137` when killed by SIGKILL) or the
      atom the port closed with (`:epipe`; `:port_closed` otherwise). A
      pooled agent found dead before it answered anything is replaced once,
      transparently;
    * `{reason, :server}` - this server was stopped before it answered
      (`:killed`, `:shutdown`, `:normal`; `:crashed` for an exception);
    * `{reason, :notify_handler}` - the `Linx.Seccomp.Notifier` module's
      `init/1` failed (`reason` when it is an atom, else `:crashed`, the
      full reason logged);
    * `{:aborted, :checkpoint}` - `abort/1`;
    * `{:nolinx, node}` - `node:` names a connected node that does not run
      the `:linx` application; `{:nodedown, node}` - it cannot be reached
      (also when this node is not distributed). Nothing is started.

  `run/2` raises `Linx.Process.Error` with the same `errno` and `stage`.

  ### What failed, in words

  Where the agent knows more than the stage, it says so in a text
  (`docs/protocol.md`, "Errors"): `"drop cap 5 from the bounding set"`,
  `"raise ambient cap 12"`, `"command :proceed is not valid now"`. The
  shapes above stay as they are; the text is found

    * in `Linx.Process.Error`'s `:detail` (and its message) when `run/2`
      raises;
    * with `last_error/0` right after `spawn/1`, `enter/2`, `proceed/1`,
      `abort/1` or `capabilities/1` returned `{:error, {errno, stage}}` in
      the calling process;
    * with `error_text/1` for the owner's `{:error, errno, stage}` events;
    * in the Logger (a warning per explained error).

  A text longer than about 1 KiB ends with `"...[cut]"`.

  A command the agent refuses (`:bad_state`: not valid now) is answered to
  the call that sent it when that call waits for the agent: `proceed/1`,
  `abort/1` and `capabilities/1` then return `{:error, {:einval,
  :bad_state}}` and the workload stays where it was. The owner still
  receives the `{:error, errno, :bad_state}` event, as for refusals of
  commands whose calls do not wait for the agent (`signal/2`, `resize/3`,
  `write/2`, `close_stdin/1` answer once the frame is handed over).

  ## Under a supervisor

  `child_spec/1` takes the options of `spawn/1`; the child is started when
  the workload runs and stops when it ends (`restart: :temporary` by
  default; override it with `Supervisor.child_spec/2`, or give `:restart`,
  `:id` or `:shutdown` among the options: `{Linx.Process, argv: [...],
  restart: :transient}`; with `:name` the child's id is that name). The
  server is linked to its supervisor, and events go only to an explicit
  `:owner`.

  The server's exit reason is how the workload ended: `:normal` for exit
  status 0, `{:shutdown, {:exited, n}}` for another status,
  `{:shutdown, {:signaled, sig}}` for a signal, `{:shutdown, {:agent_died,
  status}}` when the agent died; `:normal` after a start error (its caller
  was answered) or `abort/1`.

  A server started from `child_spec/1` (by a supervisor) exits instead
  with the bare `{:exited, n}`, `{:signaled, sig}` or `{:agent_died,
  status}`: OTP supervisors count `{:shutdown, _}` as a normal end, so
  only an abnormal reason lets `restart: :transient` restart a workload
  that failed and not one that succeeded. Either way a failed workload is
  not logged as a crash of the server. The server ends a second after
  the workload (see `await/2`), so a failed workload is restarted a
  second after it ended; at once after `run/2`.

      children = [
        Supervisor.child_spec(
          {Linx.Process,
           argv: ["/usr/sbin/sshd", "-D"], namespaces: [:pid, :mount],
           name: :sshd, log_output: :info},
          restart: :transient
        )
      ]

      Supervisor.start_link(children, strategy: :one_for_one)
      Linx.Process.os_pid(:sshd)

  ## On another node

  With `node: name` (or `node: :any`) the agent and this server run on
  that node of the Erlang cluster, under its `:linx` application; the
  owner stays where it is and receives the same events, and every
  function here works on the returned `proc` unchanged. The options are
  validated on the caller's node (a bad one raises here, before anything
  is sent), then resolved again on the workload's node for its host: the
  environment is merged over that BEAM's, and `uid_map: :caller` maps that
  BEAM's uid. Failures (details and the failure table in
  `docs/distributed.md`):

    * the owner's node disconnects: the workload's node treats it as the
      owner's death and kills the workload's tree (unless `on_exit:
      :detach`);
    * the workload's node goes away (or the connection is lost): the owner
      gets `{:lost, :noconnection}` as the terminal event, `await/2`
      returns it, and functions that need the workload return
      `{:error, :not_running}`.

  `start_link/1` does not take `:node` (a supervised workload runs on its
  supervisor's node).
  """

  alias Linx.Process.{Options, Run, Server, Wire}

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
    start_at(where, validated, {:spawn, nil, opts})
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
    start_at(where, %{validated | target: target_os_pid}, {:enter, target_os_pid, opts})
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
    Run.run(argv, opts, &start_run(where, &1, &2))
  end

  @doc false
  # run/2 whose {:notified, map} events (notify: [events: true]) are
  # handed to `on_notified`, in order, in the calling process
  # (Linx.Seccomp.Profile.record/2 counts calls this way).
  def run_observed(argv, opts, on_notified) when is_function(on_notified, 1) do
    {where, opts} = Options.take_node!(opts)
    Run.run(argv, opts, &start_run(where, &1, &2), on_notified)
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
    Run.stream(argv, opts, &start_run(where, &1, &2))
  end

  # run/2 and stream/2: `raw` is the options as given (for another node,
  # which validates them again for its host), `validated` has the stdio
  # and window Linx.Process.Run chose.
  defp start_run(:local, validated, _raw), do: start(validated, :start)

  defp start_run(where, validated, raw) do
    io = %{stdio: validated.stdio, stdio_window: validated.stdio_window}
    start_at(where, validated, {:run, nil, [{:run_io, io} | raw]})
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

  # The server answers errors it has a text for as {:error, reason, text}:
  # the text goes to last_error/0, the caller gets the documented shape.
  defp unwrap({:error, {errno, stage} = reason, text}) do
    Process.put(@last_error, %Linx.Process.Error{errno: errno, stage: stage, detail: text})
    {:error, reason}
  end

  defp unwrap({:error, {errno, stage}} = error) do
    Process.put(@last_error, %Linx.Process.Error{errno: errno, stage: stage})
    error
  end

  defp unwrap(other), do: other

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
  def proceed(proc), do: unwrap(GenServer.call(proc, :proceed, :infinity))

  @doc """
  Stops a workload held at its checkpoint without ever running it.
  Returns `:ok` once the agent has reaped it; the owner receives `:aborted`.
  """
  @spec abort(t) :: :ok | {:error, :not_at_checkpoint | start_error}
  def abort(proc), do: unwrap(GenServer.call(proc, :abort, :infinity))

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
    case unwrap(GenServer.call(proc, :caps_query, :infinity)) do
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
  def start_link(opts), do: start_link_with(opts, :shutdown)

  defp start_link_with(opts, exit_reasons) do
    if Options.take_node!(opts) |> elem(0) != :local do
      raise ArgumentError,
            "invalid option :node for Linx.Process.start_link/1: " <>
              "a supervised workload runs on its supervisor's node"
    end

    opts = Options.validate!(opts, :spawn)
    start(%{opts | exit_reasons: exit_reasons}, :start_link)
  end

  ## Starting

  # node: (docs/distributed.md). Validated here, on the caller's node, and
  # again on the node that runs the workload, for its own host.
  defp start_at(:local, validated, _spec), do: start(validated, :start)

  defp start_at(where, validated, {kind, target, opts}) do
    owner = validated.owner || self()
    spec = {kind, target, Keyword.put(opts, :owner, owner)}

    # a dead owner of this node is known here: nothing is sent
    if node(owner) == node() and not Process.alive?(owner) do
      unwrap({:error, {:noproc, :owner}})
    else
      unwrap(Linx.Cluster.start_remote(where, spec, owner))
    end
  end

  @doc false
  # Called through :erpc on the node that runs the workload; returns the
  # result not yet unwrapped (the caller's last_error/0 gets the text).
  def start_here({kind, target, opts}) do
    validated =
      case kind do
        :run ->
          # the stdio and window run/2's collector chose on the caller's node
          {io, opts} = Keyword.pop!(opts, :run_io)
          Map.merge(Options.validate!(opts, :run), io)

        _ ->
          Options.validate!(opts, kind)
      end

    start_raw(%{validated | target: target}, :start)
  end

  defp start(%Options{} = opts, how), do: unwrap(start_raw(opts, how))

  defp start_raw(%Options{} = opts, how) do
    # Under a supervisor (start_link) nobody is told about events unless an
    # :owner is given: the link, not a monitor, ties the workload's life to
    # its parent.
    opts = if how == :start, do: %{opts | owner: opts.owner || self()}, else: opts

    result =
      case how do
        :start -> DynamicSupervisor.start_child(Linx.ProcessSupervisor, {__MODULE__, opts})
        :start_link -> GenServer.start_link(Server, opts, gen_opts(opts))
      end

    case result do
      {:ok, proc} ->
        try do
          GenServer.call(proc, :started, :infinity)
        catch
          :exit, {reason, {GenServer, :call, _}} ->
            {:error, server_gone(reason, opts.owner)}
        end

      # init/1 stopped: {errno, stage}, without a text
      {:error, {_, _}} = error ->
        error

      other ->
        other
    end
  end

  # The server ended before it answered :started: its owner died in the
  # meantime (it stops when the owner goes), or it was killed or crashed.
  defp server_gone(reason, owner) do
    cond do
      is_pid(owner) and node(owner) == node() and not Process.alive?(owner) -> {:noproc, :owner}
      is_atom(reason) -> {reason, :server}
      match?({:shutdown, _}, reason) -> {:shutdown, :server}
      true -> {:crashed, :server}
    end
  end

  @doc false
  # DynamicSupervisor hands us the already validated options.
  def child_spec(%Options{} = opts) do
    %{
      id: __MODULE__,
      start: {GenServer, :start_link, [Server, opts, gen_opts(opts)]},
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
    start_link_with(opts, :abnormal)
  end

  # name: (issue 15) registers the server like any GenServer
  defp gen_opts(%Options{name: nil}), do: []
  defp gen_opts(%Options{name: name}), do: [name: name]
end
