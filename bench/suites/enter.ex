defmodule Bench.Enter do
  @moduledoc """
  3. Enter: run /bin/true inside every namespace of a running target
  (a Linx workload `sleep` in user+pid+mount+uts+ipc+net): Linx
  `enter/2` + `await/1` vs `nsenter -t PID -a` vs setns+fork+execve in C.
  """

  import Bench.Runner
  alias Bench.{Floor, Report}

  @true_ "/bin/true"
  @linx "Linx.Process.enter/2 + await (warm, pool)"
  @nsenter "nsenter -t PID -a"

  def run(iters) do
    {:ok, target} =
      Linx.Process.spawn(
        argv: ["/bin/sleep", "3600"],
        namespaces: [:user, :pid, :mount, :uts, :ipc, :net],
        uid_map: [{0, 0, 1}],
        gid_map: [{0, 0, 1}]
      )

    pid = Linx.Process.os_pid(target)
    nsenter = which!("nsenter")

    Report.section("3. enter the namespaces of a running process", [
      "Target: a Linx workload `/bin/sleep` in user+pid+mount+uts+ipc+net (host pid #{pid}).",
      "Interleaved, #{iters} iterations each; ratios against `#{@nsenter}`."
    ])

    floor = Floor.open(["enter", Integer.to_string(pid), @true_])

    contenders = [
      {@linx,
       fn ->
         warm(fn ->
           {:ok, p} = Linx.Process.enter(pid, argv: [@true_])
           {:exited, 0} = Linx.Process.await(p)
         end)
       end},
      {@nsenter,
       fn -> timed(fn -> port_exec(nsenter, ["-t", Integer.to_string(pid), "-a", @true_]) end) end},
      {"C setns+fork+execve+waitpid", fn -> Floor.run(floor) end}
    ]

    results = interleave(contenders, iters)
    Floor.close(floor)
    Linx.Process.signal(target, :sigkill)
    Linx.Process.await(target)
    Report.latency_table(rows(results, @nsenter), "nsenter")

    # Issue 11's row: enter at most half of nsenter's time
    [
      Report.target(
        "enter ≤ 0.5× nsenter -t PID -a",
        ratio(results, @linx, @nsenter),
        0.5,
        "≤ 0.50×"
      )
    ]
  end
end
