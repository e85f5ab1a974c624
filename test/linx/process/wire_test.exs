defmodule Linx.Process.WireTest do
  use ExUnit.Case, async: true

  alias Linx.Process.Wire

  # The agent's stage table, read the way a reviewer reads it: the names
  # in c_src/error.h, as binaries (no atom is created here).
  @stage_names Regex.scan(~r/^\s*X\(\w+,\s*"(\w+)"/m, File.read!("c_src/error.h"))
               |> Enum.map(fn [_, name] -> name end)

  # {:error, 2, stage} as the agent encodes it (SMALL_ATOM_UTF8_EXT), built
  # by hand so that the test itself never makes the stage atom exist.
  defp error_frame(stage),
    do: <<131, 104, 3, 119, 5, "error", 97, 2, 119, byte_size(stage), stage::binary>>

  describe "agent atoms" do
    test "every stage of c_src/error.h is an agent atom" do
      assert length(@stage_names) > 40
      known = Enum.map(Wire.agent_atoms(), &Atom.to_string/1)
      assert @stage_names -- known == []
      assert "cgroup" in known and "none" in known
    end

    test "every {:error, errno, stage} frame the agent can send decodes" do
      for stage <- @stage_names do
        assert {:error, 2, atom} = Wire.decode(error_frame(stage))
        assert Atom.to_string(atom) == stage
      end
    end

    test "a stage the agent does not have stays undecodable" do
      bin = error_frame("no_such_stage_in_error_h")
      assert Wire.decode(bin) == {:undecodable, bin}
    end
  end

  describe "terminal events" do
    require Wire

    defp terminal?(event) when Wire.is_terminal(event), do: true
    defp terminal?(_), do: false

    test "a refused command is the one error that is not terminal" do
      for event <- [{:exited, 0}, {:signaled, 9}, {:agent_died, 137}, :aborted] do
        assert terminal?(event), inspect(event)
      end

      for stage <- Wire.stages() -- Wire.command_refusals() do
        assert terminal?({:error, :eperm, stage}), inspect(stage)
      end

      for stage <- Wire.command_refusals() do
        refute terminal?({:error, :einval, stage})
        assert stage in Wire.stages()
      end

      refute terminal?({:stdout, "x"})
      refute terminal?({:notify_summary, :ok})
    end
  end
end
