defmodule Linx.Process.Flow do
  @moduledoc false
  # Flow control between the agent, the Linx.Process server and its owner,
  # in both directions (docs/protocol.md, "Flow control"). Pure: the server
  # sends the frames and the replies this module hands back.
  #
  # Output (agent -> owner). With a window the agent sends at most `window`
  # output bytes that the server has not acknowledged with
  # {:output_ack, n}; then it stops reading the workload's pipes (the
  # workload blocks in write; nothing is dropped). The server acknowledges
  # a chunk once the owner has consumed it, which it infers from the
  # owner's message_queue_len, so existing owners need no change:
  #
  #   * a short queue (at most @low_water messages): everything owed is
  #     acknowledged;
  #   * otherwise as many of the oldest chunks as the queue shrank since
  #     the last look (plus what was sent meanwhile): an owner that reads
  #     our chunks selectively past unrelated messages is still served;
  #   * while chunks are owed the server looks again every @recheck_ms.
  #
  # Nobody to measure (no owner, an owner on another node), someone
  # waiting in await/2 (which reads no output: from then on, for good), or
  # the owner itself held
  # in write/2 or close_stdin/1 lifts the limit: the owner of a filter
  # (cat, sha256sum) that writes more than a window before it reads would
  # otherwise wait for a workload that waits for it.
  #
  # Input (writers -> agent). At most `in_window` bytes of {:stdin, _} /
  # {:pty_in, _} are in flight, i.e. sent and not yet acknowledged by the
  # agent's {:stdin_ack, n}; a writer is answered once its last byte is
  # handed to the agent. Writes leave in pieces of at most @piece bytes,
  # far below the agent's 16 MiB frame cap. A queued close_stdin is sent
  # when the writers ahead of it are done.

  import Bitwise

  alias Linx.Process.Wire

  # What one output frame costs against the window besides its bytes: the
  # agent's LINX_FRAME_COST (c_src/request.h), so the window bounds the
  # number of messages as well
  @frame_cost 256
  @low_water 16
  @recheck_ms 10
  @piece 1 <<< 20
  @default_in_window 1 <<< 20

  defstruct window: nil,
            owed: :queue.new(),
            owed_n: 0,
            last_q: 0,
            sent: 0,
            timer?: false,
            free?: false,
            in_window: @default_in_window,
            in_flight: 0,
            writers: :queue.new()

  @type t :: %__MODULE__{}

  @doc "A fresh state; `window` nil means the agent was given no window."
  @spec new(pos_integer | nil) :: t
  def new(window), do: %__MODULE__{window: window, in_window: window || @default_in_window}

  @doc "How long the server waits before looking at the owner's queue again."
  def recheck_ms, do: @recheck_ms

  ## Output

  @doc """
  A chunk of `size` bytes was forwarded to `owner`. Returns the bytes to
  acknowledge now (0: none) and whether to look again later.
  """
  @spec output(t, non_neg_integer, pid | nil) :: {non_neg_integer, boolean, t}
  def output(%{window: nil} = f, _size, _owner), do: {0, false, f}

  def output(f, size, owner) do
    cost = size + @frame_cost
    f = %{f | owed: :queue.in(cost, f.owed), owed_n: f.owed_n + 1, sent: f.sent + 1}
    check(f, owner)
  end

  @doc "Looks at the owner's queue; as output/3."
  @spec check(t, pid | nil) :: {non_neg_integer, boolean, t}
  def check(%{owed_n: 0} = f, _owner), do: {0, false, %{f | sent: 0}}

  def check(f, owner) do
    q = queue_len(owner)

    n =
      cond do
        f.free? or q == nil or q <= @low_water -> f.owed_n
        writing?(f, owner) -> f.owed_n
        true -> min(max(f.last_q + f.sent - q, 0), f.owed_n)
      end

    {bytes, f} = take(f, n, 0)
    f = %{f | last_q: q || 0, sent: 0}
    recheck? = f.owed_n > 0 and not f.timer?
    {bytes, recheck?, if(recheck?, do: %{f | timer?: true}, else: f)}
  end

  @doc "The re-check timer fired."
  @spec timer_fired(t) :: t
  def timer_fired(f), do: %{f | timer?: false}

  @doc "Someone awaits the terminal event: stop holding output back."
  @spec free(t) :: t
  def free(f), do: %{f | free?: true}

  defp take(f, 0, acc), do: {acc, f}

  defp take(f, n, acc) do
    {{:value, size}, owed} = :queue.out(f.owed)
    take(%{f | owed: owed, owed_n: f.owed_n - 1}, n - 1, acc + size)
  end

  defp writing?(f, owner) do
    :queue.any(fn {{pid, _}, _} -> pid == owner end, f.writers)
  end

  defp queue_len(nil), do: nil
  defp queue_len(pid) when node(pid) != node(), do: nil

  defp queue_len(pid) do
    case Process.info(pid, :message_queue_len) do
      {:message_queue_len, n} -> n
      nil -> nil
    end
  end

  ## Input

  @doc """
  Queues a write (`{:data, tag, binary}`, tag `:stdin` or `:pty_in`) or a
  close (`:close`) for `from`. Returns `{frames, replies, flow}`: frames to
  send now, in order, and `{from, reply}` pairs to answer.
  """
  @spec input(t, GenServer.from(), {:data, atom, binary} | :close) ::
          {[term], [{GenServer.from(), term}], t}
  def input(f, from, item), do: pump(%{f | writers: :queue.in({from, item}, f.writers)})

  @doc "The agent acknowledged `n` input bytes; as input/3."
  @spec stdin_ack(t, non_neg_integer) :: {[term], [{GenServer.from(), term}], t}
  def stdin_ack(f, n), do: pump(%{f | in_flight: max(f.in_flight - n, 0)})

  @doc "The workload is gone: every queued writer, with the reply it gets."
  @spec drop_writers(t, term) :: {[{GenServer.from(), term}], t}
  def drop_writers(f, reply) do
    {for({from, _} <- :queue.to_list(f.writers), do: {from, reply}), %{f | writers: :queue.new()}}
  end

  defp pump(f), do: pump(f, [], [])

  defp pump(f, frames, replies) do
    case :queue.peek(f.writers) do
      :empty ->
        done(f, frames, replies)

      {:value, {from, :close}} ->
        f = %{f | writers: :queue.drop(f.writers)}
        pump(f, [Wire.close_stdin() | frames], [{from, :ok} | replies])

      {:value, {from, {:data, _, ""}}} ->
        pump(%{f | writers: :queue.drop(f.writers)}, frames, [{from, :ok} | replies])

      {:value, {_, {:data, _, _}}} when f.in_flight >= f.in_window ->
        done(f, frames, replies)

      {:value, {from, {:data, tag, data}}} ->
        n = Enum.min([f.in_window - f.in_flight, byte_size(data), @piece])
        <<piece::binary-size(n), rest::binary>> = data
        f = %{f | in_flight: f.in_flight + n}

        if rest == "" do
          f = %{f | writers: :queue.drop(f.writers)}
          pump(f, [Wire.input(tag, piece) | frames], [{from, :ok} | replies])
        else
          writers = :queue.in_r({from, {:data, tag, rest}}, :queue.drop(f.writers))
          pump(%{f | writers: writers}, [Wire.input(tag, piece) | frames], replies)
        end
    end
  end

  defp done(f, frames, replies), do: {Enum.reverse(frames), Enum.reverse(replies), f}
end
