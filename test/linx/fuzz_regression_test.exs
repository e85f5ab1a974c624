defmodule Linx.FuzzRegressionTest do
  # Replays every fuzz reproducer (fuzz/regression/<harness>/) and every
  # seed (fuzz/seeds/<harness>/) through the agent's own decoders, built
  # with ASan + UBSan, without fuzzing: `make fuzz-regress`. With clang and
  # libclang-rt-14-dev it uses the libFuzzer binaries, else a gcc replay
  # driver; either way a crash, a sanitizer report, a leak or a broken
  # harness invariant fails this test with the sanitizer's report.
  #
  # Fuzzing itself (`make fuzz FUZZ_SECONDS=60`) is not part of the test
  # run; see docs/reliability.md.
  use ExUnit.Case, async: true

  @moduletag timeout: 600_000

  @root Path.expand("../..", __DIR__)

  test "every regression reproducer and seed replays clean under the sanitizers" do
    {output, status} =
      System.cmd("make", ["--no-print-directory", "fuzz-regress"],
        cd: @root,
        stderr_to_stdout: true
      )

    assert status == 0, "make fuzz-regress failed (exit #{status}):\n\n" <> output

    # every harness ran, over at least its seeds
    for harness <- ~w(request command chan framing) do
      assert output =~ "fuzz-regress #{harness}", output
    end
  end
end
