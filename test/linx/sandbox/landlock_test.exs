defmodule Linx.Sandbox.LandlockTest do
  # landlock: [read:, read_write:, execute:] — Landlock rules applied at the
  # checkpoint, after the mounts and before seccomp (c_src/landlock.c).
  use Linx.Case, async: true

  alias Linx.Process, as: P

  # A short, shell-safe directory of its own (tmp_dir names hold ; and (),
  # and a socket path must fit 108 bytes).
  setup do
    dir = Path.join(System.tmp_dir!(), "linx-landlock-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{tmp_dir: dir}
  end

  # The whole host readable and executable, only `rw` writable.
  defp rules(rw), do: [read: ["/"], execute: ["/"], read_write: [rw]]

  describe "rules" do
    test "a write outside read_write is EACCES; inside it works", %{tmp_dir: dir} do
      rw = Path.join(dir, "rw")
      File.mkdir_p!(rw)
      outside = Path.join(dir, "outside")

      # python-free errno check: dd reports strerror, sh's redirect too
      script = """
      echo in > #{rw}/f && cat #{rw}/f
      if echo out > #{outside} 2>/dev/null; then echo wrote-outside; else echo denied; fi
      mkdir #{dir}/newdir 2>&1 | grep -o 'Permission denied'
      """

      assert {"in\ndenied\nPermission denied\n", 0} =
               P.run(["/bin/sh", "-c", script], landlock: rules(rw))

      assert File.read!(Path.join(rw, "f")) == "in\n"
      refute File.exists?(outside)
      refute File.exists?(Path.join(dir, "newdir"))

      # the same script without Landlock writes outside
      assert {"in\nwrote-outside\n", 1} = P.run(["/bin/sh", "-c", script])
    end

    test "a file under read only: read works, append is EACCES", %{tmp_dir: dir} do
      sub = Path.join(dir, "sub")
      File.mkdir_p!(sub)
      file = Path.join(dir, "ro.txt")
      File.write!(file, "read me\n")
      # cat reads it; the write fails with the errno's own text
      script = "cat #{file}; echo x >> #{file}"

      {out, code} =
        P.run(["/bin/sh", "-c", script],
          landlock: rules(sub),
          stderr_to_stdout: true
        )

      assert out =~ "read me\n"
      assert out =~ "Permission denied"
      assert code != 0
      assert File.read!(file) == "read me\n"
    end

    test "execute: a program outside every execute path cannot run", %{tmp_dir: dir} do
      system = Enum.filter(["/usr", "/bin", "/lib", "/lib64"], &File.exists?/1)
      script = "cp /bin/true #{dir}/t; #{dir}/t && echo copy-ran; /bin/true && echo system-ran"

      assert {out, 0} =
               P.run(["/bin/sh", "-c", script],
                 landlock: [read: ["/"], execute: system, read_write: [dir]],
                 stderr_to_stdout: true
               )

      # the copy is readable and writable but not executable: EACCES
      assert out =~ "#{dir}/t: Permission denied"
      refute out =~ "copy-ran"
      assert out =~ "system-ran"

      assert {"copy-ran\nsystem-ran\n", 0} = P.run(["/bin/sh", "-c", script])
    end
  end

  describe "errors" do
    test "a missing path fails the start at stage :landlock, named", %{tmp_dir: dir} do
      missing = Path.join(dir, "missing")

      assert {:error, {:enoent, :landlock}} =
               P.spawn(argv: ["/bin/true"], landlock: [read: ["/"], read_write: [missing]])

      assert P.last_error().detail =~ "landlock: open #{missing} (read_write)"
    end

    test "with checkpoint: true, proceed/1 answers the failed step's error", %{tmp_dir: dir} do
      missing = Path.join(dir, "missing")
      marker = Path.join(dir, "ran")

      {:ok, proc} =
        P.spawn(argv: ["/bin/touch", marker], checkpoint: true, landlock: [read: [missing]])

      # the step may fail before or after proceed/1 is called: the same answer
      assert {:error, {:enoent, :landlock}} = P.proceed(proc)
      assert P.await(proc, 5000) == {:error, :enoent, :landlock}
      refute File.exists?(marker)

      # spawn/2's own wait for :ready may reach the server after the
      # step's error: the start still succeeded (the call spawn/2 makes,
      # made late on purpose)
      assert GenServer.call(proc, :started) == {:ok, proc}
    end

    test "option shapes raise ArgumentError" do
      for {ll, msg} <- [
            {[], ~r/keyword list/},
            {[write: ["/tmp"]], ~r/unknown access :write/},
            {[read: ["tmp"]], ~r/absolute path/},
            {[read: []], ~r/at least one path/},
            {[read: "/tmp"], ~r/a list of absolute paths/}
          ] do
        assert_raise ArgumentError, msg, fn -> P.spawn(argv: ["/bin/true"], landlock: ll) end
      end
    end
  end

  # A kernel without Landlock answers landlock_create_ruleset with ENOSYS.
  # This kernel has it, so the agent's child is made to meet that answer
  # for real: a seccomp filter installed before the :landlock command
  # returns ENOSYS for the call (raw protocol: Linx.Process always applies
  # Landlock first).
  describe "a kernel without Landlock" do
    test "is {:error, :eopnotsupp, :landlock}, never a silent skip" do
      {:ok, bpf} =
        Linx.Seccomp.policy(:allow, [{{:errno, :enosys}, :landlock_create_ruleset}])
        |> Linx.Seccomp.to_bpf()

      agent = Path.join(:code.priv_dir(:linx), "linx_process")

      port =
        Port.open({:spawn_executable, agent}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

      req =
        {:spawn,
         %{
           argv: ["/bin/true"],
           checkpoint: false,
           landlock: [{:read, "/"}],
           commands: [{:seccomp_install, bpf}, :landlock]
         }}

      Port.command(port, :erlang.term_to_binary(req))
      frames = collect(port)

      assert {:error_detail, :landlock, :none, text} =
               Enum.find(frames, &match?({:error_detail, _, _, _}, &1))

      assert text =~ "not supported by this kernel (ENOSYS"
      eopnotsupp = Linx.Errno.number!(:eopnotsupp)
      assert {:error, eopnotsupp, :landlock} in frames
      assert List.last(frames) == {:exit, 5}
    end
  end

  defp collect(port) do
    receive do
      {^port, {:data, bin}} -> [:erlang.binary_to_term(bin) | collect(port)]
      {^port, {:exit_status, st}} -> [{:exit, st}]
    after
      5000 -> flunk("the agent did not finish")
    end
  end
end
