defmodule Linx.Process.Server.Agent do
  @moduledoc false
  # What Linx.Process.Server needs before its state exists: the owner
  # checked, an agent (from Linx.Pool, or fresh) and the request written
  # to it. Every failure is a start error {:error, errno, stage}.

  # A local owner that is already dead would only be noticed by the
  # monitor after start, as a bare :normal exit; a remote one is left to
  # the monitor.
  def check_owner(nil), do: :ok

  def check_owner(owner) when node(owner) == node() do
    if Process.alive?(owner), do: :ok, else: {:error, :noproc, :owner}
  end

  def check_owner(_remote), do: :ok

  # The warm path: an agent forked by Linx.Spawner's zygote, else one of
  # Linx.Pool's, already started and waiting for its request; else a
  # fresh one. `agent` is a port or a Linx.Spawner channel: the server
  # talks to both through command/2 and close/1 below.
  def open_agent do
    with nil <- Linx.Spawner.checkout(),
         nil <- Linx.Pool.checkout() do
      fresh_agent()
    else
      agent -> {:ok, agent, true}
    end
  end

  # A pooled agent that died while idle may have its port closed by the
  # time we write (Port.command raises): the workload never started, so a
  # fresh agent takes its place, once. So does a closed zygote, and a
  # request too large for it (a port agent refuses that with its error).
  def send_request(agent, pooled?, request) do
    case write_request(agent, request) do
      :ok -> {:ok, agent, pooled?}
      :too_big -> fresh_request(agent, request)
    end
  rescue
    ArgumentError ->
      if pooled? do
        fresh_request(agent, request)
      else
        {:error, :port_closed, :agent_died}
      end
  end

  defp write_request(port, request) when is_port(port), do: Port.command(port, request) && :ok
  defp write_request(channel, request), do: Linx.Spawner.spawn_agent(channel, [request])

  defp fresh_request(agent, request) do
    close(agent)
    with {:ok, fresh, _} <- fresh_agent(), do: send_request(fresh, false, request)
  end

  # One encoded command for the agent; raises ArgumentError, as
  # Port.command/2 does, when it is gone.
  def command(port, frame) when is_port(port), do: Port.command(port, frame)
  def command(channel, frame), do: Linx.Spawner.command(channel, [frame])

  # EOF on the agent's fd 3: it exits (after killing the tree, unless the
  # terminal frame was sent already). Nothing more arrives from it.
  def close(nil), do: :ok

  def close(port) when is_port(port) do
    Port.close(port)
    :ok
  catch
    :error, _ -> :ok
  end

  def close(channel), do: Linx.Spawner.close(channel)

  # After the agent's last frame (the close handshake): a port agent
  # exits when we close; a forked one has not waited for it.
  def release(port) when is_port(port), do: close(port)
  def release(channel), do: Linx.Spawner.forget(channel)

  def fresh_agent do
    case Linx.Pool.try_open_agent() do
      {:ok, port} -> {:ok, port, false}
      {:error, errno} -> {:error, errno, :agent}
    end
  end
end
