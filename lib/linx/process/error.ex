defmodule Linx.Process.Error do
  @moduledoc """
  Raised by `Linx.Process.run/2` when the workload never ran.

  `errno` is the errno atom (`:enoent`) or number, `stage` the step that
  failed: an agent stage (`:execve`, `:chdir`, `:stdio`, …
  see `docs/protocol.md`; `{:mount, index}` for an entry of `mounts:`,
  which is then in `mount` and named first in the message:
  `{:ro_bind, "/nope", "/x"}: enoent at stage {:mount, 0}`) or one of `Linx.Process` (`:agent` when no agent
  could be started, e.g. `{:emfile, :agent}`; `:agent_died`, `:owner`,
  `:server`, `:cgroup`; see "Errors before exec" in `Linx.Process`).
  `detail` is the agent's text naming what failed, when it sent one
  (`"drop cap 5 from the bounding set"`), else `nil`; the message ends
  with it. `Linx.Process.last_error/0` returns this struct for the
  start errors of `spawn/1`, `enter/2` and `proceed/1`.

      iex> Linx.Process.run(["/nonexistent/program"])
      ** (Linx.Process.Error) linx: /nonexistent/program did not run: enoent at stage execve
  """
  defexception [:errno, :stage, :argv, :detail, :mount]

  @type t :: %__MODULE__{
          errno: atom | integer,
          stage: atom | {:mount, non_neg_integer},
          argv: [binary] | nil,
          detail: binary | nil,
          mount: tuple | nil
        }

  @impl true
  def message(%{errno: errno, stage: stage, argv: argv} = e) do
    what = if argv, do: "#{hd(argv)} did not run", else: "the workload did not run"
    detail = if is_binary(e.detail), do: " (#{e.detail})", else: ""
    # a {:mount, i} stage names its entry of mounts: first
    mount = if e.mount, do: "#{inspect(e.mount)}: ", else: ""
    "linx: #{what}: #{mount}#{errno} at stage #{stage_text(stage)}#{detail}"
  end

  @doc false
  # A stage as text: atoms bare, the tuple stage {:mount, i} inspected.
  def stage_text(stage) when is_atom(stage), do: Atom.to_string(stage)
  def stage_text(stage), do: inspect(stage)
end
