defmodule Linx.Process.Start do
  @moduledoc false
  # How Linx.Process starts a workload's server: here (under
  # Linx.ProcessSupervisor, or linked for start_link/1) or on another
  # node (node:, docs/distributed.md), and how a start error becomes the
  # documented {:error, {errno, stage}} with its text kept for
  # Linx.Process.last_error/0.

  alias Linx.Process.{Options, Server}

  @last_error_key {Linx.Process, :last_error}

  # run/2 and stream/2: `raw` is the options as given (for another node,
  # which validates them again for its host), `validated` has the stdio
  # and window Linx.Process.Run chose.
  def start_run(:local, validated, _raw), do: start(validated, :start)

  def start_run(where, validated, raw) do
    io = %{stdio: validated.stdio, stdio_window: validated.stdio_window}
    start_at(where, validated, {:run, nil, [{:run_io, io} | raw]})
  end

  # The server answers errors it has a text for as {:error, reason, text}:
  # the text goes to last_error/0, the caller gets the documented shape.
  def unwrap({:error, {errno, stage} = reason, text}) do
    Process.put(@last_error_key, %Linx.Process.Error{errno: errno, stage: stage, detail: text})
    {:error, reason}
  end

  def unwrap({:error, {errno, stage}} = error) do
    Process.put(@last_error_key, %Linx.Process.Error{errno: errno, stage: stage})
    error
  end

  def unwrap(other), do: other

  def start_link_with(opts, exit_reasons) do
    if Options.take_node!(opts) |> elem(0) != :local do
      raise ArgumentError,
            "invalid option :node for Linx.Process.start_link/1: " <>
              "a supervised workload runs on its supervisor's node"
    end

    opts = Options.validate!(opts, :spawn)
    start(%{opts | exit_reasons: exit_reasons}, :start_link)
  end

  ## Starting

  # node: (docs/distributed.md). Validated here, on the caller's node, and
  # again on the node that runs the workload, for its own host.
  def start_at(:local, validated, _spec), do: start(validated, :start)

  def start_at(where, validated, {kind, target, opts}) do
    owner = validated.owner || self()
    spec = {kind, target, Keyword.put(opts, :owner, owner)}

    # a dead owner of this node is known here: nothing is sent
    if node(owner) == node() and not Process.alive?(owner) do
      unwrap({:error, {:noproc, :owner}})
    else
      unwrap(Linx.Cluster.start_remote(where, spec, owner))
    end
  end

  @doc false
  # Called through :erpc on the node that runs the workload; returns the
  # result not yet unwrapped (the caller's last_error/0 gets the text).
  def start_here({kind, target, opts}) do
    validated =
      case kind do
        :run ->
          # the stdio and window run/2's collector chose on the caller's node
          {io, opts} = Keyword.pop!(opts, :run_io)
          Map.merge(Options.validate!(opts, :run), io)

        _ ->
          Options.validate!(opts, kind)
      end

    start_raw(%{validated | target: target}, :start)
  end

  defp start(%Options{} = opts, how), do: unwrap(start_raw(opts, how))

  defp start_raw(%Options{} = opts, how) do
    # Under a supervisor (start_link) nobody is told about events unless an
    # :owner is given: the link, not a monitor, ties the workload's life to
    # its parent.
    opts = if how == :start, do: %{opts | owner: opts.owner || self()}, else: opts

    result =
      case how do
        :start -> DynamicSupervisor.start_child(Linx.ProcessSupervisor, {Linx.Process, opts})
        :start_link -> GenServer.start_link(Server, opts, gen_opts(opts))
      end

    case result do
      {:ok, proc} ->
        try do
          GenServer.call(proc, :started, :infinity)
        catch
          :exit, {reason, {GenServer, :call, _}} ->
            {:error, server_gone(reason, opts.owner)}
        end

      # init/1 stopped: {errno, stage}, without a text
      {:error, {_, _}} = error ->
        error

      other ->
        other
    end
  end

  # The server ended before it answered :started: its owner died in the
  # meantime (it stops when the owner goes), or it was killed or crashed.
  defp server_gone(reason, owner) do
    cond do
      is_pid(owner) and node(owner) == node() and not Process.alive?(owner) -> {:noproc, :owner}
      is_atom(reason) -> {reason, :server}
      match?({:shutdown, _}, reason) -> {:shutdown, :server}
      true -> {:crashed, :server}
    end
  end

  # name: (issue 15) registers the server like any GenServer
  def gen_opts(%Options{name: nil}), do: []
  def gen_opts(%Options{name: name}), do: [name: name]
end
