defmodule Linx.Process.SeccompRawTest do
  use Linx.Case, async: true

  import Bitwise

  # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }, little-endian.
  defp insn(code, jt, jf, k), do: <<code::little-16, jt::8, jf::8, k::little-32>>
  @ret_k 0x06
  @allow 0x7FFF0000

  test "a 4096-instruction allow-all filter installs" do
    bpf = :binary.copy(insn(@ret_k, 0, 0, @allow), 4096)
    assert byte_size(bpf) == 32_768

    {out, 0} =
      Linx.Process.run(["/bin/grep", "^Seccomp:", "/proc/self/status"], seccomp: {:bpf, bpf})

    # 2 = SECCOMP_MODE_FILTER
    assert out =~ ~r/Seccomp:\s+2/
  end

  test "a filter returning ERRNO(EPERM) for getppid... is seen by the workload" do
    # A load of nr, a comparison, two returns: uname(63) fails with EPERM.
    bpf =
      insn(0x20, 0, 0, 0) <>
        insn(0x15, 0, 1, 63) <>
        insn(@ret_k, 0, 0, 0x00050000 ||| 1) <>
        insn(@ret_k, 0, 0, @allow)

    {out, 1} = Linx.Process.run(["/bin/uname"], seccomp: {:bpf, bpf}, stderr_to_stdout: true)
    assert out =~ "Operation not permitted"
  end

  test "a filter the kernel refuses is a pre-exec error at :seccomp_install" do
    # A jump past the end.
    bpf = insn(0x15, 5, 5, 0) <> insn(@ret_k, 0, 0, @allow)

    assert {:error, {:einval, :seccomp_install}} =
             Linx.Process.spawn(argv: ["/bin/true"], seccomp: {:bpf, bpf})
  end

  test "a filter with the wrong size is refused before any port opens" do
    assert_raise ArgumentError, ~r/:seccomp/, fn ->
      Linx.Process.spawn(argv: ["/bin/true"], seccomp: {:bpf, <<1, 2, 3>>})
    end
  end
end
