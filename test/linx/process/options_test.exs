defmodule Linx.Process.OptionsTest do
  use ExUnit.Case, async: true
  import Bitwise

  # Validation happens before any port opens: these never reach the agent.
  defp spawn_error(opts) do
    assert_raise ArgumentError, fn -> Linx.Process.spawn(opts) end
  end

  test "argv is required, non-empty, binaries only" do
    assert spawn_error([]).message =~ ":argv"
    assert spawn_error(argv: []).message =~ ":argv"
    e = spawn_error(argv: ["/bin/echo", :hello])
    assert e.message =~ ":argv"
    assert e.message =~ ":hello"
    assert e.message =~ "element 1"
    assert spawn_error(argv: "/bin/true").message =~ ":argv"
    assert spawn_error(argv: ["/bin/echo", "a\0b"]).message =~ "NUL"
  end

  test "an unknown namespace is named" do
    e = spawn_error(argv: ["/bin/true"], namespaces: [:user, :bogus])
    assert e.message =~ ":namespaces"
    assert e.message =~ ":bogus"
  end

  test "bad map entries are named" do
    e = spawn_error(argv: ["/bin/true"], namespaces: [:user], uid_map: [{0, 1000, 1}, {1, -5, 1}])

    assert e.message =~ ":uid_map"
    assert e.message =~ "{1, -5, 1}"

    assert spawn_error(argv: ["/bin/true"], namespaces: [:user], gid_map: [{0, 0, 0}]).message =~
             ":gid_map"

    assert spawn_error(argv: ["/bin/true"], uid_map: [{0, 0, 1}]).message =~ "add :user"
  end

  test "uid_map: :caller maps the BEAM's own ids to 0, like unshare -r" do
    %File.Stat{uid: uid, gid: gid} = File.stat!("/proc/self")

    o =
      Linx.Process.Options.validate!(
        [argv: ["/bin/true"], namespaces: [:user], uid_map: :caller, gid_map: :caller],
        :spawn
      )

    assert o.uid_map == [{0, uid, 1}]
    assert o.gid_map == [{0, gid, 1}]

    assert spawn_error(argv: ["/bin/true"], namespaces: [:user], uid_map: :me).message =~
             ":caller"

    # and inside, the workload is root
    assert Linx.Process.run(["/usr/bin/id", "-u"],
             namespaces: [:user],
             uid_map: :caller,
             gid_map: :caller
           ) == {"0\n", 0}
  end

  test "env entries" do
    assert spawn_error(argv: ["/bin/true"], env: [{"A=B", "c"}]).message =~ ":env"
    assert spawn_error(argv: ["/bin/true"], env: [{:a, "c"}]).message =~ ":env"
    assert spawn_error(argv: ["/bin/true"], env: %{"A" => "b"}).message =~ ":env"
  end

  test "stdio" do
    assert spawn_error(argv: ["/bin/true"], stdio: :tty).message =~ ":stdio"
    assert spawn_error(argv: ["/bin/true"], stdio: [stdout: :pty]).message =~ ":stdout"
    assert spawn_error(argv: ["/bin/true"], stdio: [stdfoo: :pipe]).message =~ ":stdfoo"

    assert spawn_error(argv: ["/bin/true"], stdio: [stdin: {:connect_unix, 5}]).message =~
             ":stdin"
  end

  test "stdio_window: bytes from 1024 to 2^40, sent to the agent" do
    for bad <- [0, -1, 1023, 1.5, :infinity, 1 <<< 41] do
      e = spawn_error(argv: ["/bin/true"], stdio_window: bad)
      assert e.message =~ ":stdio_window"
      assert e.message =~ "from 1024"
    end

    o = Linx.Process.Options.validate!([argv: ["/bin/true"], stdio_window: 4096], :spawn)
    assert {:spawn, %{stdio_window: 4096}} = Linx.Process.Wire.request(o, false)
    o = Linx.Process.Options.validate!([argv: ["/bin/true"]], :spawn)
    assert {:spawn, %{stdio_window: 1_048_576}} = Linx.Process.Wire.request(o, false)
  end

  test "unknown options and bad scalar values" do
    assert spawn_error(argv: ["/bin/true"], bogus: 1).message =~ ":bogus"
    assert spawn_error(argv: ["/bin/true"], cwd: :tmp).message =~ ":cwd"
    assert spawn_error(argv: ["/bin/true"], on_exit: :maybe).message =~ ":on_exit"
    assert spawn_error(argv: ["/bin/true"], checkpoint: 1).message =~ ":checkpoint"
    assert spawn_error(argv: ["/bin/true"], owner: :me).message =~ ":owner"
    assert spawn_error(argv: ["/bin/true"], winsize: {24}).message =~ ":winsize"
    assert spawn_error(argv: ["/bin/true"], no_new_privs: "yes").message =~ ":no_new_privs"
  end

  test "enter validates its target and refuses maps" do
    assert_raise ArgumentError, ~r/target/, fn -> Linx.Process.enter(0, argv: ["/bin/true"]) end
    assert_raise ArgumentError, ~r/target/, fn -> Linx.Process.enter("1", argv: ["/bin/true"]) end

    assert_raise ArgumentError, ~r/uid_map/, fn ->
      Linx.Process.enter(1, argv: ["/bin/true"], uid_map: [{0, 0, 1}])
    end
  end

  test "run/2 refuses options it decides itself" do
    assert_raise ArgumentError, ~r/:stdio/, fn -> Linx.Process.run(["/bin/true"], stdio: :pty) end
  end
end
