defmodule Linx.Signal do
  @moduledoc """
  Linux signal names and numbers (x86_64).

  `Linx.Process.signal/2` accepts either form; events carry numbers, as the
  kernel reports them.

      iex> Linx.Signal.number(:sigterm)
      {:ok, 15}
      iex> Linx.Signal.number(:term)
      {:ok, 15}
      iex> Linx.Signal.name(9)
      :sigkill
      iex> Linx.Signal.number(:sigrtmin)
      {:ok, 34}
  """

  @table [
    sighup: 1,
    sigint: 2,
    sigquit: 3,
    sigill: 4,
    sigtrap: 5,
    sigabrt: 6,
    sigbus: 7,
    sigfpe: 8,
    sigkill: 9,
    sigusr1: 10,
    sigsegv: 11,
    sigusr2: 12,
    sigpipe: 13,
    sigalrm: 14,
    sigterm: 15,
    sigstkflt: 16,
    sigchld: 17,
    sigcont: 18,
    sigstop: 19,
    sigtstp: 20,
    sigttin: 21,
    sigttou: 22,
    sigurg: 23,
    sigxcpu: 24,
    sigxfsz: 25,
    sigvtalrm: 26,
    sigprof: 27,
    sigwinch: 28,
    sigio: 29,
    sigpwr: 30,
    sigsys: 31,
    # glibc reserves 32 and 33 for its own threads; SIGRTMIN as user code
    # sees it is 34.
    sigrtmin: 34,
    sigrtmax: 64
  ]

  @by_number Map.new(@table, fn {name, n} -> {n, name} end)
  @by_name Map.new(@table)
  # "term" → 15, so `:term` works as well as `:sigterm`, without minting atoms.
  @by_short Map.new(@table, fn {name, n} ->
              {String.replace_prefix(Atom.to_string(name), "sig", ""), n}
            end)

  @doc """
  The number of a signal given as `:sigterm`, `:term` or an integer 1..64.
  """
  @spec number(atom | integer) :: {:ok, 1..64} | :error
  def number(n) when is_integer(n) and n >= 1 and n <= 64, do: {:ok, n}

  def number(name) when is_atom(name) do
    case Map.fetch(@by_name, name) do
      {:ok, n} -> {:ok, n}
      :error -> Map.fetch(@by_short, Atom.to_string(name))
    end
  end

  def number(_), do: :error

  @doc "The name of signal `n` (`:sigkill`), or `n` itself for an unnamed real-time signal."
  @spec name(integer) :: atom | integer
  def name(n) when is_integer(n), do: Map.get(@by_number, n, n)
end
