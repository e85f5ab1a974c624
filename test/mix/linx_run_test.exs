defmodule Mix.Tasks.Linx.RunTest do
  # Runs the task as a user would, in a separate `mix` process.
  use ExUnit.Case, async: true

  defp mix_run(args) do
    System.cmd("mix", ["linx.run" | args],
      env: [{"MIX_ENV", "test"}],
      stderr_to_stdout: true
    )
  end

  test "exits with the command's status" do
    assert {_, 3} = mix_run(["--", "/bin/sh", "-c", "exit 3"])
  end

  test "signals become 128 + N" do
    assert {_, 143} = mix_run(["--", "/bin/sh", "-c", "kill -TERM $$"])
  end

  test "--ns with --map-root: pid 1, root inside, new namespaces, --cwd" do
    {out, 0} =
      mix_run([
        "--ns",
        "pid,mount,uts",
        "--map-root",
        "--cwd",
        "/tmp",
        "--",
        "/bin/sh",
        "-c",
        "echo pid=$$; echo uid=$(id -u); echo cwd=$(pwd); echo uts=$(readlink /proc/self/ns/uts)"
      ])

    # Marked lines: the task's stderr (a log line, a compile notice) may
    # land anywhere around them.
    seen =
      for line <- String.split(out, "\n", trim: true),
          [key, value] <- [String.split(line, "=", parts: 2)],
          key in ~w(pid uid cwd uts),
          into: %{},
          do: {key, value}

    assert seen["pid"] == "1", out
    assert seen["uid"] == "0", out
    assert seen["cwd"] == "/tmp", out
    assert seen["uts"] not in [nil, File.read_link!("/proc/self/ns/uts")], out
  end

  test "--pty gives the command a terminal" do
    {out, 0} = mix_run(["--pty", "--", "/usr/bin/tty"])
    assert out =~ ~r{/dev/pts/\d+}
  end

  test "a missing program exits 127 with the stage" do
    {out, 127} = mix_run(["--", "/nonexistent/prog"])
    assert out =~ "enoent at stage execve"
  end

  test "an unknown namespace is refused" do
    {out, status} = mix_run(["--ns", "bogus", "--", "/bin/true"])
    assert status != 0
    assert out =~ "unknown namespace"
  end
end
