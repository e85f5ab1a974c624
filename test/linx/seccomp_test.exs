defmodule Linx.SeccompTest do
  # Real programs under compiled policies, through the agent: the filter is
  # installed at the checkpoint and applies to the workload's execve.
  # Tagged :integration (needs the agent built). Nothing here is skipped:
  # a policy that libseccomp cannot compile raises in the test, which fails.
  use ExUnit.Case, async: true

  alias Linx.Seccomp

  @moduletag :integration

  @docker elem(Code.eval_file("priv/seccomp/docker_default.exs"), 0)
  @python "/usr/bin/python3"

  defp run(argv, seccomp), do: Linx.Process.run(argv, seccomp: seccomp, stderr_to_stdout: true)

  defp docker do
    {:ok, policy} = Seccomp.from_oci(@docker)
    policy
  end

  describe "Docker's default profile" do
    test "/bin/sh pipelines work" do
      assert run(["/bin/sh", "-c", "echo hello | tr a-z A-Z | cat"], docker()) == {"HELLO\n", 0}

      assert run(["/bin/sh", "-c", "ls / | grep -c . >/dev/null && echo ok"], docker()) ==
               {"ok\n", 0}
    end

    test "the raw OCI map works as well as the converted policy" do
      assert run(["/bin/echo", "hi"], @docker) == {"hi\n", 0}
    end

    test "unshare -U fails with EPERM" do
      {out, status} = run(["/usr/bin/unshare", "-U", "/bin/true"], docker())
      assert status != 0
      assert out =~ "Operation not permitted"
    end

    test "mount fails with EPERM" do
      {out, status} = run(["/usr/bin/mount", "-t", "tmpfs", "none", "/mnt"], docker())
      assert status != 0
      assert out =~ ~r/permission denied|not permitted/i
    end

    test "threads work: clone3 answers ENOSYS and glibc falls back to clone" do
      if File.exists?(@python) do
        code =
          "import threading; t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()"

        assert run([@python, "-c", code], docker()) == {"thread\n", 0}
      end
    end
  end

  describe "deny_namespace_creation/0" do
    test "unshare fails, everything else works" do
      deny = Seccomp.deny_namespace_creation()
      {out, status} = run(["/usr/bin/unshare", "-n", "/bin/true"], deny)
      assert status != 0 and out =~ "Operation not permitted"
      assert run(["/bin/sh", "-c", "echo a | cat"], deny) == {"a\n", 0}
    end

    test "stacks with Docker's profile" do
      stack = [docker(), Seccomp.deny_namespace_creation()]
      assert run(["/bin/sh", "-c", "echo a | cat"], stack) == {"a\n", 0}
      {_, status} = run(["/usr/bin/unshare", "-U", "/bin/true"], stack)
      assert status != 0
    end
  end

  describe "policies" do
    test "ERRNO: the call fails with the errno given" do
      policy = Seccomp.policy(:allow, [{{:errno, :eacces}, [:open, :openat]}])
      {out, status} = run(["/bin/cat", "/etc/hostname"], policy)
      assert status != 0
      assert out =~ "Permission denied"
    end

    test "KILL_PROCESS: the workload dies of SIGSYS" do
      policy = Seccomp.policy(:allow, [{:kill_process, [:mkdir, :mkdirat]}])
      {_, status} = run(["/bin/mkdir", "/tmp/linx-seccomp-never"], policy)
      assert status == 128 + 31
      refute File.exists?("/tmp/linx-seccomp-never")
    end

    test "argument conditions: writes to fd 2 fail, writes to fd 1 pass" do
      policy = Seccomp.policy(:allow, [{{:errno, :eperm}, :write, [{0, :==, 2}]}])
      # The shell's `>&2` would dup fd 2 onto fd 1 and write to fd 1; cat's
      # error message is a real write(2, ...).
      assert {"out\n", _} = run(["/bin/sh", "-c", "echo out; cat /nonexistent-linx"], policy)
    end

    test "a default of EPERM for clone3 breaks threads; ENOSYS does not" do
      if File.exists?(@python) do
        code =
          "import threading; t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()"

        eperm = Seccomp.policy(:allow, [{{:errno, :eperm}, :clone3}])
        {out, status} = run([@python, "-c", code], eperm)
        assert status != 0 and out =~ "can't start new thread"

        enosys = Seccomp.policy(:allow, [{{:errno, :enosys}, :clone3}])
        assert run([@python, "-c", code], enosys) == {"thread\n", 0}
      end
    end

    test "precompiled BPF and policies mix in one stack" do
      {:ok, bpf} =
        Seccomp.compile(Seccomp.policy(:allow, [{{:errno, :eacces}, [:open, :openat]}]))

      {out, status} =
        run(["/bin/cat", "/etc/hostname"], [{:bpf, bpf}, Seccomp.deny_namespace_creation()])

      assert status != 0 and out =~ "Permission denied"
    end
  end
end
