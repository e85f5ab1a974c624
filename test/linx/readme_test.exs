defmodule Linx.ReadmeTest do
  # Every ```elixir block of the README (and of the docs whose examples are
  # meant to run) is executed as written; `#=>` lines are expectations. A
  # block that cannot run here is marked `<!-- doc-test: skip REASON -->`
  # in the Markdown source and shows up as skipped, with its reason.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO

  @root Path.expand("../..", __DIR__)
  @files [
    "README.md",
    "docs/seccomp.md",
    "docs/notify.md",
    "docs/sandbox.md",
    "docs/distributed.md"
  ]

  for file <- @files, path = Path.join(@root, file), block <- Linx.DocBlocks.blocks(path) do
    @external_resource path
    @block block
    @file_name file
    if block.skip, do: @tag(skip: "#{file}:#{block.line}: #{block.skip}")

    test "#{file}:#{block.line} runs as written" do
      {result, _output} =
        with_io(fn -> File.cd!(@root, fn -> Linx.DocBlocks.run(@block, @file_name) end) end)

      case result do
        :ok ->
          :ok

        {:mismatch, line, text, expected, actual} ->
          flunk("""
          #{@file_name}:#{line}: #=> #{text}
            expected: #{inspect(expected)}
            got:      #{inspect(actual)}
          """)
      end
    end
  end

  test "every doc with an elixir block is run: none is left out silently" do
    with_blocks =
      for path <- Path.wildcard(Path.join(@root, "docs/*.md")),
          File.read!(path) =~ "```elixir",
          do: Path.relative_to(path, @root)

    assert with_blocks != []
    assert with_blocks -- @files == []
  end

  test "the README has blocks to run" do
    blocks = Linx.DocBlocks.blocks(Path.join(@root, "README.md"))
    assert length(Enum.reject(blocks, & &1.skip)) >= 3
  end

  @tag :tmp_dir
  test "a block marked skip is named with its reason", %{tmp_dir: dir} do
    md = Path.join(dir, "x.md")

    File.write!(md, """
    <!-- doc-test: skip needs a real /srv/rootfs -->

    ```elixir
    Linx.Process.run(["/bin/true"], root: "/srv/rootfs")
    ```

    ```elixir
    1 + 1
    #=> 2
    ```
    """)

    assert [%{skip: "needs a real /srv/rootfs", line: 4}, %{skip: nil, line: 8}] =
             Linx.DocBlocks.blocks(md)
  end

  test "a wrong expectation is reported, not passed" do
    block = %{code: "1 + 1 #=> 3", line: 1, skip: nil}
    assert {:mismatch, 1, "3", 3, 2} = Linx.DocBlocks.run(block, "inline")
  end
end
