defmodule Linx.Test.BPFProbe do
  @moduledoc """
  Asks the running kernel about seccomp filters through the
  `build/test/try_filter` helper (test/support/c/try_filter.c), so that
  `Linx.Seccomp.BPF` can be checked against the real thing.

  The helper is built by `make` (mk/test_helpers.mk). When it is missing or
  older than its source — e.g. tests run with `LINX_SKIP_MAKE=1` — it is
  compiled here with `cc`.
  """

  import Bitwise

  @source "test/support/c/try_filter.c"
  @binary "build/test/try_filter"

  @type call :: %{
          required(:nr) => integer(),
          optional(:args) => [integer()],
          optional(:arch) => :x86_64 | :x86
        }

  @type outcome ::
          {:ret, integer()}
          | {:errno, non_neg_integer()}
          | {:trap, data :: integer(), nr :: integer(), arch :: non_neg_integer()}
          | :kill_thread
          | {:signal, pos_integer()}
          | {:install_failed, non_neg_integer(), String.t()}
          | :timeout

  @doc "The helper's path, building it first if needed; `{:error, output}` if it cannot be built."
  @spec ensure_built() :: {:ok, Path.t()} | {:error, String.t()}
  def ensure_built do
    if fresh?() do
      {:ok, Path.expand(@binary)}
    else
      File.mkdir_p!(Path.dirname(@binary))

      case System.cmd("cc", ~w(-O2 -Wall -Wextra -Werror -pthread -o #{@binary} #{@source}),
             stderr_to_stdout: true
           ) do
        {_, 0} -> {:ok, Path.expand(@binary)}
        {out, _} -> {:error, out}
      end
    end
  end

  defp fresh? do
    with {:ok, %{mtime: bin}} <- File.stat(@binary),
         {:ok, %{mtime: src}} <- File.stat(@source) do
      bin >= src
    else
      _ -> false
    end
  end

  @doc """
  Whether the kernel installs each filter: `:ok` or `{:error, errno_name}`
  (e.g. `"EINVAL"`), in order. One helper run for the whole list.
  """
  @spec check([binary()]) :: [:ok | {:error, String.t()}]
  def check(filters) when is_list(filters) do
    with_files(filters, fn paths ->
      paths
      |> Enum.chunk_every(200)
      |> Enum.flat_map(fn chunk ->
        helper(["check" | chunk])
        |> Enum.map(fn
          "ok" -> :ok
          name -> {:error, name}
        end)
      end)
    end)
  end

  @doc """
  Installs `filters` (oldest first) and makes each call in a fresh process;
  one outcome per call, in order.
  """
  @spec run([binary()], [call()]) :: [outcome()]
  def run(filters, calls) when is_list(filters) and is_list(calls) do
    with_files(filters, fn paths ->
      helper(["run" | paths] ++ ["--" | Enum.map(calls, &call_arg/1)])
      |> Enum.map(&parse_outcome/1)
    end)
  end

  defp call_arg(call) do
    args = Map.get(call, :args, [])
    numbers = Enum.map([call.nr | args], &Integer.to_string(&1 &&& 0xFFFFFFFFFFFFFFFF))
    prefix = if Map.get(call, :arch, :x86_64) == :x86, do: "i386:", else: ""
    prefix <> Enum.join(numbers, ",")
  end

  defp parse_outcome(line) do
    case String.split(line, " ") do
      ["ret", n] ->
        {:ret, String.to_integer(n)}

      ["errno", n] ->
        {:errno, String.to_integer(n)}

      ["trap", d, nr, "0x" <> arch] ->
        {:trap, String.to_integer(d), String.to_integer(nr), String.to_integer(arch, 16)}

      ["kill_thread"] ->
        :kill_thread

      ["signal", n] ->
        {:signal, String.to_integer(n)}

      ["install", i, name] ->
        {:install_failed, String.to_integer(i), name}

      ["timeout"] ->
        :timeout

      _ ->
        raise "try_filter: unexpected output #{inspect(line)}"
    end
  end

  defp helper(args) do
    {:ok, bin} = ensure_built()

    case System.cmd(bin, args, stderr_to_stdout: true) do
      {out, 0} -> String.split(out, "\n", trim: true)
      {out, status} -> raise "try_filter exited #{status}: #{out}"
    end
  end

  defp with_files(filters, fun) do
    # unique across BEAMs too: other test runs on this machine (CI runs
    # the suite twice) count their unique integers from the same start
    unique = "#{System.pid()}_#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), "linx_bpf_probe_#{unique}")
    File.mkdir_p!(dir)

    try do
      paths =
        filters
        |> Enum.with_index()
        |> Enum.map(fn {bin, i} ->
          path = Path.join(dir, "#{i}.bpf")
          File.write!(path, bin)
          path
        end)

      fun.(paths)
    after
      File.rm_rf!(dir)
    end
  end
end
