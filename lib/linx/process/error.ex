defmodule Linx.Process.Error do
  @moduledoc """
  Raised by `Linx.Process.run/2` when the workload never ran.

  `errno` is the errno atom (`:enoent`) or number, `stage` the step that
  failed, always an atom: an agent stage (`:execve`, `:chdir`, `:stdio`, …
  see `docs/protocol.md`) or one of `Linx.Process` (`:agent` when no agent
  could be started, e.g. `{:emfile, :agent}`; `:agent_died`, `:owner`,
  `:server`, `:cgroup`; see "Errors before exec" in `Linx.Process`).

      iex> Linx.Process.run(["/nonexistent/program"])
      ** (Linx.Process.Error) linx: /nonexistent/program did not run: enoent at stage execve
  """
  defexception [:errno, :stage, :argv]

  @impl true
  def message(%{errno: errno, stage: stage, argv: argv}) do
    what = if argv, do: "#{hd(argv)} did not run", else: "the workload did not run"
    "linx: #{what}: #{errno} at stage #{stage}"
  end
end
