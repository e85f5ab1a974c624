defmodule Linx.Process.ErrorsTest do
  use Linx.Case, async: true

  describe "failures before exec" do
    test "missing executable -> {:enoent, :execve}" do
      assert {:error, {:enoent, :execve}} = Linx.Process.spawn(argv: ["/nonexistent/prog"])
    end

    test "a bare name not on PATH -> {:enoent, :execve}" do
      assert {:error, {:enoent, :execve}} = Linx.Process.spawn(argv: ["linx-no-such-program"])
    end

    test "a directory -> {:eacces, :execve}" do
      assert {:error, {:eacces, :execve}} = Linx.Process.spawn(argv: ["/tmp"])
    end

    test "bad cwd -> {:enoent, :chdir}" do
      assert {:error, {:enoent, :chdir}} =
               Linx.Process.spawn(argv: ["/bin/true"], cwd: "/nonexistent/dir")
    end

    test "unreachable unix socket -> :stdio" do
      assert {:error, {errno, :stdio}} =
               Linx.Process.spawn(
                 argv: ["/bin/true"],
                 stdio: [stdout: {:connect_unix, "/nonexistent/linx.sock"}]
               )

      assert errno in [:enoent, :econnrefused]
    end

    test "run/2 raises Linx.Process.Error naming errno and stage" do
      err = assert_raise Linx.Process.Error, fn -> Linx.Process.run(["/nonexistent/prog"]) end
      assert err.errno == :enoent
      assert err.stage == :execve
      assert Exception.message(err) =~ "enoent at stage execve"
    end

    test "the owner gets no stray message for a workload that never ran" do
      {:error, _} = Linx.Process.spawn(argv: ["/nonexistent/prog"])
      refute_receive {:linx_process, _, _}, 100
    end
  end

  describe "stdio to a unix socket" do
    test "stdout connected to a listening socket delivers the output" do
      dir = tmp_dir!("sock")
      path = Path.join(dir, "out.sock")
      {:ok, listen} = :gen_tcp.listen(0, [:binary, ifaddr: {:local, path}, active: false])

      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/echo", "via socket"],
          stdio: [stdout: {:connect_unix, path}]
        )

      {:ok, sock} = :gen_tcp.accept(listen, 5000)
      assert {:ok, "via socket\n"} = :gen_tcp.recv(sock, 0, 5000)
      assert {:exited, 0} = Linx.Process.await(proc)
    end
  end
end
