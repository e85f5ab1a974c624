# test/c/agent_e2e.exs - end-to-end checks of priv/linx_process through a
# real port, without the Elixir library: `make test-e2e` (or
# `elixir test/c/agent_e2e.exs`). Root is needed for the namespace and
# enter cases (skipped otherwise). Prints "N passed, M failed".
defmodule E2E do
  @agent Path.expand("../../priv/linx_process", __DIR__)

  # binary_to_term(..., [:safe]) needs every atom the agent can send
  def atoms do
    src = File.read!(Path.expand("../../c_src/error.h", __DIR__))
    stages = for [_, a] <- Regex.scan(~r/X\(\w+, "(\w+)"\)/, src), do: String.to_atom(a)
    # {:error_detail, stage, command_tag, text} names commands by their tag
    [:error_detail | stages]
  end

  def open,
    do:
      Port.open({:spawn_executable, @agent}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

  def send_term(p, t), do: send(p, {self(), {:command, :erlang.term_to_binary(t)}})

  # Run a request; react(event) returns terms to send ({:raw, bin} sends bytes)
  def run(req, react \\ fn _ -> [] end, timeout \\ 20_000) do
    p = open()
    send_term(p, req)
    collect(p, react, [], timeout)
  end

  def collect(p, react, acc, timeout) do
    receive do
      {^p, {:data, d}} ->
        ev = :erlang.binary_to_term(d, [:safe])

        for t <- List.wrap(react.(ev)) do
          case t do
            {:raw, b} -> send(p, {self(), {:command, b}})
            t -> send_term(p, t)
          end
        end

        collect(p, react, [ev | acc], timeout)

      {^p, {:exit_status, s}} ->
        {Enum.reverse(acc), s}
    after
      timeout -> {Enum.reverse(acc), :timeout}
    end
  end

  def out(evs, tag \\ :stdout), do: for({^tag, b} <- evs, into: "", do: b)
  def root?, do: System.cmd("id", ["-u"]) |> elem(0) |> String.trim() == "0"

  def alive?(pid),
    do: File.exists?("/proc/#{pid}") and not (File.read!("/proc/#{pid}/stat") =~ ~r/\) Z /)

  def check(name, fun) do
    try do
      case fun.() do
        :skip ->
          IO.puts("skip #{name}")
          :skip

        true ->
          IO.puts("ok   #{name}")
          :ok

        other ->
          IO.puts("FAIL #{name}: #{inspect(other, limit: 20)}")
          :fail
      end
    rescue
      e ->
        IO.puts("FAIL #{name}: #{Exception.message(e)}")
        :fail
    end
  end
end

E2E.atoms()
# frames that are not stages
_ = [:stdin_ack]

sh = fn cmd, extra ->
  {:spawn, Map.merge(%{argv: ["/bin/sh", "-c", cmd], stdio: :pipe, checkpoint: false}, extra)}
end

ready_then = fn cmds ->
  fn
    {:status, :ready, _} -> cmds
    _ -> []
  end
end

allow = :binary.copy(<<0x06::little-16, 0, 0, 0x7FFF0000::little-32>>, 4096)

results = [
  E2E.check("pipes: stdout, stderr, exit code", fn ->
    {evs, s} = E2E.run(sh.("echo out; echo err >&2; exit 3", %{}))

    {E2E.out(evs), E2E.out(evs, :stderr), List.last(evs), s} ==
      {"out\n", "err\n", {:status, :exited, 3}, 0} or evs
  end),
  E2E.check("pipes: 10 MiB arrive intact", fn ->
    {evs, s} =
      E2E.run(
        {:spawn,
         %{
           argv: ["/usr/bin/head", "-c", "10485760", "/dev/zero"],
           stdio: :pipe,
           checkpoint: false
         }}
      )

    d = E2E.out(evs)

    (byte_size(d) == 10_485_760 and d == :binary.copy(<<0>>, 10_485_760) and s == 0) or
      {byte_size(d), s}
  end),
  E2E.check("stdin: queued bytes then EOF with cat", fn ->
    {evs, _} =
      E2E.run(
        {:spawn, %{argv: ["/bin/cat"], stdio: :pipe, checkpoint: false}},
        fn
          {:status, :running} ->
            [{:stdin, "hello "}, {:stdin, String.duplicate("x", 300_000)}, :close_stdin]

          _ ->
            []
        end
      )

    E2E.out(evs) == "hello " <> String.duplicate("x", 300_000) or byte_size(E2E.out(evs))
  end),
  E2E.check("checkpoint: :proceed", fn ->
    {evs, 0} =
      E2E.run({:spawn, %{argv: ["/bin/echo", "hi"], stdio: :pipe}}, ready_then.([:proceed]))

    match?(
      [
        {:status, :spawned, _},
        {:status, :ready, _},
        {:status, :running},
        {:stdout, "hi\n"},
        {:status, :exited, 0}
      ],
      evs
    ) or evs
  end),
  E2E.check("checkpoint: :abort", fn ->
    {evs, s} =
      E2E.run({:spawn, %{argv: ["/bin/echo", "hi"], stdio: :pipe}}, ready_then.([:abort]))

    (match?([_, {:status, :ready, p}, {:status, :aborted, p}], evs) and s == 0) or evs
  end),
  E2E.check("errors: missing executable -> {:error, 2, :execve}, exit 5", fn ->
    {evs, s} = E2E.run({:spawn, %{argv: ["/nonexistent"], checkpoint: false}})
    (List.last(evs) == {:error, 2, :execve} and s == 5) or {evs, s}
  end),
  E2E.check("errors: bad cwd -> :chdir", fn ->
    {evs, s} = E2E.run({:spawn, %{argv: ["/bin/true"], cwd: "/nonexistent", checkpoint: false}})
    (List.last(evs) == {:error, 2, :chdir} and s == 5) or {evs, s}
  end),
  E2E.check("errors: missing unix socket -> :stdio", fn ->
    {evs, s} =
      E2E.run(
        {:spawn,
         %{
           argv: ["/bin/true"],
           stdio: [stdout: {:connect_unix, "/nonexistent.sock"}],
           checkpoint: false
         }}
      )

    (List.last(evs) == {:error, 2, :stdio} and s == 5) or {evs, s}
  end),
  E2E.check("errors: E2BIG from one huge variable -> :execve", fn ->
    {evs, s} =
      E2E.run(
        {:spawn,
         %{argv: ["/bin/true"], env: ["A=" <> String.duplicate("a", 200_000)], checkpoint: false}}
      )

    (List.last(evs) == {:error, 7, :execve} and s == 5) or {evs, s}
  end),
  E2E.check("env: 1 MiB in many variables", fn ->
    env = for i <- 1..8192, do: "V#{i}=" <> String.duplicate("a", 120)
    {evs, 0} = E2E.run(sh.("env | grep -c '^V'", %{env: env}))
    String.trim(E2E.out(evs)) == "8192" or E2E.out(evs)
  end),
  E2E.check("malformed request: path named, exit 2", fn ->
    {evs, s} = E2E.run({:spawn, %{argv: ["/bin/true", "x", 3]}})

    (evs == [
       {:malformed, :malformed_request, "opts.argv[2]: expected a binary, got an integer"},
       {:error, 22, :malformed_request}
     ] and s == 2) or evs
  end),
  E2E.check("malformed/oversized commands answered, agent goes on", fn ->
    {evs, 0} =
      E2E.run(
        {:spawn, %{argv: ["/bin/true"], stdio: :pipe}},
        ready_then.([
          {:bogus, 1},
          {:raw, "xx"},
          {:raw, :binary.copy("b", 16 * 1024 * 1024 + 1)},
          :proceed
        ])
      )

    (Enum.count(evs, &match?({:malformed, :malformed_command, _}, &1)) == 2 and
       {:error, 90, :command_too_big} in evs and List.last(evs) == {:status, :exited, 0}) or evs
  end),
  E2E.check("oversized request: request_too_big, exit 2", fn ->
    p = E2E.open()
    send(p, {self(), {:command, :binary.copy("a", 16 * 1024 * 1024 + 1)}})
    E2E.collect(p, fn _ -> [] end, [], 10_000) == {[{:error, 90, :request_too_big}], 2}
  end),
  E2E.check("bad_state: :proceed after :running", fn ->
    {evs, 0} =
      E2E.run(sh.("read x", %{}), fn
        {:status, :running} -> [:proceed, {:stdin, "\n"}]
        _ -> []
      end)

    {:error, 22, :bad_state} in evs or evs
  end),
  E2E.check("workload: fds 0 1 2 only, no ignored or blocked signal", fn ->
    {evs, 0} =
      E2E.run(
        sh.("ls /proc/self/fd | tr '\\n' ' '; grep -E 'Sig(Ign|Blk)' /proc/self/status", %{})
      )

    E2E.out(evs) == "0 1 2 3 SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n" or
      E2E.out(evs)
  end),
  E2E.check(
    "agent started with SIGCHLD/SIGPIPE/HUP/USR1/RT ignored still reaps; workload gets defaults",
    fn ->
      p =
        Port.open({:spawn_executable, "/bin/bash"}, [
          :binary,
          :nouse_stdio,
          {:packet, 4},
          :exit_status,
          args: [
            "-c",
            "trap '' CHLD PIPE HUP USR1 40 64; exec \"$0\"",
            Path.expand("../../priv/linx_process", __DIR__)
          ]
        ])

      E2E.send_term(p, sh.("grep SigIgn /proc/self/status; exit 7", %{}))
      {evs, s} = E2E.collect(p, fn _ -> [] end, [], 5000)

      (E2E.out(evs) == "SigIgn:\t0000000000000000\n" and List.last(evs) == {:status, :exited, 7} and
         s == 0) or {evs, s}
    end
  ),
  E2E.check("seccomp: 4096-instruction allow-all installs", fn ->
    {evs, 0} =
      E2E.run(sh.("grep Seccomp: /proc/self/status", %{commands: [{:seccomp_install, allow}]}))

    E2E.out(evs) == "Seccomp:\t2\n" or evs
  end),
  E2E.check("seccomp: 4097 instructions -> {:error, 22, :seccomp_install}", fn ->
    {evs, s} =
      E2E.run(
        {:spawn, %{argv: ["/bin/true"]}},
        ready_then.([{:seccomp_install, allow <> <<0::64>>}])
      )

    (List.last(evs) == {:error, 22, :seccomp_install} and s == 5) or evs
  end),
  E2E.check("caps: drop bounding, set thread, query", fn ->
    if not E2E.root?(),
      do: :skip,
      else:
        (
          {evs, 0} =
            E2E.run(
              sh.("grep CapBnd /proc/self/status", %{checkpoint: true}),
              ready_then.([
                {:cap_drop_bounding, 0xFFFFFFFFFFFFFFFE},
                {:cap_set_thread, 1, 1, 0},
                :caps_query,
                :proceed
              ])
            )

          ({:caps, 1, 1, 0, 1, 0} in evs and E2E.out(evs) == "CapBnd:\t0000000000000001\n") or evs
        )
  end),
  E2E.check("pty: own terminal, winsize, input", fn ->
    {evs, 0} =
      E2E.run(
        {:spawn,
         %{
           argv: ["/bin/sh", "-c", "stty size; read x; echo got $x"],
           stdio: :pty,
           winsize: {40, 100, 0, 0},
           checkpoint: false
         }},
        fn
          {:status, :running} -> [{:pty_in, "abc\n"}]
          _ -> []
        end
      )

    o = E2E.out(evs, :pty_out)
    (o =~ "40 100\r\n" and o =~ "got abc\r\n") or o
  end),
  E2E.check("pty: a workload closing fds 0-2 before exiting is not hung up", fn ->
    results =
      for _ <- 1..20 do
        Process.put(:pty_acc, "")

        {evs, 0} =
          E2E.run({:spawn, %{argv: ["/bin/cat"], stdio: :pty, checkpoint: false}}, fn
            {:status, :running} ->
              [{:pty_in, "typed\n"}]

            {:pty_out, b} ->
              acc = Process.put(:pty_acc, Process.get(:pty_acc) <> b) <> b
              # the terminal's echo, then cat's copy: now ^D (EOF)
              if acc == "typed\r\ntyped\r\n", do: [{:pty_in, <<4>>}], else: []

            _ ->
              []
          end)

        List.last(evs)
      end

    Enum.uniq(results) == [{:status, :exited, 0}] or Enum.frequencies(results)
  end),
  E2E.check("seccomp: a filter denying open/openat leaves :devnull stdio working", fn ->
    insn = fn code, jt, jf, k -> <<code::little-16, jt, jf, k::little-32>> end

    deny_open =
      insn.(0x20, 0, 0, 0) <>
        insn.(0x15, 2, 0, 257) <>
        insn.(0x15, 1, 0, 2) <>
        insn.(0x06, 0, 0, 0x7FFF0000) <> insn.(0x06, 0, 0, 0x00050000 + 13)

    {evs, 0} =
      E2E.run(
        {:spawn,
         %{
           argv: ["/bin/true"],
           stdio: [stdin: :devnull, stdout: :pipe, stderr: :pipe],
           checkpoint: false,
           commands: [{:seccomp_install, deny_open}]
         }}
      )

    ({:status, :running} in evs and E2E.out(evs, :stderr) =~ "Permission denied") or evs
  end),
  E2E.check("namespaces: all 8 new", fn ->
    if not E2E.root?(),
      do: :skip,
      else:
        (
          names = ~w(user mnt uts ipc cgroup net time pid)

          {evs, 0} =
            E2E.run(
              sh.(
                "for n in #{Enum.join(names, " ")}; do readlink /proc/self/ns/$n; done",
                %{namespaces: [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]}
              )
            )

          theirs = String.split(E2E.out(evs), "\n", trim: true)
          mine = for n <- names, do: File.read_link!("/proc/self/ns/#{n}")

          (length(theirs) == 8 and Enum.all?(Enum.zip(theirs, mine), fn {a, b} -> a != b end)) or
            {theirs, mine}
        )
  end),
  E2E.check("enter: join every namespace of a running target", fn ->
    if not E2E.root?(),
      do: :skip,
      else:
        (
          p = E2E.open()

          E2E.send_term(
            p,
            {:spawn,
             %{
               argv: ["/bin/sleep", "100"],
               namespaces: [:user, :pid, :mount, :uts, :net, :ipc],
               stdio: :devnull
             }}
          )

          target =
            receive do
              {^p, {:data, d}} ->
                {:status, :spawned, t} = :erlang.binary_to_term(d)
                t
            end

          receive do
            {^p, {:data, _}} -> :ok
          end

          File.write!("/proc/#{target}/uid_map", "0 0 1")
          File.write!("/proc/#{target}/setgroups", "deny")
          File.write!("/proc/#{target}/gid_map", "0 0 1")
          E2E.send_term(p, :proceed)

          receive do
            {^p, {:data, _}} -> :ok
          end

          names = ~w(user mnt uts ipc net pid)

          {evs, 0} =
            E2E.run(
              {:enter,
               %{
                 target: target,
                 argv: [
                   "/bin/sh",
                   "-c",
                   "for n in #{Enum.join(names, " ")}; do readlink /proc/self/ns/$n; done; echo $$"
                 ],
                 stdio: :pipe,
                 checkpoint: false
               }}
            )

          want = for(n <- names, do: File.read_link!("/proc/#{target}/ns/#{n}")) ++ ["2"]
          Port.close(p)
          String.split(E2E.out(evs), "\n", trim: true) == want or {E2E.out(evs), want}
        )
  end),
  E2E.check("tree: closing the port kills a double-forked daemon", fn ->
    p = E2E.open()

    E2E.send_term(
      p,
      {:spawn,
       %{
         argv: ["/bin/sh", "-c", "setsid sh -c 'sleep 1000' & echo $!; sleep 1000"],
         stdio: [stdout: :pipe],
         checkpoint: false
       }}
    )

    daemon =
      Stream.repeatedly(fn ->
        receive do
          {^p, {:data, d}} -> :erlang.binary_to_term(d)
        end
      end)
      |> Enum.find_value(fn
        {:stdout, b} -> String.trim(b)
        _ -> nil
      end)

    Process.sleep(100)
    {:os_pid, agent} = Port.info(p, :os_pid)
    alive_before = E2E.alive?(daemon)
    Port.close(p)
    Process.sleep(500)
    (alive_before and not E2E.alive?(daemon) and not E2E.alive?(agent)) or {alive_before, daemon}
  end),
  E2E.check("tree: daemons left at exit are killed, no zombie", fn ->
    {evs, 0} = E2E.run(sh.("setsid sh -c 'sleep 1000' & echo $!", %{}))
    daemon = String.trim(E2E.out(evs))
    (List.last(evs) == {:status, :exited, 0} and not E2E.alive?(daemon)) or {evs, daemon}
  end),
  E2E.check("on_exit :detach keeps the workload", fn ->
    p = E2E.open()

    E2E.send_term(
      p,
      {:spawn,
       %{argv: ["/bin/sleep", "1000"], on_exit: :detach, stdio: :devnull, checkpoint: false}}
    )

    pid =
      receive do
        {^p, {:data, d}} ->
          {:status, :spawned, t} = :erlang.binary_to_term(d)
          t
      end

    Process.sleep(200)
    Port.close(p)
    Process.sleep(300)
    alive = E2E.alive?(pid)
    System.cmd("kill", ["-9", "#{pid}"])
    alive
  end),
  E2E.check("echo: normalised request", fn ->
    {[{:decoded, m}], 0} =
      E2E.run({:echo, {:spawn, %{argv: ["/bin/true"], namespaces: [:pid, :user]}}})

    m == %{
      kind: :spawn,
      argv: ["/bin/true"],
      env: :inherit,
      cwd: nil,
      namespaces: [:user, :pid],
      target: nil,
      stdio: [stdin: :inherit, stdout: :inherit, stderr: :inherit],
      no_new_privs: false,
      on_exit: :kill,
      checkpoint: true,
      commands: [],
      winsize: nil,
      cgroup: nil,
      stdio_window: nil,
      close_handshake: false,
      uid_map: nil,
      gid_map: nil,
      setgroups: nil,
      resources: %{
        cgroups_v1: [],
        rlimits: [],
        nice: nil,
        cpus: nil,
        timeout: nil,
        kill_timeout: 5000
      },
      root: :host,
      mounts: [],
      hostname: nil,
      loopback: false,
      time_offsets: nil,
      init: false,
      fds: [],
      landlock: nil,
      arg0: nil,
      pty_modes: []
    } or m
  end),
  E2E.check("echo: root, mounts, hostname, loopback, time_offsets", fn ->
    mounts = [{:ro_bind, "/x", "/usr", 0, 0, 1}, {:tmpfs, "/tmp", "", 0o1777, 4096, 0}]

    req = %{
      argv: ["/bin/true"],
      namespaces: [:mount, :uts],
      root: "/srv/r",
      mounts: mounts,
      hostname: "h",
      loopback: true,
      time_offsets: {-5, 7}
    }

    {[{:decoded, m}], 0} = E2E.run({:echo, {:spawn, req}})

    Map.take(m, [:root, :mounts, :hostname, :loopback, :time_offsets, :namespaces]) ==
      Map.delete(req, :argv) or m
  end),
  E2E.check("sandbox keys without their namespaces are malformed, never applied", fn ->
    for extra <- [%{mounts: [{:tmpfs, "/t", "", 0, 0, 0}]}, %{root: :tmpfs}, %{hostname: "h"}] do
      {frames, 2} = E2E.run({:spawn, Map.merge(%{argv: ["/bin/true"]}, extra)})
      match?([{:malformed, :malformed_request, _} | _], frames) or frames
    end
    |> Enum.all?(&(&1 == true))
  end),
  E2E.check("echo: id maps and setgroups", fn ->
    maps = [uid_map: [{0, 1000, 1}, {1, 100_000, 65536}], gid_map: [{0, 1000, 1}]]
    req = Map.merge(%{argv: ["/bin/true"], namespaces: [:user], setgroups: :deny}, Map.new(maps))
    {[{:decoded, m}], 0} = E2E.run({:echo, {:spawn, req}})

    Map.take(m, [:uid_map, :gid_map, :setgroups]) ==
      %{uid_map: maps[:uid_map], gid_map: maps[:gid_map], setgroups: :deny} or m
  end),
  E2E.check("echo: resources", fn ->
    res = %{
      cgroups_v1: ["/sys/fs/cgroup/pids/x"],
      rlimits: [{:nofile, 32, 64}],
      nice: -3,
      cpus: [3, 0],
      timeout: 300,
      kill_timeout: 0
    }

    {[{:decoded, m}], 0} = E2E.run({:echo, {:spawn, Map.put(res, :argv, ["/bin/true"])}})
    m.resources == %{res | cpus: [0, 3]} or m
  end),
  E2E.check("echo: arg0 and pty_modes", fn ->
    req = %{argv: ["/bin/sh"], arg0: "-sh", stdio: :pty, pty_modes: [:raw, :noecho]}
    {[{:decoded, m}], 0} = E2E.run({:echo, {:spawn, req}})

    Map.take(m, [:argv, :arg0, :pty_modes]) ==
      %{argv: ["/bin/sh"], arg0: "-sh", pty_modes: [:noecho, :raw]} or m
  end)
]

passed = Enum.count(results, &(&1 == :ok))
failed = Enum.count(results, &(&1 == :fail))
IO.puts("#{passed} passed, #{failed} failed")
System.halt(if failed == 0, do: 0, else: 1)
