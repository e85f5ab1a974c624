defmodule Linx.Peers do
  @moduledoc false
  # Peer nodes for the distributed tests (and the `distributed` bench
  # suite), with OTP's :peer on this machine: they run the test build's
  # code (its code path) and the :linx application. The test node is made
  # distributed first; epmd is started if it is not running (CI runs on a
  # clean machine, where nothing started it).
  #
  # Peers are controlled over their stdio (connection: :standard_io), not
  # over distribution: a test can then cut the distribution connection
  # (:erlang.disconnect_node/1) without the peer halting.

  # A test cuts one connection on purpose: no node may react by cutting
  # others (global's overlapping-partition guard) or by meshing peers.
  @kernel_args [
    ~c"-kernel",
    ~c"prevent_overlapping_partitions",
    ~c"false",
    ~c"-connect_all",
    ~c"false"
  ]

  @doc "Makes this node distributed (short names), starting epmd if needed."
  def ensure_distributed! do
    unless Node.alive?() do
      Application.put_env(:kernel, :prevent_overlapping_partitions, false)
      ensure_epmd!()
      name = :"linx_test_#{System.pid()}_#{System.unique_integer([:positive])}"

      case :net_kernel.start([name, :shortnames]) do
        {:ok, _} -> :ok
        {:error, {:already_started, _}} -> :ok
        {:error, reason} -> raise "could not start distribution: #{inspect(reason)}"
      end
    end

    :ok
  end

  defp ensure_epmd! do
    case System.cmd("epmd", ["-names"], stderr_to_stdout: true) do
      {_, 0} ->
        :ok

      _ ->
        epmd = System.find_executable("epmd") || raise "epmd is not installed"
        {_, 0} = System.cmd(epmd, ["-daemon"])
        # -daemon returns before epmd listens
        wait_until(fn -> match?({_, 0}, System.cmd(epmd, ["-names"], stderr_to_stdout: true)) end)
    end
  end

  @doc """
  Starts a peer named `prefix_<unique>` running :linx, connected to this
  node and seen by `Linx.Cluster.nodes/0`. Returns `{peer_pid, node}`.
  """
  def start!(prefix \\ "linx_peer", opts \\ []) do
    ensure_distributed!()
    name = :"#{prefix}_#{System.pid()}_#{System.unique_integer([:positive])}"
    cookie = Atom.to_charlist(Node.get_cookie())
    # code: false starts a node without Linx's code, linx: false one
    # with the code but without the application.
    paths =
      if Keyword.get(opts, :code, true),
        do: Enum.flat_map(:code.get_path(), &[~c"-pa", &1]),
        else: []

    {:ok, peer, node} =
      :peer.start(%{
        name: name,
        connection: :standard_io,
        args: [~c"-setcookie", cookie | @kernel_args] ++ paths,
        wait_boot: 60_000
      })

    true = Node.connect(node)

    if Keyword.get(opts, :linx, true) do
      {:ok, _} = :peer.call(peer, Application, :ensure_all_started, [:linx], 60_000)
      wait_until(fn -> node in Linx.Cluster.nodes() end)
    end

    {peer, node}
  end

  @doc "Stops a peer (its workloads end with its BEAM)."
  def stop(peer) do
    :peer.stop(peer)
  catch
    :exit, _ -> :ok
  end

  @doc "Polls `fun` every 20 ms until it is truthy; raises after `ms`."
  def wait_until(fun, ms \\ 30_000) do
    deadline = System.monotonic_time(:millisecond) + ms
    do_wait(fun, deadline, ms)
  end

  defp do_wait(fun, deadline, ms) do
    cond do
      fun.() ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        raise "condition not met within #{ms} ms"

      true ->
        Process.sleep(20)
        do_wait(fun, deadline, ms)
    end
  end
end
