defmodule Linx.Process.Run do
  @moduledoc false
  # run/2 and stream/2 of Linx.Process (the public docs are there): a
  # workload started with its output on pipes, owned by the caller, whose
  # output is collected (run/2) or handed out lazily (stream/2).
  #
  #   * input: a feeder process writes it to stdin (Linx.Process.write/2,
  #     so it waits in the input window), then closes stdin;
  #   * lines: each stream (stdout, stderr) cut into lines of at most
  #     `lines` bytes plus their "\n"; a longer line comes in pieces;
  #   * into: any Collectable, fed chunk by chunk (or line by line);
  #   * stderr: :stdout (merged into the output), :capture (kept apart,
  #     run/2 returns {out, err, status}), :inherit or :devnull;
  #   * max_output: past that many bytes the workload is killed (SIGKILL,
  #     its whole tree goes with the agent) and the status is
  #     :output_limit; the first max_output bytes are kept.

  alias Linx.Process.{Options, RunOptions, Wire}

  require Wire

  @type run_opts :: %{
          input: nil | binary | {:stream, Enumerable.t()},
          into: Collectable.t(),
          lines: pos_integer | nil,
          stderr: :stdout | :capture | :inherit | :devnull,
          max_output: pos_integer | nil
        }

  ## run/2

  @doc false
  @spec run(
          [binary],
          keyword,
          (Options.t(), keyword -> {:ok, pid} | {:error, term}),
          (map -> any) | nil
        ) ::
          {term, non_neg_integer | :output_limit | :timeout}
          | {term, binary, non_neg_integer | :output_limit | :timeout}
  def run(argv, opts, start, on_notified \\ nil) do
    for key <- [:stdio, :owner, :checkpoint, :name, :log_output], Keyword.has_key?(opts, key) do
      raise ArgumentError, "invalid option #{inspect(key)} for Linx.Process.run/2"
    end

    {rest, run} = RunOptions.run_options!(opts)
    validated = Options.validate!([{:argv, argv} | rest], :run)
    # collect/2 takes the output as it comes: no window unless asked for
    window = if Keyword.has_key?(opts, :stdio_window), do: validated.stdio_window

    case start.(
           %{validated | stdio: stdio(run), stdio_window: window, usage_event: false},
           [{:argv, argv} | rest]
         ) do
      {:ok, proc} ->
        feeder = feed(proc, run.input)

        try do
          # Collectable.into/1 may raise too (a file that cannot be opened)
          collect(new_state(proc, argv, run, feeder, on_notified))
        catch
          # an exception of ours or of the Collectable: the workload goes too
          kind, reason ->
            stop_workload(proc)
            :erlang.raise(kind, reason, __STACKTRACE__)
        after
          stop_feeder(feeder)
          send(proc, :release)
        end

      {:error, {_errno, stage}} ->
        raise %{Linx.Process.last_error() | argv: argv, mount: failed_mount(validated, stage)}
    end
  end

  # The entry of mounts: a {:mount, index} stage is about
  defp failed_mount(%Options{mounts: mounts}, {:mount, i}), do: Enum.at(mounts, i)
  defp failed_mount(_, _), do: nil

  defp stdio(run) do
    stdin = if run.input == nil, do: :devnull, else: :pipe

    stderr =
      case run.stderr do
        mode when mode in [:stdout, :capture] -> :pipe
        mode -> mode
      end

    [stdin: stdin, stdout: :pipe, stderr: stderr]
  end

  defp new_state(proc, argv, run, feeder, on_notified) do
    {acc, fun} = Collectable.into(run.into)

    %{
      proc: proc,
      on_notified: on_notified,
      argv: argv,
      run: run,
      feeder: feeder,
      into: {acc, fun},
      err: [],
      bufs: %{stdout: "", stderr: ""},
      seen: 0,
      limited?: false,
      timed_out?: false
    }
  end

  defp collect(%{proc: proc, feeder: {_, fref}} = s) do
    receive do
      {:linx_process, ^proc, {out, data}} when out in [:stdout, :stderr] ->
        collect(output(s, out, data))

      {:linx_process, ^proc, {:exited, code}} ->
        finish(s, code)

      {:linx_process, ^proc, {:signaled, sig}} ->
        finish(s, 128 + sig)

      {:linx_process, ^proc, {:agent_died, status}} ->
        halt_into(s)
        raise Linx.Process.Error, errno: status, stage: :agent_died

      # node: the workload's node went away (docs/distributed.md)
      {:linx_process, ^proc, {:lost, reason}} ->
        halt_into(s)
        raise Linx.Process.Error, errno: reason, stage: :lost, argv: s.argv

      {:linx_process, ^proc, {:error, errno, stage}} when not Wire.is_command_refusal(stage) ->
        halt_into(s)

        raise Linx.Process.Error,
          errno: errno,
          stage: stage,
          argv: s.argv,
          detail: Linx.Process.error_text(proc)

      {:DOWN, ^fref, :process, _, reason} ->
        feeder_down(s, reason)

      # the agent's timeout passed: the terminal event follows
      {:linx_process, ^proc, :timeout} ->
        collect(%{s | timed_out?: true})

      # observed calls go to whoever asked (run_observed/3), else nowhere
      {:linx_process, ^proc, {:notified, %{} = call}} ->
        if s.on_notified, do: s.on_notified.(call)
        collect(s)

      # the final usage is not output (other events, e.g. a recorder's
      # summary, stay in the caller's mailbox)
      {:linx_process, ^proc, {:usage, %{}}} ->
        collect(s)
    end
  end

  # An input Enumerable that raised: the workload is killed, the error is
  # the caller's.
  defp feeder_down(s, :normal), do: collect(%{s | feeder: {nil, nil}})

  defp feeder_down(s, reason) do
    stop_workload(s.proc)
    halt_into(s)

    case reason do
      {%{__exception__: true} = e, stack} -> reraise e, stack
      other -> exit(other)
    end
  end

  defp halt_into(%{into: {acc, fun}}), do: fun.(acc, :halt)

  # Past max_output: the first bytes are kept, the workload is killed and
  # whatever it wrote meanwhile is dropped.
  defp output(%{limited?: true} = s, _out, _data), do: s

  defp output(%{run: %{max_output: max}, seen: seen} = s, out, data)
       when is_integer(max) and seen + byte_size(data) > max do
    kept = binary_part(data, 0, max - seen)
    s = push(%{s | seen: max}, out, kept)
    kill(s.proc)
    %{s | limited?: true}
  end

  defp output(s, out, data), do: push(%{s | seen: s.seen + byte_size(data)}, out, data)

  # One chunk of `out` towards its destination, cut into lines if asked.
  defp push(%{run: %{lines: nil}} = s, out, data), do: deliver(s, out, data)

  defp push(%{run: %{lines: max}} = s, out, data) do
    {lines, rest} = split_lines(s.bufs[out] <> data, max)
    s = Enum.reduce(lines, s, &deliver(&2, out, &1))
    %{s | bufs: Map.put(s.bufs, out, rest)}
  end

  defp deliver(%{run: %{stderr: :capture}} = s, :stderr, data), do: %{s | err: [s.err | data]}

  defp deliver(%{into: {acc, fun}} = s, _out, data) do
    %{s | into: {fun.(acc, {:cont, data}), fun}}
  end

  defp finish(s, code) do
    s = Enum.reduce([:stdout, :stderr], s, &flush_line/2)
    {acc, fun} = s.into
    out = fun.(acc, :done)

    status =
      cond do
        s.limited? -> :output_limit
        s.timed_out? -> :timeout
        true -> code
      end

    if s.run.stderr == :capture,
      do: {out, IO.iodata_to_binary(s.err), status},
      else: {out, status}
  end

  defp flush_line(out, s) do
    case s.bufs[out] do
      "" -> s
      rest -> deliver(%{s | bufs: Map.put(s.bufs, out, "")}, out, rest)
    end
  end

  @doc false
  # Complete lines of at most `max` bytes, each with its "\n" (which does
  # not count: max_line_length, so a line of exactly `max` bytes comes
  # whole), pieces of exactly `max` bytes of a longer one, and the
  # unfinished rest. `max` bytes without a newline are only a piece once
  # the byte after them is known not to be one.
  @spec split_lines(binary, pos_integer) :: {[binary], binary}
  def split_lines(buf, max), do: split_lines(buf, max, [])

  defp split_lines(buf, max, acc) do
    case :binary.match(buf, "\n") do
      {pos, 1} when pos <= max ->
        <<line::binary-size(pos + 1), rest::binary>> = buf
        split_lines(rest, max, [line | acc])

      _ when byte_size(buf) > max ->
        <<piece::binary-size(max), rest::binary>> = buf
        split_lines(rest, max, [piece | acc])

      _ ->
        {Enum.reverse(acc), buf}
    end
  end

  defp kill(proc), do: Linx.Process.signal(proc, 9)

  # Kills a workload that may still run and takes its remaining events
  # out of the caller's mailbox: up to the terminal one when the kill was
  # delivered, else what is already there (the terminal event is sent
  # before the server answers :not_running).
  defp stop_workload(proc) do
    case kill(proc) do
      :ok -> drain(proc)
      _ -> flush(proc)
    end
  end

  defp drain(proc) do
    receive do
      {:linx_process, ^proc, event} when Wire.is_terminal(event) -> event
      {:linx_process, ^proc, _} -> drain(proc)
    end
  end

  defp flush(proc) do
    receive do
      {:linx_process, ^proc, _} -> flush(proc)
    after
      0 -> :ok
    end
  end

  # The feeder ends by itself once the workload is gone; a late :DOWN of
  # it must not stay in the caller's mailbox.
  defp stop_feeder({nil, nil}), do: :ok

  defp stop_feeder({pid, ref}) do
    Process.demonitor(ref, [:flush])
    Process.exit(pid, :kill)
  end

  ## Input

  # Written by a process of its own: write/2 waits in the input window
  # while the caller goes on collecting output (a workload such as cat
  # writes as it reads).
  defp feed(_proc, nil), do: {nil, nil}

  defp feed(proc, input) do
    spawn_monitor(fn ->
      _ = write_input(proc, input)
      Linx.Process.close_stdin(proc)
    end)
  end

  defp write_input(proc, {:stream, enum}) do
    Enum.reduce_while(enum, :ok, fn chunk, :ok ->
      case Linx.Process.write(proc, chunk) do
        :ok -> {:cont, :ok}
        error -> {:halt, error}
      end
    end)
  end

  defp write_input(proc, bin), do: Linx.Process.write(proc, bin)

  ## stream/2

  @doc false
  @spec stream([binary], keyword, (Options.t() -> {:ok, pid} | {:error, term})) :: Enumerable.t()
  def stream(argv, opts, start) do
    for key <- [:stdio, :owner, :checkpoint, :name, :log_output, :into, :max_output],
        Keyword.has_key?(opts, key) do
      raise ArgumentError, "invalid option #{inspect(key)} for Linx.Process.stream/2"
    end

    {rest, run} = RunOptions.run_options!(opts, [:input, :lines, :stderr])

    if run.stderr == :capture do
      raise ArgumentError,
            "invalid option :stderr for Linx.Process.stream/2: got :capture, " <>
              "expected :stdout, :inherit or :devnull"
    end

    # Validated now, started when the stream is run.
    validated = Options.validate!([{:argv, argv} | rest], :run)
    validated = %{validated | stdio: stdio(run)}

    Stream.resource(
      fn -> stream_start(validated, run, [{:argv, argv} | rest], start) end,
      &stream_next/1,
      &stream_stop/1
    )
  end

  # The stream's owner is the process running it: the output window
  # (Linx.Process.Flow) holds the workload while that process's mailbox
  # only grows, so a slow consumer pauses the workload instead of
  # queueing its output.
  defp stream_start(validated, run, [{:argv, argv} | _] = raw, start) do
    case start.(%{validated | owner: self()}, raw) do
      {:ok, proc} ->
        s = new_state(proc, argv, %{run | into: []}, feed(proc, run.input), nil)
        Map.put(s, :done?, false)

      {:error, {_errno, stage}} ->
        raise %{Linx.Process.last_error() | argv: argv, mount: failed_mount(validated, stage)}
    end
  end

  defp stream_next(%{done?: true} = s), do: {:halt, s}

  defp stream_next(%{proc: proc, feeder: {_, fref}} = s) do
    receive do
      {:linx_process, ^proc, {out, data}} when out in [:stdout, :stderr] ->
        s = push(%{s | into: {[], fn acc, {:cont, x} -> [x | acc] end}}, out, data)
        {Enum.reverse(elem(s.into, 0)), s}

      {:linx_process, ^proc, event} when Wire.is_terminal(event) ->
        rest = for out <- [:stdout, :stderr], s.bufs[out] != "", do: s.bufs[out]
        {rest, %{s | done?: true, bufs: %{stdout: "", stderr: ""}}}

      {:DOWN, ^fref, :process, _, reason} ->
        if reason == :normal do
          {[], %{s | feeder: {nil, nil}}}
        else
          feeder_down(s, reason)
        end

      # not output: the timeout, the final usage, observed calls
      {:linx_process, ^proc, :timeout} ->
        {[], s}

      {:linx_process, ^proc, {tag, %{}}} when tag in [:usage, :notified] ->
        {[], s}
    end
  end

  # Halted early (Enum.take/2, an exception downstream) or run to the end:
  # a workload still running is killed with its tree, and its server let go.
  defp stream_stop(%{proc: proc} = s) do
    unless s.done?, do: stop_workload(proc)
    stop_feeder(s.feeder)
    send(proc, :release)
  end
end
