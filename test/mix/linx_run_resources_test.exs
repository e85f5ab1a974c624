defmodule Mix.Tasks.Linx.RunResourcesTest do
  # The resource flags of mix linx.run: parsed into Linx.Process options,
  # and run as a user would, in a separate `mix` process.
  use ExUnit.Case, async: true

  alias Mix.Tasks.Linx.Run

  defp mix_run(args) do
    System.cmd("mix", ["linx.run" | args],
      env: [{"MIX_ENV", "test"}],
      stderr_to_stdout: true
    )
  end

  test "the flags become limits, rlimits, nice and timeout" do
    opts = [
      memory: "256M",
      cpu: "0.5",
      pids: 10,
      timeout: "10s",
      rlimit: "nofile=64",
      rlimit: "core=0:unlimited",
      nice: 5
    ]

    assert Run.resource_options(opts) == [
             limits: [memory: 256 * 1024 * 1024, cpu: 0.5, pids: 10],
             rlimits: [nofile: 64, core: {0, :infinity}],
             nice: 5,
             timeout: 10_000
           ]

    assert Run.resource_options(timeout: "500ms")[:timeout] == 500
    assert Run.resource_options(timeout: "2m")[:timeout] == 120_000
    # --stats accounts memory without limiting it
    assert Run.resource_options(stats: true) == [limits: [memory: :infinity]]

    assert_raise Mix.Error, ~r/--memory/, fn -> Run.resource_options(memory: "lots") end
    assert_raise Mix.Error, ~r/--rlimit/, fn -> Run.resource_options(rlimit: "files=3") end
  end

  test "--timeout stops the command (status 124), --stats prints wall, cpu and peak memory" do
    {out, 124} =
      mix_run([
        "--timeout",
        "300ms",
        "--memory",
        "64M",
        "--rlimit",
        "nofile=40",
        "--nice",
        "4",
        "--stats",
        "--",
        "/bin/sh",
        "-c",
        "ulimit -n; cut -d' ' -f19 /proc/self/stat; sleep 30"
      ])

    assert out =~ ~r/^40$/m
    assert out =~ ~r/^4$/m
    assert out =~ "linx.run: timed out"
    assert out =~ ~r/linx\.run: wall 0\.\d+ s, cpu \d+\.\d+ s, peak memory \d+\.\d MiB/
  end
end
