defmodule Bench.Checkpoint do
  @moduledoc """
  4. The cost of what happens at the checkpoint: a spawn that installs a
  300-rule seccomp policy and drops every capability, vs a plain spawn;
  and the cost of compiling that policy, cached vs not.

  The policy: default allow; for each of the first 100 x86_64 syscalls
  (read, write, open, … — the ones /bin/true and ld.so use are among
  them), three `{{:errno, :eperm}, name, [{arg, :==, value}]}` rules on
  args 0, 1, 2 with values no call passes. Every value is distinct: with
  equal values libseccomp shares the identical argument blocks and the
  filter shrinks to ~100 instructions.
  """

  import Bench.Runner
  alias Bench.Report

  @true_ "/bin/true"
  @plain "run, plain"

  @doc "The 300 rules; `salt` makes a distinct (uncached) set."
  def rules(salt \\ 0) do
    names = Linx.Syscalls.all() |> Enum.take(100) |> Enum.map(&elem(&1, 0))

    for {name, i} <- Enum.with_index(names), arg <- 0..2 do
      {{:errno, :eperm}, name, [{arg, :==, 0xDEAD0000 + 3 * i + arg + salt * 1000}]}
    end
  end

  @doc "The 300-rule policy."
  def policy(salt \\ 0), do: Linx.Seccomp.policy(:allow, rules(salt))

  def run(iters) do
    policy = policy()
    {:ok, bpf} = Linx.Seccomp.compile(policy)
    insns = div(byte_size(bpf), 8)

    Report.section("4. checkpoint: seccomp (300 rules) + capabilities drop", [
      "The policy compiles to #{insns} BPF instructions. Interleaved, #{iters} iterations each;",
      "ratios against a plain `run([\"/bin/true\"])`. The policy rows hit the compile cache",
      "(compiled once before measuring); `{:bpf, bin}` skips the cache lookup too."
    ])

    run = fn opts -> fn -> warm(fn -> linx_run([@true_], opts) end) end end

    contenders = [
      {@plain, run.([])},
      {"run, checkpoint: true + proceed",
       fn ->
         timed(fn ->
           {:ok, p} = Linx.Process.spawn(argv: [@true_], checkpoint: true)
           :ok = Linx.Process.proceed(p)
           {:exited, 0} = Linx.Process.await(p)
         end)
       end},
      {"run, capabilities: [drop: :all]", run.(capabilities: [drop: :all])},
      {"run, seccomp: policy (300 rules)", run.(seccomp: policy)},
      {"run, seccomp: policy + drop: :all", run.(seccomp: policy, capabilities: [drop: :all])},
      {"run, seccomp: {:bpf, #{insns} insns} + drop: :all",
       run.(seccomp: {:bpf, bpf}, capabilities: [drop: :all])}
    ]

    results = interleave(contenders, iters)
    Report.latency_table(rows(results, @plain), "plain")

    compile(policy, max(div(iters, 4), 20))
    []
  end

  defp compile(policy, iters) do
    Report.section("4b. compiling the 300-rule policy", [
      "Interleaved, #{iters} iterations each. Uncached: a distinct policy every time",
      "(the rule values vary), so libseccomp compiles it in `priv/linx_seccomp`.",
      "Cached: the same policy again (normalise + ETS lookup)."
    ])

    counter = :counters.new(1, [])
    rules = rules()

    contenders = [
      {"compile/1 uncached",
       fn ->
         :counters.add(counter, 1, 1)
         p = policy(:counters.get(counter, 1))
         timed(fn -> {:ok, _} = Linx.Seccomp.compile(p) end)
       end},
      {"compile/1 cached", fn -> timed(fn -> {:ok, _} = Linx.Seccomp.compile(policy) end) end},
      {"policy/2 (validate the 300 rules)",
       fn -> timed(fn -> Linx.Seccomp.policy(:allow, rules) end) end}
    ]

    results = interleave(contenders, iters, 3)
    Report.latency_table(rows(results, "compile/1 cached"), "cached")
    :ok
  end
end
