defmodule Linx.Seccomp.Notify.Program do
  @moduledoc false
  # Compiles validated notify rules (Linx.Seccomp.Notify.new!/1) into the
  # program the agent runs for each notification (c_src/notify_prog.c), and
  # disassembles one. The format is docs/notify.md, "The program format".
  #
  # A rule whose predicates or actions the program cannot express (a
  # {:call}, an {:inject_fd}, :return_last, a literal past a limit) is
  # still a block, with the predicate `true` and the action `beam`: the
  # agent cannot know whether it matches, so every call that reaches it
  # goes to the BEAM, which decides with decide/2 as before. Order is kept,
  # so the first rule that matches is the same rule both ways.

  import Bitwise

  @u64 0xFFFF_FFFF_FFFF_FFFF

  # predicates
  @op_true 0x01
  @op_and 0x02
  @op_or 0x03
  @op_not 0x04
  @op_arg 0x10
  @op_int 0x11
  @op_str 0x12
  @op_sa_family 0x13
  @op_sa_path 0x14
  @op_sa_port 0x15
  @op_sa_addr 0x16
  @op_open_access 0x17
  @op_open_mask 0x18
  @op_open_any 0x19

  # integer tests
  @it_eq 1
  @it_in 2
  @it_cmp 3
  @it_mask 4
  @it_any 5
  @cmp_ops [:==, :!=, :<, :<=, :>, :>=]

  # string tests
  @st_eq 1
  @st_prefix 2
  @st_suffix 3
  @st_contains 4
  @st_under 5
  @st_in 6

  # actions and steps
  @act_beam 0
  @act_steps 1
  @sop_continue 1
  @sop_return 2
  @sop_errno 3
  @sop_write_arg 4
  @sop_write_addr 5

  @max_depth 32
  @max_list 1024
  @max_str 4096
  @max_cidrs 64
  @max_steps 16
  @max_write 1 <<< 20

  @doc "The program of a validated `%Linx.Seccomp.Notify{}`."
  @spec compile(Linx.Seccomp.Notify.t()) :: binary()
  def compile(%{rules: rules, handler: handler, default: default}) do
    deflt = if handler, do: <<@act_beam>>, else: action(default)

    blocks =
      for rule <- rules, {_name, nr} <- rule.syscalls do
        {pred, act} =
          case {pred_all(rule.match), action(rule.then)} do
            {{:ok, p}, a} -> {p, a}
            {:error, _} -> {<<@op_true>>, <<@act_beam>>}
          end

        # an uncompilable action: the BEAM decides this rule's calls
        {pred, act} = if act == <<@act_beam>>, do: {<<@op_true>>, act}, else: {pred, act}
        body = pred <> act
        <<nr::little-32, byte_size(body)::little-32, body::binary>>
      end

    if length(blocks) > 0xFFFF, do: raise(ArgumentError, "notify program: more than 65535 blocks")
    IO.iodata_to_binary(["LXNP", 1, 0, <<length(blocks)::little-16>>, deflt | blocks])
  end

  # ---------------------------------------------------------- predicates

  defp pred_all([]), do: {:ok, <<@op_true>>}
  defp pred_all([p]), do: pred(p, 0)
  defp pred_all(ps), do: pred({:all, ps}, 0)

  defp pred(_, depth) when depth > @max_depth, do: :error

  defp pred({op, ps}, depth) when op in [:all, :any] and length(ps) in 1..255 do
    code = if op == :all, do: @op_and, else: @op_or

    encode_all([code, length(ps)], ps, &pred(&1, depth + 1))
  end

  defp pred({:not, p}, depth) do
    with {:ok, b} <- pred(p, depth + 1), do: {:ok, <<@op_not, b::binary>>}
  end

  defp pred({:arg, i, t}, _d), do: with_test(<<@op_arg, i>>, itest(t, :u64))
  defp pred({:int, i, t}, _d), do: with_test(<<@op_int, i>>, itest(t, :s32))
  defp pred({:string, i, t}, _d), do: with_test(<<@op_str, i>>, stest(t))

  defp pred({:sockaddr, i, fields}, _d) when length(fields) in 1..255 do
    encode_all([@op_and, length(fields)], fields, &sa_field(&1, i))
  end

  defp pred({:open_flags, i, checks}, _d) when length(checks) in 1..255 do
    bins =
      Enum.map(checks, fn
        {:access, modes} ->
          <<@op_open_access, i, Enum.reduce(modes, 0, &(&2 ||| 1 <<< &1))>>

        {:mask, m, x} ->
          <<@op_open_mask, i, m::little-32, x::little-32>>

        {:any_set, m} ->
          <<@op_open_any, i, m::little-32>>
      end)

    {:ok, IO.iodata_to_binary([@op_and, length(bins) | bins])}
  end

  defp pred(_, _d), do: :error

  # head followed by the encoding of each item, or :error at the first
  # item that has none
  defp encode_all(head, items, encode) do
    Enum.reduce_while(items, {:ok, head}, fn item, {:ok, acc} ->
      case encode.(item) do
        {:ok, b} -> {:cont, {:ok, [acc, b]}}
        :error -> {:halt, :error}
      end
    end)
    |> case do
      {:ok, iodata} -> {:ok, IO.iodata_to_binary(iodata)}
      :error -> :error
    end
  end

  defp with_test(head, {:ok, t}), do: {:ok, head <> t}
  defp with_test(_head, :error), do: :error

  defp sa_field({:family, f}, i), do: {:ok, <<@op_sa_family, i, f::little-16>>}
  defp sa_field({:path, t}, i), do: with_test(<<@op_sa_path, i>>, stest(t))
  defp sa_field({:port, t}, i), do: with_test(<<@op_sa_port, i>>, itest(t, :u64))

  defp sa_field({:addr, cidrs}, i) when length(cidrs) in 1..@max_cidrs do
    nets =
      for {fam, net, bits} <- cidrs do
        pad = 16 - byte_size(net)
        <<fam, bits, net::binary, 0::size(pad)-unit(8)>>
      end

    {:ok, IO.iodata_to_binary([@op_sa_addr, i, length(cidrs) | nets])}
  end

  defp sa_field(_, _i), do: :error

  # literals are 64-bit: :u64 ones as the register's bits, :s32 ones
  # sign-extended (the C side compares them signed)
  defp lit(v, :u64) when v in 0..@u64, do: {:ok, <<v::little-64>>}
  defp lit(v, :s32) when v in -0x8000_0000..0x7FFF_FFFF, do: {:ok, <<v::little-signed-64>>}
  defp lit(_, _), do: :error

  defp mask(v) when v in 0..@u64, do: {:ok, <<v::little-64>>}
  defp mask(_), do: :error

  defp itest({:eq, x}, k), do: with_test(<<@it_eq>>, lit(x, k))

  defp itest({:in, xs}, k) when length(xs) in 1..@max_list do
    encode_all([@it_in, <<length(xs)::little-16>>], xs, &lit(&1, k))
  end

  defp itest({:cmp, op, x}, k) do
    with_test(<<@it_cmp, Enum.find_index(@cmp_ops, &(&1 == op))>>, lit(x, k))
  end

  defp itest({:mask, m, x}, _k) do
    with {:ok, mb} <- mask(m),
         {:ok, xb} <- mask(x),
         do: {:ok, <<@it_mask, mb::binary, xb::binary>>}
  end

  defp itest({:any_set, m}, _k), do: with_test(<<@it_any>>, mask(m))
  defp itest(_, _k), do: :error

  defp str(s) when byte_size(s) <= @max_str, do: {:ok, <<byte_size(s)::little-16, s::binary>>}
  defp str(_), do: :error

  defp stest({:eq, s}), do: with_test(<<@st_eq>>, str(s))
  defp stest({:prefix, s}), do: with_test(<<@st_prefix>>, str(s))
  defp stest({:suffix, s}), do: with_test(<<@st_suffix>>, str(s))
  defp stest({:contains, s}) when s != "", do: with_test(<<@st_contains>>, str(s))
  defp stest({:under, "/" <> _ = d}), do: with_test(<<@st_under>>, str(d))

  defp stest({:in, ss}) when length(ss) in 1..@max_list do
    encode_all([@st_in, <<length(ss)::little-16>>], ss, &str/1)
  end

  defp stest(_), do: :error

  # ------------------------------------------------------------- actions

  # writes, then one response; anything else is the BEAM's
  defp action(steps) when length(steps) in 1..@max_steps do
    bins = Enum.map(steps, &step/1)

    if Enum.all?(bins, &is_binary/1),
      do: IO.iodata_to_binary([@act_steps, length(bins) | bins]),
      else: <<@act_beam>>
  end

  defp action(_), do: <<@act_beam>>

  defp step(:continue), do: <<@sop_continue>>
  defp step({:return, v}), do: <<@sop_return, v::little-signed-64>>
  defp step({:errno, e}) when e in 1..4095, do: <<@sop_errno, e::little-16>>

  defp step({:write, {:arg, i, off}, data}) when byte_size(data) in 1..@max_write,
    do: <<@sop_write_arg, i, off &&& @u64::little-64, byte_size(data)::little-32, data::binary>>

  defp step({:write, addr, data})
       when is_integer(addr) and addr in 1..@u64 and byte_size(data) in 1..@max_write,
       do: <<@sop_write_addr, addr::little-64, byte_size(data)::little-32, data::binary>>

  defp step(_), do: :beam

  # ---------------------------------------------------------- disassembly

  @doc "A readable listing of a program (as compile/1 made it)."
  @spec explain(binary()) :: String.t()
  def explain(<<"LXNP", 1, 0, n::little-16, rest::binary>>) do
    {deflt, rest} = d_action(rest)
    {lines, _} = Enum.map_reduce(0..(n - 1)//1, rest, &d_block/2)

    IO.iodata_to_binary([
      "notify program: #{n} blocks\n",
      lines,
      "default: #{deflt}\n"
    ])
  end

  def explain(_), do: raise(ArgumentError, "not a notify program (expected the LXNP format)")

  defp d_block(i, <<nr::little-32, len::little-32, body::binary-size(len), rest::binary>>) do
    {pred, after_pred} = d_pred(body)
    {act, <<>>} = d_action(after_pred)
    name = Linx.Syscalls.name(nr) || nr
    {"#{pad(i)}: #{name} if #{pred}\n      then #{act}\n", rest}
  end

  defp pad(i), do: String.pad_leading(Integer.to_string(i), 4, "0")

  defp d_pred(<<@op_true, r::binary>>), do: {"true", r}

  defp d_pred(<<op, n, r::binary>>) when op in [@op_and, @op_or] do
    {parts, r} = Enum.map_reduce(1..n, r, fn _, r -> d_pred(r) end)
    join = if op == @op_and, do: " and ", else: " or "
    {"(" <> Enum.join(parts, join) <> ")", r}
  end

  defp d_pred(<<@op_not, r::binary>>) do
    {p, r} = d_pred(r)
    {"not " <> p, r}
  end

  defp d_pred(<<@op_arg, i, r::binary>>), do: d_it("arg#{i}", r, false)
  defp d_pred(<<@op_int, i, r::binary>>), do: d_it("(int)arg#{i}", r, true)
  defp d_pred(<<@op_str, i, r::binary>>), do: d_st("string(arg#{i})", r)

  defp d_pred(<<@op_sa_family, i, f::little-16, r::binary>>),
    do: {"sockaddr(arg#{i}).family == #{f}", r}

  defp d_pred(<<@op_sa_path, i, r::binary>>), do: d_st("sockaddr(arg#{i}).path", r)
  defp d_pred(<<@op_sa_port, i, r::binary>>), do: d_it("sockaddr(arg#{i}).port", r, false)

  defp d_pred(<<@op_sa_addr, i, n, r::binary>>) do
    {nets, r} =
      Enum.map_reduce(1..n, r, fn _, <<fam, bits, net::binary-16, r::binary>> ->
        ip = if fam == 2, do: :binary.part(net, 0, 4), else: net
        {"#{ip_text(ip)}/#{bits}", r}
      end)

    {"sockaddr(arg#{i}).addr in [#{Enum.join(nets, ", ")}]", r}
  end

  defp d_pred(<<@op_open_access, i, modes, r::binary>>),
    do: {"(arg#{i} & 3) in modes 0b#{Integer.to_string(modes, 2)}", r}

  defp d_pred(<<@op_open_mask, i, m::little-32, x::little-32, r::binary>>),
    do: {"(arg#{i} & #{hex(m)}) == #{hex(x)}", r}

  defp d_pred(<<@op_open_any, i, m::little-32, r::binary>>), do: {"(arg#{i} & #{hex(m)}) != 0", r}

  defp ip_text(<<a, b, c, d>>), do: "#{a}.#{b}.#{c}.#{d}"
  defp ip_text(bin), do: bin |> :binary.bin_to_list() |> :erlang.list_to_tuple() |> ip6()

  defp ip6(t) do
    words = for <<w::16 <- t |> Tuple.to_list() |> :binary.list_to_bin()>>, do: w
    words |> List.to_tuple() |> :inet.ntoa() |> to_string()
  end

  defp hex(v), do: "0x" <> Integer.to_string(v, 16)

  defp d_it(what, <<@it_eq, x::little-64, r::binary>>, signed?),
    do: {"#{what} == #{lit_text(x, signed?)}", r}

  defp d_it(what, <<@it_in, n::little-16, r::binary>>, signed?) do
    {xs, r} =
      Enum.map_reduce(1..n, r, fn _, <<x::little-64, r::binary>> -> {lit_text(x, signed?), r} end)

    {"#{what} in [#{Enum.join(xs, ", ")}]", r}
  end

  defp d_it(what, <<@it_cmp, op, x::little-64, r::binary>>, signed?),
    do: {"#{what} #{Enum.at(@cmp_ops, op)} #{lit_text(x, signed?)}", r}

  defp d_it(what, <<@it_mask, m::little-64, x::little-64, r::binary>>, _s),
    do: {"(#{what} & #{hex(m)}) == #{hex(x)}", r}

  defp d_it(what, <<@it_any, m::little-64, r::binary>>, _s), do: {"(#{what} & #{hex(m)}) != 0", r}

  defp lit_text(x, true) when x > 0x7FFF_FFFF_FFFF_FFFF, do: Integer.to_string(x - (1 <<< 64))
  defp lit_text(x, _), do: if(x > 0xFFFF, do: hex(x), else: Integer.to_string(x))

  defp d_st(what, <<k, r::binary>>)
       when k in [@st_eq, @st_prefix, @st_suffix, @st_contains, @st_under] do
    <<n::little-16, s::binary-size(n), r::binary>> = r

    verb = %{
      @st_eq => "==",
      @st_prefix => "starts with",
      @st_suffix => "ends with",
      @st_contains => "contains",
      @st_under => "is under"
    }

    {"#{what} #{verb[k]} #{inspect(s)}", r}
  end

  defp d_st(what, <<@st_in, n::little-16, r::binary>>) do
    {ss, r} =
      Enum.map_reduce(1..n, r, fn _, <<l::little-16, s::binary-size(l), r::binary>> ->
        {inspect(s), r}
      end)

    {"#{what} in [#{Enum.join(ss, ", ")}]", r}
  end

  defp d_action(<<@act_beam, r::binary>>), do: {"ask the BEAM", r}

  defp d_action(<<@act_steps, n, r::binary>>) do
    {steps, r} = Enum.map_reduce(1..n, r, fn _, r -> d_step(r) end)
    {Enum.join(steps, ", "), r}
  end

  defp d_step(<<@sop_continue, r::binary>>), do: {"continue", r}
  defp d_step(<<@sop_return, v::little-signed-64, r::binary>>), do: {"return #{v}", r}
  defp d_step(<<@sop_errno, e::little-16, r::binary>>), do: {"errno #{e}#{errno_name(e)}", r}

  defp d_step(<<@sop_write_arg, i, off::little-64, n::little-32, _::binary-size(n), r::binary>>),
    do: {"write #{n} bytes at arg#{i} + #{hex(off)}", r}

  defp d_step(<<@sop_write_addr, a::little-64, n::little-32, _::binary-size(n), r::binary>>),
    do: {"write #{n} bytes at #{hex(a)}", r}

  defp errno_name(e) do
    case Linx.Errno.name(e) do
      name when is_atom(name) -> " (#{String.upcase(Atom.to_string(name))})"
      _ -> ""
    end
  end
end
