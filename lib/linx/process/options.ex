defmodule Linx.Process.Options do
  @moduledoc false
  # Every option of Linx.Process.spawn/1, enter/2 and run/2 is validated
  # here, one clause per option, before any port opens. A bad value raises
  # ArgumentError naming the option, the value and what was expected.
  #
  # validate!/2 returns a %Linx.Process.Options{} whose fields are already
  # in the shape the wire encoder (Linx.Process.Wire) wants.

  alias Linx.Process.Wire

  @namespaces [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]
  @stdio_modes [:inherit, :devnull, :pty, :pipe]
  @fd_modes [:inherit, :devnull, :pipe]

  defstruct mode: :spawn,
            argv: nil,
            env: nil,
            cwd: nil,
            namespaces: nil,
            target: nil,
            stdio: nil,
            no_new_privs: false,
            uid_map: nil,
            gid_map: nil,
            setgroups: :auto,
            checkpoint: false,
            on_exit: :kill,
            owner: nil,
            winsize: nil,
            commands: [],
            notify: nil,
            cgroup: :auto,
            uid: nil,
            gid: nil,
            stderr_to_stdout: false,
            stdio_window: 1_048_576

  @type t :: %__MODULE__{}

  @common [
    :argv,
    :env,
    :clear_env,
    :cwd,
    :namespaces,
    :stdio,
    :no_new_privs,
    :uid_map,
    :gid_map,
    :setgroups,
    :checkpoint,
    :on_exit,
    :owner,
    :winsize,
    :capabilities,
    :seccomp,
    :notify,
    :cgroup,
    :uid,
    :gid,
    :stdio_window
  ]

  @doc false
  def namespaces, do: @namespaces

  @doc false
  @spec validate!(keyword, :spawn | :enter | :run) :: t
  def validate!(opts, mode) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "options must be a keyword list, got: #{inspect(opts)}"
    end

    allowed = if mode == :run, do: [:stderr_to_stdout | @common], else: @common

    for {key, _} <- opts, key not in allowed do
      raise ArgumentError,
            "unknown option #{inspect(key)} for Linx.Process.#{mode}; " <>
              "known options: #{Enum.map_join(allowed, ", ", &inspect/1)}"
    end

    base = %__MODULE__{mode: if(mode == :enter, do: :enter, else: :spawn)}

    parsed = Enum.reduce(opts, base, fn {key, value}, acc -> option(acc, key, value, opts) end)

    parsed
    |> require_argv()
    |> resolve_env(opts)
    |> default_stdio()
    |> check_maps()
    |> check_ids()
    |> build_commands(opts)
  end

  ## One clause per option.

  defp option(acc, :argv, argv, _) do
    unless is_list(argv) and argv != [] do
      bad!(:argv, argv, "a non-empty list of binaries (the program and its arguments)")
    end

    argv
    |> Enum.with_index()
    |> Enum.each(fn {arg, i} ->
      cond do
        not is_binary(arg) ->
          raise ArgumentError,
                "invalid option :argv: element #{i} is #{inspect(arg)}, expected a binary"

        String.contains?(arg, <<0>>) ->
          raise ArgumentError,
                "invalid option :argv: element #{i} (#{inspect(arg)}) contains a NUL byte"

        true ->
          :ok
      end
    end)

    if hd(argv) == "", do: bad!(:argv, argv, "a non-empty program name as the first element")
    %{acc | argv: argv}
  end

  defp option(acc, :env, env, _) do
    unless is_list(env), do: bad!(:env, env, "a list of {name, value} pairs")

    Enum.each(env, fn
      {name, value} when is_binary(name) and (is_binary(value) or is_nil(value)) ->
        cond do
          name == "" or String.contains?(name, ["=", <<0>>]) ->
            raise ArgumentError,
                  "invalid option :env: variable name #{inspect(name)} " <>
                    "must be non-empty and contain neither \"=\" nor NUL"

          is_binary(value) and String.contains?(value, <<0>>) ->
            raise ArgumentError,
                  "invalid option :env: the value of #{inspect(name)} contains a NUL byte"

          true ->
            :ok
        end

      other ->
        raise ArgumentError,
              "invalid option :env: entry #{inspect(other)} is not a {binary, binary | nil} pair"
    end)

    acc
  end

  defp option(acc, :clear_env, v, _) when is_boolean(v), do: acc
  defp option(_, :clear_env, v, _), do: bad!(:clear_env, v, "a boolean")

  defp option(acc, :cwd, cwd, _) do
    unless is_binary(cwd) and cwd != "" and not String.contains?(cwd, <<0>>) do
      bad!(:cwd, cwd, "a non-empty binary path without NUL bytes")
    end

    %{acc | cwd: cwd}
  end

  defp option(acc, :namespaces, ns, _) do
    unless is_list(ns), do: bad!(:namespaces, ns, "a list of #{inspect(@namespaces)}")

    for n <- ns, n not in @namespaces do
      raise ArgumentError,
            "invalid option :namespaces: unknown namespace #{inspect(n)}, " <>
              "expected some of #{inspect(@namespaces)}"
    end

    %{acc | namespaces: Enum.uniq(ns)}
  end

  defp option(acc, :stdio, mode, _) when mode in @stdio_modes, do: %{acc | stdio: mode}

  defp option(acc, :stdio, fds, _) when is_list(fds) do
    unless Keyword.keyword?(fds), do: bad_stdio!(fds)

    Enum.each(fds, fn
      {fd, mode} when fd in [:stdin, :stdout, :stderr] ->
        unless valid_fd_mode?(mode) do
          raise ArgumentError,
                "invalid option :stdio: #{inspect(fd)} => #{inspect(mode)}; expected one of " <>
                  "#{inspect(@fd_modes)} or {:connect_unix, path}"
        end

      {fd, _} ->
        raise ArgumentError,
              "invalid option :stdio: unknown fd #{inspect(fd)}, expected :stdin, :stdout or :stderr"
    end)

    stdio =
      for fd <- [:stdin, :stdout, :stderr],
          do: {fd, Keyword.get(fds, fd, if(fd == :stdin, do: :devnull, else: :inherit))}

    %{acc | stdio: stdio}
  end

  defp option(_, :stdio, other, _), do: bad_stdio!(other)

  defp option(acc, :no_new_privs, v, _) when is_boolean(v), do: %{acc | no_new_privs: v}
  defp option(_, :no_new_privs, v, _), do: bad!(:no_new_privs, v, "a boolean")

  # :caller maps the BEAM's own uid (gid) to root inside, like `unshare -r`:
  # the one map that holds whoever runs it.
  defp option(acc, key, :caller, w), do: option(acc, key, [{0, caller_id(key), 1}], w)

  defp option(acc, key, map, _) when key in [:uid_map, :gid_map] do
    unless is_list(map) and map != [] do
      bad!(key, map, ":caller or a non-empty list of {inside, outside, count} tuples")
    end

    Enum.each(map, fn
      {inside, outside, count}
      when is_integer(inside) and inside >= 0 and is_integer(outside) and outside >= 0 and
             is_integer(count) and count > 0 and inside + count <= 0xFFFFFFFF and
             outside + count <= 0xFFFFFFFF ->
        :ok

      entry ->
        raise ArgumentError,
              "invalid option #{inspect(key)}: entry #{inspect(entry)} is not " <>
                "{inside, outside, count} with non-negative ids and count > 0"
    end)

    Map.put(acc, key, map)
  end

  defp option(acc, :setgroups, v, _) when v in [:auto, :allow, :deny], do: %{acc | setgroups: v}
  defp option(_, :setgroups, v, _), do: bad!(:setgroups, v, ":auto, :allow or :deny")

  defp option(acc, key, id, _) when key in [:uid, :gid] do
    unless is_integer(id) and id >= 0 and id < 0xFFFFFFFF do
      bad!(key, id, "an id 0..4294967294 (as seen inside the workload's user namespace)")
    end

    Map.put(acc, key, id)
  end

  defp option(acc, :cgroup, v, _) when v in [:auto, true, false], do: %{acc | cgroup: v}
  defp option(_, :cgroup, v, _), do: bad!(:cgroup, v, ":auto, true or false")

  defp option(acc, :checkpoint, v, _) when is_boolean(v), do: %{acc | checkpoint: v}
  defp option(_, :checkpoint, v, _), do: bad!(:checkpoint, v, "a boolean")

  defp option(acc, :on_exit, v, _) when v in [:kill, :detach], do: %{acc | on_exit: v}
  defp option(_, :on_exit, v, _), do: bad!(:on_exit, v, ":kill or :detach")

  defp option(acc, :owner, pid, _) when is_pid(pid), do: %{acc | owner: pid}
  defp option(_, :owner, v, _), do: bad!(:owner, v, "a pid")

  defp option(acc, :winsize, {rows, cols} = v, _) do
    unless u16?(rows) and u16?(cols), do: bad!(:winsize, v, "{rows, cols} each 0..65535")
    %{acc | winsize: {rows, cols, 0, 0}}
  end

  defp option(_, :winsize, v, _), do: bad!(:winsize, v, "{rows, cols}")

  # The agent's range (docs/protocol.md, stdio_window)
  defp option(acc, :stdio_window, v, _)
       when is_integer(v) and v >= 1024 and v <= 1_099_511_627_776,
       do: %{acc | stdio_window: v}

  defp option(_, :stdio_window, v, _),
    do: bad!(:stdio_window, v, "an integer number of bytes from 1024 up to 2^40")

  defp option(acc, :stderr_to_stdout, v, _) when is_boolean(v),
    do: %{acc | stderr_to_stdout: v}

  defp option(_, :stderr_to_stdout, v, _), do: bad!(:stderr_to_stdout, v, "a boolean")

  # Rules and handlers for seccomp user notification, validated here.
  defp option(acc, :notify, value, _), do: %{acc | notify: Linx.Seccomp.Notify.new!(value)}

  # Turned into checkpoint commands by build_commands/2.
  defp option(acc, key, _v, _) when key in [:capabilities, :seccomp], do: acc

  ## Cross-option rules.

  defp require_argv(%{argv: nil}),
    do: raise(ArgumentError, "missing required option :argv (the program and its arguments)")

  defp require_argv(acc), do: acc

  # As System.cmd/3: {name, value} pairs merged over the BEAM's environment;
  # a nil value unsets; clear_env: true starts from nothing.
  defp resolve_env(acc, opts) do
    base = if Keyword.get(opts, :clear_env, false), do: %{}, else: System.get_env()

    env =
      opts
      |> Keyword.get(:env, [])
      |> Enum.reduce(base, fn
        {name, nil}, env -> Map.delete(env, name)
        {name, value}, env -> Map.put(env, name, value)
      end)
      |> Enum.map(fn {k, v} -> k <> "=" <> v end)

    %{acc | env: env}
  end

  # The workload never reads the BEAM's own terminal: stdin is /dev/null
  # unless it is a pipe or a PTY (or explicitly :inherit per fd).
  defp default_stdio(%{stdio: nil} = acc),
    do: %{acc | stdio: [stdin: :devnull, stdout: :inherit, stderr: :inherit]}

  defp default_stdio(%{stdio: :inherit} = acc),
    do: %{acc | stdio: [stdin: :devnull, stdout: :inherit, stderr: :inherit]}

  defp default_stdio(acc), do: acc

  # The owner of /proc/self is the BEAM's effective uid and gid.
  defp caller_id(key) do
    %File.Stat{uid: uid, gid: gid} = File.stat!("/proc/self")
    if key == :uid_map, do: uid, else: gid
  end

  defp check_maps(%{uid_map: nil, gid_map: nil} = acc), do: acc

  defp check_maps(%{mode: :enter}) do
    raise ArgumentError,
          "invalid options :uid_map/:gid_map: enter joins an existing user namespace, " <>
            "whose maps are already written"
  end

  defp check_maps(acc) do
    unless :user in (acc.namespaces || []) do
      raise ArgumentError,
            "invalid options :uid_map/:gid_map: they need a new user namespace; " <>
              "add :user to :namespaces"
    end

    acc
  end

  defp check_ids(%{uid: nil, gid: nil} = acc), do: acc

  defp check_ids(%{uid: uid, gid: gid}) when is_nil(uid) or is_nil(gid) do
    raise ArgumentError,
          "invalid options :uid/:gid: give both (got uid: #{inspect(uid)}, gid: #{inspect(gid)})"
  end

  defp check_ids(acc), do: acc

  defp build_commands(acc, opts) do
    caps = Keyword.get(opts, :capabilities)
    # Read /proc only when capabilities are asked for: not on every spawn.
    full = if caps, do: checkpoint_caps(acc), else: 0

    commands = Linx.Process.Commands.from_options(caps, Keyword.get(opts, :seccomp), full)

    commands = with_notify_filter(commands, acc.notify)
    # Credentials first: the capability commands then shape what the new
    # uid keeps (see caps_set_ids in c_src/caps.c).
    commands = if acc.uid, do: [Wire.set_ids(acc.uid, acc.gid) | commands], else: commands
    %{acc | commands: commands}
  end

  # The notify filter goes first among the filters: the child hands its
  # listener to the agent right after installing it, and a later deny
  # filter must not be able to block that hand-off.
  defp with_notify_filter(commands, nil), do: commands

  defp with_notify_filter(commands, notify) do
    {caps, filters} = Enum.split_while(commands, &(not Wire.seccomp_install?(&1)))
    caps ++ [Wire.seccomp_notify_install(Linx.Seccomp.Notify.filter(notify)) | filters]
  end

  # The permitted set the child holds at its checkpoint: all of them in a
  # user namespace of its own (or one it entered), else the agent's, which
  # is the BEAM's.
  defp checkpoint_caps(acc) do
    own_userns? =
      case acc.mode do
        :spawn -> :user in (acc.namespaces || [])
        :enter -> acc.namespaces == nil or :user in acc.namespaces
      end

    if own_userns? do
      Linx.Capabilities.to_mask(:all)
    else
      Linx.Capabilities.read_status().permitted
    end
  end

  ## :node (issue 16: run on any node of a cluster).
  #
  # Taken off the list before validate!/2, which runs on the caller's node
  # either way; the node that runs the workload validates the rest again
  # for its own host (environment, PATH, capabilities, :caller maps).

  @doc false
  @spec take_node!(keyword) :: {:local | :any | node, keyword}
  def take_node!(opts) when is_list(opts) do
    if Keyword.keyword?(opts) and Keyword.has_key?(opts, :node) do
      {where, rest} = Keyword.pop!(opts, :node)
      {check_node!(where), Keyword.delete(rest, :node)}
    else
      {:local, opts}
    end
  end

  def take_node!(opts), do: {:local, opts}

  defp check_node!(where) when where == node(), do: :local
  defp check_node!(:any), do: :any

  defp check_node!(name) when is_atom(name) and name not in [nil, true, false] do
    case String.split(Atom.to_string(name), "@") do
      [n, host] when n != "" and host != "" -> name
      _ -> bad_node!(name)
    end
  end

  defp check_node!(other), do: bad_node!(other)

  defp bad_node!(v) do
    bad!(:node, v, "node(), :any or a node name such as :\"linx@host\"")
  end

  ## Helpers.

  defp valid_fd_mode?(mode) when mode in @fd_modes, do: true

  defp valid_fd_mode?({:connect_unix, path}),
    do: is_binary(path) and path != "" and not String.contains?(path, <<0>>)

  defp valid_fd_mode?(_), do: false

  defp u16?(n), do: is_integer(n) and n >= 0 and n <= 65_535

  defp bad_stdio!(v) do
    bad!(
      :stdio,
      v,
      ":inherit, :devnull, :pty, :pipe, or a keyword list [stdin:, stdout:, stderr:]"
    )
  end

  defp bad!(key, value, expected) do
    raise ArgumentError,
          "invalid option #{inspect(key)}: got #{inspect(value)}, expected #{expected}"
  end
end
