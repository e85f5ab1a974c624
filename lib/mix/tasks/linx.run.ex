defmodule Mix.Tasks.Linx.Run do
  @shortdoc "Runs a command in new namespaces, like unshare or bwrap"

  @moduledoc """
  Runs a command the way `unshare`/`bwrap` would, through `Linx.Process`,
  and exits with its status.

      mix linx.run [--ns user,pid,mount,...] [--map-root] [--pty] [--cwd DIR] -- CMD ARGS...

  ## Options

    * `--ns LIST` - comma-separated namespaces to create: `user`, `mount`,
      `uts`, `ipc`, `cgroup`, `net`, `time`, `pid` (or `all`).
    * `--map-root` - map the caller's uid/gid to root inside a new user
      namespace (adds `user` to `--ns` if missing), like `unshare -r`.
    * `--pty` - give the command its own pseudo-terminal; lines typed on
      the task's stdin are sent to it and its output is printed.
    * `--cwd DIR` - working directory for the command.

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

  @switches [ns: :string, map_root: :boolean, pty: :boolean, cwd: :string, help: :boolean]

  @impl true
  def run(args) do
    {opts, argv} = parse!(args)

    if opts[:help] || argv == [] do
      Mix.shell().info(@moduledoc)
      if argv == [] and !opts[:help], do: exit({:shutdown, 2})
    else
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
        if opts[:pty], do: relay_stdin(proc), else: pipe_stdin(proc)
        wait(proc)

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
      if opts[:map_root] do
        base ++ [uid_map: [{0, id("-u"), 1}], gid_map: [{0, id("-g"), 1}]]
      else
        base
      end

    if opts[:pty] do
      base ++ [stdio: :pty, winsize: winsize()]
    else
      base ++ [stdio: [stdin: :pipe, stdout: :inherit, stderr: :inherit]]
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
