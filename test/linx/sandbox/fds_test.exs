defmodule Linx.Sandbox.FdsTest do
  # fds: [{target_fd, source}] — descriptors opened by the agent before the
  # clone and placed at their numbers just before exec (c_src/passfd.c).
  use Linx.Case, async: true

  alias Linx.Process, as: P

  # A short, shell-safe directory of its own (tmp_dir names hold ; and (),
  # and a socket path must fit 108 bytes).
  setup do
    dir = Path.join(System.tmp_dir!(), "linx-fds-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{tmp_dir: dir}
  end

  describe "{:file, path, flags}" do
    test "the workload reads the passed file on the given fd", %{tmp_dir: dir} do
      path = Path.join(dir, "in.txt")
      File.write!(path, "hello through fd 5\n")

      {out, 0} =
        P.run(["/bin/sh", "-c", "cat <&5; readlink /proc/self/fd/5"],
          fds: [{5, {:file, path, [:read]}}]
        )

      assert out == "hello through fd 5\n#{path}\n"
    end

    test "a write-only fd creates and appends; only the targets stay open", %{tmp_dir: dir} do
      path = Path.join(dir, "out.log")
      File.write!(path, "first\n")

      {out, 0} =
        P.run(["/bin/sh", "-c", "echo second >&9; ls /proc/self/fd"],
          fds: [{9, {:file, path, [:write, :append]}}, {3, {:file, "/dev/null", [:read]}}]
        )

      assert File.read!(path) == "first\nsecond\n"
      # 0-2, the passed 3 and 9, and ls's own directory fd: no source copy
      fds = out |> String.split() |> Enum.map(&String.to_integer/1)
      assert [0, 1, 2, 3, 9] -- fds == []
      assert length(fds) == 6

      new = Path.join(dir, "new.log")

      {"", 0} =
        P.run(["/bin/sh", "-c", "echo made >&4"], fds: [{4, {:file, new, [:write, :create]}}])

      assert File.read!(new) == "made\n"
    end

    test "with init: true, in a mount namespace of its own", %{tmp_dir: dir} do
      path = Path.join(dir, "in.txt")
      File.write!(path, "via init\n")

      assert {"via init\n", 0} =
               P.run(["/bin/sh", "-c", "cat <&7"],
                 init: true,
                 namespaces: [:mount],
                 fds: [{7, {:file, path, [:read]}}]
               )
    end

    test "a missing file fails the start at stage :fds, named", %{tmp_dir: dir} do
      path = Path.join(dir, "nope")

      assert {:error, {:enoent, :fds}} =
               P.spawn(argv: ["/bin/true"], fds: [{3, {:file, path, [:read]}}])

      assert P.last_error().detail =~ "fds: open #{path} for fd 3"
    end
  end

  describe "{:connect_unix, path}" do
    test "the workload talks to the socket on the given fd", %{tmp_dir: dir} do
      sock = Path.join(dir, "s.sock")
      {:ok, l} = :gen_tcp.listen(0, [:binary, ifaddr: {:local, sock}, active: false])

      {:ok, proc} =
        P.spawn(
          argv: ["/bin/sh", "-c", "echo ping >&4; read line <&4; echo \"got $line\""],
          fds: [{4, {:connect_unix, sock}}],
          stdio: :pipe
        )

      {:ok, conn} = :gen_tcp.accept(l, 5000)
      assert {:ok, "ping\n"} = :gen_tcp.recv(conn, 0, 5000)
      :ok = :gen_tcp.send(conn, "pong\n")
      assert_receive {:linx_process, ^proc, {:stdout, "got pong\n"}}, 5000
      assert P.await(proc, 5000) == {:exited, 0}
      :gen_tcp.close(conn)
      :gen_tcp.close(l)
    end

    test "no socket at the path: {:enoent, :fds}", %{tmp_dir: dir} do
      sock = Path.join(dir, "none.sock")

      assert {:error, {:enoent, :fds}} =
               P.spawn(argv: ["/bin/true"], fds: [{3, {:connect_unix, sock}}])
    end
  end

  describe "option shapes" do
    test "stdio targets, duplicates, bad flags and sources raise ArgumentError" do
      bad = [
        {[{1, {:file, "/dev/null", [:read]}}], ~r/target fd 1 is stdio/},
        {[{300, {:file, "/dev/null", [:read]}}], ~r/target fd 300, expected 3..255/},
        {[{3, {:file, "/a", [:read]}}, {3, {:file, "/b", [:read]}}],
         ~r/target fd 3 is given twice/},
        {[{3, {:file, "/a", [:append]}}], ~r/with :read or :write/},
        {[{3, {:pipe, "/a"}}], ~r/expected \{:file, path, flags\} or \{:connect_unix, path\}/},
        {[{3, {:connect_unix, ""}}], ~r/non-empty binary/},
        {[:x], ~r/is not \{target_fd, source\}/}
      ]

      for {fds, msg} <- bad do
        assert_raise ArgumentError, msg, fn -> P.spawn(argv: ["/bin/true"], fds: fds) end
      end
    end
  end
end
