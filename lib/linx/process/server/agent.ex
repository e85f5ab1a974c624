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

  # A pooled agent is already started and waiting for its request.
  def open_agent do
    case Linx.Pool.checkout() do
      nil ->
        fresh_agent()

      port ->
        {:ok, port, true}
    end
  end

  # A pooled agent that died while idle may have its port closed by the
  # time we write (Port.command raises): the workload never started, so a
  # fresh agent takes its place, once.
  def send_request(port, pooled?, request) do
    Port.command(port, request)
    {:ok, port, pooled?}
  rescue
    ArgumentError ->
      if pooled? do
        with {:ok, fresh, _} <- fresh_agent(), do: send_request(fresh, false, request)
      else
        {:error, :port_closed, :agent_died}
      end
  end

  def fresh_agent do
    case Linx.Pool.try_open_agent() do
      {:ok, port} -> {:ok, port, false}
      {:error, errno} -> {:error, errno, :agent}
    end
  end
end
