defmodule Linx.Process.RunOptionsTest do
  # run/2's everyday options (issue 15), each on a real workload.
  use Linx.Case, async: true

  @moduletag :tmp_dir

  defp sha(data), do: :crypto.hash(:sha256, data) |> Base.encode16(case: :lower)

  describe "input:" do
    test "1 MiB of random bytes reaches stdin whole: sha256sum agrees" do
      data = :crypto.strong_rand_bytes(1_048_576)
      assert {out, 0} = Linx.Process.run(["/usr/bin/sha256sum"], input: data)
      assert out == sha(data) <> "  -\n"
    end

    test "iodata, and an Enumerable streamed chunk by chunk, then EOF" do
      assert {"3\n", 0} = Linx.Process.run(["/usr/bin/wc", "-c"], input: ["a", ["b", ?c]])
      chunks = Stream.map(1..1000, fn i -> "line #{i}\n" end)
      assert {"1000\n", 0} = Linx.Process.run(["/usr/bin/wc", "-l"], input: chunks)
    end

    test "a file streamed in: File.stream! of 1 MiB hashes the same", %{tmp_dir: dir} do
      path = Path.join(dir, "in.bin")
      data = :crypto.strong_rand_bytes(1_048_576)
      File.write!(path, data)
      input = File.stream!(path, [], 65_536)
      assert {out, 0} = Linx.Process.run(["/usr/bin/sha256sum"], input: input)
      assert out == sha(data) <> "  -\n"
    end

    test "an Enumerable that raises kills the workload and raises in the caller", %{
      tmp_dir: dir
    } do
      pidfile = Path.join(dir, "pid")

      # raises once the workload has told its pid (written whole: mv)
      bad =
        Stream.map([1, 2], fn
          1 -> "x\n"
          2 -> eventually(fn -> File.exists?(pidfile) end) && raise "boom"
        end)

      script = "echo $$ > '#{pidfile}.new'; mv '#{pidfile}.new' '#{pidfile}'; exec sleep 60"

      assert_raise RuntimeError, "boom", fn ->
        Linx.Process.run(["/bin/sh", "-c", script], input: bad)
      end

      pid = pidfile |> File.read!() |> String.trim() |> String.to_integer()
      assert_os_pid_exits(pid)
    end

    test "without it stdin is /dev/null" do
      assert {"0\n", 0} = Linx.Process.run(["/usr/bin/wc", "-c"])
    end
  end

  describe "into:" do
    test "File.stream! receives the output, byte for byte", %{tmp_dir: dir} do
      path = Path.join(dir, "out.bin")
      data = :crypto.strong_rand_bytes(300_000)

      assert {%File.Stream{path: ^path}, 0} =
               Linx.Process.run(["/bin/cat"], input: data, into: File.stream!(path))

      assert File.read!(path) == data
    end

    test "a Collectable that fails kills the workload; no event is left in the mailbox", %{
      tmp_dir: dir
    } do
      pidfile = Path.join(dir, "pid")
      # the path as $0, not in the script: a test's tmp_dir may hold quotes
      script = ~S(echo $$ > "$0.new"; mv "$0.new" "$0"; exec yes)

      # File.Stream's collector fails on its second chunk after ENOSPC
      error =
        try do
          Linx.Process.run(["/bin/sh", "-c", script, pidfile], into: File.stream!("/dev/full"))
        rescue
          e -> e
        end

      assert %FunctionClauseError{module: Collectable.File.Stream} = error
      pid = pidfile |> File.read!() |> String.trim() |> String.to_integer()
      assert_os_pid_exits(pid)
      refute_received {:linx_process, _, _}
    end

    test "a list collects the chunks" do
      assert {chunks, 0} = Linx.Process.run(["/bin/echo", "hi"], into: [])
      assert IO.iodata_to_binary(chunks) == "hi\n"
    end
  end

  describe "lines:" do
    test "a 64 KiB line with lines: 1024 arrives as 64 pieces" do
      assert {pieces, 0} =
               Linx.Process.run(["/bin/sh", "-c", "head -c 65536 /dev/zero | tr '\\0' x"],
                 lines: 1024,
                 into: []
               )

      assert length(pieces) == 64
      assert Enum.all?(pieces, &(&1 == String.duplicate("x", 1024)))
    end

    test "the newline does not count: a 64 KiB line ended by \\n is 64 pieces, not 65" do
      script = "head -c 65536 /dev/zero | tr '\\0' x; echo; printf '%1024s\\n' y"

      assert {pieces, 0} = Linx.Process.run(["/bin/sh", "-c", script], lines: 1024, into: [])

      x = String.duplicate("x", 1024)
      # 63 pieces, the 64th with its newline; a line of exactly 1024 bytes whole
      assert pieces == List.duplicate(x, 63) ++ [x <> "\n", String.pad_leading("y", 1024) <> "\n"]
    end

    test "lines are whole, newline included, however the pipe cut them" do
      script = "printf 'a\\nbb'; sleep 0.2; printf 'b\\nccc\\n'; printf tail"
      assert {lines, 0} = Linx.Process.run(["/bin/sh", "-c", script], lines: 80, into: [])
      assert lines == ["a\n", "bbb\n", "ccc\n", "tail"]
    end
  end

  describe "stderr:" do
    @script "echo out; echo err >&2; exit 3"

    test ":capture returns stderr apart" do
      assert {"out\n", "err\n", 3} =
               Linx.Process.run(["/bin/sh", "-c", @script], stderr: :capture)
    end

    test ":stdout merges; stderr_to_stdout: true is its alias" do
      assert {out, 3} = Linx.Process.run(["/bin/sh", "-c", @script], stderr: :stdout)
      assert out =~ "out\n" and out =~ "err\n"

      assert Linx.Process.run(["/bin/sh", "-c", "echo err >&2"], stderr_to_stdout: true) ==
               {"err\n", 0}
    end

    test ":devnull: the workload's fd 2 is /dev/null" do
      assert {"/dev/null\n", 0} =
               Linx.Process.run(["/bin/sh", "-c", "readlink /proc/self/fd/2"], stderr: :devnull)
    end

    test "contradicting the alias is refused by name" do
      assert_raise ArgumentError, ~r/stderr: :capture contradicts stderr_to_stdout: true/, fn ->
        Linx.Process.run(["/bin/true"], stderr: :capture, stderr_to_stdout: true)
      end

      assert_raise ArgumentError, ~r/invalid option :stderr: got :bogus/, fn ->
        Linx.Process.run(["/bin/true"], stderr: :bogus)
      end
    end
  end

  describe "max_output:" do
    test "stops yes: the first bytes kept, the workload killed, :output_limit" do
      assert {out, :output_limit} = Linx.Process.run(["/usr/bin/yes"], max_output: 100_001)
      assert out == binary_part(String.duplicate("y\n", 50_001), 0, 100_001)
    end

    test "with stderr: :capture the three-tuple carries :output_limit; the tree is killed", %{
      tmp_dir: dir
    } do
      pidfile = Path.join(dir, "pid")
      # a child of the shell writes (its pid on file first); the shell waits
      script = "sh -c 'echo $$ > \"$0\"; exec yes' '#{pidfile}' & wait"

      assert {out, err, :output_limit} =
               Linx.Process.run(["/bin/sh", "-c", script], stderr: :capture, max_output: 4096)

      # stdout and the captured stderr count together
      assert byte_size(out) + byte_size(err) == 4096
      pid = pidfile |> File.read!() |> String.trim() |> String.to_integer()
      assert_os_pid_exits(pid)
    end

    test "output under the limit is untouched" do
      assert {"hi\n", 0} = Linx.Process.run(["/bin/echo", "hi"], max_output: 3)
    end
  end

  describe "arg0:" do
    test "argv[0] differs from the program path" do
      assert {out, 0} = Linx.Process.run(["/bin/cat", "/proc/self/cmdline"], arg0: "kitty")
      assert out == "kitty\0/proc/self/cmdline\0"
      # the program is what argv names, whatever arg0 says
      assert {"/usr/bin/readlink\n", 0} =
               Linx.Process.run(["/usr/bin/readlink", "/proc/self/exe"], arg0: "x")
    end
  end

  describe "cd:" do
    test "System.cmd/3's name for cwd:, in run/2 and stream/2", %{tmp_dir: dir} do
      assert Linx.Process.run(["/bin/pwd"], cd: dir) == {dir <> "\n", 0}
      assert Linx.Process.stream(["/bin/pwd"], cd: dir) |> Enum.join() == dir <> "\n"

      assert_raise ArgumentError, ~r/cd: is an alias of cwd:/, fn ->
        Linx.Process.run(["/bin/pwd"], cd: dir, cwd: "/")
      end
    end
  end

  test "bad values are refused by name before anything starts" do
    for {opt, v} <- [input: :nope, into: 42, lines: 0, max_output: -1, arg0: "a\0b"] do
      assert_raise ArgumentError, ~r/invalid option #{inspect(opt)}/, fn ->
        Linx.Process.run(["/bin/true"], [{opt, v}])
      end
    end
  end
end
