defmodule Linx.Process.IdMaps do
  @moduledoc false
  # The `:uid_map`, `:gid_map` and `:setgroups` options as the request
  # carries them: the agent writes /proc/PID/uid_map, setgroups and gid_map
  # itself while the child waits right after the clone (c_src/idmap.c),
  # with no round trip to the BEAM. The BEAM decides what is written: the
  # maps (validated, `:caller` resolved, by Linx.Process.Options) and
  # whether setgroups is denied (the `:auto` rule, here). And the BEAM's
  # own ids, which `:caller` and Linx.Sandbox's presets map.

  alias Linx.Process.Options

  @doc """
  The request keys for the maps of `opts`: `uid_map`, `gid_map` (each
  only when given) and `setgroups` (`:allow | :deny`, only with a
  `gid_map`: without one the agent leaves setgroups as it is).
  """
  @spec request_keys(Options.t()) :: map
  def request_keys(%Options{uid_map: nil, gid_map: nil}), do: %{}

  def request_keys(%Options{} = o) do
    %{uid_map: o.uid_map, gid_map: o.gid_map, setgroups: setgroups(o)}
    |> Map.reject(fn {_key, value} -> value == nil end)
  end

  # The kernel lets an unprivileged writer set gid_map only after setgroups
  # is denied; root may leave it allowed.
  defp setgroups(%{gid_map: nil}), do: nil
  defp setgroups(%{setgroups: :auto}), do: if(root?(), do: :allow, else: :deny)
  defp setgroups(%{setgroups: policy}), do: policy

  # Read once per BEAM: a file read per spawn woke a dirty I/O scheduler,
  # which then spun for ~0.5 ms, a whole core of this 2-core machine
  # taken from the workload being cloned (docs/performance.md, "Throughput,
  # a fourth time"). The BEAM cannot change its own uid. A read that
  # failed (out of descriptors, say) is not kept: it answers "not root"
  # for this spawn only.
  @root_key {__MODULE__, :root?}
  defp root? do
    case :persistent_term.get(@root_key, nil) do
      nil ->
        case read_root?() do
          {:ok, root?} ->
            :persistent_term.put(@root_key, root?)
            root?

          :error ->
            false
        end

      root? ->
        root?
    end
  end

  @doc """
  The id `:caller` stands for in `key` (`:uid_map` or `:gid_map`): the
  BEAM's own uid or gid (`beam_ids/0`).
  """
  @spec caller_id(:uid_map | :gid_map) :: non_neg_integer
  def caller_id(key) do
    {uid, gid} = beam_ids()
    if key == :uid_map, do: uid, else: gid
  end

  @ids_key {__MODULE__, :beam_ids}

  @doc """
  The BEAM's effective uid and gid: the owner of /proc/self. Read once
  per BEAM (it cannot change its own ids): a stat per spawn woke a dirty
  I/O scheduler, which then spun on a core the workload needed
  (docs/performance.md, "Throughput, a fourth time").
  """
  @spec beam_ids() :: {non_neg_integer, non_neg_integer}
  def beam_ids do
    case :persistent_term.get(@ids_key, nil) do
      nil ->
        %File.Stat{uid: uid, gid: gid} = File.stat!("/proc/self")
        :persistent_term.put(@ids_key, {uid, gid})
        {uid, gid}

      ids ->
        ids
    end
  end

  defp read_root? do
    case File.read("/proc/self/status") do
      {:ok, status} -> {:ok, Regex.match?(~r/^Uid:\s+\d+\s+0\s/m, status)}
      _ -> :error
    end
  end
end
