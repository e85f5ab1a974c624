defmodule Linx.JSONTest do
  # Linx.JSON against the real seccomp profiles, against Python's json
  # module (an independent decoder, made strict about repeated keys and
  # NaN/Infinity) on thousands of mutated inputs, and round trips of
  # generated terms.
  use ExUnit.Case, async: true

  import Bitwise

  alias Linx.JSON

  doctest Linx.JSON

  @fixtures Path.wildcard(Path.expand("../fixtures/seccomp/*.json", __DIR__))
  @python "/usr/bin/python3"

  # Reads base64 lines on stdin; prints one line per input: "ERR" or the
  # canonical JSON of the value (sorted keys, no spaces, UTF-8 as is).
  @python_canon ~S"""
  import base64, json, sys
  def pairs(ps):
      d = {}
      for k, v in ps:
          if k in d: raise ValueError("repeated key")
          d[k] = v
      return d
  def bad_constant(c): raise ValueError(c)
  def finite(s):
      f = float(s)
      if f in (float("inf"), float("-inf")): raise ValueError(s)
      return f
  for line in sys.stdin:
      raw = base64.b64decode(line.strip())
      try:
          v = json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=bad_constant,
                         parse_float=finite)
          out = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
          out.encode("utf-8")
          print(base64.b64encode(out.encode("utf-8")).decode())
      except Exception:
          print("ERR")
  """

  defp python_canon(inputs) do
    stdin = Enum.map_join(inputs, "", &(Base.encode64(&1) <> "\n"))
    path = Path.join(System.tmp_dir!(), "linx_json_#{System.unique_integer([:positive])}")
    File.write!(path, stdin)

    try do
      {out, 0} = System.cmd("/bin/sh", ["-c", "#{@python} -c '#{@python_canon}' < #{path}"])

      out
      |> String.split("\n", trim: true)
      |> Enum.map(fn
        "ERR" -> :error
        # Python's canonical text read back: values compared, not float spellings
        b64 -> {:ok, JSON.decode!(Base.decode64!(b64))}
      end)
    after
      File.rm(path)
    end
  end

  defp linx_canon(input) do
    case JSON.decode(input) do
      {:ok, v} -> {:ok, v}
      {:error, {:invalid_json, at, msg}} when is_integer(at) and is_binary(msg) -> :error
    end
  end

  test "the real Docker and Podman profiles decode as Python decodes them" do
    assert length(@fixtures) == 3
    texts = Enum.map(@fixtures, &File.read!/1)

    for {text, py} <- Enum.zip(texts, python_canon(texts)) do
      assert {:ok, _} = py
      assert linx_canon(text) == py
    end
  end

  test "the real profiles survive decode -> encode (compact and pretty) -> decode" do
    for file <- @fixtures do
      {:ok, v} = JSON.decode(File.read!(file))
      assert JSON.decode!(JSON.encode!(v)) == v
      assert JSON.decode!(JSON.encode!(v, pretty: true)) == v
    end
  end

  # Mutations of real files and of small documents: a byte flipped,
  # deleted, duplicated, a JSON-significant byte inserted, truncation.
  defp mutate(text, rng) do
    {kind, rng} = :rand.uniform_s(5, rng)
    {pos, rng} = :rand.uniform_s(max(byte_size(text), 1), rng)
    pos = pos - 1
    {pick, rng} = :rand.uniform_s(24, rng)
    byte = :binary.at(~S({}[]":,.-+eE0159\ u"ntfé), rem(pick, 23))
    <<pre::binary-size(pos), rest::binary>> = text

    out =
      case {kind, rest} do
        {1, <<c, post::binary>>} -> pre <> <<Bitwise.bxor(c, 1 <<< rem(pick, 8))>> <> post
        {2, <<_, post::binary>>} -> pre <> post
        {3, <<c, post::binary>>} -> pre <> <<c, c>> <> post
        {4, _} -> pre <> <<byte>> <> rest
        _ -> pre
      end

    {out, rng}
  end

  test "fuzz: 3000 mutated inputs, never a raise, and valid/invalid as Python says" do
    seeds =
      Enum.map(@fixtures, fn f -> f |> File.read!() |> binary_part(0, 600) end) ++
        [
          ~S({"a": [1, -2.5e3, true, false, null], "b": {"c": "\u00e9\n\"x\""}}),
          ~S([0, -0, 1e-2, 1E+2, 12345678901234567890, "\ud83d\ude00", {}]),
          ~S({"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":40,"op":"SCMP_CMP_NE"}]})
        ]

    {inputs, _} =
      Enum.flat_map_reduce(1..3000, :rand.seed_s(:exsss, {1, 4, 14}), fn i, rng ->
        seed = Enum.at(seeds, rem(i, length(seeds)))
        {once, rng} = mutate(seed, rng)
        {twice, rng} = mutate(once, rng)
        {[if(rem(i, 2) == 0, do: once, else: twice)], rng}
      end)

    expected = python_canon(inputs)
    assert length(expected) == length(inputs)

    disagreements =
      for {input, py} <- Enum.zip(inputs, expected), linx_canon(input) != py, do: input

    assert disagreements == []
    # the mutations reach both outcomes
    assert Enum.count(expected, &(&1 == :error)) > 300
    assert Enum.count(expected, &match?({:ok, _}, &1)) > 200
  end

  defp gen(rng, 0), do: gen_scalar(rng)

  defp gen(rng, depth) do
    {k, rng} = :rand.uniform_s(4, rng)

    case k do
      1 ->
        {n, rng} = :rand.uniform_s(4, rng)

        Enum.map_reduce(1..n, rng, fn _, rng -> gen(rng, depth - 1) end)
        |> then(fn {l, rng} -> {l, rng} end)

      2 ->
        {n, rng} = :rand.uniform_s(4, rng)

        {pairs, rng} =
          Enum.map_reduce(1..n, rng, fn i, rng ->
            {v, rng} = gen(rng, depth - 1)
            {{"k#{i}" <> <<0x1F, ?", ?\\>>, v}, rng}
          end)

        {Map.new(pairs), rng}

      _ ->
        gen_scalar(rng)
    end
  end

  defp gen_scalar(rng) do
    {k, rng} = :rand.uniform_s(7, rng)
    {x, rng} = :rand.uniform_s(1_000_000, rng)

    value =
      case k do
        1 -> nil
        2 -> rem(x, 2) == 0
        3 -> x * x * x * x - 7
        4 -> -x / 7
        5 -> "s" <> Integer.to_string(x) <> "é\t\u2028\u0000"
        6 -> 1.0e300 * x
        7 -> -x
      end

    {value, rng}
  end

  test "round trip of 2000 generated terms, compact and pretty" do
    Enum.reduce(1..2000, :rand.seed_s(:exsss, {2, 0, 14}), fn _, rng ->
      {term, rng} = gen(rng, 4)
      assert JSON.decode(JSON.encode!(term)) == {:ok, term}
      assert JSON.decode(JSON.encode!(term, pretty: true)) == {:ok, term}
      rng
    end)
  end

  test "strictness: each error names the offset" do
    cases = [
      {"", 0},
      {"  ", 2},
      {"[1,]", 3},
      {"{\"a\":1,}", 7},
      {"01", 0},
      {"1.", 1},
      {"-", 1},
      {"NaN", 0},
      {"[1] [2]", 4},
      {"{'a':1}", 1},
      {"\"a\tb\"", 2},
      {"\"\\x\"", 2},
      {"\"\\ud800\"", 2},
      {<<?", 0xFF, ?">>, 1},
      {"1e999", 0},
      {"{\"a\" 1}", 5},
      {"[" <> String.duplicate("[", 600), 513}
    ]

    for {text, at} <- cases do
      assert {:error, {:invalid_json, ^at, msg}} = JSON.decode(text), inspect(text)
      assert is_binary(msg)
    end
  end

  test "encode refuses what JSON cannot hold" do
    assert {:error, "cannot encode {1} as JSON"} = JSON.encode({1})
    assert {:error, "not UTF-8: " <> _} = JSON.encode(<<0xFF>>)
    assert {:error, "cannot encode the map key 1 as JSON"} = JSON.encode(%{1 => 2})
    assert {:error, _} = JSON.encode(%{"a" => 1, a: 2})
    assert {:error, _} = JSON.encode([1 | 2])
    assert JSON.encode!("\u0001\"\\") == ~S("\u0001\"\\")
  end

  test "backend: :auto gives the same value (falls back to Linx.JSON on OTP 25)" do
    text = File.read!(hd(@fixtures))
    assert JSON.decode(text, backend: :auto) == JSON.decode(text)
  end
end
