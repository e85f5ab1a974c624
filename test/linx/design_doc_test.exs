defmodule Linx.DesignDocTest do
  # docs/design.md's table of C modules is the map of c_src/: it must name
  # every file there (a header goes with its .c; a header-only file is
  # named itself).
  use ExUnit.Case, async: true

  @root Path.expand("../..", __DIR__)

  test "the C module table of docs/design.md names every file of c_src/" do
    design = File.read!(Path.join(@root, "docs/design.md"))

    [_, section] = String.split(design, "## The C modules (`c_src/`)", parts: 2)
    [table | _] = String.split(section, "\n### ", parts: 2)

    named = for [_, name] <- Regex.scan(~r/`([\w.\/]+)`/, table), into: MapSet.new(), do: name

    files = File.ls!(Path.join(@root, "c_src"))
    sources = for f <- files, Path.extname(f) == ".c", do: f

    header_only =
      for f <- files,
          Path.extname(f) == ".h",
          not Enum.member?(files, Path.rootname(f) <> ".c"),
          do: f

    dirs = for f <- files, File.dir?(Path.join([@root, "c_src", f])), do: f <> "/"

    missing = Enum.reject(sources ++ header_only ++ dirs, &MapSet.member?(named, &1))

    assert missing == [],
           "docs/design.md, \"The C modules\", does not name: #{Enum.join(missing, ", ")}"
  end

  test "docs/protocol.md's stage list names every stage of c_src/error.h" do
    protocol = File.read!(Path.join(@root, "docs/protocol.md"))
    [_, section] = String.split(protocol, "### Stages", parts: 2)
    [list | _] = String.split(section, "\n#", parts: 2)
    listed = for [_, a] <- Regex.scan(~r/:(\w+)/, list), into: MapSet.new(), do: a

    missing =
      for stage <- Linx.Process.Wire.stages(),
          name = Atom.to_string(stage),
          name != "none",
          generic = Regex.replace(~r/^(open_ns|setns)_\w+$/, name, "\\1_"),
          not MapSet.member?(listed, name) and not MapSet.member?(listed, generic),
          do: name

    assert missing == [],
           "docs/protocol.md, \"Stages\", does not name: #{Enum.join(missing, ", ")}"
  end
end
