defmodule Linx.Acceptance.Issue10Test do
  # Issue 10, "Done when": the structure of c_src/ as a newcomer reads it.
  # No C file is over ~700 lines (a file that grows past it is split, as
  # notify_prog.c was into the decoder and notify_prog_eval.c).
  use ExUnit.Case, async: true

  @root Path.expand("../../..", __DIR__)
  @max_lines 700

  test "no C file of c_src/ is over #{@max_lines} lines" do
    long =
      for path <- Path.wildcard(Path.join(@root, "c_src/**/*.{c,h}")),
          lines = path |> File.read!() |> String.split("\n") |> length(),
          lines > @max_lines + 1,
          do: {Path.relative_to(path, @root), lines}

    assert long == [], "over #{@max_lines} lines: #{inspect(long)}"
  end
end
