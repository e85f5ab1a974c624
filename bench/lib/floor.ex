defmodule Bench.Floor do
  @moduledoc """
  The C harness `bench/bin/floor` (built by `make bench-c`) as a port in
  serve mode: each `run/1` makes it do one fork/clone/setns + execve +
  waitpid and returns the time it measured itself, in ns. Driving it one
  iteration at a time lets the kernel's floor interleave with the BEAM's
  contenders.
  """

  @path Path.expand("../bin/floor", __DIR__)

  def path, do: @path

  @doc "Starts the harness: `args` are its mode and program, e.g. `[\"fork\", \"/bin/true\"]`."
  def open(args) do
    unless File.exists?(@path) do
      raise "#{@path} is missing: run `make bench-c` (script/bench does)"
    end

    Port.open({:spawn_executable, @path}, [:binary, {:line, 64}, :exit_status, args: args])
  end

  @doc "One iteration; its duration in ns as the harness measured it."
  def run(port) do
    Port.command(port, "\n")

    receive do
      {^port, {:data, {:eol, line}}} -> String.to_integer(line)
      {^port, {:exit_status, status}} -> raise "floor harness exited with status #{status}"
    end
  end

  def close(port) do
    if Port.info(port), do: Port.close(port)
    :ok
  end
end
