defmodule Linx.Seccomp.BPFTest do
  use ExUnit.Case, async: true

  alias Linx.Seccomp.BPF

  doctest Linx.Seccomp.BPF
  doctest Linx.Syscalls
end
