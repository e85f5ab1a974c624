defmodule Linx.Process.NamespacesTest do
  use Linx.Case, async: true

  # namespace option atom => /proc/PID/ns name
  @types [
    user: "user",
    mount: "mnt",
    uts: "uts",
    ipc: "ipc",
    cgroup: "cgroup",
    net: "net",
    time: "time",
    pid: "pid"
  ]

  defp raw_stdout(port, acc) do
    receive do
      {^port, {:data, bin}} ->
        case :erlang.binary_to_term(bin) do
          {:stdout, data} -> raw_stdout(port, acc <> data)
          {:status, :exited, _} -> acc
          {:error, _, _} = e -> flunk("agent error #{inspect(e)}")
          _ -> raw_stdout(port, acc)
        end
    after
      5000 -> flunk("no terminal frame; stdout so far #{inspect(acc)}")
    end
  end

  defp inside_ns(type, namespaces) do
    {out, 0} =
      Linx.Process.run(["/bin/readlink", "/proc/self/ns/#{type}"], namespaces: namespaces)

    String.trim(out)
  end

  describe "spawn with one new namespace" do
    for {ns, type} <- @types do
      test "#{ns}: /proc/self/ns/#{type} differs from the host's" do
        assert inside_ns(unquote(type), [unquote(ns)]) != host_ns(unquote(type))
      end
    end
  end

  describe "spawn without namespaces" do
    for {ns, type} <- @types do
      test "#{ns}: /proc/self/ns/#{type} equals the host's" do
        assert inside_ns(unquote(type), []) == host_ns(unquote(type))
      end
    end

    test "a namespace not asked for stays the host's when others are new" do
      assert inside_ns("net", [:uts, :ipc]) == host_ns("net")
      assert inside_ns("uts", [:uts, :ipc]) != host_ns("uts")
    end
  end

  describe "all eight at once" do
    test "every inode differs" do
      script = Enum.map_join(@types, "; ", fn {_, t} -> "readlink /proc/self/ns/#{t}" end)

      {out, 0} =
        Linx.Process.run(["/bin/sh", "-c", script],
          namespaces: Keyword.keys(@types),
          uid_map: [{0, 0, 1}],
          gid_map: [{0, 0, 1}]
        )

      inside = String.split(out, "\n", trim: true)
      assert length(inside) == 8

      for {{_, type}, link} <- Enum.zip(@types, inside) do
        assert link =~ type
        assert link != host_ns(type)
      end
    end
  end

  describe "pid namespace" do
    test "the workload is pid 1 and ns_pid says so" do
      {:ok, proc} =
        Linx.Process.spawn(argv: ["/bin/sh", "-c", "echo $$"], namespaces: [:pid], stdio: :pipe)

      assert Linx.Process.ns_pid(proc) == 1
      assert Linx.Process.os_pid(proc) > 1
      events = collect_events(proc)
      assert output(events) == "1\n"
      assert List.last(events) == {:exited, 0}
    end

    test "without a pid namespace ns_pid equals os_pid" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "5"])
      assert Linx.Process.ns_pid(proc) == Linx.Process.os_pid(proc)
      :ok = Linx.Process.signal(proc, :sigkill)
      assert Linx.Process.await(proc) == {:signaled, 9}
    end
  end

  describe "user namespace" do
    test "uid_map [{0, host_uid, 1}] makes the workload root inside" do
      host_uid = host_id("Uid")
      host_gid = host_id("Gid")

      {out, 0} =
        Linx.Process.run(["/bin/sh", "-c", "id -u; id -g; cat /proc/self/uid_map"],
          namespaces: [:user],
          uid_map: [{0, host_uid, 1}],
          gid_map: [{0, host_gid, 1}]
        )

      assert [uid, gid, map] = String.split(out, "\n", trim: true)
      assert uid == "0"
      assert gid == "0"
      assert String.split(map) == ["0", "#{host_uid}", "1"]
    end

    test "uid/gid: root inside a container mapped to 100000 outside" do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "id -u; id -g; read x"],
          namespaces: [:user],
          uid_map: [{0, 100_000, 65536}],
          gid_map: [{0, 100_000, 65536}],
          uid: 0,
          gid: 0,
          stdio: :pipe
        )

      assert_receive {:linx_process, ^proc, {:stdout, out}}, 5000
      out = if out =~ ~r/\n.*\n/, do: out, else: out <> receive_stdout(proc)
      assert out == "0\n0\n"
      # The host sees the mapped ids.
      status = File.read!("/proc/#{Linx.Process.os_pid(proc)}/status")
      assert status =~ ~r/^Uid:\s+100000\s/m
      assert status =~ ~r/^Gid:\s+100000\s/m
      Linx.Process.close_stdin(proc)
      assert {:exited, _} = Linx.Process.await(proc)
    end

    test "uid/gid outside the map fail at :setresgid before exec" do
      assert {:error, {:einval, :setresgid}} =
               Linx.Process.spawn(
                 argv: ["/bin/true"],
                 namespaces: [:user],
                 uid_map: [{0, 100_000, 10}],
                 gid_map: [{0, 100_000, 10}],
                 uid: 500,
                 gid: 500
               )
    end

    test "uid without gid is refused before spawning" do
      assert_raise ArgumentError, ~r/uid.*gid/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], uid: 0)
      end
    end

    test "an unmapped user namespace shows the overflow uid" do
      {out, 0} = Linx.Process.run(["/bin/id", "-u"], namespaces: [:user])
      assert String.trim(out) == File.read!("/proc/sys/kernel/overflowuid") |> String.trim()
    end

    test "the agent writes the maps itself: a raw request with uid_map runs mapped, no BEAM frame" do
      # No :proceed, no write from the BEAM: the request alone carries the
      # maps and the workload runs as root inside at once.
      path = Path.join(:code.priv_dir(:linx), "linx_process")
      port = Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}])

      request =
        {:spawn,
         %{
           argv: ["/bin/sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/setgroups"],
           namespaces: [:user],
           stdio: [stdin: :devnull, stdout: :pipe, stderr: :inherit],
           checkpoint: false,
           uid_map: [{0, 0, 1}],
           gid_map: [{0, 0, 1}],
           setgroups: :deny
         }}

      Port.command(port, :erlang.term_to_binary(request))
      out = raw_stdout(port, "")
      assert [uid, map, setgroups] = String.split(out, "\n", trim: true)
      assert uid == "0"
      assert String.split(map) == ["0", "0", "1"]
      assert setgroups == "deny"
    end

    test "uid_map: :caller is written to the workload's /proc/PID/uid_map" do
      host_uid = host_id("Uid")

      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "id -u; read x"],
          namespaces: [:user, :pid, :mount, :uts, :ipc],
          uid_map: :caller,
          gid_map: :caller,
          setgroups: :allow,
          stdio: :pipe
        )

      assert_receive {:linx_process, ^proc, {:stdout, "0\n"}}, 5000
      os_pid = Linx.Process.os_pid(proc)
      assert String.split(File.read!("/proc/#{os_pid}/uid_map")) == ["0", "#{host_uid}", "1"]
      assert File.read!("/proc/#{os_pid}/setgroups") == "allow\n"
      Linx.Process.close_stdin(proc)
      assert {:exited, _} = Linx.Process.await(proc)
    end

    test "a map the kernel refuses fails at :uid_map, with the agent's text" do
      # Overlapping inside ranges: EINVAL from the write of uid_map.
      assert {:error, {:einval, :uid_map}} =
               Linx.Process.spawn(
                 argv: ["/bin/true"],
                 namespaces: [:user],
                 uid_map: [{0, 100_000, 10}, {5, 200_000, 10}],
                 gid_map: [{0, 100_000, 10}]
               )

      assert %Linx.Process.Error{errno: :einval, stage: :uid_map, detail: detail} =
               Linx.Process.last_error()

      assert detail =~ ~r{uid_map.*0 100000 10\n5 200000 10}s
    end

    test "setgroups: :deny is written before the gid map" do
      {out, 0} =
        Linx.Process.run(["/bin/cat", "/proc/self/setgroups"],
          namespaces: [:user],
          uid_map: [{0, 0, 1}],
          gid_map: [{0, 0, 1}],
          setgroups: :deny
        )

      assert String.trim(out) == "deny"
    end
  end

  describe "uts namespace" do
    test "hostname changes stay inside" do
      {out, 0} =
        Linx.Process.run(["/bin/sh", "-c", "hostname linx-inside && hostname"],
          namespaces: [:uts]
        )

      assert out == "linx-inside\n"
      refute String.trim(File.read!("/proc/sys/kernel/hostname")) == "linx-inside"
    end
  end

  defp receive_stdout(proc) do
    receive do
      {:linx_process, ^proc, {:stdout, more}} -> more
    after
      5000 -> ""
    end
  end

  defp host_id(field) do
    [_, id] = Regex.run(~r/^#{field}:\s+(\d+)/m, File.read!("/proc/self/status"))
    String.to_integer(id)
  end
end
