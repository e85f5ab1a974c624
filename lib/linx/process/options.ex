defmodule Linx.Process.Options do
  @moduledoc false
  # Every option of Linx.Process.spawn/1, enter/2 and run/2 is validated
  # here, one clause per option, before any port opens. A bad value raises
  # ArgumentError naming the option, the value and what was expected.
  #
  # validate!/2 returns a %Linx.Process.Options{} whose fields are already
  # in the shape the wire encoder (Linx.Process.Wire) wants.

  alias Linx.Process.{IdMaps, Wire}

  @namespaces [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]
  @stdio_modes [:inherit, :devnull, :pty, :pipe]
  @fd_modes [:inherit, :devnull, :pipe]
  # The agent's limits (c_src/passfd.h, c_src/landlock.h)
  @fds_max 64
  @fd_target_max 255
  @open_flags [:read, :write, :append, :create, :truncate, :exclusive]
  @landlock_classes [:read, :read_write, :execute]
  @landlock_max 256

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
            stdio_window: 1_048_576,
            # resources (Linx.Process.Resources); cgroups_v1 is filled in
            # by the server once it made the groups (Linx.Cgroup.Limits)
            limits: [],
            rlimits: [],
            nice: nil,
            cpus: nil,
            timeout: nil,
            kill_timeout: 5000,
            cgroups_v1: [],
            root: :host,
            mounts: [],
            hostname: nil,
            loopback: true,
            time_offsets: nil,
            init: false,
            fds: [],
            landlock: nil,
            # issue 15: everyday options (see "Everyday options" below)
            arg0: nil,
            pty_modes: nil,
            name: nil,
            log_output: nil,
            # not an option: how a failed workload's server exits, set by
            # Linx.Process.child_spec/1 (see "Under a supervisor" there)
            exit_reasons: :shutdown,
            # not an option: false when the owner is run/2's collector,
            # which drops {:usage, map}: the cgroup files are then not
            # read at all (three dirty-I/O reads per workload)
            usage_event: true

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
    :stdio_window,
    :root,
    :mounts,
    :hostname,
    :loopback,
    :time_offsets,
    :init,
    :fds,
    :landlock,
    # issue 15
    :arg0,
    :pty
  ]

  # The resource options (Linx.Process.Resources)
  @common @common ++ [:limits, :rlimits, :nice, :cpus, :timeout, :kill_timeout]

  # Shape the filesystem and identity of a new workload: not for enter,
  # which joins existing namespaces (docs/sandbox.md)
  @sandbox [:root, :mounts, :hostname, :loopback, :time_offsets]

  # Options of the server itself (spawn/1, enter/2, start_link/1): not run/2.
  @server_only [:name, :log_output]

  @log_levels [:emergency, :alert, :critical, :error, :warning, :notice, :info, :debug]

  @doc false
  def namespaces, do: @namespaces

  @doc false
  @spec validate!(keyword, :spawn | :enter | :run) :: t
  def validate!(opts, mode) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "options must be a keyword list, got: #{inspect(opts)}"
    end

    allowed = if mode == :run, do: [:stderr_to_stdout | @common], else: @common ++ @server_only

    for {key, _} <- opts, key not in allowed do
      raise ArgumentError,
            "unknown option #{inspect(key)} for Linx.Process.#{mode}; " <>
              "known options: #{Enum.map_join(allowed, ", ", &inspect/1)}"
    end

    base = %__MODULE__{mode: if(mode == :enter, do: :enter, else: :spawn)}

    parsed = Enum.reduce(opts, base, fn {key, value}, acc -> option(acc, key, value, opts) end)

    parsed
    |> sandbox_namespaces(opts)
    |> require_argv()
    |> resolve_env(opts)
    |> default_stdio()
    |> check_maps()
    |> check_ids()
    |> add_init_pid()
    |> check_pty_modes(opts, mode)
    |> log_output_stdio(opts)
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
  defp option(acc, key, :caller, w), do: option(acc, key, [{0, IdMaps.caller_id(key), 1}], w)

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

  ## Everyday options (issue 15): arg0, pty, name, log_output.

  defp option(acc, :arg0, v, _) do
    unless is_binary(v) and not String.contains?(v, <<0>>) do
      bad!(:arg0, v, "a binary without NUL bytes (argv[0] as the program sees it)")
    end

    %{acc | arg0: v}
  end

  defp option(acc, :pty, modes, _) do
    unless Keyword.keyword?(modes),
      do: bad!(:pty, modes, "a keyword list [echo: bool, raw: bool]")

    Enum.each(modes, fn
      {key, v} when key in [:echo, :raw] and is_boolean(v) ->
        :ok

      entry ->
        raise ArgumentError,
              "invalid option :pty: #{inspect(entry)}; expected echo: boolean or raw: boolean"
    end)

    # The wire form: the termios changes asked for, as atoms
    wire =
      Enum.flat_map([echo: false, raw: true], fn {key, v} ->
        if Keyword.get(modes, key) == v, do: [if(key == :echo, do: :noecho, else: :raw)], else: []
      end)

    %{acc | pty_modes: wire}
  end

  defp option(acc, :name, name, _) do
    valid? =
      case name do
        a when is_atom(a) and a != nil -> true
        {:global, _} -> true
        {:via, mod, _} when is_atom(mod) -> true
        _ -> false
      end

    unless valid?, do: bad!(:name, name, "an atom, {:global, term} or {:via, module, term}")
    %{acc | name: name}
  end

  defp option(acc, :log_output, v, _) when v in @log_levels, do: %{acc | log_output: v}

  defp option(_, :log_output, v, _),
    do: bad!(:log_output, v, "a Logger level, one of #{inspect(@log_levels)}")

  # Rules and handlers for seccomp user notification, validated here.
  defp option(acc, :notify, value, _), do: %{acc | notify: Linx.Seccomp.Notify.new!(value)}

  # :limits, :rlimits, :nice, :cpus, :timeout, :kill_timeout
  defp option(acc, key, value, _) when key in [:limits, :rlimits, :nice, :cpus],
    do: Linx.Process.Resources.option(acc, key, value)

  defp option(acc, key, value, _) when key in [:timeout, :kill_timeout],
    do: Linx.Process.Resources.option(acc, key, value)

  # Turned into checkpoint commands by build_commands/2.
  defp option(acc, key, _v, _) when key in [:capabilities, :seccomp], do: acc

  # The sandbox options (docs/sandbox.md), spawn and run only.
  defp option(%{mode: :enter}, key, _v, _) when key in @sandbox do
    raise ArgumentError,
          "invalid option #{inspect(key)} for Linx.Process.enter: enter joins the target's " <>
            "existing namespaces, whose filesystem and identity are already made"
  end

  defp option(acc, :root, v, _), do: %{acc | root: Linx.Process.Mounts.root!(v)}
  defp option(acc, :mounts, v, _), do: %{acc | mounts: Linx.Process.Mounts.mounts!(v)}

  defp option(acc, :hostname, v, _) do
    unless is_binary(v) and byte_size(v) in 1..64 and not String.contains?(v, <<0>>) do
      bad!(:hostname, v, "a binary of 1..64 bytes without NUL (the kernel's HOST_NAME_MAX)")
    end

    %{acc | hostname: v}
  end

  defp option(acc, :loopback, v, _) when is_boolean(v), do: %{acc | loopback: v}
  defp option(_, :loopback, v, _), do: bad!(:loopback, v, "a boolean")

  defp option(acc, :time_offsets, v, _) do
    ok? =
      Keyword.keyword?(v) and
        Enum.all?(v, fn {k, s} -> k in [:monotonic, :boottime] and is_integer(s) end)

    # the kernel's bounds: an offset keeps the clock within 0..KTIME_SEC_MAX/2
    unless ok? and Enum.all?(v, fn {_, s} -> abs(s) <= 2_147_483_647 end) do
      bad!(:time_offsets, v, "[monotonic: seconds, boottime: seconds] (integers)")
    end

    %{acc | time_offsets: {Keyword.get(v, :monotonic, 0), Keyword.get(v, :boottime, 0)}}
  end

  ## init, fds, landlock (docs/sandbox.md).

  defp option(%{mode: :enter}, :init, true, _) do
    raise ArgumentError,
          "invalid option :init: enter/2 joins an existing pid namespace, which has its " <>
            "init already; init: true is for spawn/1 and run/2"
  end

  defp option(acc, :init, v, _) when is_boolean(v), do: %{acc | init: v}
  defp option(_, :init, v, _), do: bad!(:init, v, "a boolean")

  defp option(acc, :fds, fds, _) when is_list(fds) do
    if length(fds) > @fds_max do
      bad!(:fds, fds, "at most #{@fds_max} entries")
    end

    Enum.reduce(fds, MapSet.new(), fn entry, seen ->
      target = check_fd_entry!(entry)

      if MapSet.member?(seen, target) do
        raise ArgumentError, "invalid option :fds: target fd #{target} is given twice"
      end

      MapSet.put(seen, target)
    end)

    %{acc | fds: fds}
  end

  defp option(_, :fds, v, _), do: bad!(:fds, v, "a list of {target_fd, source}")

  defp option(acc, :landlock, rules, _) do
    unless Keyword.keyword?(rules) and rules != [] do
      bad!(:landlock, rules, "a keyword list such as [read: [\"/usr\"], read_write: [\"/tmp\"]]")
    end

    flat =
      for {class, paths} <- rules, path <- check_landlock_class!(class, paths), do: {class, path}

    if flat == [] do
      bad!(:landlock, rules, "at least one path (no path at all would deny even the exec)")
    end

    if length(flat) > @landlock_max do
      bad!(:landlock, rules, "at most #{@landlock_max} paths in all")
    end

    %{acc | landlock: flat}
  end

  ## Cross-option rules.

  # A root or mounts need a mount namespace, a hostname a UTS one, time
  # offsets a time one: added here. A fresh procfs needs a pid namespace
  # the workload is init of: that one is not added behind the caller's
  # back (it changes what the workload sees of every other process).
  defp sandbox_namespaces(%{mode: :enter} = acc, _opts), do: acc

  defp sandbox_namespaces(acc, _opts) do
    ns = acc.namespaces || []

    ns =
      ns
      |> add_if(:mount, acc.root != :host or acc.mounts != [])
      |> add_if(:uts, acc.hostname != nil)
      |> add_if(:time, acc.time_offsets != nil)

    # init: true brings its own new pid namespace (add_init_pid/1)
    if Enum.any?(acc.mounts, &Linx.Process.Mounts.proc?/1) and :pid not in ns and !acc.init do
      raise ArgumentError,
            "invalid option :mounts: {:proc, _} mounts a fresh procfs, which needs a new pid " <>
              "namespace; add :pid to :namespaces"
    end

    acc = default_sandbox_maps(acc, ns)
    if ns == [] and acc.namespaces == nil, do: acc, else: %{acc | namespaces: ns}
  end

  # A tmpfs refuses files whose owner has no id inside (EOVERFLOW): a root or
  # mounts in a new user namespace without a map get the caller's own uid
  # and gid mapped to themselves, as bwrap does.
  defp default_sandbox_maps(acc, ns) do
    if :user in ns and :mount in ns and (acc.root != :host or acc.mounts != []) do
      {uid, gid} = IdMaps.beam_ids()
      %{acc | uid_map: acc.uid_map || [{uid, uid, 1}], gid_map: acc.gid_map || [{gid, gid, 1}]}
    else
      acc
    end
  end

  defp add_if(ns, n, true), do: if(n in ns, do: ns, else: ns ++ [n])
  defp add_if(ns, _n, false), do: ns

  defp require_argv(%{argv: nil}),
    do: raise(ArgumentError, "missing required option :argv (the program and its arguments)")

  defp require_argv(acc), do: acc

  # As System.cmd/3 (Linx.Process.Env): the workload's environment.
  defp resolve_env(acc, opts), do: %{acc | env: Linx.Process.Env.resolve(opts)}

  # The workload never reads the BEAM's own terminal: stdin is /dev/null
  # unless it is a pipe or a PTY (or explicitly :inherit per fd).
  defp default_stdio(%{stdio: nil} = acc),
    do: %{acc | stdio: [stdin: :devnull, stdout: :inherit, stderr: :inherit]}

  defp default_stdio(%{stdio: :inherit} = acc),
    do: %{acc | stdio: [stdin: :devnull, stdout: :inherit, stderr: :inherit]}

  defp default_stdio(acc), do: acc

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

  # init: true means pid 1 of a new pid namespace: :pid is added.
  defp add_init_pid(%{init: true, namespaces: ns} = acc) do
    ns = ns || []
    if :pid in ns, do: acc, else: %{acc | namespaces: ns ++ [:pid]}
  end

  defp add_init_pid(acc), do: acc

  defp check_pty_modes(%{pty_modes: nil} = acc, _opts, _mode), do: acc
  defp check_pty_modes(%{stdio: :pty} = acc, _opts, _mode), do: acc

  # pty: without :stdio asks for the PTY too, as erlexec's {pty, Modes}
  # does; run/2 and stream/2 have none (their output comes on pipes).
  defp check_pty_modes(acc, opts, mode) do
    if mode != :run and not Keyword.has_key?(opts, :stdio) do
      %{acc | stdio: :pty}
    else
      raise ArgumentError,
            "invalid option :pty: termios modes need stdio: :pty " <>
              "(spawn/1 and enter/2 without :stdio get a PTY from pty: alone)"
    end
  end

  # log_output: the output is logged, so by default it comes on pipes.
  defp log_output_stdio(%{log_output: level} = acc, opts) when level != nil do
    if Keyword.has_key?(opts, :stdio) or acc.stdio == :pty,
      do: acc,
      else: %{acc | stdio: [stdin: :devnull, stdout: :pipe, stderr: :pipe]}
  end

  defp log_output_stdio(acc, _opts), do: acc

  defp build_commands(acc, opts) do
    caps = Keyword.get(opts, :capabilities)
    # Read /proc only when capabilities are asked for: not on every spawn.
    full = if caps, do: checkpoint_caps(acc), else: 0

    commands = Linx.Process.Commands.from_options(caps, Keyword.get(opts, :seccomp), full)

    commands = with_notify_filter(commands, acc.notify)
    # Credentials first: the capability commands then shape what the new
    # uid keeps (see caps_set_ids in c_src/caps.c).
    commands = if acc.uid, do: [Wire.set_ids(acc.uid, acc.gid) | commands], else: commands
    # Landlock before everything: after the mounts, while the child still
    # has CAP_SYS_ADMIN in its namespace (set_ids and the capability
    # commands come after), and before seccomp (c_src/landlock.c).
    commands = if acc.landlock, do: [Wire.landlock() | commands], else: commands
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

  # One {target_fd, source} of :fds; returns the target.
  defp check_fd_entry!({target, source}) when is_integer(target) do
    cond do
      target in 0..2 ->
        raise ArgumentError,
              "invalid option :fds: target fd #{target} is stdio; use :stdio for fds 0, 1 and 2"

      target < 0 or target > @fd_target_max ->
        raise ArgumentError,
              "invalid option :fds: target fd #{target}, expected 3..#{@fd_target_max}"

      true ->
        check_fd_source!(target, source)
        target
    end
  end

  defp check_fd_entry!(entry) do
    raise ArgumentError,
          "invalid option :fds: entry #{inspect(entry)} is not {target_fd, source}"
  end

  defp check_fd_source!(target, {:file, path, flags}) do
    check_fd_path!(target, path)

    unless is_list(flags) and flags != [] and Enum.all?(flags, &(&1 in @open_flags)) and
             Enum.any?(flags, &(&1 in [:read, :write])) do
      raise ArgumentError,
            "invalid option :fds: fd #{target}: flags #{inspect(flags)}, expected a list of " <>
              "#{inspect(@open_flags)} with :read or :write"
    end
  end

  defp check_fd_source!(target, {:connect_unix, path}), do: check_fd_path!(target, path)

  defp check_fd_source!(target, source) do
    raise ArgumentError,
          "invalid option :fds: fd #{target}: source #{inspect(source)}, expected " <>
            "{:file, path, flags} or {:connect_unix, path}"
  end

  defp check_fd_path!(target, path) do
    unless is_binary(path) and path != "" and not String.contains?(path, <<0>>) do
      raise ArgumentError,
            "invalid option :fds: fd #{target}: path #{inspect(path)}, expected a " <>
              "non-empty binary without NUL bytes"
    end
  end

  # The paths of one access class of :landlock.
  defp check_landlock_class!(class, paths) when class in @landlock_classes do
    unless is_list(paths), do: bad!(:landlock, [{class, paths}], "a list of absolute paths")

    for path <- paths do
      unless is_binary(path) and String.starts_with?(path, "/") and
               not String.contains?(path, <<0>>) do
        raise ArgumentError,
              "invalid option :landlock: #{inspect(class)} path #{inspect(path)}, expected an " <>
                "absolute path (as the workload sees it) without NUL bytes"
      end
    end

    paths
  end

  defp check_landlock_class!(class, _paths) do
    raise ArgumentError,
          "invalid option :landlock: unknown access #{inspect(class)}, expected " <>
            "#{inspect(@landlock_classes)}"
  end

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

  @doc false
  # ArgumentError naming the option, the value and what was expected
  # (also for Linx.Process.RunOptions).
  @spec bad!(atom, term, String.t()) :: no_return
  def bad!(key, value, expected) do
    raise ArgumentError,
          "invalid option #{inspect(key)}: got #{inspect(value)}, expected #{expected}"
  end
end
