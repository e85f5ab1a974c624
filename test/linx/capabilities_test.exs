defmodule Linx.CapabilitiesTest do
  use ExUnit.Case, async: true

  import Bitwise

  alias Linx.Capabilities, as: Caps

  doctest Linx.Capabilities

  describe "table" do
    test "matches the kernel headers' numbering" do
      header = File.read!("/usr/include/linux/capability.h")

      from_header =
        Regex.scan(~r/^#define CAP_([A-Z_]+)\s+(\d+)\s*$/m, header)
        |> Enum.map(fn [_, name, n] ->
          {String.to_atom(String.downcase(name)), String.to_integer(n)}
        end)

      assert length(from_header) == 41
      for {name, n} <- from_header, do: assert(Caps.number(name) == {:ok, n})
      assert Caps.all() == Enum.map(Enum.sort_by(from_header, &elem(&1, 1)), &elem(&1, 0))
    end

    test "name/number round trip and unknown numbers" do
      for {name, n} <- Enum.with_index(Caps.all()) do
        assert Caps.name(n) == name
        assert Caps.number(name) == {:ok, n}
      end

      assert Caps.name(63) == {:unknown, 63}
      assert Caps.number({:unknown, 45}) == {:ok, 45}
      assert Caps.number(64) == :error
      assert Caps.number("cap_sys_admin") == {:ok, 21}
    end
  end

  describe "masks" do
    test "to_mask refuses an unknown name and names it" do
      err = assert_raise ArgumentError, fn -> Caps.to_mask([:chown, :fly]) end
      assert err.message =~ ":fly"
    end

    test ":all covers exactly 0..last_cap of the running kernel" do
      last = Caps.last_cap()

      assert last ==
               File.read!("/proc/sys/kernel/cap_last_cap") |> String.trim() |> String.to_integer()

      assert Caps.to_mask(:all) == (1 <<< (last + 1)) - 1
      assert length(Caps.from_mask(Caps.to_mask(:all))) == last + 1
    end

    test "from_mask keeps bits newer than the table" do
      assert Caps.from_mask(1 <<< 21 ||| 1 <<< 50) == [:sys_admin, {:unknown, 50}]
      assert Caps.to_mask(Caps.from_mask(1 <<< 21 ||| 1 <<< 50)) == (1 <<< 21 ||| 1 <<< 50)
    end

    test "format_mask pads to 16 digits" do
      assert Caps.format_mask(0) == "0000000000000000"
      assert Caps.format_mask(0xFFFFFFFFFFFFFFFF) == "ffffffffffffffff"
    end
  end

  describe "parse_status" do
    test "reads the test process's own sets" do
      text = File.read!("/proc/self/status")
      sets = Caps.parse_status(text)

      for {key, field} <- [
            {"CapInh", :inheritable},
            {"CapPrm", :permitted},
            {"CapEff", :effective},
            {"CapBnd", :bounding},
            {"CapAmb", :ambient}
          ] do
        [_, hex] = Regex.run(~r/^#{key}:\s*([0-9a-f]+)$/m, text)
        assert Caps.format_mask(Map.fetch!(sets, field)) == hex
      end

      # The effective set is always within the permitted set, and the
      # bounding set never names a capability the kernel does not have.
      assert (sets.effective &&& ~~~sets.permitted) == 0
      assert (sets.bounding &&& ~~~Caps.to_mask(:all)) == 0
      assert Caps.read_status(:self).bounding == sets.bounding
    end

    test "missing lines" do
      assert_raise ArgumentError, ~r/CapEff/, fn ->
        Caps.parse_status("CapInh:\t0\nCapPrm:\t0\nCapBnd:\t0\n")
      end

      assert Caps.parse_status("CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t1\n").ambient == 0
    end
  end
end
