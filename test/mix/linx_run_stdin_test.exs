defmodule Mix.Tasks.Linx.RunStdinTest do
  # stdin of `mix linx.run` through real shell pipelines: the task runs in
  # its own `mix` process whose fd 0 is a pipe or a file, as a user's would.
  use ExUnit.Case, async: true

  @moduletag :tmp_dir

  # stdout only: stderr (a writer on the left meeting the closed pipe,
  # the BEAM's own exit noise) goes to a file.
  defp sh(script, dir) do
    System.cmd("/bin/sh", ["-c", "(#{script}) 2>stderr.txt"], cd: dir, env: [{"MIX_ENV", "test"}])
  end

  defp mix_cmd, do: "cd #{File.cwd!()} && mix linx.run"

  test "a pipe reaches the command: echo | cat", %{tmp_dir: dir} do
    assert {"hello\n", 0} = sh("echo hello | (#{mix_cmd()} -- /bin/cat)", dir)
  end

  test "the command reads what it wants when it wants: the first line is not lost",
       %{tmp_dir: dir} do
    script =
      "(echo hello; sleep 1; echo world) | (#{mix_cmd()} -- /bin/sh -c 'read x; echo got:$x')"

    assert {"got:hello\n", 0} = sh(script, dir)
  end

  test "1 MiB of random bytes through cat | sha256sum, from a pipe and from a file",
       %{tmp_dir: dir} do
    data = :crypto.strong_rand_bytes(1_048_576)
    # CRLF and NUL runs: what a line-based relay would mangle
    data = data <> "\r\n\r\n" <> <<0, 0, 13>>
    File.write!(Path.join(dir, "in.bin"), data)
    want = Base.encode16(:crypto.hash(:sha256, data), case: :lower)

    {piped, 0} = sh("cat in.bin | (#{mix_cmd()} -- /bin/cat) | sha256sum", dir)
    assert piped == want <> "  -\n"

    {redirected, 0} = sh("(#{mix_cmd()} -- /bin/cat) < in.bin | sha256sum", dir)
    assert redirected == want <> "  -\n"
  end

  test "EOF reaches the command, and the exit status is the command's", %{tmp_dir: dir} do
    assert {"3\n", 0} = sh("printf abc | (#{mix_cmd()} -- /usr/bin/wc -c)", dir)
    assert {"0\n", 0} = sh("(#{mix_cmd()} -- /usr/bin/wc -c) < /dev/null", dir)
    assert {"", 5} = sh("yes | (#{mix_cmd()} -- /bin/sh -c 'head -c 1 >/dev/null; exit 5')", dir)
  end
end
