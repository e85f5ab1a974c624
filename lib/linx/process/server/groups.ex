defmodule Linx.Process.Server.Groups do
  @moduledoc false
  # The cgroups of one workload, for Linx.Process.Server: its own v2 group
  # (Linx.Cgroup) and the groups of its limits: (Linx.Cgroup.Limits), made
  # before the agent starts, made afresh for a retry, read for stats/1 and
  # the usage event, and released with the workload. Each function takes
  # the server's options or state; none calls back into the server.

  # The workload's own cgroup (see Linx.Cgroup): required, optional or off.
  # The janitor removes it should this server die without doing so.
  def make_cgroup(%{cgroup: false}), do: {:ok, nil}

  # A plain group of a workload killed with its server: the agent makes it
  # and removes it with the tree (request cgroup {:make, path, mode}), so
  # no mkdir or rmdir wakes a dirty I/O scheduler here (docs/performance.md,
  # "Throughput, a third time"). The agent also reads the final
  # {:usage, map} from it before its terminal frame (request usage: true,
  # c_src/usage.c; "Throughput, a fourth time"). Groups with limits are
  # written before the agent starts and detached ones outlive it: those
  # the BEAM makes.
  def make_cgroup(%{cgroup: mode, on_exit: on_exit} = opts) do
    by_agent? = agent_makes?(opts)
    made = if by_agent?, do: Linx.Cgroup.plan(on_exit), else: Linx.Cgroup.create(on_exit)

    case made do
      {:ok, path} ->
        Linx.Cgroup.Janitor.watch(path, on_exit)
        {:ok, if(by_agent?, do: {:make, path, make_mode(mode)}, else: path)}

      {:error, errno} when mode == true ->
        {:error, errno, :cgroup}

      {:error, _} ->
        {:ok, nil}
    end
  end

  defp agent_makes?(opts), do: match?(%{on_exit: :kill, limits: []}, opts)

  defp make_mode(true), do: :required
  defp make_mode(:auto), do: :optional

  # A new group for the retry: a half-started dead agent may have left
  # something in the old one, which is killed; and the kernel (6.18) kills
  # every process later cloned into a group once written to cgroup.kill.
  def fresh_cgroup(%{cgroup: nil}), do: {:ok, nil}

  def fresh_cgroup(%{cgroup: old, opts: opts}) do
    Linx.Cgroup.kill(old)
    Linx.Cgroup.remove(old)

    case make_cgroup(opts) do
      {:ok, path} -> {:ok, path}
      {:error, errno, stage} -> {:error, errno, stage}
    end
  end

  ## Resource limits (Linx.Cgroup.Limits): groups made and written before
  ## the agent starts; the v1 ones travel in the request (cgroups_v1) for
  ## the agent to move the workload into.

  def make_limits(%{limits: []} = opts, _cgroup), do: {:ok, opts, %{}}

  def make_limits(opts, cgroup) do
    with {:ok, name} <- limits_group_name(opts, cgroup),
         {:ok, groups, dirs} <- Linx.Cgroup.Limits.create(opts.limits, cgroup, name) do
      for dir <- dirs, do: Linx.Cgroup.Janitor.watch(dir, opts.on_exit)
      {:ok, %{opts | cgroups_v1: dirs}, groups}
    else
      {:error, {errno, stage}} -> {:error, errno, stage}
      {:error, errno} -> {:error, errno, {:limit, hd(Keyword.keys(opts.limits))}}
    end
  end

  def limits_group_name(_opts, cgroup) when is_binary(cgroup), do: {:ok, Path.basename(cgroup)}
  def limits_group_name(opts, nil), do: Linx.Cgroup.new_name(opts.on_exit)

  # The retry's fresh groups: what a dead agent left in the old ones is killed.
  def fresh_limits(s, cgroup) do
    for dir <- Linx.Cgroup.Limits.v1_dirs(s.limit_groups), do: Linx.Cgroup.kill(dir)
    Linx.Cgroup.Limits.remove_v1(s.limit_groups)
    make_limits(%{s.opts | cgroups_v1: []}, cgroup)
  end

  # A detached workload lives on in its groups (the janitor removes them
  # once empty); otherwise they go with the workload.
  def release_limit_groups(%{opts: %{on_exit: :detach}, terminal: nil} = s),
    do: %{s | limit_groups: %{}}

  def release_limit_groups(s) do
    Linx.Cgroup.Limits.remove_v1(s.limit_groups)
    %{s | limit_groups: %{}}
  end

  def usage(s), do: Linx.Cgroup.Limits.usage(s.cgroup, s.limit_groups)

  # The map of the {:usage, map} event, or nil: for a workload that has a
  # cgroup (its own v2 group, cgroup: :auto, or the groups of its limits:)
  # and ended by exit or signal. The agent that made the group read it
  # before its terminal frame ({:usage, map}, c_src/usage.c): no file read
  # here then.
  def final_usage(%{limit_groups: g, cgroup: nil}, _terminal) when g == %{}, do: nil
  def final_usage(%{opts: %{usage_event: false}}, _terminal), do: nil

  def final_usage(%{cgroup_by_agent?: true, agent_usage: usage}, {tag, _})
      when tag in [:exited, :signaled],
      do: usage

  def final_usage(s, {tag, _}) when tag in [:exited, :signaled], do: usage(s)
  def final_usage(_s, _terminal), do: nil

  def release_cgroup(%{cgroup: nil} = s), do: s

  def release_cgroup(%{cgroup: path, opts: %{on_exit: :detach}, terminal: nil} = s) do
    # A detached workload lives on in its group; the group stays.
    _ = path
    %{s | cgroup: nil}
  end

  # Gone at once (the usual case): the janitor need not look again.
  def release_cgroup(%{cgroup: path} = s) do
    case Linx.Cgroup.remove_if_empty(path) do
      :ok -> Linx.Cgroup.Janitor.unwatch()
      {:error, _} -> Linx.Cgroup.remove(path)
    end

    %{s | cgroup: nil}
  end

  # The agent's last frame came: the agent removes the group it made on
  # its way out, right after that frame (agent.c, remove_cgroup).
  def agent_released(%{cgroup_by_agent?: true} = s) do
    Linx.Cgroup.Janitor.unwatch()
    %{s | cgroup: nil, cgroup_by_agent?: false}
  end

  def agent_released(s), do: s

  # The path of what make_cgroup/1 gave, and whether the agent makes it.
  def cgroup_path({:make, path, _mode}), do: path
  def cgroup_path(path), do: path

  def by_agent?(cgroup), do: match?({:make, _, _}, cgroup)
end
