defmodule Linx.Cgroup.Limits do
  @moduledoc """
  Resource limits and usage through cgroups, v2 or v1, whichever owns
  each controller here (as runc and crun do).

  For each controller Linx limits (`memory`, `cpu`, `pids`), detected
  once per BEAM:

    * enabled in cgroup v2 (listed in `cgroup.controllers` of Linx's v2
      directory, see `Linx.Cgroup`): the limit is written into the
      workload's own v2 group, the one it is born in (`memory.max`,
      `memory.swap.max`, `cpu.max`, `cpu.weight`, `pids.max`); Linx
      enables the controller in its own directory's
      `cgroup.subtree_control`, never higher up;
    * else mounted as a v1 hierarchy: a group of the same name is made in
      `<mount>/<the BEAM's own group there>/linx/`, the limit written
      there (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`,
      `cpu.cfs_quota_us` and `cpu.cfs_period_us`, `cpu.shares`,
      `pids.max`), and the agent moves the workload into it right after
      the clone, before it runs anything (v1 has no `CLONE_INTO_CGROUP`);
    * else absent: asking for one of its limits fails with
      `{:error, {:enoent, {:limit, key}}}`.

  A limit is never dropped silently: a file that is missing or refuses
  the value fails the start with `{:error, {errno, {:limit, key}}}`.
  v1 groups are named like the v2 ones (see `Linx.Cgroup`), removed when
  the workload is gone, watched by the janitor, and swept the same way
  when a BEAM left them behind.

  The functions taking a `groups` map or a `layout` work on any directory
  tree, which is how the v2 path is tested on hosts that cannot enable v2
  controllers (a temp dir with the files).
  """

  @controllers [:memory, :cpu, :pids]
  @key {__MODULE__, :layout}
  @period 100_000

  @typedoc "Where a controller lives: its version and a directory."
  @type place :: {:v1 | :v2, Path.t()}

  @typedoc "Per controller, where Linx makes groups (`layout/0`) or the workload's group."
  @type groups :: %{optional(:memory | :cpu | :pids) => place}

  @typedoc """
  The `limits:` option: `[memory: bytes, memory_swap: bytes, cpu: float,
  cpu_weight: 1..10_000, pids: n]`; `memory`, `cpu` and `pids` may be
  `:infinity` (no limit: the group only accounts).
  """
  @type limits :: keyword

  @doc """
  Where each controller lives for this BEAM: `{:v2, dir}` (Linx's v2
  directory) or `{:v1, dir}` (the `linx` directory under the BEAM's own
  group of that hierarchy); absent controllers are not in the map.
  Detected once; v1 directories found stale groups swept on the way.
  """
  @spec layout() :: groups
  def layout do
    case :persistent_term.get(@key, nil) do
      nil ->
        layout = detect()
        :persistent_term.put(@key, layout)
        layout

      layout ->
        layout
    end
  end

  @doc "The controller a limit key needs."
  @spec controller(atom) :: :memory | :cpu | :pids
  def controller(key) when key in [:memory, :memory_swap], do: :memory
  def controller(key) when key in [:cpu, :cpu_weight], do: :cpu
  def controller(:pids), do: :pids

  @doc """
  Makes the workload's groups for `limits` and writes them.

  `v2_group` is the workload's own v2 group (or `nil`); `name` the name
  of the v1 groups (the v2 group's, or a fresh one). Returns the groups
  per controller (for `usage/2`) and the v1 directories the agent must
  move the workload into. On failure every v1 group made here is removed
  again.
  """
  @spec create(limits, Path.t() | nil, String.t(), groups) ::
          {:ok, groups, [Path.t()]} | {:error, {atom, {:limit, atom}}}
  def create(limits, v2_group, name, layout \\ layout()) do
    needed = limits |> Keyword.keys() |> Enum.map(&controller/1) |> Enum.uniq()

    case make_groups(needed, layout, v2_group, name) do
      {:ok, groups} ->
        case write(limits, groups) do
          :ok ->
            {:ok, groups, v1_dirs(groups)}

          {:error, _} = error ->
            remove_v1(groups)
            error
        end

      {:error, errno, ctrl, made} ->
        remove_v1(made)
        {:error, {errno, {:limit, first_key(limits, ctrl)}}}
    end
  end

  defp make_groups(needed, layout, v2_group, name) do
    Enum.reduce_while(needed, {:ok, %{}}, fn ctrl, {:ok, acc} ->
      case group_for(ctrl, layout, v2_group, name) do
        {:ok, place} -> {:cont, {:ok, Map.put(acc, ctrl, place)}}
        {:error, errno} -> {:halt, {:error, errno, ctrl, acc}}
      end
    end)
  end

  defp first_key(limits, ctrl),
    do: limits |> Keyword.keys() |> Enum.find(&(controller(&1) == ctrl))

  defp group_for(ctrl, layout, v2_group, name) do
    case Map.get(layout, ctrl) do
      {:v2, base} when is_binary(v2_group) ->
        with :ok <- write_file(Path.join(base, "cgroup.subtree_control"), "+#{ctrl}"),
             do: {:ok, {:v2, v2_group}}

      {:v2, _base} ->
        {:error, :enoent}

      {:v1, base} ->
        dir = Path.join(base, name)

        case prim_mkdir(dir) do
          :ok -> {:ok, {:v1, dir}}
          {:error, :eexist} -> {:ok, {:v1, dir}}
          {:error, errno} -> {:error, errno}
        end

      nil ->
        {:error, :enoent}
    end
  end

  @doc "The v1 directories of `groups`."
  @spec v1_dirs(groups | map) :: [Path.t()]
  def v1_dirs(groups) when is_map(groups),
    do: for({_ctrl, {:v1, dir}} <- groups, uniq: true, do: dir)

  def v1_dirs(_), do: []

  @doc "Removes the v1 groups of `groups` (in the background while busy)."
  @spec remove_v1(groups | map) :: :ok
  def remove_v1(groups) do
    Enum.each(v1_dirs(groups), &Linx.Cgroup.remove/1)
  end

  @doc """
  The files `limits` writes in `groups`, in order: `{key, path, content}`.
  v1's memory+swap must not be below the memory limit, so memory goes
  first; the period before the quota.
  """
  @spec files(limits, groups) :: [{atom, Path.t(), String.t()}]
  def files(limits, groups) do
    order = [:memory, :memory_swap, :cpu, :cpu_weight, :pids]

    for key <- order,
        Keyword.has_key?(limits, key),
        {file, content} <- file(key, limits, groups) do
      {_version, dir} = Map.fetch!(groups, controller(key))
      {key, Path.join(dir, file), content}
    end
  end

  defp file(key, limits, groups) do
    {version, _} = Map.fetch!(groups, controller(key))
    value = limits[key]

    case {version, key} do
      # :infinity: no limit, the group only accounts
      {:v2, k} when value == :infinity and k in [:memory, :pids] ->
        [{"#{k}.max", "max"}]

      {:v2, :cpu} when value == :infinity ->
        [{"cpu.max", "max #{@period}"}]

      {:v1, :memory} when value == :infinity ->
        [{"memory.limit_in_bytes", "-1"}]

      {:v1, :cpu} when value == :infinity ->
        [{"cpu.cfs_quota_us", "-1"}]

      {:v1, :pids} when value == :infinity ->
        [{"pids.max", "max"}]

      {:v2, :memory} ->
        [{"memory.max", "#{value}"}]

      # v2 counts swap alone; the option is memory + swap (Docker's)
      {:v2, :memory_swap} ->
        [{"memory.swap.max", "#{value - limits[:memory]}"}]

      {:v2, :cpu} ->
        [{"cpu.max", "#{quota(value)} #{@period}"}]

      {:v2, :cpu_weight} ->
        [{"cpu.weight", "#{value}"}]

      {:v2, :pids} ->
        [{"pids.max", "#{value}"}]

      {:v1, :memory} ->
        [{"memory.limit_in_bytes", "#{value}"}]

      {:v1, :memory_swap} ->
        [{"memory.memsw.limit_in_bytes", "#{value}"}]

      {:v1, :cpu} ->
        [{"cpu.cfs_period_us", "#{@period}"}, {"cpu.cfs_quota_us", "#{quota(value)}"}]

      {:v1, :cpu_weight} ->
        [{"cpu.shares", "#{shares(value)}"}]

      {:v1, :pids} ->
        [{"pids.max", "#{value}"}]
    end
  end

  # CPUs per period; the kernel's smallest quota is 1 ms
  defp quota(cpus), do: max(round(cpus * @period), 1000)

  # The inverse of runc's shares -> weight conversion
  # (weight = 1 + (shares - 2) * 9999 / 262142)
  @doc false
  def shares(weight), do: 2 + div((weight - 1) * 262_142, 9999)

  @doc """
  Writes `limits` into `groups`: `:ok`, or `{:error, {errno, {:limit,
  key}}}` for the first file that is missing (`:enoent`: no such
  controller there) or refuses its value.
  """
  @spec write(limits, groups) :: :ok | {:error, {atom, {:limit, atom}}}
  def write(limits, groups) do
    Enum.reduce_while(files(limits, groups), :ok, fn {key, path, content}, :ok ->
      case write_file(path, content) do
        :ok -> {:cont, :ok}
        {:error, errno} -> {:halt, {:error, {errno, {:limit, key}}}}
      end
    end)
  end

  # Never creates a file: on a cgroup a missing file is a missing feature
  defp write_file(path, content) do
    if prim_exists?(path), do: :prim_file.write_file(path, content), else: {:error, :enoent}
  end

  @doc """
  The usage of a workload: `memory`, `memory_peak` (bytes), `cpu_usec`,
  `user_usec`, `system_usec`, `pids`, `oom_kills`, read from its v2 group
  (`cpu.stat` is there without any controller; `cgroup.threads` counts
  its tasks) and its per-controller `groups`. Without a memory group,
  `memory` is the summed resident memory (VmRSS) of the processes in the
  v2 group, while there are any. A key that cannot be read here is
  absent, never zero.
  """
  @spec usage(Path.t() | nil, groups) :: %{optional(atom) => non_neg_integer}
  def usage(v2_group, groups) do
    %{}
    |> put_v2_base(v2_group)
    |> put_memory(Map.get(groups, :memory), v2_group)
    |> put_cpu_v1(Map.get(groups, :cpu))
    |> put_pids(Map.get(groups, :pids))
  end

  defp put_v2_base(acc, nil), do: acc

  defp put_v2_base(acc, dir) do
    acc =
      case read_keyed(Path.join(dir, "cpu.stat")) do
        {:ok, stat} ->
          acc
          |> put_some(:cpu_usec, stat["usage_usec"])
          |> put_some(:user_usec, stat["user_usec"])
          |> put_some(:system_usec, stat["system_usec"])

        :error ->
          acc
      end

    case prim_read(Path.join(dir, "cgroup.threads")) do
      {:ok, text} -> Map.put(acc, :pids, length(String.split(text, "\n", trim: true)))
      _ -> acc
    end
  end

  defp put_memory(acc, {:v2, dir}, _v2_group) do
    acc
    |> put_some(:memory, read_int(Path.join(dir, "memory.current")))
    |> put_some(:memory_peak, read_int(Path.join(dir, "memory.peak")))
    |> put_some(:oom_kills, keyed(Path.join(dir, "memory.events"), "oom_kill"))
  end

  defp put_memory(acc, {:v1, dir}, _v2_group) do
    acc
    |> put_some(:memory, read_int(Path.join(dir, "memory.usage_in_bytes")))
    |> put_some(:memory_peak, read_int(Path.join(dir, "memory.max_usage_in_bytes")))
    |> put_some(:oom_kills, keyed(Path.join(dir, "memory.oom_control"), "oom_kill"))
  end

  # No memory group (memory is a v1 controller here and no memory: limit
  # was asked for): the resident memory of the processes of the workload's
  # own v2 group, summed. No peak and no OOM count can be read this way.
  defp put_memory(acc, nil, nil), do: acc

  defp put_memory(acc, nil, v2_group) do
    case prim_read(Path.join(v2_group, "cgroup.procs")) do
      {:ok, text} ->
        pids = String.split(text, "\n", trim: true)
        rss = Enum.reduce(pids, 0, fn pid, sum -> sum + rss_bytes(pid) end)
        if pids == [], do: acc, else: Map.put(acc, :memory, rss)

      _ ->
        acc
    end
  end

  defp rss_bytes(pid) do
    with {:ok, status} <- prim_read("/proc/#{pid}/status"),
         [_, kib] <- Regex.run(~r/^VmRSS:\s+(\d+) kB/m, status) do
      String.to_integer(kib) * 1024
    else
      _ -> 0
    end
  end

  # Only where no v2 group gave the CPU time: cpuacct mounted with cpu
  defp put_cpu_v1(%{cpu_usec: _} = acc, _), do: acc

  defp put_cpu_v1(acc, {:v1, dir}) do
    ns = fn file ->
      with n when is_integer(n) <- read_int(Path.join(dir, file)), do: div(n, 1000)
    end

    acc
    |> put_some(:cpu_usec, ns.("cpuacct.usage"))
    |> put_some(:user_usec, ns.("cpuacct.usage_user"))
    |> put_some(:system_usec, ns.("cpuacct.usage_sys"))
  end

  defp put_cpu_v1(acc, _), do: acc

  defp put_pids(acc, {_version, dir}),
    do: put_some(acc, :pids, read_int(Path.join(dir, "pids.current")))

  defp put_pids(acc, nil), do: acc

  defp put_some(acc, _key, nil), do: acc
  defp put_some(acc, key, value), do: Map.put(acc, key, value)

  defp read_int(path) do
    with {:ok, text} <- prim_read(path),
         {n, _} <- Integer.parse(String.trim(text)) do
      n
    else
      _ -> nil
    end
  end

  defp keyed(path, key) do
    case read_keyed(path) do
      {:ok, map} -> map[key]
      :error -> nil
    end
  end

  # "key value" lines (cpu.stat, memory.events, memory.oom_control)
  defp read_keyed(path) do
    case prim_read(path) do
      {:ok, text} ->
        map =
          for line <- String.split(text, "\n", trim: true),
              [k, v] <- [String.split(line, " ", parts: 2)],
              {n, _} <- [Integer.parse(String.trim(v))],
              into: %{},
              do: {k, n}

        {:ok, map}

      {:error, _} ->
        :error
    end
  end

  ## Detection

  @doc false
  # Public for the tests: the layout from the given mountinfo and
  # /proc/self/cgroup texts and v2 directory, without touching anything.
  @spec detect(String.t(), String.t(), Path.t() | nil) :: groups
  def detect(mountinfo, proc_cgroup, v2_base) do
    v2 = v2_controllers(v2_base)
    v1 = v1_mounts(mountinfo)
    own = own_v1_paths(proc_cgroup)

    for ctrl <- @controllers, place = place(ctrl, v2, v2_base, v1, own), into: %{} do
      {ctrl, place}
    end
  end

  defp detect do
    with {:ok, mountinfo} <- prim_read("/proc/self/mountinfo"),
         {:ok, proc_cgroup} <- prim_read("/proc/self/cgroup") do
      mountinfo
      |> detect(proc_cgroup, Linx.Cgroup.base())
      |> Map.new(fn
        {ctrl, {:v1, dir}} -> {ctrl, prepare_v1(dir)}
        other -> other
      end)
      |> Map.reject(fn {_ctrl, place} -> place == nil end)
    else
      _ -> %{}
    end
  end

  # The linx directory under the BEAM's own group; groups a gone BEAM left
  # there are swept as in v2 (Linx.Cgroup.sweep_stale/1).
  defp prepare_v1(dir) do
    case prim_mkdir(dir) do
      ok when ok in [:ok, {:error, :eexist}] ->
        Linx.Cgroup.sweep_stale(dir)
        {:v1, dir}

      {:error, _} ->
        nil
    end
  end

  defp place(ctrl, v2, v2_base, v1, own) do
    cond do
      ctrl in v2 ->
        {:v2, v2_base}

      Map.has_key?(v1, ctrl) and Map.has_key?(own, ctrl) ->
        {:v1, Path.join([v1[ctrl], String.trim_leading(own[ctrl], "/"), "linx"])}

      true ->
        nil
    end
  end

  defp v2_controllers(nil), do: []

  defp v2_controllers(base) do
    case prim_read(Path.join(base, "cgroup.controllers")) do
      {:ok, text} -> for name <- String.split(text), ctrl <- known(name), do: ctrl
      _ -> []
    end
  end

  defp known(name), do: for(c <- @controllers, Atom.to_string(c) == name, do: c)

  # fstype "cgroup" mounts: controller => mount point (super options name them)
  defp v1_mounts(mountinfo) do
    for line <- String.split(mountinfo, "\n", trim: true),
        [left, "cgroup " <> right] <- [String.split(line, " - ", parts: 2)],
        mount = left |> String.split(" ") |> Enum.at(4),
        [_source, super] <- [String.split(right, " ", parts: 2)],
        name <- String.split(super, ","),
        ctrl <- known(name),
        into: %{},
        do: {ctrl, mount}
  end

  # "N:ctrl1,ctrl2:/path" lines of /proc/self/cgroup
  defp own_v1_paths(proc_cgroup) do
    for line <- String.split(proc_cgroup, "\n", trim: true),
        [_, ctrls, path] <- [String.split(line, ":", parts: 3)],
        name <- String.split(ctrls, ","),
        ctrl <- known(name),
        into: %{},
        do: {ctrl, path}
  end

  # :prim_file, not File: File goes through the BEAM's one file server,
  # which serialised spawns (docs/performance.md, "Throughput")
  defp prim_read(path), do: :prim_file.read_file(path)
  defp prim_mkdir(path), do: :prim_file.make_dir(path)
  defp prim_exists?(path), do: match?({:ok, _}, :prim_file.read_file_info(path))
end
