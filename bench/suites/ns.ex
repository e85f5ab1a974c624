defmodule Bench.Ns do
  @moduledoc """
  2. Spawn-to-exit of /bin/true in new namespaces user+pid+mount+uts+ipc,
  and separately with +net: Linx vs `unshare` vs `bwrap` vs
  clone(CLONE_NEW*)+execve+waitpid in C.

  Linx and the C harness map root (`0 0 1` for uid and gid), as
  `unshare -r` does. `unshare -Urpfm` and `bwrap --unshare-all` are the
  commands the targets name; the rows marked "same set" unshare exactly
  the namespaces Linx does, for a like-for-like comparison.
  """

  import Bench.Runner
  alias Bench.{Floor, Report}

  @true_ "/bin/true"
  @five [:user, :pid, :mount, :uts, :ipc]

  def run(iters) do
    five = group("2a. namespaces user+pid+mount+uts+ipc", @five, iters)

    targets = [
      Report.target(
        "ns user+pid+mount+uts+ipc ≤ 0.5× unshare -Urpfm",
        ratio(five, linx_label(), "unshare -Urpfm"),
        0.5,
        "≤ 0.50×",
        "vs -Urpfmui: #{Report.ratio(ratio(five, linx_label(), "unshare -Urpfmui (same set)"))}"
      ),
      Report.target(
        "ns user+pid+mount+uts+ipc ≤ 0.35× bwrap --unshare-all",
        ratio(five, linx_label(), "bwrap --unshare-all --ro-bind / /"),
        0.35,
        "≤ 0.35×",
        "vs same set: #{Report.ratio(ratio(five, linx_label(), bwrap_same_label(false)))}"
      )
    ]

    _net = group("2b. namespaces user+pid+mount+uts+ipc+net", @five ++ [:net], iters)
    targets
  end

  defp linx_label, do: "Linx.Process.run/2 (warm, pool)"

  defp bwrap_same_args(net?) do
    ~w(--unshare-user --unshare-pid --unshare-uts --unshare-ipc) ++
      if(net?, do: ["--unshare-net"], else: []) ++ ~w(--ro-bind / /)
  end

  defp bwrap_same_label(net?), do: "bwrap #{Enum.join(bwrap_same_args(net?), " ")} (same set)"

  defp group(title, namespaces, iters) do
    net? = :net in namespaces
    unshare = which!("unshare")
    bwrap = which!("bwrap")
    same_flags = if net?, do: "-Urpfmuin", else: "-Urpfmui"

    bwrap_same = bwrap_same_args(net?)

    ns_list = Enum.map_join(namespaces, ",", &Atom.to_string/1)

    Report.section(title, [
      "Interleaved, #{iters} iterations each; ratios against `unshare #{same_flags}` (same set).",
      "Linx: `run([\"/bin/true\"], namespaces: #{inspect(namespaces)}, uid_map: [{0, 0, 1}], gid_map: [{0, 0, 1}])`.",
      "bwrap always adds a mount namespace; `--unshare-all` also unshares net and cgroup."
    ])

    floor = Floor.open(["clone", ns_list, @true_])
    opts = [namespaces: namespaces, uid_map: [{0, 0, 1}], gid_map: [{0, 0, 1}]]
    same = "unshare #{same_flags} (same set)"

    contenders =
      [
        {linx_label(), fn -> warm(fn -> linx_run([@true_], opts) end) end},
        {same, fn -> timed(fn -> port_exec(unshare, [same_flags, @true_]) end) end}
      ] ++
        if(net?,
          do: [],
          else: [
            {"unshare -Urpfm", fn -> timed(fn -> port_exec(unshare, ["-Urpfm", @true_]) end) end}
          ]
        ) ++
        [
          {bwrap_same_label(net?),
           fn -> timed(fn -> port_exec(bwrap, bwrap_same ++ [@true_]) end) end},
          {"bwrap --unshare-all --ro-bind / /",
           fn ->
             timed(fn -> port_exec(bwrap, ~w(--unshare-all --ro-bind / /) ++ [@true_]) end)
           end},
          {"C clone(#{ns_list})+execve+waitpid", fn -> Floor.run(floor) end}
        ]

    results = interleave(contenders, iters)
    Floor.close(floor)
    Report.latency_table(rows(results, same), "unshare same set")
    results
  end
end
