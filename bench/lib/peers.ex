defmodule Bench.Peers do
  @moduledoc """
  Peer nodes on this machine for the `distributed` suite (OTP's `:peer`):
  the bench's code path, `:linx` started. Makes the bench node
  distributed first (short names), starting epmd if it is not running.
  (The tests have their own copy, `Linx.Peers`, in test/support.)
  """

  def start!(prefix) do
    ensure_distributed!()
    name = :"#{prefix}_#{System.pid()}_#{System.unique_integer([:positive])}"
    cookie = Atom.to_charlist(Node.get_cookie())
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

    {:ok, peer, node} =
      :peer.start(%{
        name: name,
        connection: :standard_io,
        args: [~c"-setcookie", cookie, ~c"-connect_all", ~c"false"] ++ paths,
        wait_boot: 60_000
      })

    {:ok, _} = :peer.call(peer, Application, :ensure_all_started, [:linx], 60_000)
    true = Node.connect(node)
    wait_until(fn -> node in Linx.Cluster.nodes() end)
    {peer, node}
  end

  def stop(peer), do: :peer.stop(peer)

  defp ensure_distributed! do
    unless Node.alive?() do
      if match?({_, n} when n != 0, System.cmd("epmd", ["-names"], stderr_to_stdout: true)) do
        {_, 0} = System.cmd("epmd", ["-daemon"])

        wait_until(fn ->
          match?({_, 0}, System.cmd("epmd", ["-names"], stderr_to_stdout: true))
        end)
      end

      {:ok, _} = :net_kernel.start([:"linx_bench_#{System.pid()}", :shortnames])
    end
  end

  defp wait_until(f) do
    unless f.() do
      Process.sleep(20)
      wait_until(f)
    end
  end
end
