defmodule Linx.Seccomp.NotifyLogTest do
  # A failed {:call, ...} step is logged, but a workload decides how often
  # its calls fail: the node's log must not be its to flood.
  # Not async: capture_log sees every process's log, and the race tests
  # of notify_resolve_test.exs log the same warning by the thousand.
  use Linx.Case, async: false

  import ExUnit.CaptureLog

  @moduletag :notify

  test "a workload whose call steps fail 40 times logs ten warnings, the tenth says so" do
    dir = tmp_dir!("notify_log")
    on_exit(fn -> File.rm_rf!(dir) end)
    target = Path.join(dir, "x")

    rules = [
      %{
        syscall: :mkdir,
        match: [{:string, 0, {:under, dir}}],
        then: {:call, :mkdirat, [-100, {:mem, 0}, {:arg, 1}], [ns: [:mount]]}
      },
      %{
        syscall: :mkdirat,
        match: [{:string, 1, {:under, dir}}],
        then: {:call, :mkdirat, [-100, {:mem, 1}, {:arg, 2}], [ns: [:mount]]}
      }
    ]

    script = "for i in $(seq 41); do mkdir #{target} 2>/dev/null; done; echo done"

    log =
      capture_log(fn ->
        assert {"done\n", 0} =
                 Linx.Process.run(["/bin/sh", "-c", script],
                   notify: [rules: rules, default: :continue]
                 )
      end)

    # the first mkdir succeeds; the 40 after it fail with EEXIST
    assert File.dir?(target)
    lines = for l <- String.split(log, "\n"), l =~ "failed with eexist", do: l
    assert length(lines) == 10
    assert List.last(lines) =~ "further failures of this workload are not logged"
  end
end
