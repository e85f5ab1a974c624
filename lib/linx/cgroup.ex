defmodule Linx.Cgroup do
  @moduledoc """
  One cgroup v2 group per workload, for a whole-tree kill that nothing
  escapes.

  A pid namespace or the agent's subreaper sweep already catch a
  workload's descendants while the agent lives. If the agent itself is
  killed with SIGKILL, a daemon that double-forked away from the workload
  would be re-parented to init and survive. With a cgroup, the workload is
  born inside its own group (`clone3(CLONE_INTO_CGROUP)`, no window), the
  agent ends the tree with one write to `cgroup.kill` (Linux 5.14+), and
  `Linx.Process` writes `cgroup.kill` itself when the agent dies without
  reporting.

  Groups are created under the BEAM's own cgroup in the cgroup2
  hierarchy (found in `/proc/self/mountinfo` and `/proc/self/cgroup`), as
  `<base>/linx/<beam-pid>-<n>`, and removed when the workload is gone.

  The `:cgroup` option of `Linx.Process.spawn/1` and `enter/2`:
  `:auto` (default: used when cgroup2 with `cgroup.kill` is writable here,
  silently skipped otherwise), `true` (required: spawning fails with
  `{:error, {errno, :cgroup}}` if it cannot be made) or `false`.
  """

  @key {__MODULE__, :base}

  @doc """
  The directory under which Linx creates groups, or `nil` when cgroup2 with
  `cgroup.kill` is not available to this BEAM. Probed once.
  """
  @spec base() :: Path.t() | nil
  def base do
    case :persistent_term.get(@key, :unknown) do
      :unknown ->
        base = probe()
        :persistent_term.put(@key, base)
        base

      base ->
        base
    end
  end

  @doc "Creates a fresh group for one workload."
  @spec create() :: {:ok, Path.t()} | {:error, atom}
  def create do
    case base() do
      nil ->
        {:error, :enoent}

      base ->
        path = Path.join(base, "#{System.pid()}-#{System.unique_integer([:positive])}")

        case File.mkdir(path) do
          :ok -> {:ok, path}
          {:error, reason} -> {:error, reason}
        end
    end
  end

  @doc "SIGKILLs every process in the group (`cgroup.kill`)."
  @spec kill(Path.t()) :: :ok | {:error, atom}
  def kill(path), do: File.write(Path.join(path, "cgroup.kill"), "1")

  @doc """
  Removes the group once it is empty; retries for a while in the
  background (processes killed a moment ago may not be reaped yet).
  """
  @spec remove(Path.t()) :: :ok
  def remove(path) do
    case File.rmdir(path) do
      :ok ->
        :ok

      {:error, :enoent} ->
        :ok

      {:error, _} ->
        Task.start(fn -> remove_later(path, 50) end)
        :ok
    end
  end

  defp remove_later(_path, 0), do: :ok

  defp remove_later(path, tries) do
    Process.sleep(20)

    case File.rmdir(path) do
      {:error, :ebusy} ->
        kill(path)
        remove_later(path, tries - 1)

      _ ->
        :ok
    end
  end

  defp probe do
    with {:ok, mount} <- cgroup2_mount(),
         {:ok, own} <- own_cgroup(),
         dir = Path.join([mount, own, "linx"]),
         :ok <- mkdir(dir),
         probe = Path.join(dir, "probe-#{System.unique_integer([:positive])}"),
         :ok <- File.mkdir(probe) do
      kill? = File.exists?(Path.join(probe, "cgroup.kill"))
      File.rmdir(probe)
      if kill?, do: sweep_stale(dir) && dir
    else
      _ -> nil
    end
  end

  # Groups left by a BEAM that is gone (a VM halts without running
  # terminate/2): kill what is inside and remove them.
  defp sweep_stale(dir) do
    for name <- File.ls!(dir),
        [_, pid] <- [Regex.run(~r/^(\d+)-\d+$/, name)],
        not File.exists?("/proc/#{pid}") do
      path = Path.join(dir, name)
      kill(path)
      remove(path)
    end

    true
  rescue
    File.Error -> true
  end

  defp mkdir(dir) do
    case File.mkdir(dir) do
      :ok -> :ok
      {:error, :eexist} -> :ok
      error -> error
    end
  end

  # The cgroup2 mount point: /sys/fs/cgroup on a unified host,
  # /sys/fs/cgroup/unified on a hybrid one.
  defp cgroup2_mount do
    with {:ok, text} <- File.read("/proc/self/mountinfo") do
      text
      |> String.split("\n", trim: true)
      |> Enum.find_value(:error, fn line ->
        case String.split(line, " - ") do
          [left, "cgroup2 " <> _] -> {:ok, left |> String.split(" ") |> Enum.at(4)}
          _ -> nil
        end
      end)
    end
  end

  # Our own group in the unified hierarchy: the "0::/path" line.
  defp own_cgroup do
    with {:ok, text} <- File.read("/proc/self/cgroup") do
      text
      |> String.split("\n", trim: true)
      |> Enum.find_value(:error, fn
        "0::" <> path -> {:ok, String.trim_leading(path, "/")}
        _ -> nil
      end)
    end
  end
end
