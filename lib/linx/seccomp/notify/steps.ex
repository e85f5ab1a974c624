defmodule Linx.Seccomp.Notify.Steps do
  @moduledoc false
  # Turns a normalised action list (Linx.Seccomp.Notify.Rules.actions!/3)
  # into the wire steps of `{:notify_reply, id, steps}` (docs/protocol.md),
  # resolving references to the notification: {:arg, i}, {:mem, i},
  # :caller_uid / :caller_gid (read from /proc/PID/status, effective ids as
  # the host sees them) and :caller_pid.

  import Bitwise

  alias Linx.Seccomp.Notify.Match

  @u64 0xFFFF_FFFF_FFFF_FFFF

  @doc """
  The wire steps for `actions` answering `notification`, or
  `{:error, errno}` when a reference cannot be resolved (a memory read
  failed: its errno; the caller's /proc entry is gone: ESRCH).
  """
  @spec build([term()], map()) :: {:ok, [term()]} | {:error, pos_integer()}
  def build(actions, notification) do
    args = args_tuple(notification.args)
    mem = mem_map(Map.get(notification, :mem, %{}))
    env = %{args: args, mem: mem, pid: Map.get(notification, :pid, 0), ids: nil}

    {steps, _env} = Enum.map_reduce(actions, env, &step/2)
    {:ok, steps}
  catch
    {:unresolved, errno} -> {:error, errno}
  end

  @doc "The notification's arguments as a tuple of six u64 (list or tuple accepted)."
  @spec args_tuple([integer()] | tuple()) :: tuple()
  def args_tuple(args) when is_tuple(args), do: args |> Tuple.to_list() |> args_tuple()

  def args_tuple(args) when is_list(args) do
    args
    |> Enum.map(&(&1 &&& @u64))
    |> Kernel.++(List.duplicate(0, 6))
    |> Enum.take(6)
    |> List.to_tuple()
  end

  @doc "The declared reads as a map arg => binary | {:error, errno} (list or map accepted)."
  @spec mem_map(map() | list()) :: map()
  def mem_map(mem) when is_map(mem), do: mem
  def mem_map(mem) when is_list(mem), do: Map.new(mem)
  def mem_map(_), do: %{}

  defp step({:write, {:arg, i, off}, data}, env),
    do: {{:write, elem(env.args, i) + off &&& @u64, data}, env}

  defp step({:write, addr, data}, env), do: {{:write, addr, data}, env}

  defp step({:call, nr, args, ctx}, env) do
    {args, env} = Enum.map_reduce(args, env, &call_arg/2)
    {{:call, nr, args, ctx}, env}
  end

  defp step({:addfd, source, {:arg, i}, flags}, env),
    do: step({:addfd, source, fd_number(elem(env.args, i)), flags}, env)

  defp step(step, env), do: {step, env}

  # An fd argument is a C int: the low 32 bits.
  defp fd_number(v) do
    low = v &&& 0xFFFF_FFFF
    if low > 0x7FFF_FFFF, do: low - 0x1_0000_0000, else: low
  end

  defp call_arg({:arg, i}, env), do: {elem(env.args, i), env}

  defp call_arg({:mem, i}, env) do
    case Map.get(env.mem, i) do
      bin when is_binary(bin) ->
        case Match.cstring(bin) do
          # a C string read: pass the string (the agent adds the NUL)
          {:ok, s, true} -> {{:str, s}, env}
          # cut at the read limit: refuse rather than act on a prefix
          {:ok, _s, false} -> throw({:unresolved, 36})
        end

      {:error, errno} when is_integer(errno) ->
        throw({:unresolved, errno})

      _ ->
        # EFAULT: nothing was read at that pointer
        throw({:unresolved, 14})
    end
  end

  defp call_arg(:caller_pid, env), do: {env.pid, env}

  defp call_arg(id, env) when id in [:caller_uid, :caller_gid] do
    env = if env.ids, do: env, else: %{env | ids: caller_ids(env.pid)}
    {uid, gid} = env.ids
    {if(id == :caller_uid, do: uid, else: gid), env}
  end

  defp call_arg(v, env), do: {v, env}

  @doc """
  The effective uid and gid of a host pid, from `/proc/PID/status` (as
  the BEAM's user namespace sees them). Throws `{:unresolved, 3}` (ESRCH)
  if the process is gone.
  """
  @spec caller_ids(pos_integer()) :: {non_neg_integer(), non_neg_integer()}
  def caller_ids(pid) do
    case File.read("/proc/#{pid}/status") do
      {:ok, text} ->
        {status_id(text, "Uid:"), status_id(text, "Gid:")}

      {:error, _} ->
        throw({:unresolved, 3})
    end
  end

  defp status_id(text, key) do
    text
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case String.split(line) do
        [^key, _real, effective | _] -> String.to_integer(effective)
        _ -> nil
      end
    end) || throw({:unresolved, 3})
  end
end
