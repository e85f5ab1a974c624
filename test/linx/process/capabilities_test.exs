defmodule Linx.Process.CapabilitiesTest do
  use Linx.Case, async: true

  import Bitwise
  alias Linx.Capabilities

  @nbs 1 <<< 10

  # The workload's own view of its five sets after exec.
  defp exec_caps(opts) do
    {out, 0} = Linx.Process.run(["/bin/cat", "/proc/self/status"], opts)
    Capabilities.parse_status(out)
  end

  defp host_id(field) do
    [_, id] = Regex.run(~r/^#{field}:\s+(\d+)/m, File.read!("/proc/self/status"))
    String.to_integer(id)
  end

  test "drop: :all leaves every set empty" do
    caps = exec_caps(capabilities: [drop: :all])
    assert caps == %{effective: 0, permitted: 0, inheritable: 0, bounding: 0, ambient: 0}
  end

  test "keep one: exactly that bit in effective, permitted and bounding" do
    caps = exec_caps(capabilities: [keep: [:net_bind_service], drop: :all])
    assert caps.effective == @nbs
    assert caps.permitted == @nbs
    assert caps.bounding == @nbs
    assert caps.inheritable == 0
    assert caps.ambient == 0
  end

  test "drop a list keeps the rest" do
    caps = exec_caps(capabilities: [drop: [:sys_admin, :net_raw]])
    # The BEAM's own bounding set (a container may already lack some caps).
    all = Capabilities.read_status().bounding
    assert caps.bounding == (all &&& ~~~Capabilities.to_mask([:sys_admin, :net_raw]))
    assert (caps.effective &&& Capabilities.to_mask([:sys_admin])) == 0
  end

  describe "ambient" do
    setup do
      %{uid: host_id("Uid"), gid: host_id("Gid")}
    end

    test "raised for a non-root uid in a user namespace, the cap survives exec", ids do
      opts = [
        namespaces: [:user],
        uid_map: [{1000, ids.uid, 1}],
        gid_map: [{1000, ids.gid, 1}],
        capabilities: [keep: [:net_bind_service], ambient: [:net_bind_service]]
      ]

      {out, 0} = Linx.Process.run(["/bin/sh", "-c", "id -u; cat /proc/self/status"], opts)
      [uid, status] = String.split(out, "\n", parts: 2)
      assert uid == "1000"
      caps = Capabilities.parse_status(status)
      assert caps.ambient == @nbs
      assert caps.effective == @nbs
      assert caps.permitted == @nbs
      assert caps.inheritable == @nbs
    end

    test "without ambient the same uid execs with nothing", ids do
      opts = [
        namespaces: [:user],
        uid_map: [{1000, ids.uid, 1}],
        gid_map: [{1000, ids.gid, 1}],
        capabilities: [keep: [:net_bind_service]]
      ]

      caps = exec_caps(opts)
      assert caps.effective == 0
      assert caps.permitted == 0
    end
  end

  describe "impossible combinations are refused before spawning" do
    test "ambient outside keep" do
      e =
        assert_raise ArgumentError, fn ->
          Linx.Process.spawn(
            argv: ["/bin/true"],
            capabilities: [keep: [:kill], inheritable: [:kill], ambient: [:chown]]
          )
        end

      assert e.message =~ "ambient"
      assert e.message =~ ":chown"
    end

    test "effective outside permitted" do
      assert_raise ArgumentError, ~r/effective/, fn ->
        Linx.Process.spawn(
          argv: ["/bin/true"],
          capabilities: [permitted: [:kill], effective: [:kill, :chown]]
        )
      end
    end

    test "unknown capability names" do
      assert_raise ArgumentError, ~r/:bogus_cap/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], capabilities: [keep: [:bogus_cap]])
      end
    end
  end

  describe "caps_query at the checkpoint" do
    test "reports the sets the child is about to exec with" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/true"],
          checkpoint: true,
          capabilities: [keep: [:kill, :net_bind_service]]
        )

      # Lists of names, in capability order; to_mask/1 gives the kernel's mask
      assert {:ok, sets} = Linx.Process.capabilities(proc)
      assert sets.effective == [:kill, :net_bind_service]
      assert sets.permitted == [:kill, :net_bind_service]
      assert sets.bounding == [:kill, :net_bind_service]
      assert sets.ambient == []
      assert Capabilities.to_mask(sets.effective) == (1 <<< 5 ||| 1 <<< 10)
      :ok = Linx.Process.proceed(proc)
      assert {:exited, 0} = Linx.Process.await(proc)
    end
  end

  describe "a failing capability command" do
    test "is reported with its stage and the workload never runs" do
      path = Path.join(:code.priv_dir(:linx), "linx_process")

      port =
        Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

      marker = Path.join(tmp_dir!("capfail"), "ran")

      Port.command(
        port,
        :erlang.term_to_binary({:spawn, %{argv: ["/bin/touch", marker], checkpoint: true}})
      )

      assert_receive {^port, {:data, spawned}}, 5000
      assert {:status, :spawned, _} = :erlang.binary_to_term(spawned)
      assert_receive {^port, {:data, ready}}, 5000
      assert {:status, :ready, _} = :erlang.binary_to_term(ready)

      # Raising an ambient cap that is not inheritable: EPERM in the child,
      # whose message names the step and the cap (issue 10 part 5).
      Port.command(port, :erlang.term_to_binary({:cap_set_ambient, @nbs}))
      assert_receive {^port, {:data, detail}}, 5000

      assert {:error_detail, :cap_set_ambient, :none, "raise ambient cap 10"} =
               :erlang.binary_to_term(detail)

      assert_receive {^port, {:data, err}}, 5000
      assert {:error, 1, :cap_set_ambient} = :erlang.binary_to_term(err)
      assert_receive {^port, {:exit_status, 5}}, 5000
      refute File.exists?(marker)
    end
  end
end
