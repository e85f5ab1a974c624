# fuzz/valgrind_paths.exs - run priv/linx_process under valgrind memcheck
# on every main path of the agent and fail on any memory error, leak or
# leaked descriptor: `make valgrind-check` (or `mix run
# fuzz/valgrind_paths.exs` / `elixir fuzz/valgrind_paths.exs` from the
# repository root after `make all`).
#
# The port is opened on fuzz/valgrind_agent.sh, which execs valgrind with
# the agent (fds 3/4 pass through). Each path is a request and the
# commands sent in reply to events, as the BEAM side sends them; the
# agent's exit status must be the protocol's (99 is valgrind's: errors or
# leaks), and its log (build/valgrind/<path>.<pid>.log) must show no
# descriptor open at exit other than the inherited ones and the two the
# agent holds for its whole life (signalfd, /proc).
#
# Paths needing root (namespaces, enter) are skipped with a reason
# otherwise. Prints one line per path and exits 1 if any failed.
defmodule ValgrindPaths do
  @root Path.expand("..", __DIR__)
  @wrapper Path.join(@root, "fuzz/valgrind_agent.sh")
  @logdir Path.join(@root, "build/valgrind")

  # binary_to_term(..., [:safe]) needs every atom the agent can send
  def load_atoms do
    src = File.read!(Path.join(@root, "c_src/error.h"))
    stages = for [_, a] <- Regex.scan(~r/X\(\w+, "(\w+)"\)/, src), do: String.to_atom(a)

    stages ++
      ~w(spawned ready running exited signaled aborted stdout stderr pty_out caps malformed
       decoded kind argv env cwd namespaces target stdio no_new_privs on_exit checkpoint
       commands winsize inherit devnull pipe pty connect_unix kill detach spawn enter
       stdin_ack stdio_window error_detail close_handshake uid_map gid_map setgroups allow
       deny resources cgroups_v1 rlimits nice cpus timeout kill_timeout nofile as cpu core
       nproc fsize stack memlock root mounts hostname loopback time_offsets host tmpfs bind ro_bind proc dev dir
       symlink file remount_ro init fds landlock read write append create truncate exclusive read_write
       execute notify_program notify_events notified arg0 pty_modes noecho raw)a
  end

  def open(name, args \\ []) do
    Port.open({:spawn_executable, @wrapper}, [
      :binary,
      :nouse_stdio,
      {:packet, 4},
      :exit_status,
      {:args, args},
      {:env, [{~c"LINX_VG_LOG", String.to_charlist(Path.join(@logdir, "#{name}.%p.log"))}]}
    ])
  end

  # The zygote's frames of channel `id` (<<2, id:32, frame>>), decoded,
  # until `stop?` says so or its exit status (<<3, id:32, status:32>>).
  def zygote_frames(p, id, stop?, acc \\ []) do
    receive do
      {^p, {:data, <<2, ^id::32, frame::binary>>}} ->
        ev = :erlang.binary_to_term(frame, [:safe])
        if stop?.(ev), do: Enum.reverse([ev | acc]), else: zygote_frames(p, id, stop?, [ev | acc])

      {^p, {:data, <<3, ^id::32, status::32>>}} ->
        Enum.reverse([{:exit, status} | acc])
    after
      120_000 -> {:timeout, Enum.reverse(acc)}
    end
  end

  def send_term(p, {:raw, bin}), do: send(p, {self(), {:command, bin}})
  def send_term(p, t), do: send(p, {self(), {:command, :erlang.term_to_binary(t)}})

  # Run one request; react.(event) returns the terms to send back.
  def run(name, req, react \\ fn _ -> [] end, timeout \\ 120_000) do
    p = open(name)
    send_term(p, req)
    collect(p, react, [], timeout)
  end

  def collect(p, react, acc, timeout) do
    receive do
      {^p, {:data, d}} ->
        ev = :erlang.binary_to_term(d, [:safe])
        for t <- List.wrap(react.(ev)), do: send_term(p, t)
        collect(p, react, [ev | acc], timeout)

      {^p, {:exit_status, s}} ->
        {Enum.reverse(acc), s}
    after
      timeout ->
        Port.close(p)
        {Enum.reverse(acc), :timeout}
    end
  end

  def root?, do: System.cmd("id", ["-u"]) |> elem(0) |> String.trim() == "0"

  # Wait for a valgrind'ed agent we closed the port on to finish its log.
  def wait_gone(os_pid, n \\ 600) do
    cond do
      n == 0 -> :timeout
      File.exists?("/proc/#{os_pid}") -> Process.sleep(50) && wait_gone(os_pid, n - 1)
      true -> :ok
    end
  end

  # Findings in the memcheck logs of one path: error lines, leak records,
  # descriptors open at exit that the agent should have closed.
  def log_findings(name) do
    for log <- Path.wildcard(Path.join(@logdir, "#{name}.*.log")),
        text = File.read!(log),
        finding <- errors(text) ++ fds(text) do
      "#{Path.relative_to(log, @root)}: #{finding}"
    end
  end

  defp errors(text) do
    text
    |> String.split("\n")
    |> Enum.filter(
      &(&1 =~
          ~r/==\d+== (Invalid|Conditional|Syscall param|Mismatched|Source and destination|Use of uninitialised|.*are definitely lost|.*are indirectly lost|.*are possibly lost)/)
    )
  end

  # "Open file descriptor N: what" / "Open AF_UNIX socket N: ..." followed
  # by its origin, up to a blank record line; inherited ones and the
  # agent's lifetime fds (signalfd, /proc, opened at startup) are fine.
  defp fds(text) do
    text
    |> String.split(~r/==\d+== \n/)
    |> Enum.filter(&(&1 =~ ~r/==\d+== Open /))
    |> Enum.reject(&(&1 =~ "<inherited from parent>"))
    |> Enum.reject(&(&1 =~ ~r/by 0x\w+: (startup_signals|startup_tree) /))
    # the zygote's signalfd, closed by exit's z_exit() but opened in z_init()
    |> Enum.reject(&(&1 =~ ~r/by 0x\w+: z_init /))
    |> Enum.map(fn rec ->
      rec
      |> String.split("\n")
      |> Enum.filter(&(&1 =~ ~r/^==\d+== /))
      |> Enum.map_join(" | ", &String.replace(&1, ~r/^==\d+== /, ""))
    end)
  end

  def check(name, fun) do
    File.mkdir_p!(@logdir)
    for f <- Path.wildcard(Path.join(@logdir, "#{name}.*.log")), do: File.rm!(f)

    result =
      try do
        fun.()
      rescue
        e -> {:error, Exception.message(e)}
      end

    case result do
      {:skip, why} ->
        IO.puts("skip #{name}: #{why}")
        :skip

      true ->
        case log_findings(name) do
          [] ->
            IO.puts("ok   #{name}")
            :ok

          found ->
            IO.puts("FAIL #{name}: valgrind findings:\n  " <> Enum.join(found, "\n  "))
            :fail
        end

      other ->
        IO.puts("FAIL #{name}: #{inspect(other, limit: 30, printable_limit: 200)}")
        for f <- log_findings(name), do: IO.puts("  #{f}")
        :fail
    end
  end

  def out(evs, tag), do: for({^tag, b} <- evs, into: "", do: b)
end

ValgrindPaths.load_atoms()
alias ValgrindPaths, as: V
import Bitwise

sh = fn cmd, extra ->
  {:spawn, Map.merge(%{argv: ["/bin/sh", "-c", cmd], stdio: :pipe, checkpoint: false}, extra)}
end

ready_then = fn cmds ->
  fn
    {:status, :ready, _} -> cmds
    _ -> []
  end
end

# 4096 instructions: 4095 no-op compares, then RET ALLOW
allow_4096 =
  :binary.copy(<<0x15::little-16, 0, 0, 0::little-32>>, 4095) <>
    <<0x06::little-16, 0, 0, 0x7FFF0000::little-32>>

results = [
  V.check("spawn_pipe", fn ->
    {evs, s} = V.run("spawn_pipe", sh.("echo out; echo err >&2; exit 3", %{}))

    {V.out(evs, :stdout), V.out(evs, :stderr), List.last(evs), s} ==
      {"out\n", "err\n", {:status, :exited, 3}, 0} or {evs, s}
  end),
  V.check("pipe_stdin", fn ->
    {evs, s} =
      V.run("pipe_stdin", {:spawn, %{argv: ["/bin/cat"], stdio: :pipe, checkpoint: false}}, fn
        {:status, :running} ->
          [{:stdin, "hello "}, {:stdin, String.duplicate("x", 100_000)}, :close_stdin]

        _ ->
          []
      end)

    (V.out(evs, :stdout) == "hello " <> String.duplicate("x", 100_000) and s == 0) or
      {byte_size(V.out(evs, :stdout)), s}
  end),
  # The agent makes the group (cgroup {:make, …}), works in the BEAM's
  # directory (cwd {:pid, n}), and removes the group through the parent
  # directory's fd, which must be closed at exit like every other
  V.check("cgroup_make", fn ->
    # the v2 tree of these hybrid hosts (docs/sandbox.md)
    group = "/sys/fs/cgroup/unified/linx-vg-#{System.pid()}"

    req =
      sh.("pwd; grep -c linx-vg /proc/self/cgroup", %{
        cgroup: {:make, group, :required},
        cwd: {:pid, String.to_integer(System.pid())}
      })

    {evs, s} = V.run("cgroup_make", req)
    {:ok, cwd} = File.cwd()

    (V.out(evs, :stdout) == cwd <> "\n1\n" and List.last(evs) == {:status, :exited, 0} and
       s == 0 and not File.exists?(group)) or {evs, s}
  end),
  # Credit-based output: every chunk acknowledged with its cost (+ 256)
  V.check("output_window", fn ->
    {evs, s} =
      V.run("output_window", sh.("head -c 200000 /dev/zero", %{stdio_window: 4096}), fn
        {:stdout, d} -> [{:output_ack, byte_size(d) + 256}]
        _ -> []
      end)

    (byte_size(V.out(evs, :stdout)) == 200_000 and List.last(evs) == {:status, :exited, 0} and
       s == 0) or {byte_size(V.out(evs, :stdout)), List.last(evs), s}
  end),
  # The sandbox: a tmpfs root built from mounts, and a mount that fails
  # (the tuple stage {:mount, 1}, exit 5)
  V.check("sandbox_mounts", fn ->
    mounts = [{:ro_bind, "/usr", "/usr", 0, 0, 0}, {:symlink, "/bin", "usr/bin", 0, 0, 0}]

    {evs, s} =
      V.run(
        "sandbox_mounts",
        sh.("ls /", %{namespaces: [:mount, :uts], root: :tmpfs, mounts: mounts, hostname: "v"})
      )

    # (the workload's own exit status is valgrind's business: it may
    # follow the exec into a root without its files)
    ({:status, :running} in evs and match?({:status, :exited, _}, List.last(evs)) and s == 0) or
      {evs, s}
  end),
  V.check("sandbox_mount_fails", fn ->
    mounts = [{:tmpfs, "/t", "", 0, 0, 0}, {:ro_bind, "/x", "/nope", 0, 0, 0}]

    {evs, s} =
      V.run(
        "sandbox_mount_fails",
        sh.("true", %{namespaces: [:mount], root: :tmpfs, mounts: mounts})
      )

    (List.last(evs) == {:error, 2, {:mount, 1}} and s == 5) or {evs, s}
  end),
  V.check("spawn_checkpoint_commands", fn ->
    {evs, s} =
      V.run(
        "spawn_checkpoint_commands",
        {:spawn, %{argv: ["/bin/true"], stdio: :devnull, commands: [:caps_query]}},
        ready_then.([
          :caps_query,
          {:cap_set_ambient, 0},
          {:cap_drop_bounding, 1 <<< 21},
          :proceed
        ])
      )

    (List.last(evs) == {:status, :exited, 0} and s == 0 and
       Enum.count(evs, &match?({:caps, _, _, _, _, _}, &1)) == 2) or {evs, s}
  end),
  # valgrind 3.19 does not implement seccomp(2): the child's install fails
  # with ENOSYS, which exercises the failed-checkpoint-command path (error
  # frame, kill and reap the child, exit 5) under memcheck.
  V.check("seccomp_install_fails", fn ->
    {evs, s} =
      V.run(
        "seccomp_install_fails",
        {:spawn, %{argv: ["/bin/true"], stdio: :devnull}},
        ready_then.([{:seccomp_install, allow_4096}, :proceed])
      )

    (List.last(evs) == {:error, 38, :seccomp_install} and s == 5) or {evs, s}
  end),
  # Early spawn failures, after the channel and the pipes exist: every
  # descriptor opened on the way must be closed (--track-fds), not only
  # the error frame sent. The cgroup directory is opened after the pipes
  # and /dev/null; enter joins the target's namespaces after them.
  V.check("spawn_cgroup_fails", fn ->
    {evs, s} =
      V.run(
        "spawn_cgroup_fails",
        {:spawn,
         %{
           argv: ["/bin/true"],
           stdio: [stdin: :pipe, stdout: :pipe, stderr: :devnull],
           cgroup: "/nonexistent/linx"
         }}
      )

    (List.last(evs) == {:error, 2, :cgroup} and s == 4) or {evs, s}
  end),
  V.check("enter_target_gone", fn ->
    {evs, s} =
      V.run(
        "enter_target_gone",
        {:enter, %{target: 0x3FFFFFFF, argv: ["/bin/true"], stdio: :pipe, checkpoint: false}}
      )

    (match?({:error, 2, :open_ns_user}, List.last(evs)) and s == 3) or {evs, s}
  end),
  V.check("spawn_pty_cgroup_fails", fn ->
    {evs, s} =
      V.run(
        "spawn_pty_cgroup_fails",
        {:spawn, %{argv: ["/bin/true"], stdio: :pty, cgroup: "/nonexistent/linx"}}
      )

    (List.last(evs) == {:error, 2, :cgroup} and s == 4) or {evs, s}
  end),
  V.check("spawn_abort", fn ->
    {evs, s} = V.run("spawn_abort", {:spawn, %{argv: ["/bin/true"]}}, ready_then.([:abort]))
    (match?({:status, :aborted, _}, List.last(evs)) and s == 0) or {evs, s}
  end),
  V.check("spawn_execve_fails", fn ->
    {evs, s} =
      V.run("spawn_execve_fails", {:spawn, %{argv: ["/nonexistent/prog"], checkpoint: false}})

    (List.last(evs) == {:error, 2, :execve} and s == 5) or {evs, s}
  end),
  V.check("pty", fn ->
    {evs, s} =
      V.run(
        "pty",
        {:spawn,
         %{
           argv: ["/bin/sh", "-c", "stty size; read x; echo got $x"],
           stdio: :pty,
           winsize: {40, 100, 0, 0},
           checkpoint: false
         }},
        fn
          {:status, :running} -> [{:pty_winsize, {41, 101, 0, 0}}, {:pty_in, "abc\n"}]
          _ -> []
        end
      )

    (V.out(evs, :pty_out) =~ "got abc" and s == 0) or {evs, s}
  end),
  V.check("commands_bad_and_signal", fn ->
    big = {:raw, :erlang.term_to_binary({:stdin, :binary.copy("z", 17 * 1024 * 1024)})}

    {evs, s} =
      V.run(
        "commands_bad_and_signal",
        {:spawn, %{argv: ["/bin/sleep", "60"], stdio: :pipe, checkpoint: false}},
        fn
          {:status, :running} ->
            [{:raw, <<131, 104, 9>>}, :frobnicate, :proceed, big, {:signal, 15}]

          _ ->
            []
        end
      )

    (List.last(evs) == {:status, :signaled, 15} and s == 0 and
       Enum.any?(evs, &match?({:error, 90, :command_too_big}, &1)) and
       Enum.any?(evs, &match?({:error, 22, :malformed_command}, &1))) or {evs, s}
  end),
  V.check("malformed_request", fn ->
    {evs, s} = V.run("malformed_request", {:spawn, %{argv: []}})
    (match?({:error, 22, :malformed_request}, List.last(evs)) and s == 2) or {evs, s}
  end),
  # EOF before any request: what the agent opened while it waited
  # (spawn_prepare: the channel's socketpair, /dev/null) is closed too
  V.check("eof_before_request", fn ->
    p = V.open("eof_before_request")
    {:os_pid, os_pid} = Port.info(p, :os_pid)
    Process.sleep(2_000)
    Port.close(p)
    V.wait_gone(os_pid) == :ok
  end),
  V.check("echo", fn ->
    {evs, s} =
      V.run(
        "echo",
        {:echo, {:spawn, %{argv: ["/bin/true"], env: ["A=1"], stdio: [stdout: :pipe]}}}
      )

    (match?([{:decoded, %{argv: ["/bin/true"]}}], evs) and s == 0) or {evs, s}
  end),
  V.check("port_closed_kills_tree", fn ->
    p = V.open("port_closed_kills_tree")

    V.send_term(
      p,
      {:spawn,
       %{argv: ["/bin/sh", "-c", "sleep 60 & sleep 60"], stdio: :devnull, checkpoint: false}}
    )

    receive do
      {^p, {:data, d}} -> {:status, :spawned, _} = :erlang.binary_to_term(d)
    end

    receive do
      {^p, {:data, d}} -> {:status, :ready, _} = :erlang.binary_to_term(d)
    end

    receive do
      {^p, {:data, d}} -> {:status, :running} = :erlang.binary_to_term(d)
    end

    {:os_pid, os} = Port.info(p, :os_pid)
    Port.close(p)
    V.wait_gone(os) == :ok
  end),
  V.check("spawn_namespaces", fn ->
    if not V.root?() do
      {:skip, "needs root (user/pid/mount namespaces with an id map)"}
    else
      {evs, s} =
        V.run(
          "spawn_namespaces",
          {:spawn,
           %{
             argv: ["/bin/sh", "-c", "echo $$"],
             namespaces: [:user, :pid, :mount, :uts, :ipc, :net, :cgroup],
             stdio: :pipe
           }},
          fn
            {:status, :spawned, pid} ->
              File.write!("/proc/#{pid}/uid_map", "0 0 1")
              File.write!("/proc/#{pid}/setgroups", "deny")
              File.write!("/proc/#{pid}/gid_map", "0 0 1")
              []

            {:status, :ready, _} ->
              [:proceed]

            _ ->
              []
          end
        )

      (V.out(evs, :stdout) == "1\n" and s == 0) or {evs, s}
    end
  end),
  V.check("enter", fn ->
    if not V.root?() do
      {:skip, "needs root (setns into another user namespace)"}
    else
      # the target: a plain agent (not under valgrind) holding a sleep in
      # fresh namespaces
      agent = Path.expand("../priv/linx_process", __DIR__)

      t =
        Port.open({:spawn_executable, agent}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

      V.send_term(
        t,
        {:spawn,
         %{
           argv: ["/bin/sleep", "100"],
           namespaces: [:user, :pid, :mount, :uts, :net, :ipc],
           stdio: :devnull
         }}
      )

      target =
        receive do
          {^t, {:data, d}} ->
            {:status, :spawned, x} = :erlang.binary_to_term(d)
            x
        end

      receive do
        {^t, {:data, _}} -> :ok
      end

      File.write!("/proc/#{target}/uid_map", "0 0 1")
      File.write!("/proc/#{target}/setgroups", "deny")
      File.write!("/proc/#{target}/gid_map", "0 0 1")
      V.send_term(t, :proceed)

      receive do
        {^t, {:data, _}} -> :ok
      end

      {evs, s} =
        V.run(
          "enter",
          {:enter,
           %{
             target: target,
             argv: ["/bin/sh", "-c", "readlink /proc/self/ns/uts; echo $$"],
             stdio: :pipe,
             checkpoint: false
           }}
        )

      want = File.read_link!("/proc/#{target}/ns/uts") <> "\n2\n"
      Port.close(t)
      (V.out(evs, :stdout) == want and s == 0) or {evs, s, want}
    end
  end),
  # The zygote (Linx.Spawner): one workload to its end, one closed while
  # it runs, a refused frame; then EOF on its fd 3. Its own memory and
  # descriptors are checked (the agents it forks are silent, as children).
  V.check("zygote", fn ->
    p = V.open("zygote", ["--zygote", "1"])
    {:os_pid, os_pid} = Port.info(p, :os_pid)

    spawn = fn argv ->
      :erlang.term_to_binary({:spawn, %{argv: argv, stdio: :pipe, checkpoint: false}})
    end

    send(p, {self(), {:command, <<1, 1::32>> <> spawn.(["/bin/echo", "z"])}})
    first = V.zygote_frames(p, 1, fn _ -> false end)
    send(p, {self(), {:command, <<1, 2::32>> <> spawn.(["/bin/sleep", "100"])}})
    second = V.zygote_frames(p, 2, &(&1 == {:status, :running}))
    send(p, {self(), {:command, <<3, 2::32>>}})
    send(p, {self(), {:command, <<9, 3::32>>}})

    refused =
      receive do
        {^p, {:data, <<4, 3::32, _::binary>>}} -> true
      after
        60_000 -> false
      end

    Port.close(p)
    V.wait_gone(os_pid)

    {V.out(first, :stdout), List.last(first), List.last(second), refused} ==
      {"z\n", {:exit, 0}, {:status, :running}, true} or {first, second, refused}
  end)
]

failed = Enum.count(results, &(&1 == :fail))

IO.puts(
  "valgrind-check: #{Enum.count(results, &(&1 == :ok))} ok, #{Enum.count(results, &(&1 == :skip))} skipped, #{failed} failed (logs in build/valgrind/)"
)

if failed > 0, do: System.halt(1)
