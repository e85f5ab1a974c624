defmodule Linx.Process.Wire do
  @moduledoc false
  # Encodes validated options into the agent's request frame and decodes the
  # agent's frames. The grammar is docs/protocol.md; this module is its only
  # Elixir reader and writer.

  alias Linx.Process.Options

  @doc "The request term for a validated option set."
  @spec request(Options.t(), boolean) :: {:spawn | :enter, map}
  def request(%Options{} = o, agent_checkpoint?) do
    map =
      %{
        argv: resolve_argv(o.argv),
        env: o.env,
        stdio: o.stdio,
        no_new_privs: o.no_new_privs,
        on_exit: o.on_exit,
        checkpoint: agent_checkpoint?,
        commands: o.commands
      }
      |> put_if(:cwd, o.cwd)
      |> put_if(:winsize, o.winsize)
      |> put_namespaces(o)
      |> put_if(:target, o.target)

    {o.mode, map}
  end

  @doc "Encodes a term as a frame body."
  @spec encode(term) :: binary
  def encode(term), do: :erlang.term_to_binary(term)

  @doc "Decodes a frame body from the agent."
  @spec decode(binary) :: term
  def decode(bin), do: :erlang.binary_to_term(bin, [:safe])

  # The agent execs argv[0] as a path (no PATH search, so nothing in the
  # child depends on the environment): a bare name is looked up here, in the
  # BEAM's PATH, as System.cmd/3 does. A name that is not found is passed as
  # is and fails with {:enoent, :execve}.
  defp resolve_argv([prog | args] = argv) do
    if String.contains?(prog, "/") do
      argv
    else
      [System.find_executable(prog) || prog | args]
    end
  end

  # Enter mode: no :namespaces key means "all of the target's".
  defp put_namespaces(map, %Options{mode: :enter, namespaces: nil}), do: map
  defp put_namespaces(map, %Options{namespaces: nil}), do: Map.put(map, :namespaces, [])
  defp put_namespaces(map, %Options{namespaces: ns}), do: Map.put(map, :namespaces, ns)

  defp put_if(map, _key, nil), do: map
  defp put_if(map, key, value), do: Map.put(map, key, value)
end
