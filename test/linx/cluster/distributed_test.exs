defmodule Linx.Cluster.DistributedTest do
  # Workloads on other nodes (node:, Linx.Cluster, docs/distributed.md),
  # with OTP's :peer: two peer nodes on this machine run the test build's
  # code and :linx. Peers share the host, so a workload is found with
  # pgrep by a tag unique to the test. Part of the normal `mix test` run.
  # Not async: node: :any counts every workload of this node.
  use Linx.Case, async: false

  alias Linx.Peers

  @moduletag :distributed
  @moduletag timeout: 300_000

  # Generous waits: the machine may be loaded. The 2 s of the kill after
  # a disconnect is the property under test, not a wait.
  @wait 30_000

  defmodule LastNode do
    @moduledoc false
    @behaviour Linx.Cluster.Placement
    @impl true
    def choose(nodes_with_load, opts) do
      send(self(), {:placement, nodes_with_load, opts})
      nodes_with_load |> List.last() |> elem(0)
    end
  end

  defmodule Nowhere do
    @moduledoc false
    @behaviour Linx.Cluster.Placement
    @impl true
    def choose(_nodes_with_load, _opts), do: :"nobody_linx@nohost.invalid"
  end

  setup_all do
    Peers.ensure_distributed!()
    {peer_a, a} = Peers.start!("linx_a")
    {peer_b, b} = Peers.start!("linx_b")

    on_exit(fn ->
      Peers.stop(peer_a)
      Peers.stop(peer_b)
    end)

    %{a: a, b: b}
  end

  ## Helpers

  defp tag, do: "linx_dist_#{System.pid()}_#{System.unique_integer([:positive])}"

  # A tree of two shells carrying the tag in their command lines.
  defp tagged_tree(tag), do: ["/bin/sh", "-c", "(sleep 600; : #{tag}) & sleep 600; : #{tag}"]

  defp pgrep(tag) do
    case System.cmd("pgrep", ["-f", tag]) do
      {out, 0} -> out |> String.split() |> Enum.map(&String.to_integer/1)
      {_, 1} -> []
    end
  end

  # The tagged shells and their untagged children (the sleeps): a detached
  # tree left running would hold the test run's stdout open.
  defp kill_by_pid(pids) do
    groups = Enum.flat_map(pids, &v2_group/1) |> Enum.uniq()
    Enum.each(groups, &Linx.Cgroup.kill/1)
    Enum.each(pids, &System.cmd("pkill", ["-9", "-P", "#{&1}"]))
    Enum.each(pids, &System.cmd("kill", ["-9", "#{&1}"]))
  end

  # The cgroup v2 group of a Linx workload (a detached one has its own)
  defp v2_group(pid) do
    with {:ok, text} <- File.read("/proc/#{pid}/cgroup"),
         [_, path] <- Regex.run(~r/^0::(\/linx\/.+)$/m, text) do
      [Path.join("/sys/fs/cgroup/unified", path)]
    else
      _ -> []
    end
  end

  defp beam_pid(node), do: node |> :erpc.call(:os, :getpid, []) |> List.to_integer()

  # Of these nodes, the one whose BEAM is the closest ancestor of os_pid
  # (peers are children of this BEAM, so it is an ancestor of them all).
  defp nearest_beam(os_pid, nodes) do
    beams = Map.new(nodes, &{beam_pid(&1), &1})
    os_pid |> ancestors() |> Enum.reverse() |> Enum.find_value(&beams[&1])
  end

  defp ancestors(pid, acc \\ [])
  defp ancestors(pid, acc) when pid <= 1, do: acc

  defp ancestors(pid, acc) do
    case File.read("/proc/#{pid}/status") do
      {:ok, status} ->
        [_, ppid] = Regex.run(~r/^PPid:\s+(\d+)/m, status)
        ppid = String.to_integer(ppid)
        ancestors(ppid, [ppid | acc])

      {:error, _} ->
        acc
    end
  end

  # Output of proc until it contains `text`.
  defp read_until(proc, stream, text, acc \\ "") do
    if String.contains?(acc, text) do
      acc
    else
      receive do
        {:linx_process, ^proc, {^stream, data}} -> read_until(proc, stream, text, acc <> data)
      after
        @wait ->
          flunk("no #{inspect(text)} in #{inspect(stream)} of #{inspect(proc)}: #{inspect(acc)}")
      end
    end
  end

  defp within(ms, fun) do
    deadline = System.monotonic_time(:millisecond) + ms
    loop_until(fun, deadline)
  end

  defp loop_until(fun, deadline) do
    cond do
      fun.() -> true
      System.monotonic_time(:millisecond) > deadline -> false
      true -> Process.sleep(10) && loop_until(fun, deadline)
    end
  end

  defp reconnect(node) do
    Peers.wait_until(fn -> Node.connect(node) == true end, @wait)
    Peers.wait_until(fn -> node in Linx.Cluster.nodes() end, @wait)
  end

  ## The workload runs there, the owner stays here

  test "a workload on each peer streams stdout back and reads write/2", %{a: a, b: b} do
    {:ok, host} = :inet.gethostname()

    for node <- [a, b] do
      {:ok, proc} =
        Linx.Process.spawn(
          argv: ["/bin/sh", "-c", "/bin/hostname; exec cat"],
          stdio: :pipe,
          node: node
        )

      # the server is on that node; the workload descends from its BEAM
      assert node(proc) == node
      assert nearest_beam(Linx.Process.os_pid(proc), [a, b, node()]) == node

      assert read_until(proc, :stdout, "\n") == "#{host}\n"
      assert :ok = Linx.Process.write(proc, "ping #{node}\n")
      assert read_until(proc, :stdout, "\n") == "ping #{node}\n"
      assert :ok = Linx.Process.close_stdin(proc)
      assert Linx.Process.await(proc, @wait) == {:exited, 0}
      # the final usage (before the terminal event) is all that is left
      assert_received {:linx_process, ^proc, {:usage, _}}
      refute_received {:linx_process, ^proc, _}
    end
  end

  test "every Linx.Process function works on a remote proc", %{a: a} do
    {:ok, proc} =
      Linx.Process.spawn(
        argv: ["/bin/sh", "-c", "read go; stty size; exec sleep 600"],
        stdio: :pty,
        namespaces: [:user, :pid],
        uid_map: :caller,
        gid_map: :caller,
        checkpoint: true,
        capabilities: [keep: [:kill]],
        node: a
      )

    assert node(proc) == a
    assert {:ok, %{effective: [:kill], bounding: [:kill]}} = Linx.Process.capabilities(proc)
    assert :ok = Linx.Process.proceed(proc)
    assert Linx.Process.ns_pid(proc) == 1
    assert nearest_beam(Linx.Process.os_pid(proc), [a, node()]) == a

    assert :ok = Linx.Process.resize(proc, 41, 123)
    assert :ok = Linx.Process.write(proc, "go\n")
    assert read_until(proc, :pty_out, "41 123") =~ "41 123"
    assert :ok = Linx.Process.signal(proc, :sigkill)
    assert Linx.Process.await(proc, @wait) == {:signaled, 9}
    assert Linx.Process.signal(proc, :sigterm) == {:error, :not_running}

    {:ok, stubborn} =
      Linx.Process.spawn(
        argv: ["/bin/sh", "-c", "trap '' TERM; echo ready; sleep 600"],
        stdio: :pipe,
        node: a
      )

    read_until(stubborn, :stdout, "ready")
    assert Linx.Process.stop(stubborn, 200) == {:signaled, 9}

    # start errors, with last_error/0 on this node
    assert {:error, {:enoent, :execve}} = Linx.Process.spawn(argv: ["/nonexistent/prog"], node: a)
    assert %Linx.Process.Error{errno: :enoent, stage: :execve} = Linx.Process.last_error()

    {:ok, held} = Linx.Process.spawn(argv: ["/bin/true"], checkpoint: true, node: a)
    assert :ok = Linx.Process.abort(held)
    assert Linx.Process.await(held, @wait) == :aborted
  end

  test "run/2 on a peer runs in that BEAM's environment and raises its start errors", %{a: a} do
    :ok = :erpc.call(a, System, :put_env, ["LINX_PEER_MARK", "on #{a}"])

    assert Linx.Process.run(["/bin/sh", "-c", "echo $LINX_PEER_MARK; exit 3"], node: a) ==
             {"on #{a}\n", 3}

    assert_raise Linx.Process.Error, ~r/enoent at stage execve/, fn ->
      Linx.Process.run(["/nonexistent/prog"], node: a)
    end
  end

  test "enter/2 on a peer joins a namespace of a process of that host", %{a: a} do
    {:ok, target} = Linx.Process.spawn(argv: ["/bin/sleep", "600"], namespaces: [:uts], node: a)
    os_pid = Linx.Process.os_pid(target)

    {:ok, proc} =
      Linx.Process.enter(os_pid,
        argv: ["/bin/sh", "-c", "readlink /proc/self/ns/uts"],
        namespaces: [:uts],
        stdio: :pipe,
        node: a
      )

    assert node(proc) == a
    assert read_until(proc, :stdout, "\n") == ns_link(os_pid, "uts") <> "\n"
    assert Linx.Process.await(proc, @wait) == {:exited, 0}
    assert Linx.Process.stop(target, 0) == {:signaled, 15}
  end

  ## Validation and unreachable nodes

  test "options are validated on the caller's node, before anything is sent", %{a: a} do
    nowhere = :"nobody_#{System.pid()}@nohost.invalid"

    # a bad option raises here even for a node that does not exist
    assert_raise ArgumentError, ~r/invalid option :stdio/, fn ->
      Linx.Process.spawn(argv: ["/bin/true"], stdio: :bogus, node: nowhere)
    end

    assert_raise ArgumentError, ~r/invalid option :node: got "a@b"/, fn ->
      Linx.Process.spawn(argv: ["/bin/true"], node: "a@b")
    end

    assert_raise ArgumentError, ~r/invalid option :node: got :nohost/, fn ->
      Linx.Process.run(["/bin/true"], node: :nohost)
    end

    assert_raise ArgumentError, ~r/invalid option :node for Linx.Process.start_link/, fn ->
      Linx.Process.start_link(argv: ["/bin/true"], node: :any)
    end

    refute nowhere in Node.list()

    # a dead owner of this node: as locally, nothing is started there
    dead = spawn(fn -> :ok end)
    ref = Process.monitor(dead)
    assert_receive {:DOWN, ^ref, _, _, _}
    before = :erpc.call(a, Linx.Cluster, :local_load, [])

    assert Linx.Process.spawn(argv: ["/bin/sleep", "600"], owner: dead, node: a) ==
             {:error, {:noproc, :owner}}

    assert :erpc.call(a, Linx.Cluster, :local_load, []) == before
  end

  test "an unreachable node is {:nodedown, node}" do
    {:ok, host} = :inet.gethostname()
    nobody = :"nobody_#{System.pid()}@#{host}"

    assert Linx.Process.spawn(argv: ["/bin/true"], node: nobody) == {:error, {:nodedown, nobody}}
    assert Linx.Process.last_error().detail =~ "not reachable"

    assert Linx.Process.enter(1, argv: ["/bin/true"], node: nobody) ==
             {:error, {:nodedown, nobody}}

    assert_raise Linx.Process.Error, ~r/nodedown/, fn ->
      Linx.Process.run(["/bin/true"], node: nobody)
    end
  end

  test "a node without Linx is {:nolinx, node}" do
    {bare, bare_node} = Peers.start!("linx_bare", code: false, linx: false)
    {idle, idle_node} = Peers.start!("linx_idle", linx: false)

    try do
      # no Linx code at all, and the code without the application
      for node <- [bare_node, idle_node] do
        assert Linx.Process.spawn(argv: ["/bin/true"], node: node) == {:error, {:nolinx, node}}
        assert Linx.Process.last_error().detail =~ "does not run Linx"
      end

      refute bare_node in Linx.Cluster.nodes()
      refute idle_node in Linx.Cluster.nodes()
    after
      Peers.stop(bare)
      Peers.stop(idle)
    end
  end

  ## Failure semantics

  test "the owner's node disconnects: the remote tree is killed within 2 s (not with on_exit: :detach)",
       %{a: a} do
    kill_tag = tag()
    detach_tag = tag()
    {:ok, proc} = Linx.Process.spawn(argv: tagged_tree(kill_tag), node: a)
    {:ok, detached} = Linx.Process.spawn(argv: tagged_tree(detach_tag), on_exit: :detach, node: a)
    Peers.wait_until(fn -> length(pgrep(kill_tag)) == 2 and length(pgrep(detach_tag)) == 2 end)
    detached_pids = pgrep(detach_tag)

    try do
      true = :erlang.disconnect_node(a)

      assert within(2000, fn -> pgrep(kill_tag) == [] end),
             "tree left: #{inspect(pgrep(kill_tag))}"

      assert_receive {:linx_process, ^proc, {:lost, :noconnection}}, @wait
      assert_receive {:linx_process, ^detached, {:lost, :noconnection}}, @wait

      # healed: nothing of either server is left there, the detached tree lives on
      reconnect(a)
      Peers.wait_until(fn -> :erpc.call(a, Linx.Cluster, :local_load, []) == 0 end)
      assert Linx.Process.signal(proc, :sigkill) == {:error, :not_running}
      assert Enum.sort(pgrep(detach_tag)) == Enum.sort(detached_pids)
    after
      kill_by_pid(detached_pids)
    end
  end

  test "the workload's node goes away: the owner's terminal event is {:lost, :noconnection}" do
    {peer, node} = Peers.start!("linx_gone")
    t = tag()
    {:ok, awaited} = Linx.Process.spawn(argv: tagged_tree(t), node: node)
    {:ok, watched} = Linx.Process.spawn(argv: ["/bin/sleep", "600"], node: node)
    Peers.wait_until(fn -> length(pgrep(t)) == 2 end)

    Peers.stop(peer)

    # await/2 returns it and takes it out of the mailbox, as any terminal event
    assert Linx.Process.await(awaited, @wait) == {:lost, :noconnection}
    refute_received {:linx_process, ^awaited, _}
    assert_receive {:linx_process, ^watched, {:lost, :noconnection}}, @wait
    # the agents saw their BEAM go and killed the trees
    Peers.wait_until(fn -> pgrep(t) == [] end)
    refute node in Linx.Cluster.nodes()
  end

  ## Placement

  test "node: :any spreads 30 sleeping workloads over three nodes 10/10/10", %{a: a, b: b} do
    nodes = Enum.sort([node(), a, b])
    Peers.wait_until(fn -> Linx.Cluster.nodes() == nodes end)
    Peers.wait_until(fn -> Linx.Cluster.load() == Map.new(nodes, &{&1, 0}) end)

    procs =
      for _ <- 1..30 do
        {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "600"], node: :any)
        proc
      end

    try do
      expected = Map.new(nodes, &{&1, 10})
      assert Enum.frequencies_by(procs, &node/1) == expected
      assert Linx.Cluster.load() == expected
      # every one really runs, on the host
      assert Enum.all?(
               procs,
               &(Linx.Process.os_pid(&1) |> then(fn p -> File.exists?("/proc/#{p}") end))
             )
    after
      for proc <- procs, do: Linx.Process.signal(proc, :sigkill)
    end

    for proc <- procs, do: assert(Linx.Process.await(proc, @wait) == {:signaled, 9})
    Peers.wait_until(fn -> Linx.Cluster.load() == Map.new(nodes, &{&1, 0}) end)
  end

  test "a configured placement strategy chooses the node", %{a: a, b: b} do
    Peers.wait_until(fn -> Linx.Cluster.nodes() == Enum.sort([node(), a, b]) end)
    Application.put_env(:linx, :placement, LastNode)
    on_exit(fn -> Application.delete_env(:linx, :placement) end)

    {:ok, proc} = Linx.Process.spawn(argv: ["/bin/true"], node: :any, cgroup: :auto)
    assert_received {:placement, loads, opts}
    # the local node first, then by name; the options without :node
    assert Enum.map(loads, &elem(&1, 0)) == [node() | Enum.sort([a, b])]
    assert Enum.all?(loads, fn {_, n} -> is_integer(n) end)
    assert opts[:argv] == ["/bin/true"] and opts[:cgroup] == :auto
    refute Keyword.has_key?(opts, :node)
    assert node(proc) == Enum.max([a, b])
    assert Linx.Process.await(proc, @wait) == {:exited, 0}

    # a strategy that names a node that is not there: the error, no loop
    Application.put_env(:linx, :placement, Nowhere)
    nowhere = :"nobody_linx@nohost.invalid"
    assert Linx.Process.spawn(argv: ["/bin/true"], node: :any) == {:error, {:nodedown, nowhere}}
  end

  ## mix linx.run --node

  test "mix linx.run --node runs the command there (--sname, --cookie as for iex)", %{a: a} do
    :ok = :erpc.call(a, System, :put_env, ["LINX_PEER_MARK", "on #{a}"])

    {out, status} =
      System.cmd(
        "mix",
        [
          "linx.run",
          "--sname",
          "linx_run_#{System.pid()}_#{System.unique_integer([:positive])}",
          "--cookie",
          Atom.to_string(Node.get_cookie()),
          "--node",
          Atom.to_string(a),
          "--",
          "/bin/sh",
          "-c",
          "echo $LINX_PEER_MARK; exit 4"
        ],
        env: [{"MIX_ENV", "test"}],
        stderr_to_stdout: true
      )

    assert status == 4, out
    assert out =~ "on #{a}\n"
  end
end
