defmodule Linx.Seccomp.Notify do
  @moduledoc """
  Seccomp user notification: system calls of a workload answered from the
  BEAM, by rules (data) or by a handler module (code).

  The `notify:` option of `Linx.Process.spawn/1` and `enter/2` names the
  system calls to intercept and how to answer them. The workload's filter
  (`filter/1`) sends those calls to the agent as
  `SECCOMP_RET_USER_NOTIF`; everything else runs untouched. For each
  intercepted call, the rules are tried in order and the first whose
  predicates all hold answers it; a call no rule matches goes to the
  handler if there is one, else gets the default action (`ENOSYS` unless
  configured). **Every call is answered**: a handler that raises or times
  out answers with an errno and the error is logged.

      # openat under /secret fails with EACCES; everything else runs.
      Linx.Process.run(["/bin/cat", "/secret/key"],
        notify: [
          rules: [
            %{syscall: :openat, match: [{:string, 1, {:under, "/secret"}}], then: {:errno, :eacces}}
          ],
          default: :continue
        ]
      )

  `docs/notify.md` is the guide (examples for each action, the limits);
  this moduledoc is the reference.

  ## The option

    * a list of rules;
    * `{module, arg}`: a `Linx.Seccomp.Notifier` answers every trapped
      call; it traps `module.syscalls(arg)`;
    * a keyword list:
      * `rules:` - a list of rules (default `[]`);
      * `handler:` - `{module, arg}`, asked about trapped calls no rule matches;
      * `trap:` - more system calls to trap (names), beyond those the rules
        name (default: the handler's `syscalls/1`, if it has one);
        `trap: Linx.Syscalls.all()` traps every call (here and in a rule's
        `syscall:`, a `{name, nr}` pair of that table counts as its name);
      * `default:` - the action for calls nothing matches and no handler
        takes (default `{:errno, :enosys}`);
      * `handler_timeout:` - ms for one `handle_syscall/2` (default 1000);
      * `handler_errno:` - the errno of a call whose handler raised, timed
        out or returned something invalid (default `:eperm`);
      * `evaluate:` - `:agent` (default): the rules are compiled
        (`compile/1`) and the agent answers every call they decide by
        itself, without a round trip to the BEAM (a handler, and rules
        with `{:call, …}`, `{:inject_fd, …}` or `:return_last`, still go
        to the BEAM); `:beam`: every trapped call is decided here;
      * `events:` - `true` sends the owner
        `{:linx_process, proc, {:notified, %{syscall: name, pid: pid,
        action: action}}}` for each call the agent decided, after it was
        answered (`action` is `:continue`, `{:return, n}` or `{:errno, n}`;
        default `false`).

  ## Rules

  A rule is a map or a keyword list:

      %{syscall: :connect,                    # a name or a list of names
        match: [predicate, ...],              # all must hold (default [])
        then: action_or_sequence,             # the answer
        name: term}                           # optional, for your logs

  Predicates (`i` is an argument index, 0..5):

  | predicate | holds when |
  |---|---|
  | `{:arg, i, test}` | the 64-bit argument passes an integer test (a negative literal means its two's complement) |
  | `{:int, i, test}` | the argument as a C `int` (low 32 bits, signed: `{:int, 0, -100}` is `AT_FDCWD`) passes |
  | `{:string, i, test}` | the NUL-terminated string at pointer arg `i` (read up to 4096 bytes) passes a string test |
  | `{:sockaddr, i, fields}` | the `struct sockaddr` at arg `i` (its length is arg `i + 1`, as in connect, bind, sendto) has every field: `family: :unix \\| :inet \\| :inet6 \\| n`, `path:` string test (`sockaddr_un`; an abstract name starts with `<<0>>`), `addr:` an `:inet` tuple, `{ip, prefix_len}` or a list of them, `port:` integer test |
  | `{:open_flags, i, checks}` | open flags at arg `i` pass every check: `access: :rdonly \\| :wronly \\| :rdwr` (or a list), `all: [flags]`, `any: [flags]`, `none: [flags]` with flags `:creat :excl :trunc :append :nonblock :directory :nofollow :cloexec :path :tmpfile :sync :dsync :noctty :noatime :largefile :async :direct` |
  | `{:any, [p]}`, `{:all, [p]}`, `{:not, p}` | a true OR, AND, NOT |

  Integer tests: `n` (equal), `{op, n}` with op `:== :!= :< :<= :> :>=`
  (unsigned for `:arg`, signed for `:int`), `{:in, [n]}`, `{:mask, m, v}`
  (`arg &&& m == v`), `{:all_set, m}`, `{:any_set, m}`, `{:none_set, m}`.

  String tests: `"exact"`, `{:prefix, s}`, `{:suffix, s}`, `{:contains, s}`,
  `{:in, [s]}`, `{:under, "/dir"}` (the path, normalised lexically — `.`,
  `..`, `//` — is the directory or inside it; a relative path never
  matches). A string cut at the read limit only passes `{:prefix, _}`.

  A predicate on memory the agent could not read (bad pointer) is false.

  ## Actions

  `then:` (and a handler's answer) is one action or a list run in order
  whose last element answers the call:

    * `:continue` - the kernel runs the call as if it were not intercepted;
    * `{:return, n}` - the call returns `n` without running;
    * `{:errno, name_or_number}` - the call fails with that errno;
    * `{:write, {:arg, i} | {:arg, i, offset} | address, binary}` - write
      into the caller's memory (then a response must follow);
    * `{:call, syscall, args, ctx}` - run a system call on the caller's
      behalf in a helper process; `args` (at most 6) are integers,
      `{:arg, i}`, `{:mem, i}` (the C string read at arg `i`, or the bytes
      of a sockaddr read), `{:str, binary}`, `{:buf, binary}`,
      `:caller_uid`, `:caller_gid` (the caller's effective ids as the host
      sees them, read from `/proc/PID/status` when the rule fires),
      `:caller_pid` (host pid); `ctx` is a keyword list:
      * `ns:` the caller's namespaces to join (default `[:mount]`);
      * `root:`, `cwd:` use the caller's (default `true`);
      * `creds:` `false` (default: the agent's privileges), `true` (the
        caller's uid/gid/groups) or `:caller_fs` (the caller's groups,
        fsuid and fsgid decide every permission check on the path; the
        helper keeps its capabilities but the file-permission overrides,
        and `CAP_MKNOD`/`CAP_CHOWN` — LXD's forkmknod: a node is created
        only where the caller may create files, owned by it);
      * `resolve:` `:safe` (default) or `:follow`. With `:safe`, the path
        arguments (`{:mem, i}`, `{:str, s}`) of the `*at` calls and their
        legacy forms (`mknodat`, `mkdirat`, `fchownat`, `fchmodat`,
        `unlinkat`, `openat`, `symlinkat`, `linkat`, `renameat2`,
        `utimensat`, `faccessat2`, `mknod`, `chown`, `rename`…, and
        `mount`'s target) are resolved with `openat2(RESOLVE_NO_SYMLINKS |
        RESOLVE_NO_MAGICLINKS)` in the caller's root (`RESOLVE_IN_ROOT`),
        or beneath its cwd or its own dirfd for a relative path; the call
        runs on the parent directory with the last component and
        `AT_SYMLINK_NOFOLLOW`/`O_NOFOLLOW`, and a later step naming the
        same path runs in the same directory. A symlink or magic link on
        the way fails the step with `ELOOP`. `:follow` passes the
        arguments as given: **unsafe** for any path the caller can
        change (docs/notify.md, "Acting on the caller's behalf");
      * `beneath: "/dir"` (with `:safe`): every path argument must lie
        under `/dir` lexically and is resolved `RESOLVE_BENEATH` from it,
        else the step fails with `EXDEV`;
    * `{:inject_fd, source, opts}` - put an fd into the caller; `source` is
      `{:open, path, flags, mode}` (opened by the agent, in the agent's
      context; `flags` an integer or names like `[:rdwr, :cloexec]`),
      `{:connect_unix, path}` (a stream socket the agent connects) or
      `{:getfd, os_pid, fd}` (a copy of another process's fd); `opts`:
      `at: n | {:arg, i}` (replace that fd number), `cloexec: true`,
      `send: true` (inject and answer in one step: the call returns the
      new fd; must be last);
    * `:return_last` - return the result of the last `call` or `inject_fd`.

  A sequence that ends with a `call` or an `inject_fd` returns its result.
  A step that fails answers the call with that step's errno.

  Everything is validated by `new!/1`: an unknown syscall, errno, flag or
  struct field, an argument index outside 0..5, a response before the end
  of a sequence, a rule that can never match because an earlier rule
  without predicates takes every call of its syscall, one argument read
  two different ways — each raises `ArgumentError` naming the rule's
  position (`rules[2] (:connect) match[0]: …`).

  ## Limits (TOCTOU)

  Memory read from the caller is a snapshot: another thread of the caller
  (or a process sharing its memory) can change it between the read and
  the moment the kernel uses it. A `:continue` decided on a pointer
  argument is therefore **not a security boundary**; decisions on integer
  arguments are exact, and answers that do not continue (`:errno`,
  `:return`, a `call` done by the helper with the *copied* string) act on
  what was checked. What a checked path *names* can still change: a
  `call` resolves its path arguments safely by default (`resolve: :safe`
  above), so a caller that swaps a component for a symlink cannot turn
  the helper's privileges against the host. What the engine does to narrow the window: the agent
  reads every declared argument in the same step as the notification and
  checks `SECCOMP_IOCTL_NOTIF_ID_VALID` after every read (so a dead caller
  whose pid was reused is never read from or answered), and every reply
  step that touches the caller checks it again.
  """

  require Logger

  alias Linx.Seccomp.BPF
  alias Linx.Seccomp.Notify.{Match, Program, Rules, Steps}

  @enosys Linx.Errno.number!(:enosys)
  @eperm Linx.Errno.number!(:eperm)
  @x86_64 0xC000003E
  @x32_bit 0x40000000
  # A conditional BPF jump reaches 255 instructions: syscall checks are
  # emitted in blocks, each followed by its own USER_NOTIF return.
  @block 200
  @ctx_key {__MODULE__, :handler_ctx}

  defstruct rules: [],
            by_nr: %{},
            syscalls: [],
            nrs: [],
            reads: [],
            handler: nil,
            default: [{:errno, @enosys}],
            handler_timeout: 1000,
            handler_errno: @eperm,
            evaluate: :agent,
            events: false

  @typedoc "A validated `notify:` option."
  @type t :: %__MODULE__{
          rules: [map()],
          by_nr: %{non_neg_integer() => [map()]},
          syscalls: [atom()],
          nrs: [non_neg_integer()],
          reads: [{non_neg_integer(), 0..5, read_kind()}],
          handler: {module(), term()} | nil,
          default: [term()],
          handler_timeout: pos_integer(),
          handler_errno: pos_integer(),
          evaluate: :agent | :beam,
          events: boolean()
        }

  @typedoc "How the agent reads one pointer argument (docs/protocol.md, `notify_reads`)."
  @type read_kind ::
          {:cstring, pos_integer()} | {:bytes, pos_integer()} | {:bytes_arg, 0..5, pos_integer()}

  @typedoc "One action a rule's `then:` or a handler's answer may hold (see the moduledoc)."
  @type action ::
          :continue
          | :return_last
          | {:return, integer()}
          | {:errno, atom() | pos_integer()}
          | {:write, {:arg, 0..5} | {:arg, 0..5, integer()} | pos_integer(), binary()}
          | {:call, atom(), [term()], keyword()}
          | {:inject_fd, term(), keyword()}

  @typedoc "A wire step of `{:notify_reply, id, steps}` (docs/protocol.md)."
  @type step ::
          {:write, non_neg_integer(), binary()}
          | {:call, non_neg_integer(), [term()], map()}
          | {:addfd, term(), integer(), [:cloexec | :send]}
          | :continue
          | {:return, integer()}
          | {:errno, pos_integer()}
          | :return_last

  @config_keys [
    :rules,
    :handler,
    :trap,
    :default,
    :handler_timeout,
    :handler_errno,
    :evaluate,
    :events
  ]

  @doc """
  Validates the value of the `notify:` option (see the moduledoc) and
  returns the struct `filter/1`, `decide/2` and
  `Linx.Seccomp.Notify.Handler` use. Raises `ArgumentError` naming the
  rule position and the problem.

      iex> n = Linx.Seccomp.Notify.new!([%{syscall: :getpid, then: {:return, 42}}])
      iex> n.syscalls
      [:getpid]
      iex> Linx.Seccomp.Notify.new!([%{syscall: :getpidd, then: :continue}])
      ** (ArgumentError) notify rules[0]: unknown syscall :getpidd (not in the x86_64 table)
  """
  @spec new!(t() | list() | {module(), term()}) :: t()
  def new!(%__MODULE__{} = notify), do: notify

  def new!({module, arg}) when is_atom(module), do: new!(handler: {module, arg})

  def new!(opts) when is_list(opts) do
    if opts != [] and Keyword.keyword?(opts),
      do: from_config(opts),
      else: from_config(rules: opts)
  end

  def new!(other) do
    raise ArgumentError,
          "notify: expected a list of rules, {module, arg} or a keyword list, got #{inspect(other)}"
  end

  defp from_config(opts) do
    case Keyword.keys(opts) -- @config_keys do
      [] ->
        :ok

      extra ->
        Rules.fail!("option", "unknown keys #{inspect(extra)} (known: #{inspect(@config_keys)})")
    end

    rules = Rules.rules!(Keyword.get(opts, :rules, []))
    handler = handler!(Keyword.get(opts, :handler))

    trap =
      case {Keyword.fetch(opts, :trap), handler} do
        {{:ok, names}, _} when is_list(names) ->
          Enum.map(names, &Rules.syscall!(&1, "trap"))

        {{:ok, other}, _} ->
          Rules.fail!("trap", "expected a list of syscall names, got #{inspect(other)}")

        {:error, {mod, arg}} ->
          handler_syscalls!(mod, arg)

        {:error, nil} ->
          []
      end

    if handler == nil and rules == [] and trap == [],
      do: Rules.fail!("option", "nothing to trap: give rules, trap: or a handler")

    default = Rules.actions!(Keyword.get(opts, :default, {:errno, :enosys}), "default")

    timeout =
      case Keyword.get(opts, :handler_timeout, 1000) do
        t when is_integer(t) and t > 0 -> t
        t -> Rules.fail!("handler_timeout", "expected a positive integer (ms), got #{inspect(t)}")
      end

    handler_errno = Rules.errno!(Keyword.get(opts, :handler_errno, :eperm), "handler_errno")

    evaluate =
      case Keyword.get(opts, :evaluate, :agent) do
        e when e in [:agent, :beam] -> e
        e -> Rules.fail!("evaluate", "expected :agent or :beam, got #{inspect(e)}")
      end

    events =
      case Keyword.get(opts, :events, false) do
        e when is_boolean(e) -> e
        e -> Rules.fail!("events", "expected a boolean, got #{inspect(e)}")
      end

    reads =
      Enum.reduce(rules, [], fn rule, acc ->
        acc = Enum.uniq(acc ++ rule.reads)
        Rules.check_reads!(acc, "rules[#{rule.index}]")
        acc
      end)

    by_nr =
      rules
      |> Enum.flat_map(fn rule -> Enum.map(rule.syscalls, fn {_, nr} -> {nr, rule} end) end)
      |> Enum.group_by(&elem(&1, 0), &elem(&1, 1))

    syscalls = Enum.uniq(Enum.flat_map(rules, & &1.syscalls) ++ trap)

    %__MODULE__{
      rules: rules,
      by_nr: by_nr,
      syscalls: Enum.map(syscalls, &elem(&1, 0)),
      nrs: syscalls |> Enum.map(&elem(&1, 1)) |> Enum.uniq() |> Enum.sort(),
      reads: Enum.sort(reads),
      handler: handler,
      default: default,
      handler_timeout: timeout,
      handler_errno: handler_errno,
      evaluate: evaluate,
      events: events
    }
  end

  defp handler!(nil), do: nil

  defp handler!({mod, _arg} = h) when is_atom(mod) do
    unless Code.ensure_loaded?(mod),
      do: Rules.fail!("handler", "module #{inspect(mod)} is not available")

    for {f, a} <- [init: 1, handle_syscall: 2], not function_exported?(mod, f, a) do
      Rules.fail!(
        "handler",
        "#{inspect(mod)} does not export #{f}/#{a} (see Linx.Seccomp.Notifier)"
      )
    end

    h
  end

  defp handler!(other),
    do: Rules.fail!("handler", "expected {module, arg}, got #{inspect(other)}")

  defp handler_syscalls!(mod, arg) do
    unless function_exported?(mod, :syscalls, 1),
      do: Rules.fail!("handler", "#{inspect(mod)} has no syscalls/1: say what to trap with trap:")

    case mod.syscalls(arg) do
      names when is_list(names) and names != [] ->
        Enum.map(names, &Rules.syscall!(&1, "#{inspect(mod)}.syscalls/1"))

      other ->
        Rules.fail!(
          "handler",
          "#{inspect(mod)}.syscalls/1 returned #{inspect(other)}: expected names"
        )
    end
  end

  @doc """
  True when a handler module is configured (`Linx.Process` then starts a
  `Linx.Seccomp.Notify.Handler`).
  """
  @spec handler?(t()) :: boolean()
  def handler?(%__MODULE__{handler: h}), do: h != nil

  @doc """
  The seccomp filter (raw `struct sock_filter` bytes) for
  `{:seccomp_notify_install, bpf}`:

    * an architecture other than x86_64 (i386 through `int 0x80`) kills the
      process: its numbers mean other calls;
    * x32 calls (`nr >= 0x40000000`) fail with `ENOSYS` and do not run —
      no trapped call can be reached through the x32 numbering, and a
      program probing x32 gets an error rather than dying;
    * the syscalls of `notify.syscalls` go to the listener (`USER_NOTIF`);
    * everything else is allowed (stack a `seccomp:` filter to deny;
      across a stack the kernel takes the most restrictive answer, and an
      `ERRNO` or `KILL` wins over `USER_NOTIF`).

      iex> n = Linx.Seccomp.Notify.new!([%{syscall: :getpid, then: {:return, 1}}])
      iex> Linx.Seccomp.BPF.emulate(Linx.Seccomp.Notify.filter(n), %{nr: 39})
      :notify
      iex> Linx.Seccomp.BPF.emulate(Linx.Seccomp.Notify.filter(n), %{nr: 0})
      :allow
  """
  @spec filter(t()) :: binary()
  def filter(%__MODULE__{nrs: nrs}) do
    # block b: its checks, then a jump over its USER_NOTIF return to block b + 1
    checks =
      nrs
      |> Enum.chunk_every(@block)
      |> Enum.with_index()
      |> Enum.flat_map(fn {block, b} ->
        Enum.map(block, &{:jeq, &1, {:notify, b}}) ++
          [
            {:ja, {:block, b + 1}},
            {:label, {:notify, b}},
            {:ret, :notify},
            {:label, {:block, b + 1}}
          ]
      end)

    BPF.assemble(
      [
        {:ld, :arch},
        {:jeq, @x86_64, :native_arch, :next},
        {:ret, :kill_process},
        {:label, :native_arch},
        {:ld, :nr},
        {:jge, @x32_bit, :next, :native_abi},
        {:ret, {:errno, @enosys}},
        {:label, :native_abi}
      ] ++ checks ++ [{:label, :allow}, {:ret, :allow}]
    )
  end

  @doc """
  The wire `notify_program` of the request: the compiled rules when
  `evaluate: :agent`, else `nil`.
  """
  @spec program(t()) :: binary() | nil
  def program(%__MODULE__{evaluate: :agent} = n), do: Program.compile(n)
  def program(%__MODULE__{}), do: nil

  @doc """
  The wire `notify_reads` of the request: `[{nr, arg_index, kind}]`.

      iex> n = Linx.Seccomp.Notify.new!([%{syscall: :openat, match: [{:string, 1, {:prefix, "/etc"}}], then: :continue}])
      iex> Linx.Seccomp.Notify.reads(n)
      [{257, 1, {:cstring, 4096}}]
  """
  @spec reads(t()) :: [{non_neg_integer(), 0..5, read_kind()}]
  def reads(%__MODULE__{reads: reads}), do: reads

  @doc """
  The notification map `decide/2` and handlers take, from the agent's
  `{:notify, id, pid, tid, nr, arch, ip, args, mem}` frame.

      iex> n = Linx.Seccomp.Notify.notification({:notify, 7, 100, 101, 39, 0xC000003E, 0, {0, 0, 0, 0, 0, 0}, []})
      iex> {n.syscall, n.args, n.mem}
      {:getpid, [0, 0, 0, 0, 0, 0], %{}}
  """
  @spec notification(tuple()) :: Linx.Seccomp.Notifier.notification()
  def notification(frame), do: Linx.Process.Wire.notification(frame)

  @doc """
  Decides one notification: `{:reply, steps}` (send
  `{:notify_reply, notification.id, steps}` to the agent) or `:handler`
  (no rule matched and a handler is configured: pass it to
  `Linx.Seccomp.Notify.Handler.handle/2`). The first argument is a
  `new!/1` struct or anything `new!/1` takes (a rule list is validated
  first, raising `ArgumentError` as `new!/1` does); the notification
  needs `:args` and `:nr` or `:syscall` (and `:mem` for predicates on
  memory, `:pid` for actions on the caller). Pure apart from reading
  `/proc/PID/status` when an action uses `:caller_uid`/`:caller_gid`;
  never raises (an internal error answers `handler_errno` and logs).

      iex> n = Linx.Seccomp.Notify.new!([
      ...>   %{syscall: :kill, match: [{:int, 1, 9}], then: {:errno, :eperm}},
      ...>   %{syscall: :kill, then: :continue}
      ...> ])
      iex> call = %{id: 1, pid: 10, tid: 10, nr: 62, syscall: :kill, arch: 0xC000003E, ip: 0, args: [1, 9, 0, 0, 0, 0], mem: %{}}
      iex> Linx.Seccomp.Notify.decide(n, call)
      {:reply, [{:errno, 1}]}
      iex> Linx.Seccomp.Notify.decide(n, %{call | args: [1, 15, 0, 0, 0, 0]})
      {:reply, [:continue]}
  """
  @spec decide(t() | list() | {module(), term()}, Linx.Seccomp.Notifier.notification()) ::
          {:reply, [step()]} | :handler
  def decide(%__MODULE__{} = n, notification) do
    notification = with_nr(notification)
    args = Steps.args_tuple(notification.args)
    mem = Steps.mem_map(Map.get(notification, :mem, %{}))
    rules = Map.get(n.by_nr, notification.nr, [])

    case Enum.find(rules, &Match.all?(&1.match, args, mem)) do
      nil when n.handler != nil -> :handler
      nil -> {:reply, steps(n.default, notification)}
      rule -> {:reply, steps(rule.then, notification)}
    end
  rescue
    e ->
      Logger.error(
        "Linx.Seccomp.Notify: deciding #{inspect(notification)} failed: " <>
          Exception.format(:error, e, __STACKTRACE__)
      )

      {:reply, [{:errno, n.handler_errno}]}
  end

  # the rules as the `notify:` option takes them, validated first
  def decide(notify, notification), do: decide(new!(notify), notification)

  # a notification written by hand may name its call by :syscall only
  defp with_nr(%{nr: _} = notification), do: notification

  defp with_nr(%{syscall: name} = notification) when is_atom(name) do
    {^name, nr} = Rules.syscall!(name, "notification")
    Map.put(notification, :nr, nr)
  end

  defp with_nr(notification), do: notification

  @doc """
  Wire steps for a user action (validated here, as `new!/1` would),
  answering `notification`. Raises `ArgumentError` for an invalid action.
  Used by `Linx.Seccomp.Notify.Handler` for a handler's answer.

      iex> Linx.Seccomp.Notify.steps_for({:errno, :eacces}, %{pid: 1, args: [0, 0, 0, 0, 0, 0], mem: %{}})
      [{:errno, 13}]
  """
  @spec steps_for(action() | [action()], map()) :: [step()]
  def steps_for(action, notification) do
    action |> Rules.actions!("answer", mem: true) |> steps(notification)
  end

  defp steps(actions, notification) do
    case Steps.build(actions, notification) do
      {:ok, steps} -> steps
      {:error, errno} -> [{:errno, errno}]
    end
  end

  @doc """
  Compiles the rules of a `notify:` option (anything `new!/1` takes) into
  the program the agent runs for each notification, so calls the rules
  decide are answered without a round trip to the BEAM. Returns
  `{:ok, program}` (a binary; the format is docs/notify.md, "The program
  format") or `{:error, reason}` (the `ArgumentError` message `new!/1`
  would raise).

  Rules whose actions need the BEAM (`{:call, …}`, `{:inject_fd, …}`,
  `:return_last`) or whose literals pass the program's limits are kept in
  their place as "ask the BEAM" blocks: the first matching rule is the same
  one either way. With a handler, calls no rule matches go to the BEAM.

      iex> {:ok, prog} = Linx.Seccomp.Notify.compile([%{syscall: :getpid, then: {:return, 1}}])
      iex> binary_part(prog, 0, 4)
      "LXNP"
      iex> Linx.Seccomp.Notify.compile([%{syscall: :nope, then: :continue}])
      {:error, "notify rules[0]: unknown syscall :nope (not in the x86_64 table)"}
  """
  @spec compile(t() | list() | {module(), term()}) :: {:ok, binary()} | {:error, String.t()}
  def compile(notify) do
    {:ok, Program.compile(new!(notify))}
  rescue
    e in ArgumentError -> {:error, Exception.message(e)}
  end

  @doc """
  Prints a readable listing of a compiled program (or of the rules,
  compiled first), one block per rule and syscall, like a BPF
  disassembler, and returns the same text (as `IO.inspect/2` returns its
  argument). Raises `ArgumentError` for rules `compile/1` refuses or bytes
  that are not a program.

      iex> rules = [%{syscall: :kill, match: [{:int, 1, 9}], then: {:errno, :eperm}}]
      iex> Linx.Seccomp.Notify.explain(rules) |> String.split("\\n", trim: true)
      ["notify program: 1 blocks", "0000: kill if (int)arg1 == 9",
       "      then errno 1 (EPERM)", "default: errno 38 (ENOSYS)"]
  """
  @spec explain(binary() | t() | list() | {module(), term()}) :: String.t()
  def explain(program) when is_binary(program) do
    text = Program.explain(program)
    IO.write(text)
    text
  end

  def explain(notify) do
    case compile(notify) do
      {:ok, prog} -> explain(prog)
      {:error, reason} -> raise ArgumentError, reason
    end
  end

  @doc """
  Reads `len` bytes at `addr` in the caller's memory, from inside a
  handler's `c:Linx.Seccomp.Notifier.handle_syscall/2` (the handler
  process sends `{:notify_read, ref, id, pid, addr, len}` to the agent and
  waits for its `{:notify_mem, ref, result}`). The agent checks the
  notification is still valid after reading. Returns `{:ok, binary}` or
  `{:error, errno | :timeout}`; raises `ArgumentError` outside a handler.
  """
  @spec read_memory(map(), non_neg_integer(), non_neg_integer()) ::
          {:ok, binary()} | {:error, term()}
  def read_memory(%{id: id, pid: pid}, addr, len)
      when is_integer(addr) and is_integer(len) and len >= 0 do
    agent_request(&Linx.Process.Wire.notify_read(&1, id, pid, addr, len))
  end

  @doc """
  The path an fd of the caller refers to (`/proc/PID/fd/N`, read by the
  agent), from inside a handler, like `read_memory/3`.
  """
  @spec fd_path(map(), non_neg_integer()) :: {:ok, binary()} | {:error, term()}
  def fd_path(%{id: id, pid: pid}, fd) when is_integer(fd) and fd >= 0 do
    agent_request(&Linx.Process.Wire.notify_fd_path(&1, id, pid, fd))
  end

  @doc false
  @spec handler_ctx_key() :: term()
  def handler_ctx_key, do: @ctx_key

  defp agent_request(frame) do
    case Process.get(@ctx_key) do
      %{handler: handler, send: send_fun, timeout: timeout} ->
        ref = System.unique_integer([:positive])
        :ok = GenServer.call(handler, {:await_agent, ref}, timeout)
        send_fun.(frame.(ref))

        receive do
          {:linx_notify_agent, ^ref, {:error, reason}} -> {:error, reason}
          {:linx_notify_agent, ^ref, result} -> {:ok, result}
        after
          timeout -> {:error, :timeout}
        end

      nil ->
        raise ArgumentError,
              "read_memory/3 and fd_path/2 work only inside a Linx.Seccomp.Notifier's handle_syscall/2"
    end
  end
end
