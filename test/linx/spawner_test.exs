defmodule Linx.SpawnerTest do
  # Turns the spawner off and on, kills its zygote: not async.
  use Linx.Case, async: false

  @ebin Path.join([Mix.Project.build_path(), "lib", "linx", "ebin"])

  setup do
    :ok = Linx.Pool.resize(2)
    assert eventually(fn -> Linx.Spawner.os_pid() != nil end, 5000)
    on_exit(fn -> Linx.Pool.resize(Application.get_env(:linx, :pool_size, 2)) end)
  end

  defp os_kill(sig, pid), do: System.cmd("kill", [sig, "#{pid}"], stderr_to_stdout: true)

  # The zygote's children: the agents it forked, serving or waiting.
  defp zygote_children(zygote) do
    "/proc/#{zygote}/task/#{zygote}/children"
    |> File.read!()
    |> String.split()
    |> Enum.map(&String.to_integer/1)
  end

  test "a workload's agent is forked by the zygote, and ends with the workload" do
    zygote = Linx.Spawner.os_pid()
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
    agent = ppid(Linx.Process.os_pid(proc))
    assert ppid(agent) == zygote
    assert File.read!("/proc/#{agent}/comm") == "linx_process\n"
    Linx.Process.stop(proc)
    assert_os_pid_exits(agent)
    assert Linx.Spawner.os_pid() == zygote
  end

  # What an agent holds open, by kind (pipe, socket, signalfd, a path...):
  # the numbers of pipes and sockets differ from agent to agent.
  defp open_fds(agent) do
    for fd <- File.ls!("/proc/#{agent}/fd"), into: %{} do
      {String.to_integer(fd),
       case File.read_link("/proc/#{agent}/fd/#{fd}") do
         {:ok, target} -> target |> String.replace(~r/\[\d+\]$/, "") |> own_group()
         {:error, _} -> :gone
       end}
    end
  end

  # the workload's own cgroup directory, whatever its name
  defp own_group(path) do
    if String.starts_with?(path, Linx.Cgroup.base() <> "/"), do: :own_cgroup, else: path
  end

  test "a forked agent holds the same descriptors as a port agent, none of the zygote's" do
    sleep = fn ->
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :pipe)
      agent = ppid(Linx.Process.os_pid(proc))
      {proc, agent, open_fds(agent)}
    end

    {forked_proc, forked, forked_fds} = sleep.()
    assert ppid(forked) == Linx.Spawner.os_pid()
    Linx.Spawner.enable(false)
    {port_proc, port_agent, port_fds} = sleep.()
    Linx.Spawner.enable(true)
    refute ppid(port_agent) == Linx.Spawner.os_pid()
    Linx.Process.stop(forked_proc)
    Linx.Process.stop(port_proc)
    # fds 0-2 are the BEAM's (inherited by both); the rest must match
    drop_std = &Map.drop(&1, [0, 1, 2])
    assert drop_std.(forked_fds) == drop_std.(port_fds)
  end

  test "an agent writes its frames onto the zygote's own pipe to the BEAM, not through the zygote" do
    zygote = Linx.Spawner.os_pid()
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
    agent = ppid(Linx.Process.os_pid(proc))
    assert File.read_link!("/proc/#{agent}/fd/4") == File.read_link!("/proc/#{zygote}/fd/4")
    assert File.read_link!("/proc/#{agent}/fd/4") =~ ~r/^pipe:/
    # fd 3 is its own: the zygote passes it the BEAM's frames
    refute File.read_link!("/proc/#{agent}/fd/3") == File.read_link!("/proc/#{zygote}/fd/3")
    Linx.Process.stop(proc)
  end

  test "sixteen agents writing large outputs at once onto that one pipe: every byte where it belongs" do
    # Frames longer than one atomic pipe write go in tagged pieces; the
    # pieces of sixteen agents interleave in the pipe and must come apart.
    results =
      1..16
      |> Task.async_stream(
        fn i ->
          line = String.duplicate(<<?a + rem(i, 26)>>, 99) <> "#{rem(i, 10)}\n"

          {out, 0} =
            Linx.Process.run(["/bin/sh", "-c", "yes #{String.trim(line)} | head -c #{101 * 3000}"])

          {i, out == :binary.copy(line, 3000)}
        end,
        max_concurrency: 16,
        timeout: 60_000
      )
      |> Enum.map(fn {:ok, r} -> r end)

    assert Enum.all?(results, &elem(&1, 1)), inspect(Enum.reject(results, &elem(&1, 1)))
  end

  test "an agent killed while it writes a large frame: the pieces are dropped, nothing else is hurt" do
    # 64 KiB reads make frames of 16 pieces: a SIGKILL in the stream
    # lands between two pieces of one frame nearly every time.
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/cat", "/dev/zero"], stdio: :pipe)
    assert_receive {:linx_process, ^proc, {:stdout, _}}, 5000
    agent = ppid(Linx.Process.os_pid(proc))
    os_kill("-9", agent)
    assert {:agent_died, _} = Linx.Process.await(proc, 5000)

    spawner = Process.whereis(Linx.Spawner)
    assert eventually(fn -> :sys.get_state(Linx.Spawner).pieces == %{} end)
    assert Process.whereis(Linx.Spawner) == spawner
    assert {"ok\n", 0} == Linx.Process.run(["/bin/echo", "ok"])
  end

  test "output, exit status, stdin, namespaces and maps as with a port agent" do
    assert Linx.Spawner.enabled?()
    assert {"hi\n", 0} == Linx.Process.run(["/bin/echo", "hi"])
    assert {"", 7} == Linx.Process.run(["/bin/sh", "-c", "exit 7"])
    assert {"ABC", 0} == Linx.Process.run(["/usr/bin/tr", "a-z", "A-Z"], input: "abc")

    assert {"1 0\n", 0} ==
             Linx.Process.run(["/bin/sh", "-c", "echo $$ $(id -u)"],
               namespaces: [:user, :pid, :mount],
               uid_map: [{0, 0, 1}],
               gid_map: [{0, 0, 1}]
             )

    # a large output, under the flow-control window and across it
    {out, 0} = Linx.Process.run(["/usr/bin/head", "-c", "3000000", "/dev/zero"])
    assert byte_size(out) == 3_000_000
  end

  defmodule DenyUname do
    @behaviour Linx.Seccomp.Notifier
    def init(_), do: {:ok, 0}
    def syscalls(_), do: [:uname]
    def handle_syscall(%{syscall: :uname}, n), do: {{:errno, :eperm}, n + 1}
    def summary(n), do: n
  end

  test "a notify handler answers through the channel from its own process" do
    assert {out, 1} =
             Linx.Process.run(["/bin/uname"], notify: {DenyUname, nil}, stderr_to_stdout: true)

    assert out =~ "Operation not permitted"
    assert_receive {:linx_process, _, {:notify_summary, 1}}
  end

  test "the server killed: the spawner closes the channel and the agent kills the tree" do
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
    workload = Linx.Process.os_pid(proc)
    agent = ppid(workload)
    Process.exit(proc, :kill)
    assert_os_pid_exits(workload)
    assert_os_pid_exits(agent)
  end

  test "the zygote killed: its workloads end, their owners are told, a new zygote serves" do
    zygote = Linx.Spawner.os_pid()
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
    workload = Linx.Process.os_pid(proc)
    os_kill("-9", zygote)
    assert {:agent_died, _} = Linx.Process.await(proc, 5000)
    assert_os_pid_exits(workload)
    assert eventually(fn -> Linx.Spawner.os_pid() not in [nil, zygote] end, 5000)
    assert {"again\n", 0} == Linx.Process.run(["/bin/echo", "again"])
  end

  test "agents forked ahead that die before answering: the spawn is retried once" do
    zygote = Linx.Spawner.os_pid()
    assert eventually(fn -> length(zygote_children(zygote)) >= 2 end)
    idle = zygote_children(zygote)
    # stopped, they take the request and answer nothing
    for a <- idle, do: os_kill("-STOP", a)
    task = Task.async(fn -> Linx.Process.run(["/bin/echo", "retried"]) end)
    Process.sleep(100)
    for a <- idle, do: os_kill("-9", a)
    assert Task.await(task, 10_000) == {"retried\n", 0}
  end

  test "malformed frames to the zygote are refused by name, and it serves on" do
    port =
      Port.open({:spawn_executable, Linx.Pool.agent_path()}, [
        :binary,
        :nouse_stdio,
        {:packet, 4},
        :exit_status,
        args: ["--zygote", "1"]
      ])

    Port.command(port, <<1, 2>>)
    assert_receive {^port, {:data, <<4, 0::32, text::binary>>}}, 2000
    assert text =~ "shorter"
    Port.command(port, <<9, 7::32>>)
    assert_receive {^port, {:data, <<4, 7::32, text::binary>>}}, 2000
    assert text =~ "unknown op"
    # data for, and a close of, a channel that does not exist: nothing
    Port.command(port, <<2, 8::32, "x">>)
    Port.command(port, <<3, 8::32>>)
    refute_receive {^port, _}, 200

    # then a real workload, whose frames come tagged, then its exit
    opts = Linx.Process.Options.validate!([argv: ["/bin/echo", "z"]], :run)
    request = Linx.Process.Wire.encode(Linx.Process.Wire.request(opts, false))
    Port.command(port, [<<1, 5::32>>, request])
    frames = collect(port, 5, [])
    assert {:status, :exited, 0} in frames
    # a forked agent does not wait for the close handshake: its exit
    # status follows its last frame
    assert_receive {^port, {:data, <<3, 5::32, 0::32>>}}, 2000
    # a channel closed before its agent is done: EOF for the agent, and
    # nothing more is sent for it
    sleeper = Linx.Process.Options.validate!([argv: ["/bin/sleep", "1000"]], :run)

    Port.command(port, [
      <<1, 6::32>>,
      Linx.Process.Wire.encode(Linx.Process.Wire.request(sleeper, false))
    ])

    [{:status, :spawned, workload} | _] = until_running(port, 6, [])
    Port.command(port, <<3, 6::32>>)
    assert_os_pid_exits(workload)
    refute_receive {^port, {:data, <<_, 6::32, _::binary>>}}, 300
    Port.close(port)
  end

  # The frames of channel `id` up to {:status, :running}, in order.
  defp until_running(port, id, acc) do
    receive do
      {^port, {:data, <<2, ^id::32, frame::binary>>}} ->
        case Linx.Process.Wire.decode(frame) do
          {:status, :running} = last -> Enum.reverse([last | acc])
          other -> until_running(port, id, [other | acc])
        end
    after
      5000 -> flunk("channel #{id} never ran: #{inspect(Enum.reverse(acc))}")
    end
  end

  defp collect(port, id, acc) do
    receive do
      {^port, {:data, <<2, ^id::32, frame::binary>>}} ->
        case Linx.Process.Wire.decode(frame) do
          {:status, :exited, 0} = last -> Enum.reverse([last | acc])
          other -> collect(port, id, [other | acc])
        end
    after
      5000 -> flunk("no exit for channel #{id}: #{inspect(Enum.reverse(acc))}")
    end
  end

  test "Linx.Pool.resize(0) turns the spawner off: agents are opened as ports" do
    :ok = Linx.Pool.resize(0)
    refute Linx.Spawner.enabled?()
    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "1000"], stdio: :devnull)
    refute ppid(ppid(Linx.Process.os_pid(proc))) == Linx.Spawner.os_pid()
    Linx.Process.stop(proc)
    :ok = Linx.Pool.resize(2)
    assert Linx.Spawner.enabled?()
  end

  # The spawner opens no descriptor in the BEAM per workload.
  @script """
  {:ok, _} = Application.ensure_all_started(:linx)
  Enum.find(1..250, fn _ -> Process.sleep(20); Linx.Spawner.os_pid() != nil end)
  fds = Stream.repeatedly(fn -> :file.open("/dev/null", [:read, :raw]) end)
        |> Enum.take_while(&match?({:ok, _}, &1))
  ran = for i <- 1..5, do: Linx.Process.run(["/bin/echo", "\#{i}"])
  Enum.each(fds, fn {:ok, fd} -> :file.close(fd) end)
  IO.puts("RESULT " <> Base.encode64(:erlang.term_to_binary({length(fds), ran})))
  """

  test "a BEAM out of file descriptors still runs workloads through the spawner" do
    {out, _} =
      System.cmd("sh", ["-c", "ulimit -n 64; exec elixir -pa \"$0\" -e \"$1\"", @ebin, @script],
        stderr_to_stdout: true
      )

    [_, b64] = Regex.run(~r/RESULT (\S+)/, out) || flunk("the small BEAM failed:\n#{out}")
    {held, ran} = :erlang.binary_to_term(Base.decode64!(b64))
    assert held > 0
    assert ran == for(i <- 1..5, do: {"#{i}\n", 0})
  end
end
