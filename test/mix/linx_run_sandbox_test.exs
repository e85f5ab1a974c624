defmodule Mix.Tasks.Linx.RunSandboxTest do
  # The sandbox flags of mix linx.run, run as a user would, in a separate
  # `mix` process.
  use ExUnit.Case, async: true

  @setup Path.expand("../../script/setup", __DIR__)

  setup_all do
    {_, 0} = System.cmd(@setup, ["busybox-static"], stderr_to_stdout: true)
    :ok
  end

  defp mix_run(args) do
    System.cmd("mix", ["linx.run" | args], env: [{"MIX_ENV", "test"}], stderr_to_stdout: true)
  end

  test "--root tmpfs with --ro-bind, --tmpfs, --proc, --dev, --hostname, in order" do
    {out, 0} =
      mix_run(
        ~w(--root tmpfs --ro-bind /bin/busybox:/bin/busybox --tmpfs /t --proc /proc --dev /dev
           --hostname box -- /bin/busybox sh -c) ++
          [
            "/bin/busybox ls /; /bin/busybox hostname; echo /proc/[0-9]*; test -e /dev/null && echo null"
          ]
      )

    assert out =~ "bin\ndev\nproc\nt\nbox\n/proc/1\nnull\n"
  end

  test "--bind SRC:DST writes through; --root DIR pivots into it" do
    dir = Path.join(System.tmp_dir!(), "linx-run-root-#{System.unique_integer([:positive])}")
    File.mkdir_p!(Path.join(dir, "bin"))
    File.mkdir_p!(Path.join(dir, "data"))
    File.cp!("/bin/busybox", Path.join(dir, "bin/busybox"))
    data = Path.join(System.tmp_dir!(), "linx-run-data-#{System.unique_integer([:positive])}")
    File.mkdir_p!(data)

    {out, 0} =
      mix_run(
        ["--root", dir, "--bind", "#{data}:/data", "--", "/bin/busybox", "sh", "-c"] ++
          ["echo hi > /data/f; /bin/busybox ls /"]
      )

    assert out =~ "bin\ndata\n"
    assert File.read!(Path.join(data, "f")) == "hi\n"
  end

  test "--sandbox (minimal by default), --sandbox network" do
    {out, 0} = mix_run(~w(--sandbox -- /bin/sh -c) ++ ["id -u; hostname"])
    assert out =~ "1000\nlinx\n"

    {out, 0} = mix_run(~w(--sandbox network -- /bin/sh -c) ++ ["readlink /proc/self/ns/net"])
    assert out =~ File.read_link!("/proc/self/ns/net")
  end

  test "a failed mount is named, exit 127; a bad flag is refused" do
    {out, 127} = mix_run(~w(--root tmpfs --ro-bind /nope:/x -- /bin/true))
    assert out =~ ~s({:ro_bind, "/nope", "/x"}: enoent at stage {:mount, 0})

    {out, status} = mix_run(~w(--bind nocolon -- /bin/true))
    assert status != 0
    assert out =~ "SRC:DST"

    {out, status} = mix_run(~w(--sandbox huge -- /bin/true))
    assert status != 0
    assert out =~ "unknown --sandbox preset"

    {out, status} = mix_run(~w(--sandbox=huge -- /bin/true))
    assert status != 0
    assert out =~ ~s(unknown --sandbox preset "huge")
    refute out =~ "FunctionClauseError"
  end

  test "--sandbox without \"--\": the word after it is the command; --sandbox=network" do
    {out, 0} = mix_run(~w(--sandbox /usr/bin/id))
    assert out =~ "uid=1000 gid=1000"

    {out, 0} = mix_run(~w(--sandbox=network -- /bin/readlink /proc/self/ns/net))
    assert out =~ File.read_link!("/proc/self/ns/net")
  end
end
