defmodule Linx.Process.StdioTest do
  use Linx.Case, async: true

  describe "pipes" do
    test "10 MiB of stdout arrive intact" do
      size = 10 * 1024 * 1024
      # Random, not zeros, so a lost or reordered chunk changes the checksum.
      script = "head -c #{size} /dev/urandom | tee /dev/fd/3 | sha256sum >&2"

      {:ok, proc} =
        Linx.Process.spawn(argv: ["/bin/sh", "-c", "exec 3>&1; " <> script], stdio: :pipe)

      events = collect_events(proc, 60_000)
      assert List.last(events) == {:exited, 0}
      out = output(events, :stdout)
      assert byte_size(out) == size
      [sum | _] = String.split(output(events, :stderr))
      assert Base.encode16(:crypto.hash(:sha256, out), case: :lower) == sum
    end

    test "output written right before exit is not lost" do
      for _ <- 1..20 do
        {out, 0} =
          Linx.Process.run(["/bin/sh", "-c", "head -c 70000 /dev/zero | tr '\\\\0' x; exit 0"])

        assert byte_size(out) == 70_000
      end
    end

    test "stdout and stderr are told apart" do
      {:ok, proc} =
        Linx.Process.spawn(argv: ["/bin/sh", "-c", "echo out; echo err >&2"], stdio: :pipe)

      events = collect_events(proc)
      assert output(events, :stdout) == "out\n"
      assert output(events, :stderr) == "err\n"
    end

    test "stdin round trip with EOF through cat" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat"], stdio: :pipe)
      data = :crypto.strong_rand_bytes(300_000)
      :ok = Linx.Process.write(proc, data)
      :ok = Linx.Process.write(proc, ["more", ?\n])
      :ok = Linx.Process.close_stdin(proc)
      events = collect_events(proc, 20_000)
      assert output(events) == data <> "more\n"
      assert List.last(events) == {:exited, 0}
    end

    test "per-fd modes: only stdin piped" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "read line; cat >/dev/null; test \"$line\" = hello"],
          stdio: [stdin: :pipe, stdout: :devnull]
        )

      :ok = Linx.Process.write(proc, "hello\n")
      :ok = Linx.Process.close_stdin(proc)
      assert Linx.Process.await(proc) == {:exited, 0}
    end

    test "run/2 with stderr_to_stdout" do
      assert {out, 3} =
               Linx.Process.run(["/bin/sh", "-c", "echo a; echo b >&2; exit 3"],
                 stderr_to_stdout: true
               )

      assert String.split(out) |> Enum.sort() == ["a", "b"]
    end

    test "stdin defaults to /dev/null, never the BEAM's terminal" do
      {out, 0} = Linx.Process.run(["/bin/readlink", "/proc/self/fd/0"])
      assert out == "/dev/null\n"
    end

    test "write without an input pipe is refused" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "5"])
      assert {:error, :no_input} = Linx.Process.write(proc, "x")
      Linx.Process.signal(proc, :sigkill)
      Linx.Process.await(proc)
    end
  end

  describe "environment" do
    test "env merges over the BEAM's, nil unsets, clear_env starts empty" do
      System.put_env("LINX_TEST_INHERITED", "yes")

      {out, 0} =
        Linx.Process.run(["/bin/sh", "-c", "echo $LINX_TEST_INHERITED-$LINX_A-${HOME-unset}"],
          env: [{"LINX_A", "a"}, {"HOME", nil}]
        )

      assert out == "yes-a-unset\n"

      {out, 0} = Linx.Process.run(["/usr/bin/env"], clear_env: true, env: [{"ONLY", "1"}])
      assert out == "ONLY=1\n"
    end

    test "a 1 MiB environment works" do
      env = for i <- 1..1024, do: {"LINX_BIG_#{i}", String.duplicate("v", 1000)}
      {out, 0} = Linx.Process.run(["/bin/sh", "-c", "env | grep -c ^LINX_BIG_"], env: env)
      assert String.trim(out) == "1024"
    end

    test "one argument over MAX_ARG_STRLEN fails with e2big at execve" do
      huge = String.duplicate("x", 200_000)
      assert {:error, {:e2big, :execve}} = Linx.Process.spawn(argv: ["/bin/echo", huge])
    end
  end

  describe "cwd" do
    test "the workload starts in cwd" do
      dir = tmp_dir!("cwd")
      {out, 0} = Linx.Process.run(["/bin/pwd"], cwd: dir)
      assert out == dir <> "\n"
    end
  end

  describe "fds" do
    test "the workload holds only 0, 1, 2 (plus the fd that lists them)" do
      {out, 0} = Linx.Process.run(["/bin/ls", "/proc/self/fd"])
      fds = out |> String.split() |> Enum.map(&String.to_integer/1) |> Enum.sort()
      assert [0, 1, 2, extra] = fds
      assert extra >= 3
    end

    test "with a PTY, too" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/ls", "/proc/self/fd"], stdio: :pty)
      out = collect_events(proc) |> output(:pty_out)
      assert [0, 1, 2, _] = out |> String.split() |> Enum.map(&String.to_integer/1) |> Enum.sort()
    end
  end
end
