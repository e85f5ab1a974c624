defmodule Linx.Seccomp.Profile do
  @moduledoc """
  Seccomp profiles recorded from a real run, then enforced.

  `record/2` runs a workload with every system call trapped by seccomp user
  notification and answered `:continue` (the call runs as if nothing were
  there), counting each one. Threads, child processes and exec'd programs
  are all recorded: the filter is inherited. `to_policy/2` turns the
  recording into a `Linx.Seccomp.Policy` that allows exactly what was
  seen; `to_oci/1` and `to_json/1` write it as an OCI/Docker profile.

      {:ok, profile} = Linx.Seccomp.Profile.record(["/bin/sh", "-c", "ls | wc -l"], args: [:socket])
      policy = Linx.Seccomp.Profile.to_policy(profile, default: {:errno, :eperm})
      Linx.Process.run(["/bin/sh", "-c", "ls | wc -l"], seccomp: policy)

  ## What a recording holds

    * `calls` — `%{name => count}` of the workload's calls, from its
      `execve` on (numbers the x86_64 table does not name are kept as
      integers);
    * `setup` — the calls Linx's own start-up makes in the workload's
      process after the filter is installed and before `execve` (`dup2`,
      `rt_sigaction`, `close_range`, …). They are not the workload's, but
      the filters a policy is installed with apply to them too
      (`c_src/child.c`, stages 6-10), so `to_policy/2` allows them;
    * `args` — with the `args:` option, the distinct values of the
      argument that matters, per kind: `:socket` (the address family,
      argument 0), `:clone` (the `CLONE_NEW*` namespace flags of argument
      0), `:personality` (argument 0), `:ioctl` (the request, argument 1);
      32-bit values except `:clone`'s;
    * `exit` and `output` — the workload's exit status and its stdout and
      stderr, as `Linx.Process.run/2` returns them.

  With `args: [:clone]`, `clone3` is answered `ENOSYS` during the
  recording (and by the policy): its flags are in memory where a filter
  cannot look, and glibc then falls back to `clone`, whose flags are
  recorded and filtered.

  ## What recording cannot see

  Only the code paths the run exercised: an error path, a signal handler,
  a locale, a DNS answer over TCP instead of UDP, a larger input that makes
  `malloc` call `mmap`… each may need calls the recording never saw, and
  under the recorded policy they fail with the default errno. Record
  several runs (a test suite) and `merge/2` them. Argument values are
  recorded only for the four kinds above; everything else is allowed by
  name, whatever its arguments.
  """

  import Bitwise

  alias Linx.Seccomp.Policy

  # CLONE_NEW* flags of clone(2) (CLONE_NEWTIME 0x80 is the exit signal there).
  @clone_new 0x00020000 ||| 0x02000000 ||| 0x04000000 ||| 0x08000000 ||| 0x10000000 |||
               0x20000000 ||| 0x40000000
  @u32 0xFFFF_FFFF

  # kind => {syscall, argument index, mask}
  @kinds %{
    socket: {:socket, 0, @u32},
    clone: {:clone, 0, @clone_new},
    personality: {:personality, 0, @u32},
    ioctl: {:ioctl, 1, @u32}
  }

  defstruct calls: %{}, setup: %{}, args: %{}, exit: nil, output: ""

  @typedoc "A syscall name (x86_64 table) or a number the table does not name."
  @type call :: atom | non_neg_integer

  @typedoc "An argument kind `args:` records."
  @type kind :: :socket | :clone | :personality | :ioctl

  @type t :: %__MODULE__{
          calls: %{call => pos_integer},
          setup: %{call => pos_integer},
          args: %{kind => [non_neg_integer]},
          exit: non_neg_integer | nil,
          output: binary
        }

  @doc """
  The argument kinds `args:` accepts.

      iex> Linx.Seccomp.Profile.kinds()
      [:clone, :ioctl, :personality, :socket]
  """
  @spec kinds() :: [kind]
  def kinds, do: @kinds |> Map.keys() |> Enum.sort()

  @doc """
  Runs `argv` to completion with every system call trapped and answered
  `:continue`, and returns `{:ok, %Linx.Seccomp.Profile{}}`.

  `opts` are those of `Linx.Process.run/2` (namespaces, mounts, limits,
  `seccomp:` filters… — a call another filter denies fails as it would,
  and is recorded if the trap saw it first), except `notify:`, plus
  `args:` (a list of `kinds/0`). Raises `ArgumentError` for bad options,
  and `Linx.Process.Error` as `run/2` does when the workload never ran.
  The agent answers and counts each call itself (the rules path of
  `notify:`, docs/notify.md), so recording costs a few microseconds per
  system call; only the calls whose arguments `args:` records make a
  round trip to the BEAM.
  """
  @spec record([binary], keyword) :: {:ok, t}
  def record(argv, opts \\ []) do
    {kinds, opts} = Keyword.pop(opts, :args, [])

    unless is_list(kinds) and Enum.all?(kinds, &Map.has_key?(@kinds, &1)) do
      raise ArgumentError,
            "invalid option :args: expected a list of #{inspect(kinds())}, got #{inspect(kinds)}"
    end

    if Keyword.has_key?(opts, :notify) do
      raise ArgumentError,
            "invalid option :notify for record/2: recording traps every call itself"
    end

    # Every name is trapped: the agent takes the listener with pidfd_getfd,
    # so no call of the child's hand-off needs to stay untrapped
    # (docs/notify.md). The agent itself answers :continue to every call
    # but those whose argument is recorded (and clone3, answered ENOSYS
    # when clone's flags are): it reports each as a {:notified, …} event,
    # counted here, so a call costs no round trip to the BEAM. The others
    # go to the Recorder handler, which sees their arguments.
    names = for {name, _} <- Linx.Syscalls.all(), do: name
    arg = %{kinds: Map.take(@kinds, kinds), enosys_clone3: :clone in kinds}
    asked = for({_kind, {name, _, _}} <- arg.kinds, do: name) ++ clone3(arg)
    fast = names -- asked

    notify = [
      rules: [%{syscall: fast, then: :continue}],
      handler: {__MODULE__.Recorder, arg},
      trap: names,
      events: true,
      handler_timeout: 5000
    ]

    # Its own process: the summary message run/2 leaves in the mailbox is
    # ours, and so is the dictionary the counting uses. A raise (the
    # workload never ran) is raised again in the caller.
    task =
      Task.async(fn ->
        try do
          {output, status} =
            Linx.Process.run_observed(argv, Keyword.put(opts, :notify, notify), &count/1)

          receive do
            {:linx_process, _proc, {:notify_summary, summary}} ->
              {output, status, add_counted(summary)}
          after
            5000 -> {output, status, nil}
          end
        rescue
          e -> {:raise, e, __STACKTRACE__}
        end
      end)

    case Task.await(task, :infinity) do
      {:raise, e, stacktrace} ->
        reraise e, stacktrace

      {output, status, %{} = summary} ->
        {:ok,
         %__MODULE__{
           calls: summary.calls,
           setup: summary.setup,
           args: Map.new(kinds, &{&1, summary.args |> Map.get(&1, MapSet.new()) |> Enum.sort()}),
           exit: status,
           output: output
         }}

      {_output, status, nil} ->
        raise Linx.Process.Error,
          errno: :eio,
          stage: :notify_summary,
          argv: argv,
          detail: "the recorder sent no summary (workload exit status #{status})"
    end
  end

  defp clone3(%{enosys_clone3: true}), do: [:clone3]
  defp clone3(_), do: []

  # One call the agent answered, in the agent's order: calls before the
  # first execve/execveat are the agent child's own start-up (stages 6-10
  # of c_src/child.c); that execve is the workload's first call.
  defp count(%{syscall: call}) do
    phase =
      case Process.get({__MODULE__, :phase}, :setup) do
        :setup when call in [:execve, :execveat] -> :run
        phase -> phase
      end

    Process.put({__MODULE__, :phase}, phase)
    key = {__MODULE__, if(phase == :setup, do: :setup, else: :calls)}
    Process.put(key, Map.update(Process.get(key, %{}), call, 1, &(&1 + 1)))
  end

  # The Recorder's calls (those with recorded arguments, all made by the
  # workload) plus the ones counted from events.
  defp add_counted(summary) do
    add = fn a, b -> Map.merge(a, b, fn _, x, y -> x + y end) end

    %{
      summary
      | calls: add.(summary.calls, summary.setup) |> add.(Process.get({__MODULE__, :calls}, %{})),
        setup: Process.get({__MODULE__, :setup}, %{})
    }
  end

  @doc """
  The union of several recordings (of several runs, e.g. a test suite):
  counts add up, argument values are united. An argument kind recorded
  by one profile but not the other is kept only if the other never made
  that call (otherwise its values are unknown and the call is allowed
  whatever its argument). `exit` and `output` are the first profile's.

      iex> a = %Linx.Seccomp.Profile{calls: %{read: 2, socket: 1}, args: %{socket: [1]}}
      iex> b = %Linx.Seccomp.Profile{calls: %{read: 1, write: 1, socket: 1}, args: %{socket: [2]}}
      iex> m = Linx.Seccomp.Profile.merge(a, b)
      iex> {m.calls, m.args}
      {%{read: 3, socket: 2, write: 1}, %{socket: [1, 2]}}
      iex> Linx.Seccomp.Profile.merge(a, %{b | args: %{}}).args
      %{}
  """
  @spec merge(t, t) :: t
  def merge(%__MODULE__{} = a, %__MODULE__{} = b) do
    add = fn x, y -> Map.merge(x, y, fn _, m, n -> m + n end) end

    args =
      for kind <- Enum.uniq(Map.keys(a.args) ++ Map.keys(b.args)),
          values = merged_args(kind, a, b),
          values != :unknown,
          into: %{},
          do: {kind, values}

    %__MODULE__{
      a
      | calls: add.(a.calls, b.calls),
        setup: add.(a.setup, b.setup),
        args: args
    }
  end

  defp merged_args(kind, a, b) do
    case {Map.fetch(a.args, kind), Map.fetch(b.args, kind)} do
      {{:ok, x}, {:ok, y}} -> Enum.sort(Enum.uniq(x ++ y))
      {{:ok, x}, :error} -> if made?(b, kind), do: :unknown, else: x
      {:error, {:ok, y}} -> if made?(a, kind), do: :unknown, else: y
    end
  end

  defp made?(profile, kind) do
    {syscall, _, _} = Map.fetch!(@kinds, kind)
    Map.has_key?(profile.calls, syscall) or Map.has_key?(profile.setup, syscall)
  end

  @doc """
  A policy allowing exactly what the recording saw: every call of
  `calls` and `setup` by name, the argument kinds of `args`
  only with the recorded values (`{arg, :masked_eq, mask, value}`: the low
  32 bits, or `clone`'s namespace flags), `clone3` failing with `ENOSYS`
  when `:clone` was recorded; anything else gets `default:` (default
  `{:errno, :eperm}`). Option `unknown_syscalls:` as in a policy (default
  `:ignore`, as `Linx.Seccomp.from_oci/2`'s: a name this machine's
  libseccomp does not know is skipped and logged, so that call gets the
  default action — an allow-list fails closed).

  The policy is written in the form `Linx.Seccomp.from_oci/2` produces
  (names as strings, errno numbers), so that
  `from_oci(to_oci(profile))` gives it back.
  Calls the x86_64 table does not name are allowed by number here but
  cannot be written to OCI (its names are strings).

      iex> p = %Linx.Seccomp.Profile{calls: %{read: 1, socket: 2}, setup: %{dup2: 1}, args: %{socket: [1]}}
      iex> Linx.Seccomp.Profile.to_policy(p).rules
      [{:allow, ["dup2", "read"], []}, {:allow, ["socket"], [{0, :masked_eq, 0xFFFFFFFF, 1}]}]
  """
  @spec to_policy(t, keyword) :: Policy.t()
  def to_policy(%__MODULE__{} = profile, opts \\ []) do
    default = Keyword.get(opts, :default, {:errno, :eperm})
    {:ok, _} = check_action(default)

    restricted = for {kind, _} <- profile.args, {syscall, _, _} = @kinds[kind], do: syscall

    restricted = if :clone in Map.keys(profile.args), do: [:clone3 | restricted], else: restricted

    seen =
      (Map.keys(profile.calls) ++ Map.keys(profile.setup))
      |> Enum.uniq()
      |> Enum.reject(&(&1 in restricted))

    {named, numbers} = Enum.split_with(seen, &is_atom/1)
    names = named |> Enum.map(&Atom.to_string/1) |> Enum.sort()

    arg_rules =
      for {kind, values} <- Enum.sort(profile.args),
          {syscall, index, mask} = @kinds[kind],
          value <- values,
          do: {:allow, [Atom.to_string(syscall)], [{index, :masked_eq, mask, value}]}

    clone3 =
      if Map.has_key?(profile.args, :clone),
        do: [{{:errno, Linx.Errno.number!(:enosys)}, ["clone3"], []}],
        else: []

    rules =
      if(names == [], do: [], else: [{:allow, names, []}]) ++
        arg_rules ++ clone3 ++ Enum.map(Enum.sort(numbers), &{:allow, [&1], []})

    %Policy{
      default: canonical_action(default),
      rules: rules,
      arches: [:native],
      bad_arch: :kill_process,
      unknown_syscalls: Keyword.get(opts, :unknown_syscalls, :ignore)
    }
  end

  defp check_action(action) do
    case Policy.action_value(action) do
      {:ok, v} -> {:ok, v}
      {:error, msg} -> raise ArgumentError, "invalid option :default: #{msg}"
    end
  end

  defp canonical_action({:errno, e}) when is_atom(e), do: {:errno, Linx.Errno.number!(e)}
  defp canonical_action(action), do: action

  @doc """
  The recording as an OCI / Docker seccomp profile (string keys, ready
  for JSON): `defaultAction` from `default:` (as in `to_policy/2`), one
  `syscalls[]` entry per rule. `Linx.Seccomp.from_oci/2` reads it back to
  `to_policy/2`'s policy.

      iex> p = %Linx.Seccomp.Profile{calls: %{read: 1}}
      iex> Linx.Seccomp.Profile.to_oci(p)
      %{"defaultAction" => "SCMP_ACT_ERRNO", "defaultErrnoRet" => 1,
        "syscalls" => [%{"names" => ["read"], "action" => "SCMP_ACT_ALLOW"}]}
  """
  @spec to_oci(t, keyword) :: map
  def to_oci(%__MODULE__{} = profile, opts \\ []) do
    policy = to_policy(profile, opts)

    entries =
      for {action, names, conds} <- policy.rules,
          names = Enum.filter(names, &is_binary/1),
          names != [] do
        entry = Map.merge(%{"names" => names}, oci_action(action))

        case conds do
          [] -> entry
          _ -> Map.put(entry, "args", Enum.map(conds, &oci_arg/1))
        end
      end

    policy.default
    |> oci_action()
    |> Enum.map(fn
      {"action", a} -> {"defaultAction", a}
      {"errnoRet", e} -> {"defaultErrnoRet", e}
    end)
    |> Map.new()
    |> Map.put("syscalls", entries)
  end

  defp oci_action(:allow), do: %{"action" => "SCMP_ACT_ALLOW"}
  defp oci_action(:log), do: %{"action" => "SCMP_ACT_LOG"}
  defp oci_action(:kill_process), do: %{"action" => "SCMP_ACT_KILL_PROCESS"}
  defp oci_action(:kill_thread), do: %{"action" => "SCMP_ACT_KILL_THREAD"}
  defp oci_action(:notify), do: %{"action" => "SCMP_ACT_NOTIFY"}
  defp oci_action({:trap, _}), do: %{"action" => "SCMP_ACT_TRAP"}
  defp oci_action({:errno, e}), do: %{"action" => "SCMP_ACT_ERRNO", "errnoRet" => e}
  defp oci_action({:trace, d}), do: %{"action" => "SCMP_ACT_TRACE", "errnoRet" => d}

  defp oci_arg({index, :masked_eq, mask, value}),
    do: %{"index" => index, "value" => mask, "valueTwo" => value, "op" => "SCMP_CMP_MASKED_EQ"}

  @doc """
  `to_oci/2` as pretty-printed JSON (`Linx.JSON`), what
  `mix linx.seccomp record -o profile.json` writes and
  `mix linx.seccomp compile profile.json` reads.

      iex> Linx.Seccomp.Profile.to_json(%Linx.Seccomp.Profile{calls: %{read: 1}}) |> Linx.JSON.decode!()
      %{"defaultAction" => "SCMP_ACT_ERRNO", "defaultErrnoRet" => 1,
        "syscalls" => [%{"names" => ["read"], "action" => "SCMP_ACT_ALLOW"}]}
  """
  @spec to_json(t, keyword) :: binary
  def to_json(%__MODULE__{} = profile, opts \\ []),
    do: Linx.JSON.encode!(to_oci(profile, opts), pretty: true)

  defmodule Recorder do
    @moduledoc false
    # The Linx.Seccomp.Notifier behind record/2, for the calls the agent
    # hands to the BEAM (those whose argument is recorded): counts them,
    # keeps the argument values asked for, answers :continue (clone3:
    # ENOSYS when clone's flags are recorded). Used alone (every call
    # trapped for it) calls before the first execve/execveat are the agent
    # child's own start-up (stages 6-10 of c_src/child.c).
    @behaviour Linx.Seccomp.Notifier

    import Bitwise

    @enosys Linx.Errno.number!(:enosys)

    @impl true
    def init(arg) do
      {:ok, %{arg: arg, phase: :setup, calls: %{}, setup: %{}, args: %{}}}
    end

    @impl true
    def handle_syscall(%{syscall: name, nr: nr, args: args}, st) do
      call = name || nr

      st =
        if st.phase == :setup and call in [:execve, :execveat], do: %{st | phase: :run}, else: st

      key = if st.phase == :setup, do: :setup, else: :calls
      st = Map.update!(st, key, &Map.update(&1, call, 1, fn n -> n + 1 end))

      st =
        Enum.reduce(st.arg.kinds, st, fn {kind, {syscall, index, mask}}, st ->
          if syscall == call do
            value = Enum.at(args, index) &&& mask
            %{st | args: Map.update(st.args, kind, MapSet.new([value]), &MapSet.put(&1, value))}
          else
            st
          end
        end)

      if call == :clone3 and st.arg.enosys_clone3,
        do: {{:errno, @enosys}, st},
        else: {:continue, st}
    end

    @impl true
    def summary(st), do: Map.take(st, [:calls, :setup, :args])
  end
end
