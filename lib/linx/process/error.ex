defmodule Linx.Process.Error do
  @moduledoc """
  Raised by `Linx.Process.run/2` when the workload never ran.

  `errno` is the errno atom (`:enoent`) or number, `stage` the step that
  failed, always an atom: an agent stage (`:execve`, `:chdir`, `:stdio`, …
  see `docs/protocol.md`) or one of `Linx.Process` (`:agent` when no agent
  could be started, e.g. `{:emfile, :agent}`; `:agent_died`, `:owner`,
  `:server`, `:cgroup`; see "Errors before exec" in `Linx.Process`).
  `detail` is the agent's text naming what failed, when it sent one
  (`"drop cap 5 from the bounding set"`), else `nil`; the message ends
  with it. `Linx.Process.last_error/0` returns this struct for the
  start errors of `spawn/1`, `enter/2` and `proceed/1`.

      iex> Linx.Process.run(["/nonexistent/program"])
      ** (Linx.Process.Error) linx: /nonexistent/program did not run: enoent at stage execve
  """
  defexception [:errno, :stage, :argv, :detail]

  @type t :: %__MODULE__{
          errno: atom | integer,
          stage: atom,
          argv: [binary] | nil,
          detail: binary | nil
        }

  @impl true
  def message(%{errno: errno, stage: stage, argv: argv} = e) do
    what = if argv, do: "#{hd(argv)} did not run", else: "the workload did not run"
    detail = if is_binary(e.detail), do: " (#{e.detail})", else: ""
    "linx: #{what}: #{errno} at stage #{stage}#{detail}"
  end
end
