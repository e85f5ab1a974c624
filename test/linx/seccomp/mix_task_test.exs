defmodule Linx.Seccomp.MixTaskTest do
  # `mix linx.seccomp` with JSON in and out: a real Podman profile compiled
  # straight from its .json, a recording written as .json and compiled back.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO

  alias Linx.Seccomp.BPF

  @moduletag :integration
  @moduletag :tmp_dir

  @podman Path.expand("../../fixtures/seccomp/podman_common.json", __DIR__)

  defp task(args) do
    Mix.Task.reenable("linx.seccomp")
    Mix.Tasks.Linx.Seccomp.run(args)
  end

  test "compile podman.json writes BPF that allows setns, and warns about the override", %{
    tmp_dir: dir
  } do
    out = Path.join(dir, "podman.bpf")

    stderr =
      capture_io(:stderr, fn -> capture_io(fn -> task(["compile", @podman, "-o", out]) end) end)

    assert stderr =~ "syscalls[16] setns: {:errno, 1} has no effect"
    bpf = File.read!(out)
    assert BPF.emulate(bpf, %{nr: 308}) == :allow
    assert BPF.emulate(bpf, %{nr: 246}) == {:errno, 1}
  end

  test "record -o profile.json -- CMD ARGS, then compile profile.json", %{tmp_dir: dir} do
    json = Path.join(dir, "profile.json")

    stderr =
      capture_io(:stderr, fn ->
        task(["record", "-o", json, "--args", "socket", "--", "/bin/echo", "hello"])
      end)

    assert stderr =~ "hello\n"
    assert stderr =~ ~r/recorded \d+ distinct system calls/
    oci = Linx.JSON.decode!(File.read!(json))
    assert %{"defaultAction" => "SCMP_ACT_ERRNO", "syscalls" => [%{"names" => names} | _]} = oci
    assert "execve" in names and "write" in names

    bpf_out = Path.join(dir, "profile.bpf")
    capture_io(fn -> task(["compile", json, "-o", bpf_out]) end)
    {:ok, policy} = Linx.Seccomp.from_oci(oci)

    assert Linx.Process.run(["/bin/echo", "hello"], seccomp: {:bpf, File.read!(bpf_out)}) ==
             {"hello\n", 0}

    assert Linx.Process.run(["/bin/echo", "hello"], seccomp: policy) == {"hello\n", 0}
  end

  test "a bad .json names the byte", %{tmp_dir: dir} do
    bad = Path.join(dir, "bad.json")
    File.write!(bad, ~s({"defaultAction": "SCMP_ACT_ALLOW",}))

    assert_raise Mix.Error, ~r/bad.json: invalid JSON at byte 35: expected a string key/, fn ->
      task(["compile", bad])
    end
  end
end
