defmodule Linx.Process.IdMaps do
  @moduledoc false
  # The `:uid_map`, `:gid_map` and `:setgroups` options, written by the
  # server to /proc/PID/ while the child waits at its checkpoint (the agent
  # reports :ready), before any checkpoint command runs.

  alias Linx.Process.Options

  @doc """
  Writes the maps of `opts` for the workload `os_pid`: `uid_map`, then
  `setgroups` (as `:setgroups` says), then `gid_map`. `:ok`, or
  `{:error, errno, stage}` where `stage` is the file that failed.
  """
  @spec write(pos_integer | nil, Options.t()) :: :ok | {:error, atom, atom}
  def write(_os_pid, %Options{uid_map: nil, gid_map: nil}), do: :ok

  def write(pid, %Options{} = o) do
    with :ok <- write_map(pid, "uid_map", o.uid_map),
         :ok <- write_setgroups(pid, o),
         :ok <- write_map(pid, "gid_map", o.gid_map) do
      :ok
    end
  end

  defp write_map(_pid, _file, nil), do: :ok

  defp write_map(pid, file, entries) do
    text = Enum.map_join(entries, "", fn {i, o, c} -> "#{i} #{o} #{c}\n" end)
    proc_write(pid, file, text)
  end

  # The kernel lets an unprivileged writer set gid_map only after setgroups
  # is denied; root may leave it allowed.
  defp write_setgroups(_pid, %{gid_map: nil}), do: :ok
  defp write_setgroups(_pid, %{setgroups: :allow}), do: :ok

  defp write_setgroups(pid, %{setgroups: :deny}), do: proc_write(pid, "setgroups", "deny")

  defp write_setgroups(pid, %{setgroups: :auto}) do
    if root?(), do: :ok, else: proc_write(pid, "setgroups", "deny")
  end

  defp root? do
    case File.read("/proc/self/status") do
      {:ok, status} -> Regex.match?(~r/^Uid:\s+\d+\s+0\s/m, status)
      _ -> false
    end
  end

  defp proc_write(pid, file, text) do
    case File.write("/proc/#{pid}/#{file}", text) do
      :ok -> :ok
      {:error, errno} -> {:error, errno, String.to_atom(file)}
    end
  end
end
