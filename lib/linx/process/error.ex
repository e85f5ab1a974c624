defmodule Linx.Process.Error do
  @moduledoc """
  Raised by `Linx.Process.run/2` when the workload never ran.

  `errno` is the errno atom (`:enoent`) or number, `stage` the step that
  failed (`:execve`, `:chdir`, `:stdio`, … see `docs/protocol.md`).

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
