defmodule Linx.Seccomp.NotifyProgramTest do
  # The compiled notify program (Linx.Seccomp.Notify.compile/1) run by the
  # agent's own interpreter (c_src/notify_prog.c, through the nprog_eval
  # harness, no workload) decides exactly as Linx.Seccomp.Notify.decide/2:
  # thousands of random rule lists x random notifications. And the decoder
  # refuses hostile programs before running anything.
  use ExUnit.Case, async: true

  import Bitwise

  alias Linx.Seccomp.Notify

  @moduletag :notify

  @harness Path.expand("../../../build/test/nprog_eval", __DIR__)
  @u64 0xFFFF_FFFF_FFFF_FFFF
  @nrs %{openat: 257, connect: 42, kill: 62, getpid: 39}

  # ------------------------------------------------------------ harness

  defp case_bin(%{nr: nr, args: args, mem: mem}) do
    mems =
      for i <- 0..5 do
        case Map.get(mem, i) do
          nil -> <<0, 0::32, 0::32>>
          {:error, e} -> <<1, e::little-32, 0::little-32>>
          bin -> <<1, 0::little-32, byte_size(bin)::little-32, bin::binary>>
        end
      end

    [<<nr::little-32>>, for(a <- args, do: <<a::little-64>>), mems]
  end

  # Runs [{program, [notification]}] through the harness: per program,
  # "ok" or "refused …", then one line per notification.
  defp run_harness(batches) do
    assert File.exists?(@harness), "#{@harness} not built (mk/notify_prog.mk)"

    input =
      for {prog, calls} <- batches do
        [
          <<byte_size(prog)::little-32>>,
          prog,
          <<length(calls)::little-32>>,
          Enum.map(calls, &case_bin/1)
        ]
      end

    dir = System.tmp_dir!()
    path = Path.join(dir, "nprog-#{System.unique_integer([:positive])}.in")
    File.write!(path, input)

    try do
      {out, 0} = System.cmd("sh", ["-c", ~s(exec "$0" < "$1"), @harness, path])
      lines = String.split(out, "\n", trim: true)

      {results, []} =
        Enum.map_reduce(batches, lines, fn {_prog, calls}, [status | rest] ->
          n = if status == "ok", do: length(calls), else: 0
          {mine, rest} = Enum.split(rest, n)
          {{status, mine}, rest}
        end)

      results
    after
      File.rm(path)
    end
  end

  # decide/2's steps as the harness prints them; nil for steps only the
  # BEAM runs ({:call}, {:addfd}, :return_last)
  defp fmt(steps) do
    parts =
      Enum.map(steps, fn
        :continue -> "C"
        {:return, v} -> "R#{v}"
        {:errno, e} -> "E#{e}"
        {:write, addr, data} -> "W#{addr}:#{Base.encode16(data, case: :lower)}"
        _ -> nil
      end)

    if Enum.all?(parts, & &1), do: Enum.join(parts, ";")
  end

  # What the agent must answer: the first rule of nr that is not
  # compiled, or that matches, or the default
  defp reference(n, call) do
    rules = Map.get(n.by_nr, call.nr, [])
    args = List.to_tuple(call.args)

    Enum.find_value(rules, fn rule ->
      cond do
        fmt_rule(rule.then) == nil -> :beam
        Notify.Match.all?(rule.match, args, call.mem) -> :steps
        true -> nil
      end
    end) || if(n.handler || fmt_rule(n.default) == nil, do: :beam, else: :steps)
  end

  defp fmt_rule(actions),
    do: if(Enum.all?(actions, &(&1 in [:continue] or elem_kind(&1))), do: :ok)

  defp elem_kind({k, _}) when k in [:return, :errno], do: true
  defp elem_kind({:write, _, _}), do: true
  defp elem_kind(_), do: false

  # ---------------------------------------------------------- generators

  defp pick(list), do: Enum.at(list, :rand.uniform(length(list)) - 1)

  defp int_value do
    pick([
      0,
      1,
      2,
      9,
      15,
      100,
      0xFFFF_FFFF,
      0xFFFF_FF9C,
      @u64,
      @u64 - 99,
      1 <<< 63,
      :rand.uniform(1 <<< 40)
    ])
  end

  defp s32_value, do: pick([0, 1, 9, -1, -100, 0x7FFF_FFFF, -0x8000_0000, 42])

  defp int_test(kind) do
    v = if kind == :s32, do: s32_value(), else: int_value()

    case :rand.uniform(6) do
      1 -> v
      2 -> {pick([:==, :!=, :<, :<=, :>, :>=]), v}
      3 -> {:in, [v, if(kind == :s32, do: s32_value(), else: int_value())]}
      4 -> {:all_set, pick([1, 3, 0x40, 0x241])}
      5 -> {:any_set, pick([1, 3, 0x40, 0x241])}
      6 -> {:none_set, pick([1, 3, 0x40, 0x241])}
    end
  end

  @strings ["/etc", "/etc/passwd", "/tmp", "x", "", "/", "/etc/../tmp/x", "passwd", "a/b"]

  defp str_test do
    s = pick(@strings)

    case :rand.uniform(7) do
      1 -> s
      2 -> {:prefix, s}
      3 -> {:suffix, s}
      4 -> {:contains, pick(["etc", "/", "x", "wd"])}
      5 -> {:in, [s, pick(@strings)]}
      _ -> {:under, pick(["/", "/etc", "/tmp", "/etc/ssh"])}
    end
  end

  defp pred(:openat, depth) do
    case :rand.uniform(if depth < 3, do: 8, else: 5) do
      1 ->
        {:arg, pick([0, 2, 3]), int_test(:u64)}

      2 ->
        {:int, 0, int_test(:s32)}

      3 ->
        {:string, 1, str_test()}

      4 ->
        {:open_flags, 2,
         Enum.take_random(
           [
             access: pick([:rdonly, :wronly, [:rdwr, :wronly]]),
             any: [:creat, :trunc],
             all: [:cloexec],
             none: [:directory]
           ],
           :rand.uniform(3)
         )}

      5 ->
        {:string, 1, str_test()}

      6 ->
        {:any, [pred(:openat, depth + 1), pred(:openat, depth + 1)]}

      7 ->
        {:all, [pred(:openat, depth + 1), pred(:openat, depth + 1)]}

      8 ->
        {:not, pred(:openat, depth + 1)}
    end
  end

  defp pred(:connect, depth) do
    case :rand.uniform(if depth < 3, do: 5, else: 3) do
      1 ->
        {:sockaddr, 1,
         Enum.take_random(
           [
             family: pick([:unix, :inet, :inet6, 7]),
             path: str_test(),
             port: int_test(:u64) |> port(),
             addr:
               pick([
                 {10, 0, 0, 0},
                 {{10, 0, 0, 0}, 8},
                 [{{127, 0, 0, 1}, 32}, {{0, 0, 0, 0, 0, 0, 0, 1}, 128}],
                 {{0xFE80, 0, 0, 0, 0, 0, 0, 0}, 10}
               ])
           ],
           :rand.uniform(3)
         )}

      2 ->
        {:arg, 2, int_test(:u64)}

      3 ->
        {:int, 0, int_test(:s32)}

      4 ->
        {:any, [pred(:connect, depth + 1), pred(:connect, depth + 1)]}

      5 ->
        {:not, pred(:connect, depth + 1)}
    end
  end

  defp pred(_other, _depth), do: {pick([:arg, :int]), :rand.uniform(6) - 1, int_test(:s32)}

  defp port({:in, vs}), do: {:in, Enum.map(vs, &rem(&1, 65_536))}
  defp port({op, v}) when is_atom(op) and is_integer(v), do: {op, rem(v, 70_000)}
  defp port(v) when is_integer(v), do: rem(v, 65_536)
  defp port(_), do: {:<, 1024}

  defp action do
    case :rand.uniform(8) do
      1 ->
        :continue

      2 ->
        {:errno, pick([:eperm, :eacces, 38, 4095])}

      3 ->
        {:return, pick([0, 1, -1, 1 <<< 40, -(1 <<< 63)])}

      4 ->
        [{:write, {:arg, pick([0, 1]), pick([0, 8, -8])}, pick(["a", <<0, 1, 2>>])}, {:return, 0}]

      5 ->
        [{:write, pick([4096, 0x7FFF_0000]), "zz"}, {:errno, :eio}]

      6 ->
        {:call, :getpid, [], []}

      7 ->
        :continue

      8 ->
        {:errno, :enoent}
    end
  end

  defp rules do
    for _ <- 1..:rand.uniform(6) do
      sc = pick(Map.keys(@nrs))
      syscall = if :rand.uniform(5) == 1, do: [sc, pick(Map.keys(@nrs))] |> Enum.uniq(), else: sc
      preds = for _ <- 1..(:rand.uniform(3) - 1)//1, do: pred(sc, 0)
      %{syscall: syscall, match: preds, then: action()}
    end
  end

  defp notify do
    opts = [rules: rules(), default: pick([:continue, {:errno, :enosys}, {:return, 7}])]
    Notify.new!(opts)
  rescue
    ArgumentError -> notify()
  end

  defp mem_value do
    case :rand.uniform(12) do
      1 -> {:error, 14}
      2 -> pick(@strings) <> <<0>> <> "tail"
      3 -> String.duplicate("/a", 2048)
      4 -> <<1::little-16, "/run/a.sock", 0, "junk">>
      5 -> <<1::little-16, 0, "abstract", 0, "x">>
      6 -> <<2::little-16, 80::16, 10, 1, 2, 3, 0::64>>
      7 -> <<2::little-16, 53::16, 127, 0, 0, 1>>
      8 -> <<10::little-16, 443::16, 0::32, 0::112, 1::16, 0::32>>
      9 -> <<10::little-16, 22::16, 0::32, 0xFE, 0x80, 0::112>>
      10 -> <<7::little-16>>
      11 -> <<1>>
      12 -> pick(@strings)
    end
  end

  defp call do
    sc = pick(Map.keys(@nrs))

    args =
      for _ <- 0..5 do
        pick([int_value(), s32_value() &&& @u64, pick([0o1, 0o101, 0o1101, 0o2000002, 0o200000])])
      end

    mem = for i <- 0..5, :rand.uniform(3) > 1, into: %{}, do: {i, mem_value()}

    %{
      id: 1,
      pid: 1,
      tid: 1,
      nr: @nrs[sc],
      syscall: sc,
      arch: 0xC000003E,
      ip: 0,
      args: args,
      mem: mem
    }
  end

  # --------------------------------------------------------------- tests

  describe "the agent's interpreter agrees with decide/2" do
    @tag timeout: 180_000
    test "2,000 random rule lists x 20 random notifications each" do
      seed = {:exsss, {13, 2026, System.unique_integer([:positive])}}
      :rand.seed(elem(seed, 0), elem(seed, 1))

      batches =
        for _ <- 1..2000 do
          n = notify()
          {:ok, prog} = Notify.compile(n)
          {n, prog, for(_ <- 1..20, do: call())}
        end

      results = run_harness(Enum.map(batches, fn {_n, prog, calls} -> {prog, calls} end))

      {agreed, asked} =
        Enum.zip(batches, results)
        |> Enum.reduce({0, 0}, fn {{n, _prog, calls}, {status, lines}}, {agreed, asked} ->
          if status != "ok", do: flunk("program refused: #{status}\n#{Notify.explain(n)}")

          Enum.zip(calls, lines)
          |> Enum.reduce({agreed, asked}, fn {call, line}, {ag, as} ->
            expected = reference(n, call)

            case line do
              "beam" ->
                if expected != :beam,
                  do:
                    flunk(
                      "seed #{inspect(seed)}: agent asked the BEAM for #{inspect(call)}\n" <>
                        Notify.explain(n)
                    )

                {ag, as + 1}

              steps ->
                {:reply, reply} = Notify.decide(n, call)

                if steps != fmt(reply),
                  do:
                    flunk(
                      "seed #{inspect(seed)}: agent #{steps}, decide/2 #{inspect(reply)} for " <>
                        "#{inspect(call)}\n#{Notify.explain(n)}"
                    )

                {ag + 1, as}
            end
          end)
        end)

      # both kinds of answers were exercised
      assert agreed > 15_000
      assert asked > 500
    end

    test "a handler: unmatched calls go to the BEAM, matched ones are decided" do
      n =
        Notify.new!(
          rules: [%{syscall: :kill, match: [{:int, 1, 9}], then: {:errno, :eperm}}],
          handler: {Linx.Seccomp.NotifyProgramTest.H, nil}
        )

      {:ok, prog} = Notify.compile(n)
      kill = fn sig -> %{nr: 62, args: [1, sig, 0, 0, 0, 0], mem: %{}} end
      assert [{"ok", ["E1", "beam"]}] = run_harness([{prog, [kill.(9), kill.(15)]}])
    end
  end

  defmodule H do
    @behaviour Linx.Seccomp.Notifier
    @impl true
    def init(_), do: {:ok, nil}
    @impl true
    def syscalls(_), do: [:kill]
    @impl true
    def handle_syscall(_, s), do: {:continue, s}
  end

  describe "the decoder refuses what compile/1 never makes" do
    setup do
      {:ok, prog} =
        Notify.compile([
          %{
            syscall: :openat,
            match: [{:string, 1, {:under, "/etc"}}, {:open_flags, 2, any: [:creat]}],
            then: [{:write, {:arg, 1}, "x"}, {:errno, :eacces}]
          },
          %{syscall: :connect, match: [{:sockaddr, 1, family: :inet, port: 53}], then: :continue}
        ])

      %{prog: prog}
    end

    test "every truncation and every single-byte corruption is refused or still valid", %{
      prog: prog
    } do
      truncated = for n <- 0..(byte_size(prog) - 1), do: {binary_part(prog, 0, n), []}
      assert Enum.all?(run_harness(truncated), fn {status, _} -> status =~ "refused" end)

      corrupted =
        for i <- 0..(byte_size(prog) - 1), v <- [0, 0xFF, 0x7F] do
          <<a::binary-size(i), _, b::binary>> = prog

          {<<a::binary, v, b::binary>>,
           [%{nr: 257, args: [0, 0, 0, 0, 0, 0], mem: %{1 => "/etc/x"}}]}
        end

      # no crash (the harness exits 0) and an answer for every accepted one
      for {status, lines} <- run_harness(corrupted) do
        assert status =~ "refused" or (status == "ok" and length(lines) == 1)
      end
    end

    test "named refusals", %{prog: prog} do
      <<_::binary-4, rest::binary>> = prog

      assert [{"refused notify program: bad magic (expected LXNP) at byte 0", []}] =
               run_harness([{"XXXX" <> rest, []}])

      assert [{"refused notify program: trailing or missing bytes" <> _, []}] =
               run_harness([{prog <> <<0>>, []}])

      # a nesting deeper than 32
      deep = String.duplicate(<<0x04>>, 40) <> <<0x01>>
      body = deep <> <<1, 1, 1>>

      hostile =
        <<"LXNP", 1, 0, 1::little-16, 0, 39::little-32, byte_size(body)::little-32>> <> body

      assert [{"refused notify program: bad predicate at byte 9", []}] =
               run_harness([{hostile, []}])
    end
  end

  describe "compile/1 and explain/1 as the issue names them" do
    test "compile/1 gives {:ok, binary} or {:error, reason}; explain/1 prints the listing and returns it" do
      rules = [
        %{syscall: :kill, match: [{:int, 1, 9}], then: {:errno, :eperm}},
        %{syscall: :getpid, then: {:return, 42}}
      ]

      assert {:ok, prog} = Notify.compile(rules)
      assert is_binary(prog) and binary_part(prog, 0, 4) == "LXNP"
      assert {:error, reason} = Notify.compile([%{syscall: :nope, then: :continue}])
      assert reason =~ ":nope"

      # "prints the program readably (like the BPF disassembler)": on stdout ...
      printed = ExUnit.CaptureIO.capture_io(fn -> send(self(), {:text, Notify.explain(prog)}) end)
      assert printed =~ "0000: kill if (int)arg1 == 9"
      assert printed =~ "0001: getpid if true"
      # ... and the same text is returned, for the rules as for the program
      assert_received {:text, ^printed}
      assert ExUnit.CaptureIO.capture_io(fn -> Notify.explain(rules) end) == printed
    end
  end
end
