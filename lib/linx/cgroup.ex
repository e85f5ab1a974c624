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

  The `:cgroup` option of `Linx.Process.spawn/1` and `enter/2`:
  `:auto` (default: used when cgroup2 with `cgroup.kill` is writable here,
  silently skipped otherwise), `true` (required: spawning fails with
  `{:error, {errno, :cgroup}}` if it cannot be made) or `false`.

  ## Where groups live and who removes them

  Groups are created under the BEAM's own cgroup in the cgroup2 hierarchy
  (found in `/proc/self/mountinfo` and `/proc/self/cgroup`), in
  `<base>/linx/`, named after the BEAM that owns them:

      <pidns>-<timens>-<os pid>-<start time>-<n>            on_exit: :kill
      detached-<pidns>-<timens>-<os pid>-<start time>-<n>   on_exit: :detach

  where `pidns` and `timens` are the inode numbers of the BEAM's pid and
  time namespaces (`/proc/self/ns/pid`, `/proc/self/ns/time`, 0 where the
  kernel has none), `os pid` the BEAM's pid in its pid namespace and
  `start time` field 22 of its `/proc/PID/stat`.

  A group normally goes when its workload does (`Linx.Process`), or when
  its server dies without cleaning up, e.g. killed with
  `Process.exit(proc, :kill)` (a janitor process in Linx's supervision
  tree watches every server that owns a group; it kills what remains in a
  `:kill` group, and removes a detached group once it is empty). What
  remains after a BEAM that halted without either is swept by the next
  BEAM that probes the same directory (its first spawn with a cgroup).

  ## Why the sweep is sound

  Several BEAMs may share one cgroup2 tree while living in different pid
  namespaces (containers, `unshare`): a bare "is this pid in my `/proc`?"
  would declare every foreign BEAM dead and kill its workloads. So a
  sweeping BEAM judges only groups whose name carries *its own* pid and
  time namespace inodes: there the pid is looked up in the pid namespace
  it was written in, and the start time (which the kernel reports
  relative to the reader's time namespace, hence `timens` in the name)
  tells a live owner from a different process that reused its pid. Only
  groups owned by the sweeping BEAM's own uid are judged: `/proc` mounted
  with `hidepid` hides other users' processes, which must not read as
  dead. A group is stale only when `/proc/PID/stat` does not exist or
  shows another start time; any other answer (an unreadable file, a name
  this version did not write) leaves the group alone. Groups of any other namespace
  are never touched: a leak there is possible, a wrong kill is not. This
  needs no lock file (a BEAM in another mount namespace would not see it)
  and no helper process.

  A detached workload outlives its BEAM by design, so `detached-` groups
  are never killed by anyone: a sweep (and the janitor) only remove them
  once they are empty (`rmdir` fails with `EBUSY` while a process is
  inside). cgroup v2 has no rename, hence the distinct prefix from the
  start.
  """

  # The per-workload calls (create, kill, remove) use :prim_file, not
  # File: File's calls all go through one process, the BEAM's file
  # server, which serialised every spawn and exit of the BEAM behind
  # each other's mkdir and rmdir (docs/performance.md, "Throughput").
  @key {__MODULE__, :base}
  @id_key {__MODULE__, :beam_id}
  @detached "detached-"

  @doc """
  The directory under which Linx creates groups, or `nil` when cgroup2 with
  `cgroup.kill` is not available to this BEAM. Probed once (a probe that
  failed for lack of file descriptors is repeated next time).
  """
  @spec base() :: Path.t() | nil
  def base do
    case :persistent_term.get(@key, :unknown) do
      :unknown ->
        case probe() do
          :retry ->
            nil

          base ->
            :persistent_term.put(@key, base)
            base
        end

      base ->
        base
    end
  end

  @doc """
  Creates a fresh, empty group for one workload. `on_exit` (`:kill`, the
  default, or `:detach`) chooses the name prefix: a `:detach` group is
  never killed by a sweep.
  """
  @spec create(:kill | :detach) :: {:ok, Path.t()} | {:error, atom}
  def create(on_exit \\ :kill) do
    with {:ok, base} <- ok_base(),
         {:ok, name} <- new_name(on_exit) do
      path = Path.join(base, name)

      case :prim_file.make_dir(path) do
        :ok -> {:ok, path}
        {:error, reason} -> {:error, reason}
      end
    end
  end

  @doc """
  The path of a fresh group, not made yet: for an agent that makes the
  group itself (request `cgroup: {:make, path, mode}`, docs/protocol.md).
  """
  @spec plan(:kill | :detach) :: {:ok, Path.t()} | {:error, atom}
  def plan(on_exit \\ :kill) do
    with {:ok, base} <- ok_base(),
         {:ok, name} <- new_name(on_exit),
         do: {:ok, Path.join(base, name)}
  end

  @doc """
  A fresh group name of this BEAM (see "Where groups live"), for a v2
  group or for the v1 groups of a workload that has none.
  """
  @spec new_name(:kill | :detach) :: {:ok, String.t()} | {:error, atom}
  def new_name(on_exit \\ :kill) do
    with {:ok, id} <- beam_id() do
      prefix = if on_exit == :detach, do: @detached, else: ""
      {:ok, "#{prefix}#{id}-#{System.unique_integer([:positive])}"}
    end
  end

  defp ok_base do
    case base() do
      nil -> {:error, :enoent}
      base -> {:ok, base}
    end
  end

  @doc "True for a group made for an `on_exit: :detach` workload."
  @spec detached?(Path.t()) :: boolean
  def detached?(path), do: String.starts_with?(Path.basename(path), @detached)

  @doc """
  SIGKILLs every process in the group (`cgroup.kill`). A cgroup v1 group
  (`Linx.Cgroup.Limits`) has no `cgroup.kill`: each pid its `cgroup.procs`
  lists is killed instead.
  """
  @spec kill(Path.t()) :: :ok | {:error, atom}
  # (:prim_file, not File: the BEAM's one file server serialised spawns,
  # docs/performance.md, "Throughput")
  def kill(path) do
    kill_file = Path.join(path, "cgroup.kill")

    if exists?(kill_file) or not exists?(Path.join(path, "cgroup.procs")),
      do: :prim_file.write_file(kill_file, "1"),
      else: kill_listed(path)
  end

  defp exists?(path), do: match?({:ok, _}, :prim_file.read_file_info(path))

  defp kill_listed(path) do
    with {:ok, text} <- :prim_file.read_file(Path.join(path, "cgroup.procs")) do
      case String.split(text, "\n", trim: true) do
        [] -> :ok
        pids -> System.cmd("kill", ["-KILL" | pids], stderr_to_stdout: true)
      end

      :ok
    end
  end

  @doc """
  Removes the group once it is empty; retries for a while in the
  background (processes killed a moment ago may not be reaped yet),
  killing what is still inside unless the group is a detached one.
  """
  @spec remove(Path.t()) :: :ok
  def remove(path) do
    case :prim_file.del_dir(path) do
      :ok ->
        :ok

      {:error, :enoent} ->
        :ok

      {:error, _} ->
        Task.start(fn -> remove_later(path, 50) end)
        :ok
    end
  end

  @doc """
  Removes the group only if no process is in it (never kills):
  `{:error, :ebusy}` while it is populated.
  """
  @spec remove_if_empty(Path.t()) :: :ok | {:error, atom}
  def remove_if_empty(path) do
    case :prim_file.del_dir(path) do
      {:error, :enoent} -> :ok
      other -> other
    end
  end

  defp remove_later(_path, 0), do: :ok

  defp remove_later(path, tries) do
    Process.sleep(20)

    case File.rmdir(path) do
      {:error, :ebusy} ->
        unless detached?(path), do: kill(path)
        remove_later(path, tries - 1)

      _ ->
        :ok
    end
  end

  @doc """
  This BEAM's identity in group names: `"<pidns>-<timens>-<os pid>-<start
  time>"`. Read once.
  """
  @spec beam_id() :: {:ok, String.t()} | {:error, atom}
  def beam_id do
    case :persistent_term.get(@id_key, nil) do
      nil ->
        with {:ok, pid_ns} <- ns_inode("pid"),
             {:ok, time_ns} <- ns_inode("time"),
             pid = System.pid(),
             {:ok, start} <- start_time(pid) do
          id = "#{pid_ns}-#{time_ns}-#{pid}-#{start}"
          :persistent_term.put(@id_key, id)
          {:ok, id}
        end

      id ->
        {:ok, id}
    end
  end

  # The inode of one of our namespaces; 0 where the kernel has no such
  # namespace (time namespaces are 5.6+).
  defp ns_inode(type) do
    case File.read_link("/proc/self/ns/#{type}") do
      {:ok, link} ->
        [_, ino] = Regex.run(~r/\[(\d+)\]/, link)
        {:ok, ino}

      {:error, :enoent} ->
        {:ok, "0"}

      {:error, reason} ->
        {:error, reason}
    end
  end

  # Field 22 of /proc/PID/stat (clock ticks after boot), read in our own
  # pid and time namespaces. The command name (field 2) may hold spaces
  # and parentheses: split after its last ")".
  defp start_time(pid) do
    with {:ok, stat} <- File.read("/proc/#{pid}/stat") do
      [_, rest] = Regex.run(~r/^.*\) (.*)$/s, stat)
      {:ok, rest |> String.split() |> Enum.at(19)}
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

      if kill? do
        sweep_stale(dir)
        dir
      end
    else
      {:error, errno} when errno in [:emfile, :enfile] -> :retry
      _ -> nil
    end
  end

  @doc false
  # Groups left by a BEAM of our own pid and time namespaces that is gone
  # (a VM halts without running terminate/2 or the janitor): kill what is
  # inside and remove them; detached ones are only removed when empty.
  # Public for the tests. See "Why the sweep is sound" above.
  @spec sweep_stale(Path.t()) :: :ok
  def sweep_stale(dir) do
    with {:ok, names} <- File.ls(dir),
         {:ok, own_id} <- beam_id() do
      [own_pid_ns, own_time_ns | _] = String.split(own_id, "-")

      own_uid = uid("/proc/self")

      for name <- names,
          {detached?, pid_ns, time_ns, pid, start} <- [parse_name(name)],
          pid_ns == own_pid_ns and time_ns == own_time_ns,
          path = Path.join(dir, name),
          own_uid != nil and uid(path) == own_uid,
          owner_gone?(pid, start) do
        if detached? do
          remove_if_empty(path)
        else
          kill(path)
          remove(path)
        end
      end
    end

    :ok
  end

  defp uid(path) do
    case File.stat(path) do
      {:ok, %{uid: uid}} -> uid
      {:error, _} -> nil
    end
  end

  defp parse_name(name) do
    case Regex.run(~r/^(detached-)?(\d+)-(\d+)-(\d+)-(\d+)-\d+$/, name) do
      [_, prefix, pid_ns, time_ns, pid, start] ->
        {prefix != "", pid_ns, time_ns, pid, start}

      nil ->
        nil
    end
  end

  # Gone only when we know it: no such pid here, or a process that started
  # at another time (the pid was reused). Unreadable means alive.
  defp owner_gone?(pid, start) do
    case start_time(pid) do
      {:ok, ^start} -> false
      {:ok, _other} -> true
      {:error, :enoent} -> true
      {:error, _} -> false
    end
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
