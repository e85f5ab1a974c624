defmodule Linx.Process.Commands do
  @moduledoc false
  # Turns the :capabilities and :seccomp options into the agent's checkpoint
  # commands (docs/protocol.md), in the one order that works:
  #
  #   1. cap_drop_bounding  - needs CAP_SETPCAP, so before the thread sets drop
  #   2. cap_set_thread     - lowers effective/permitted/inheritable
  #   3. cap_set_ambient    - needs each cap in permitted and inheritable
  #   4. seccomp_install    - last, so the filter need not allow the steps above
  #
  # Filters stack in the order given.

  @spec from_options(term, term) :: [tuple]
  def from_options(caps, seccomp) do
    cap_commands(caps) ++ seccomp_commands(seccomp)
  end

  defp cap_commands(nil), do: []

  defp cap_commands(other) do
    raise ArgumentError,
          "invalid option :capabilities: got #{inspect(other)} (capability options are not supported yet)"
  end

  defp seccomp_commands(nil), do: []
  defp seccomp_commands(list) when is_list(list), do: Enum.map(list, &seccomp_command/1)
  defp seccomp_commands(one), do: [seccomp_command(one)]

  defp seccomp_command({:bpf, bin}) when is_binary(bin) do
    n = div(byte_size(bin), 8)

    unless rem(byte_size(bin), 8) == 0 and n in 1..4096 do
      raise ArgumentError,
            "invalid option :seccomp: {:bpf, binary} must hold 1..4096 8-byte instructions, " <>
              "got #{byte_size(bin)} bytes"
    end

    {:seccomp_install, bin}
  end

  defp seccomp_command(other) do
    raise ArgumentError,
          "invalid option :seccomp: got #{inspect(other, limit: 5)}, expected {:bpf, binary} " <>
            "or a list of them"
  end
end
