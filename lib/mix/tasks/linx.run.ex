defmodule Mix.Tasks.Linx.Run do
  @shortdoc "Runs a command in new namespaces, like unshare or bwrap"

  @moduledoc """
  Runs a command the way `unshare`/`bwrap` would, through `Linx.Process`,
  and exits with its status.

      mix linx.run [--ns user,pid,mount,...] [--map-root] [--pty] [--cwd DIR]
                   [--memory 256M] [--cpu 0.5] [--pids N] [--timeout 10s]
                   [--rlimit nofile=64]... [--nice N] [--stats]
                   [--sandbox [minimal|network]] [--root DIR|tmpfs] [--bind SRC:DST]
                   [--ro-bind SRC:DST] [--tmpfs DST] [--proc DST] [--dev DST]
                   [--hostname NAME]
                   [--node NAME [--sname NAME | --name NAME] [--cookie COOKIE]] -- CMD ARGS...

  ## Options

    * `--ns LIST` - comma-separated namespaces to create: `user`, `mount`,
      `uts`, `ipc`, `cgroup`, `net`, `time`, `pid` (or `all`).
    * `--map-root` - map the caller's uid/gid to root inside a new user
      namespace (adds `user` to `--ns` if missing), like `unshare -r`.
    * `--pty` - give the command its own pseudo-terminal; lines typed on
      the task's stdin are sent to it and its output is printed.
    * `--cwd DIR` - working directory for the command.
    * `--memory SIZE` - memory limit (`limits: [memory: bytes]`); SIZE is
      bytes or a number with `K`, `M`, `G` (binary units): `256M`.
    * `--cpu N` - CPU limit in CPUs (`0.5`: half of one CPU).
    * `--pids N` - at most N processes and threads.
    * `--timeout T` - stop the command after T (`10s`, `500ms`, `2m`; a
      bare number is seconds): SIGTERM, SIGKILL 5 s later. The task then
      exits 124, as timeout(1) does.
    * `--rlimit NAME=N` - an rlimit (`nofile=64`, `core=0`, `nofile=32:64`
      for soft:hard, `unlimited`); repeatable.
    * `--nice N` - run at nice value N (-20..19).
    * `--stats` - print one line of usage on stderr at the end: wall time,
      CPU time, peak memory (the command then gets a memory group for the
      accounting, without a limit unless `--memory` is given).
    * `--node NAME` - run the command on that node of the cluster (a node
      running Linx), or on the least loaded one with `--node any` (see
      `Linx.Cluster` and `docs/distributed.md`). Its output is relayed
      here; the task's stdin is relayed to it line by line.
    * `--sname NAME`, `--name NAME`, `--cookie COOKIE` - as for `iex`: the
      distributed name of the task's own node (short or long) and the
      cookie. With `--node` and neither name, the task takes a short name
      `linx_run_<n>`; epmd is started if it is not running.

  The filesystem and identity the command sees (`docs/sandbox.md`; each
  flag is the `Linx.Process` option of the same name, and they add the
  `mount`, `uts` namespaces they need):

    * `--sandbox [minimal|network]` - start from a `Linx.Sandbox` preset
      (`minimal` when no name follows); the other flags override it and
      their mounts come after the preset's.
    * `--root DIR|tmpfs` - `root:` a directory that becomes `/`
      (pivot_root), or `tmpfs` for an empty one.
    * `--bind SRC:DST`, `--ro-bind SRC:DST` - `{:bind, src, dst}`,
      `{:ro_bind, src, dst}`.
    * `--tmpfs DST`, `--dev DST` - `{:tmpfs, dst}`, `{:dev, dst}`.
    * `--proc DST` - `{:proc, dst}`; adds `pid` to the namespaces.
    * `--hostname NAME` - `hostname:`.

  Mount flags are applied in the order given, like bwrap's.

  Without `--pty` the command shares the task's stdout and stderr, as
  with `unshare`, and reads the task's stdin byte for byte through a pipe
  (a file, a pipeline, a terminal in line mode), then EOF. The BEAM owns
  its own fd 0 (its `user` I/O server reads it as soon as data comes, a
  terminal included): handing the same fd to the command would race that
  reader, so the task asks the I/O server for the bytes instead, as they
  arrive, and writes them to the command's stdin. The task exits with the command's exit status
  (`128 + N` if it was killed by signal N, 127 if it could not be
  started).

  ## Example

      mix linx.run --ns user,pid,mount,uts --map-root -- /bin/sh -c 'echo $$; id -u'
  """
  use Mix.Task

  @switches [
    ns: :string,
    map_root: :boolean,
    pty: :boolean,
    cwd: :string,
    help: :boolean,
    memory: :string,
    cpu: :string,
    pids: :integer,
    timeout: :string,
    rlimit: :keep,
    nice: :integer,
    stats: :boolean,
    sandbox: :string,
    root: :string,
    bind: :keep,
    ro_bind: :keep,
    tmpfs: :keep,
    proc: :keep,
    dev: :keep,
    hostname: :string,
    node: :string,
    sname: :string,
    name: :string,
    cookie: :string
  ]

  @presets ~w(minimal network)

  @impl true
  def run(args) do
    {opts, argv} = parse!(args)

    if opts[:help] || argv == [] do
      Mix.shell().info(@moduledoc)
      if argv == [] and !opts[:help], do: exit({:shutdown, 2})
    else
      distribute!(opts)
      Mix.Task.run("app.start")
      status = execute(argv, opts)
      exit({:shutdown, status})
    end
  end

  defp parse!(args) do
    {before, after_dashes} =
      case Enum.split_while(args, &(&1 != "--")) do
        {before, ["--" | rest]} -> {before, rest}
        {before, []} -> {before, nil}
      end

    case OptionParser.parse(sandbox_default(before, after_dashes != nil), strict: @switches) do
      {opts, rest, []} ->
        {opts, after_dashes || rest}

      {_, _, invalid} ->
        Mix.raise("invalid option(s): #{inspect(invalid)}; see mix help linx.run")
    end
  end

  # --sandbox takes an optional name: a bare one means minimal. Without a
  # "--", a word after it that is no preset is the command, as after any
  # other flag; with one, it can only be a misspelt preset.
  defp sandbox_default(["--sandbox", name | rest], dashes) when name in @presets,
    do: ["--sandbox", name | sandbox_default(rest, dashes)]

  defp sandbox_default(["--sandbox", "-" <> _ = next | rest], dashes),
    do: ["--sandbox", "minimal" | sandbox_default([next | rest], dashes)]

  defp sandbox_default(["--sandbox", name | _], true), do: unknown_preset!(name)

  defp sandbox_default(["--sandbox" | rest], false), do: ["--sandbox", "minimal" | rest]

  defp sandbox_default(["--sandbox=" <> name | _], _) when name not in @presets,
    do: unknown_preset!(name)

  defp sandbox_default(["--sandbox"], _), do: ["--sandbox", "minimal"]
  defp sandbox_default([arg | rest], dashes), do: [arg | sandbox_default(rest, dashes)]
  defp sandbox_default([], _), do: []

  defp unknown_preset!(name),
    do: Mix.raise("unknown --sandbox preset #{inspect(name)}; known: minimal, network")

  defp execute(argv, opts) do
    spawn_opts = spawn_options(argv, opts)

    started = System.monotonic_time(:microsecond)

    case Linx.Process.spawn(spawn_opts) do
      {:ok, proc} ->
        cond do
          opts[:pty] -> relay_stdin(proc)
          # another node's stdio is not ours: relayed line by line
          remote?(opts) -> relay_stdin(proc, :pipe)
          true -> pipe_stdin(proc)
        end

        status = wait(proc)
        if opts[:stats], do: print_stats(proc, started)
        status

      {:error, {why, _node}} when why in [:nodedown, :nolinx] ->
        Mix.shell().error("linx.run: #{Linx.Process.last_error().detail}")
        127

      {:error, {errno, stage}} ->
        # a {:mount, i} stage names its mount
        mount =
          with {:mount, i} <- stage,
               m when m != nil <- Enum.at(spawn_opts[:mounts] || [], i),
               do: "#{inspect(m)}: ",
               else: (_ -> "")

        Mix.shell().error(
          "linx.run: #{hd(argv)}: #{mount}#{errno} at stage #{Linx.Process.Error.stage_text(stage)}"
        )

        127
    end
  end

  # The sandbox flags as options: a preset first (if any), then these
  # merged over it, mounts in command-line order after the preset's
  defp sandbox_options(opts, ns) do
    mounts = for {key, value} <- opts, m = mount_flag(key, value), do: m
    ns = if Enum.any?(mounts, &match?({:proc, _}, &1)), do: Enum.uniq(ns ++ [:pid]), else: ns

    own =
      [mounts: mounts]
      |> put_opt(:root, root_flag(opts[:root]))
      |> put_opt(:hostname, opts[:hostname])

    case opts[:sandbox] do
      nil ->
        own
        |> Keyword.put(:namespaces, ns)
        |> Keyword.reject(fn {k, v} -> k == :mounts and v == [] end)

      preset ->
        # the preset's namespaces unless --ns says otherwise
        own = if opts[:ns], do: Keyword.put(own, :namespaces, ns), else: own
        Linx.Sandbox.options(preset_atom(preset), own)
    end
  end

  defp preset_atom("minimal"), do: :minimal
  defp preset_atom("network"), do: :network

  defp mount_flag(kind, spec) when kind in [:bind, :ro_bind] do
    case String.split(spec, ":", parts: 2) do
      [src, dst] when src != "" and dst != "" ->
        {kind, src, dst}

      _ ->
        Mix.raise(
          "--#{String.replace(to_string(kind), "_", "-")} expects SRC:DST, got #{inspect(spec)}"
        )
    end
  end

  defp mount_flag(kind, dst) when kind in [:tmpfs, :proc, :dev], do: {kind, dst}
  defp mount_flag(_, _), do: nil

  defp root_flag(nil), do: nil
  defp root_flag("tmpfs"), do: :tmpfs
  defp root_flag(dir), do: Path.expand(dir)

  defp put_opt(opts, _key, nil), do: opts
  defp put_opt(opts, key, value), do: Keyword.put(opts, key, value)

  defp spawn_options(argv, opts) do
    ns = namespaces(opts[:ns])
    ns = if opts[:map_root] == true and :user not in ns, do: [:user | ns], else: ns

    base = [argv: argv] ++ sandbox_options(opts, ns)
    base = if opts[:cwd], do: Keyword.put(base, :cwd, opts[:cwd]), else: base

    base =
      cond do
        # resolved on the node that runs the command: its BEAM's ids
        opts[:map_root] && remote?(opts) -> base ++ [uid_map: :caller, gid_map: :caller]
        opts[:map_root] -> base ++ [uid_map: [{0, id("-u"), 1}], gid_map: [{0, id("-g"), 1}]]
        true -> base
      end

    base = base ++ resource_options(opts)
    base = if opts[:node], do: base ++ [node: target_node(opts[:node])], else: base

    cond do
      opts[:pty] -> base ++ [stdio: :pty, winsize: winsize()]
      # another node's stdio is not ours: relayed instead
      remote?(opts) -> base ++ [stdio: :pipe]
      true -> base ++ [stdio: [stdin: :pipe, stdout: :inherit, stderr: :inherit]]
    end
  end

  ## --node, --sname, --name, --cookie

  defp remote?(opts), do: opts[:node] != nil and target_node(opts[:node]) != node()

  defp target_node("any"), do: :any
  defp target_node(name), do: String.to_atom(name)

  # Like iex: --sname/--name make this node distributed, --cookie sets its
  # cookie; --node alone takes a short name of its own.
  defp distribute!(opts) do
    name = opts[:sname] || opts[:name]

    cond do
      name == nil and opts[:node] == nil ->
        :ok

      Node.alive?() ->
        :ok

      true ->
        mode = if opts[:name], do: :longnames, else: :shortnames
        name = name || "linx_run_#{System.unique_integer([:positive])}"
        start_epmd()

        case :net_kernel.start([String.to_atom(name), mode]) do
          {:ok, _} -> :ok
          {:error, reason} -> Mix.raise("linx.run: cannot start distribution: #{inspect(reason)}")
        end
    end

    if opts[:cookie], do: Node.set_cookie(String.to_atom(opts[:cookie]))
    :ok
  end

  defp start_epmd do
    with {_, status} when status != 0 <- System.cmd("epmd", ["-names"], stderr_to_stdout: true) do
      System.cmd("epmd", ["-daemon"])
      wait_epmd(50)
    end
  rescue
    # no epmd binary: net_kernel says what is wrong
    ErlangError -> :ok
  end

  defp wait_epmd(0), do: :ok

  defp wait_epmd(n) do
    case System.cmd("epmd", ["-names"], stderr_to_stdout: true) do
      {_, 0} ->
        :ok

      _ ->
        Process.sleep(20)
        wait_epmd(n - 1)
    end
  end

  ## --memory --cpu --pids --timeout --rlimit --nice --stats

  @doc false
  # Public for the tests: the Linx.Process options of the resource flags.
  def resource_options(opts) do
    limits =
      [
        memory: opts[:memory] && size!(opts[:memory]),
        cpu: opts[:cpu] && number!(opts[:cpu], "--cpu"),
        pids: opts[:pids]
      ]
      |> Enum.reject(fn {_, v} -> is_nil(v) end)

    # --stats: a memory group to read the peak from, limited or not
    limits = if opts[:stats], do: Keyword.put_new(limits, :memory, :infinity), else: limits

    rlimits = for {:rlimit, spec} <- opts, do: rlimit!(spec)

    [
      limits: limits,
      rlimits: rlimits,
      nice: opts[:nice],
      timeout: opts[:timeout] && duration!(opts[:timeout])
    ]
    |> Enum.reject(fn {_, v} -> v in [nil, []] end)
  end

  defp size!(text) do
    case Integer.parse(text) do
      {n, ""} -> n
      {n, unit} when unit in ["K", "k"] -> n * 1024
      {n, unit} when unit in ["M", "m"] -> n * 1024 * 1024
      {n, unit} when unit in ["G", "g"] -> n * 1024 * 1024 * 1024
      _ -> Mix.raise("--memory: #{inspect(text)} is not a size like 256M, 1G or 1048576")
    end
  end

  defp number!(text, flag) do
    case Float.parse(text) do
      {n, ""} -> n
      _ -> Mix.raise("#{flag}: #{inspect(text)} is not a number")
    end
  end

  defp duration!(text) do
    case Float.parse(text) do
      {n, unit} when unit in ["", "s"] -> round(n * 1000)
      {n, "ms"} -> round(n)
      {n, "m"} -> round(n * 60_000)
      _ -> Mix.raise("--timeout: #{inspect(text)} is not a duration like 10s, 500ms or 2m")
    end
  end

  defp rlimit!(spec) do
    names = Map.new(Linx.Process.Resources.rlimit_names(), &{Atom.to_string(&1), &1})

    with [name, value] <- String.split(spec, "=", parts: 2),
         {:ok, atom} <- Map.fetch(names, name),
         {:ok, limit} <- rlimit_value(value) do
      {atom, limit}
    else
      _ ->
        Mix.raise(
          "--rlimit: #{inspect(spec)} is not NAME=N, NAME=SOFT:HARD or NAME=unlimited " <>
            "with NAME one of #{Enum.join(Map.keys(names), ", ")}"
        )
    end
  end

  defp rlimit_value(value) do
    case String.split(value, ":") do
      [one] -> rlim(one)
      [soft, hard] -> with {:ok, s} <- rlim(soft), {:ok, h} <- rlim(hard), do: {:ok, {s, h}}
      _ -> :error
    end
  end

  defp rlim("unlimited"), do: {:ok, :infinity}

  defp rlim(text) do
    case Integer.parse(text) do
      {n, ""} when n >= 0 -> {:ok, n}
      _ -> :error
    end
  end

  # One line on stderr: wall, CPU and peak memory (from the final
  # {:usage, map}, which arrives just before the terminal event)
  defp print_stats(proc, started) do
    wall = (System.monotonic_time(:microsecond) - started) / 1_000_000

    usage =
      receive do
        {:linx_process, ^proc, {:usage, usage}} -> usage
      after
        0 -> %{}
      end

    Mix.shell().error(stats_line(wall, usage))
  end

  @doc false
  def stats_line(wall, usage) do
    cpu = if usage[:cpu_usec], do: "#{Float.round(usage.cpu_usec / 1_000_000, 3)} s", else: "?"

    peak =
      if usage[:memory_peak],
        do: "#{Float.round(usage.memory_peak / 1_048_576, 1)} MiB",
        else: "?"

    "linx.run: wall #{Float.round(wall, 3)} s, cpu #{cpu}, peak memory #{peak}"
  end

  defp namespaces(nil), do: []
  defp namespaces("all"), do: Linx.Process.Options.namespaces()

  defp namespaces(list) do
    known = Map.new(Linx.Process.Options.namespaces(), &{Atom.to_string(&1), &1})

    for name <- String.split(list, ",", trim: true) do
      Map.get(known, String.trim(name)) ||
        Mix.raise(
          "unknown namespace #{inspect(name)}; known: #{Enum.join(Map.keys(known), ", ")}"
        )
    end
  end

  defp id(flag) do
    {out, 0} = System.cmd("id", [flag])
    String.to_integer(String.trim(out))
  end

  defp winsize do
    with {:ok, rows} <- :io.rows(), {:ok, cols} <- :io.columns() do
      {rows, cols}
    else
      _ -> {24, 80}
    end
  end

  defp relay_stdin(proc) do
    spawn_link(fn -> relay_loop(proc) end)
  end

  # A remote command's stdin pipe: lines, then EOF.
  defp relay_stdin(proc, :pipe) do
    spawn_link(fn -> relay_pipe(proc) end)
  end

  defp relay_pipe(proc) do
    case IO.binread(:stdio, :line) do
      data when is_binary(data) ->
        Linx.Process.write(proc, data)
        relay_pipe(proc)

      _eof ->
        Linx.Process.close_stdin(proc)
    end
  end

  defp relay_loop(proc) do
    case IO.binread(:stdio, :line) do
      data when is_binary(data) ->
        Linx.Process.write(proc, data)
        relay_loop(proc)

      _eof ->
        # ^D: end of input for the program on the PTY.
        Linx.Process.write(proc, <<4>>)
    end
  end

  # Byte-exact stdin: the BEAM's I/O server reads fd 0 on its own (eagerly,
  # in OTP's `user`), so the bytes are asked of it, not of the fd. A
  # get_until with take_chunk/2 is answered with each chunk as it arrives
  # (get_chars would wait for a full count, get_line turns CRLF into LF);
  # a latin1 device passes every byte through unchanged.
  defp pipe_stdin(proc) do
    _ = :io.setopts(:standard_io, binary: true, encoding: :latin1)
    spawn_link(fn -> pipe_loop(proc) end)
  end

  defp pipe_loop(proc) do
    case :io.request(:standard_io, {:get_until, :latin1, ~c"", __MODULE__, :take_chunk, []}) do
      data when is_binary(data) ->
        if Linx.Process.write(proc, data) == :ok, do: pipe_loop(proc)

      # :eof, or {:error, _} when the BEAM has no stdin (-noinput)
      _eof ->
        Linx.Process.close_stdin(proc)
    end
  end

  @doc false
  # The get_until collector: whatever has arrived, at once.
  def take_chunk(_continuation, :eof), do: {:done, :eof, :eof}
  def take_chunk(_continuation, data), do: {:done, IO.iodata_to_binary(data), ""}

  defp wait(proc) do
    receive do
      {:linx_process, ^proc, {:pty_out, data}} ->
        IO.binwrite(data)
        wait(proc)

      {:linx_process, ^proc, :timeout} ->
        Mix.shell().error("linx.run: timed out, stopping the command")
        wait_timed_out(proc)

      {:linx_process, ^proc, {:usage, usage}} ->
        # for --stats, read after the terminal event
        send(self(), {:linx_process, proc, {:usage, usage}})
        wait_terminal(proc)

      {:linx_process, ^proc, {:stdout, data}} ->
        IO.binwrite(data)
        wait(proc)

      {:linx_process, ^proc, {:stderr, data}} ->
        IO.binwrite(:stderr, data)
        wait(proc)

      {:linx_process, ^proc, {:lost, reason}} ->
        Mix.shell().error("linx.run: lost the command's node (#{reason})")
        127

      {:linx_process, ^proc, {:exited, code}} ->
        code

      {:linx_process, ^proc, {:signaled, sig}} ->
        128 + sig

      {:linx_process, ^proc, {:agent_died, status}} ->
        Mix.shell().error("linx.run: the agent died (exit status #{status})")
        127

      {:linx_process, ^proc, {:error, errno, stage}}
      when stage in [:malformed_command, :bad_state, :command_too_big] ->
        Mix.shell().error("linx.run: command refused: #{errno} at stage #{stage}")
        wait(proc)

      {:linx_process, ^proc, {:error, errno, stage}} ->
        Mix.shell().error("linx.run: #{errno} at stage #{Linx.Process.Error.stage_text(stage)}")
        127
    end
  end

  # After the timeout: the end is 124 (timeout(1)'s status), whatever the
  # signal; the usage kept for --stats.
  defp wait_timed_out(proc) do
    case wait(proc) do
      status when is_integer(status) and status != 127 -> 124
      status -> status
    end
  end

  defp wait_terminal(proc) do
    receive do
      {:linx_process, ^proc, {:pty_out, data}} ->
        IO.binwrite(data)
        wait_terminal(proc)

      {:linx_process, ^proc, {:exited, code}} ->
        code

      {:linx_process, ^proc, {:signaled, sig}} ->
        128 + sig
    end
  end
end
