defmodule Mix.Tasks.Linx.Run do
  @shortdoc "Runs a command in new namespaces, like unshare or bwrap"

  @moduledoc """
  Runs a command the way `unshare`/`bwrap` would, through `Linx.Process`,
  and exits with its status.

      mix linx.run [--ns user,pid,mount,...] [--map-root] [--pty] [--cwd DIR]
                   [--node NAME [--sname NAME | --name NAME] [--cookie COOKIE]] -- CMD ARGS...

  ## Options

    * `--ns LIST` - comma-separated namespaces to create: `user`, `mount`,
      `uts`, `ipc`, `cgroup`, `net`, `time`, `pid` (or `all`).
    * `--map-root` - map the caller's uid/gid to root inside a new user
      namespace (adds `user` to `--ns` if missing), like `unshare -r`.
    * `--pty` - give the command its own pseudo-terminal; lines typed on
      the task's stdin are sent to it and its output is printed.
    * `--cwd DIR` - working directory for the command.
    * `--node NAME` - run the command on that node of the cluster (a node
      running Linx), or on the least loaded one with `--node any` (see
      `Linx.Cluster` and `docs/distributed.md`). Its output is relayed
      here; the task's stdin is relayed to it line by line.
    * `--sname NAME`, `--name NAME`, `--cookie COOKIE` - as for `iex`: the
      distributed name of the task's own node (short or long) and the
      cookie. With `--node` and neither name, the task takes a short name
      `linx_run_<n>`; epmd is started if it is not running.

  Without `--pty` the command shares the task's stdin, stdout and stderr,
  as with `unshare`. The task exits with the command's exit status
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
    node: :string,
    sname: :string,
    name: :string,
    cookie: :string
  ]

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

    case OptionParser.parse(before, strict: @switches) do
      {opts, rest, []} ->
        {opts, after_dashes || rest}

      {_, _, invalid} ->
        Mix.raise("invalid option(s): #{inspect(invalid)}; see mix help linx.run")
    end
  end

  defp execute(argv, opts) do
    spawn_opts = spawn_options(argv, opts)

    case Linx.Process.spawn(spawn_opts) do
      {:ok, proc} ->
        if opts[:pty], do: relay_stdin(proc)
        if remote?(opts) and !opts[:pty], do: relay_stdin(proc, :pipe)
        wait(proc)

      {:error, {why, _node}} when why in [:nodedown, :nolinx] ->
        Mix.shell().error("linx.run: #{Linx.Process.last_error().detail}")
        127

      {:error, {errno, stage}} ->
        Mix.shell().error("linx.run: #{hd(argv)}: #{errno} at stage #{stage}")
        127
    end
  end

  defp spawn_options(argv, opts) do
    ns = namespaces(opts[:ns])
    ns = if opts[:map_root] == true and :user not in ns, do: [:user | ns], else: ns

    base = [argv: argv, namespaces: ns]
    base = if opts[:cwd], do: Keyword.put(base, :cwd, opts[:cwd]), else: base

    base =
      cond do
        # resolved on the node that runs the command: its BEAM's ids
        opts[:map_root] && remote?(opts) -> base ++ [uid_map: :caller, gid_map: :caller]
        opts[:map_root] -> base ++ [uid_map: [{0, id("-u"), 1}], gid_map: [{0, id("-g"), 1}]]
        true -> base
      end

    base = if opts[:node], do: base ++ [node: target_node(opts[:node])], else: base

    cond do
      opts[:pty] -> base ++ [stdio: :pty, winsize: winsize()]
      # another node's stdio is not ours: relayed instead
      remote?(opts) -> base ++ [stdio: :pipe]
      true -> base ++ [stdio: [stdin: :inherit, stdout: :inherit, stderr: :inherit]]
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

  defp wait(proc) do
    receive do
      {:linx_process, ^proc, {:pty_out, data}} ->
        IO.binwrite(data)
        wait(proc)

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
        Mix.shell().error("linx.run: #{errno} at stage #{stage}")
        127
    end
  end
end
