defmodule Linx.Seccomp.Notifier do
  @moduledoc """
  A module that answers intercepted system calls in Elixir: the handler
  half of the `notify:` option (see `Linx.Seccomp.Notify`).

  Rules (data) answer what they match; a notifier answers what they do not,
  with state threaded from one call to the next. Each
  `c:handle_syscall/2` runs in its own process under a timeout (1000 ms by
  default): a raise, a bad return value or a timeout answers the call with
  an errno (`EPERM` unless `handler_errno:` says otherwise), logs, and
  keeps the previous state. The caller is never left hanging.

  Calls are handled one at a time, in arrival order (the state is one
  value); keep `c:handle_syscall/2` short. It may read more of the
  caller's memory with `Linx.Seccomp.Notify.read_memory/3` and resolve an
  fd with `Linx.Seccomp.Notify.fd_path/2`.

      defmodule CountCalls do
        @behaviour Linx.Seccomp.Notifier

        @impl true
        def init(_arg), do: {:ok, %{}}

        @impl true
        def syscalls(_arg), do: [:getppid, :uname]

        @impl true
        def handle_syscall(%{syscall: name}, counts),
          do: {:continue, Map.update(counts, name, 1, &(&1 + 1))}

        @impl true
        def summary(counts), do: counts
      end

      Linx.Process.run(["/bin/uname", "-a"], notify: {CountCalls, nil})
      # the owner also receives {:linx_process, proc, {:notify_summary, %{uname: 1}}}
  """

  @typedoc """
  One intercepted call, as `Linx.Process` builds it from the agent's
  `{:notify, …}` frame: `pid` is the caller's thread group (host pid),
  `tid` the calling thread, `syscall` the name (`nil` for numbers the
  x86_64 table does not know), `args` six integers, `mem` the declared
  reads (`arg_index => binary | {:error, errno}`).
  """
  @type notification :: %{
          required(:id) => non_neg_integer(),
          required(:pid) => pos_integer(),
          required(:tid) => pos_integer(),
          required(:nr) => non_neg_integer(),
          required(:syscall) => atom() | nil,
          required(:arch) => non_neg_integer() | atom(),
          required(:ip) => non_neg_integer(),
          required(:args) => [non_neg_integer()],
          required(:mem) => %{optional(0..5) => binary() | {:error, term()}}
        }

  @typedoc "An action or a sequence of actions, as in a rule's `then:` (`Linx.Seccomp.Notify`)."
  @type action :: Linx.Seccomp.Notify.action() | [Linx.Seccomp.Notify.action()]

  @doc "Called once, in the handler process, before the workload runs: `{:ok, state}`."
  @callback init(arg :: term()) :: {:ok, state :: term()}

  @doc "Answers one call: `{action, new_state}`."
  @callback handle_syscall(notification(), state :: term()) :: {action(), new_state :: term()}

  @doc """
  Optional: the term the owner receives as
  `{:linx_process, proc, {:notify_summary, term}}` before the terminal event.
  """
  @callback summary(state :: term()) :: term()

  @doc """
  Optional: the system calls to trap for this handler when the `notify:`
  option is just `{module, arg}` (with the keyword form, `trap:` overrides it).
  """
  @callback syscalls(arg :: term()) :: [atom()]

  @optional_callbacks summary: 1, syscalls: 1
end
