defmodule Linx.JSON do
  @moduledoc """
  A small, strict JSON (RFC 8259) decoder and encoder, so Linx reads and
  writes seccomp profiles without a Hex dependency (OTP 25 has no `:json`).

  Decoding: objects become maps with string keys, arrays lists, `null`
  `nil`, numbers integers (any size) when written without a fraction or
  exponent and floats otherwise. Strict means: one value and nothing after
  it but whitespace; no comments, trailing commas, single quotes, leading
  zeros, `NaN`/`Infinity`, unescaped control characters, invalid UTF-8 or
  lone surrogates; **a key repeated in one object is an error** (JSON
  leaves its meaning open, and in a security profile a second value
  silently winning is a trap); nesting is limited to 512 levels. Errors
  name the byte offset: `{:error, {:invalid_json, offset, message}}`.

  `decode/2` uses this decoder unless `backend: :auto` is given, which
  prefers OTP 27's `:json` and then `Jason` when the runtime has one (same
  result for valid input; their error messages and their handling of
  repeated keys differ).

  Encoding: `nil`, booleans, integers, finite floats, UTF-8 binaries,
  other atoms (as strings), lists and maps with string or atom keys
  (written in sorted key order, so output is stable). `pretty: true`
  indents by two spaces.

      iex> Linx.JSON.decode(~s({"names": ["read", "write"], "errnoRet": 1, "x": null}))
      {:ok, %{"names" => ["read", "write"], "errnoRet" => 1, "x" => nil}}
      iex> Linx.JSON.decode(~s({"a": 1, "a": 2}))
      {:error, {:invalid_json, 9, "key \\"a\\" repeated in one object"}}
      iex> Linx.JSON.encode!(%{"names" => ["read"], "action" => "SCMP_ACT_ALLOW"})
      ~s({"action":"SCMP_ACT_ALLOW","names":["read"]})
  """

  import Bitwise

  @max_depth 512

  @typedoc "A decoded JSON value."
  @type value :: nil | boolean | integer | float | String.t() | [value] | %{String.t() => value}

  @typedoc "Why a text is not JSON: the byte offset and what was wrong there."
  @type error :: {:invalid_json, non_neg_integer, String.t()}

  # --- decoding -------------------------------------------------------------

  @doc """
  Decodes one JSON text. Option `backend:` `:linx` (default, this module)
  or `:auto` (OTP 27's `:json`, else Jason, else this module).

      iex> Linx.JSON.decode("[1, 2.5, -0, 1e2, \\"\\\\u00e9\\"]")
      {:ok, [1, 2.5, 0, 100.0, "é"]}
      iex> Linx.JSON.decode("[1,]")
      {:error, {:invalid_json, 3, "expected a value"}}
  """
  @spec decode(binary, keyword) :: {:ok, value} | {:error, error}
  def decode(text, opts \\ [])

  def decode(text, opts) when is_binary(text) do
    case Keyword.get(opts, :backend, :linx) do
      :linx -> decode_linx(text)
      :auto -> decode_auto(text)
    end
  end

  def decode(other, _),
    do: {:error, {:invalid_json, 0, "expected a binary, got #{inspect(other)}"}}

  @doc """
  Like `decode/2`, raising `ArgumentError` with the offset and reason.
  """
  @spec decode!(binary, keyword) :: value
  def decode!(text, opts \\ []) do
    case decode(text, opts) do
      {:ok, value} ->
        value

      {:error, {:invalid_json, at, msg}} ->
        raise ArgumentError, "invalid JSON at byte #{at}: #{msg}"
    end
  end

  defp decode_linx(text) do
    {value, rest} = value(skip_ws(text), text, 0)

    case skip_ws(rest) do
      "" -> {:ok, value}
      more -> fail(text, more, "unexpected data after the JSON value")
    end
  catch
    {:json_error, at, msg} -> {:error, {:invalid_json, at, msg}}
  end

  # Called through variables: neither :json (OTP 27) nor Jason exists at
  # compile time here.
  defp decode_auto(text) do
    json = :json
    jason = Jason

    cond do
      Code.ensure_loaded?(json) and function_exported?(json, :decode, 3) ->
        try do
          {value, :ok, ""} = apply(json, :decode, [text, :ok, %{null: nil}])
          {:ok, value}
        rescue
          _ -> decode_linx(text)
        catch
          _, _ -> decode_linx(text)
        end

      Code.ensure_loaded?(jason) and function_exported?(jason, :decode, 1) ->
        case apply(jason, :decode, [text]) do
          {:ok, value} -> {:ok, value}
          {:error, _} -> decode_linx(text)
        end

      true ->
        decode_linx(text)
    end
  end

  defp fail(text, rest, msg), do: throw({:json_error, byte_size(text) - byte_size(rest), msg})

  defp skip_ws(<<c, rest::binary>>) when c in [?\s, ?\t, ?\n, ?\r], do: skip_ws(rest)
  defp skip_ws(rest), do: rest

  defp value(rest, text, depth) when depth > @max_depth,
    do: fail(text, rest, "nested deeper than #{@max_depth} levels")

  defp value(<<?{, rest::binary>>, text, depth), do: object(skip_ws(rest), text, depth + 1, %{})
  defp value(<<?[, rest::binary>>, text, depth), do: array(skip_ws(rest), text, depth + 1, [])
  defp value(<<?", rest::binary>>, text, _), do: string(rest, text, [])
  defp value(<<"true", rest::binary>>, _, _), do: {true, rest}
  defp value(<<"false", rest::binary>>, _, _), do: {false, rest}
  defp value(<<"null", rest::binary>>, _, _), do: {nil, rest}
  defp value(<<c, _::binary>> = rest, text, _) when c == ?- or c in ?0..?9, do: number(rest, text)
  defp value(rest, text, _), do: fail(text, rest, "expected a value")

  defp object(<<?}, rest::binary>>, _, _, acc), do: {acc, rest}
  defp object(rest, text, depth, acc), do: member(rest, text, depth, acc)

  defp member(<<?", after_quote::binary>> = at_key, text, depth, acc) do
    {key, rest} = string(after_quote, text, [])

    if Map.has_key?(acc, key),
      do: fail(text, at_key, "key #{inspect(key)} repeated in one object")

    rest =
      case skip_ws(rest) do
        <<?:, rest::binary>> -> skip_ws(rest)
        other -> fail(text, other, "expected ':' after an object key")
      end

    {value, rest} = value(rest, text, depth)
    acc = Map.put(acc, key, value)

    case skip_ws(rest) do
      <<?,, rest::binary>> -> member(skip_ws(rest), text, depth, acc)
      <<?}, rest::binary>> -> {acc, rest}
      other -> fail(text, other, "expected ',' or '}' in an object")
    end
  end

  defp member(rest, text, _, _), do: fail(text, rest, "expected a string key")

  defp array(<<?], rest::binary>>, _, _, []), do: {[], rest}

  defp array(rest, text, depth, acc) do
    {value, rest} = value(rest, text, depth)

    case skip_ws(rest) do
      <<?,, rest::binary>> -> array_next(skip_ws(rest), text, depth, [value | acc])
      <<?], rest::binary>> -> {Enum.reverse([value | acc]), rest}
      other -> fail(text, other, "expected ',' or ']' in an array")
    end
  end

  defp array_next(rest, text, depth, acc), do: array(rest, text, depth, acc)

  # Strings: chunks of plain bytes are taken whole; UTF-8 is checked at the end.
  defp string(rest, text, acc) do
    case plain_len(rest, 0) do
      {n, <<?", after_str::binary>>} ->
        str = IO.iodata_to_binary([acc | binary_part(rest, 0, n)])

        if String.valid?(str),
          do: {str, after_str},
          else: fail(text, rest, "invalid UTF-8 in a string")

      {n, <<?\\, esc::binary>>} ->
        chunk = binary_part(rest, 0, n)
        {char, after_esc} = escape(esc, text)
        string(after_esc, text, [acc, chunk | char])

      {n, <<>>} ->
        fail(text, binary_part(rest, n, 0), "unterminated string")

      {n, <<_c, _::binary>> = bad} ->
        _ = n
        fail(text, bad, "control character in a string (escape it)")
    end
  end

  defp plain_len(<<c, rest::binary>>, n) when c != ?" and c != ?\\ and c >= 0x20,
    do: plain_len(rest, n + 1)

  defp plain_len(rest, n), do: {n, rest}

  defp escape(<<?", rest::binary>>, _), do: {"\"", rest}
  defp escape(<<?\\, rest::binary>>, _), do: {"\\", rest}
  defp escape(<<?/, rest::binary>>, _), do: {"/", rest}
  defp escape(<<?b, rest::binary>>, _), do: {"\b", rest}
  defp escape(<<?f, rest::binary>>, _), do: {"\f", rest}
  defp escape(<<?n, rest::binary>>, _), do: {"\n", rest}
  defp escape(<<?r, rest::binary>>, _), do: {"\r", rest}
  defp escape(<<?t, rest::binary>>, _), do: {"\t", rest}

  defp escape(<<?u, rest::binary>> = at, text) do
    case hex4(rest) do
      {hi, <<"\\u", rest2::binary>>} when hi in 0xD800..0xDBFF ->
        case hex4(rest2) do
          {lo, rest3} when lo in 0xDC00..0xDFFF ->
            {<<0x10000 + ((hi - 0xD800) <<< 10) + (lo - 0xDC00)::utf8>>, rest3}

          _ ->
            fail(text, at, "a high surrogate not followed by a low one")
        end

      {cp, _} when cp in 0xD800..0xDFFF ->
        fail(text, at, "lone surrogate \\u#{Integer.to_string(cp, 16)}")

      {cp, rest2} ->
        {<<cp::utf8>>, rest2}

      :error ->
        fail(text, at, "\\u needs four hex digits")
    end
  end

  defp escape(rest, text), do: fail(text, rest, "unknown escape")

  defp hex4(<<a, b, c, d, rest::binary>>) do
    case Integer.parse(<<a, b, c, d>>, 16) do
      {n, ""} when a != ?- and a != ?+ -> {n, rest}
      _ -> :error
    end
  end

  defp hex4(_), do: :error

  defp number(rest, text) do
    {sign, r1} = take_sign(rest)
    {int, r2} = take_int(r1, text, rest)
    {frac, r3} = take_frac(r2, text)
    {exp, r4} = take_exp(r3, text)
    len = byte_size(rest) - byte_size(r4)
    literal = binary_part(rest, 0, len)

    value =
      if frac == "" and exp == "" do
        String.to_integer(literal)
      else
        float_text = sign <> int <> "." <> if(frac == "", do: "0", else: frac) <> exp_part(exp)

        try do
          String.to_float(float_text)
        rescue
          ArgumentError -> fail(text, rest, "number out of range: #{literal}")
        end
      end

    {value, r4}
  end

  defp exp_part(""), do: ""
  defp exp_part(exp), do: "e" <> exp

  defp take_sign(<<?-, rest::binary>>), do: {"-", rest}
  defp take_sign(rest), do: {"", rest}

  defp take_int(<<?0, d, _::binary>> = rest, text, _) when d in ?0..?9,
    do: fail(text, rest, "leading zero in a number")

  defp take_int(<<?0, rest::binary>>, _, _), do: {"0", rest}

  defp take_int(<<d, _::binary>> = rest, _, _) when d in ?1..?9, do: digits(rest, "")
  defp take_int(rest, text, _), do: fail(text, rest, "expected a digit")

  defp digits(<<d, rest::binary>>, acc) when d in ?0..?9, do: digits(rest, <<acc::binary, d>>)
  defp digits(rest, acc), do: {acc, rest}

  defp take_frac(<<?., d, _::binary>> = rest, _) when d in ?0..?9 do
    <<?., r::binary>> = rest
    digits(r, "")
  end

  defp take_frac(<<?., _::binary>> = rest, text),
    do: fail(text, rest, "expected a digit after '.'")

  defp take_frac(rest, _), do: {"", rest}

  defp take_exp(<<e, rest::binary>> = at, text) when e in [?e, ?E] do
    {sign, r} =
      case rest do
        <<?-, r::binary>> -> {"-", r}
        <<?+, r::binary>> -> {"", r}
        r -> {"", r}
      end

    case digits(r, "") do
      {"", _} -> fail(text, at, "expected a digit in the exponent")
      {ds, r2} -> {sign <> ds, r2}
    end
  end

  defp take_exp(rest, _), do: {"", rest}

  # --- encoding -------------------------------------------------------------

  @doc """
  Encodes a term as JSON: `{:ok, binary}` or `{:error, message}` naming
  the first value JSON cannot hold. Option `pretty: true` indents.

      iex> Linx.JSON.encode(%{a: [1, nil, true]}, pretty: true)
      {:ok, ~s({\\n  "a": [\\n    1,\\n    null,\\n    true\\n  ]\\n}\\n)}
      iex> Linx.JSON.encode({:tuple})
      {:error, "cannot encode {:tuple} as JSON"}
  """
  @spec encode(term, keyword) :: {:ok, binary} | {:error, String.t()}
  def encode(term, opts \\ []) do
    indent = if Keyword.get(opts, :pretty, false), do: 0, else: nil
    out = IO.iodata_to_binary(enc(term, indent))
    {:ok, if(indent, do: out <> "\n", else: out)}
  catch
    {:json_encode, msg} -> {:error, msg}
  end

  @doc "Like `encode/2`, raising `ArgumentError`."
  @spec encode!(term, keyword) :: binary
  def encode!(term, opts \\ []) do
    case encode(term, opts) do
      {:ok, bin} -> bin
      {:error, msg} -> raise ArgumentError, msg
    end
  end

  defp enc(nil, _), do: "null"
  defp enc(true, _), do: "true"
  defp enc(false, _), do: "false"
  defp enc(i, _) when is_integer(i), do: Integer.to_string(i)
  defp enc(f, _) when is_float(f), do: :erlang.float_to_binary(f, [:short])
  defp enc(a, _) when is_atom(a), do: enc_string(Atom.to_string(a))
  defp enc(s, _) when is_binary(s), do: enc_string(s)
  defp enc([], _), do: "[]"

  defp enc(list, indent) when is_list(list) do
    unless proper_list?(list), do: throw({:json_encode, "cannot encode #{inspect(list)} as JSON"})
    items = Enum.map(list, &enc(&1, deeper(indent)))
    wrap("[", "]", items, indent)
  end

  defp enc(map, _) when is_map(map) and map_size(map) == 0 and not is_struct(map), do: "{}"

  defp enc(map, indent) when is_map(map) and not is_struct(map) do
    sep = if indent, do: ": ", else: ":"

    items =
      map
      |> Enum.map(fn {k, v} -> {key(k), v} end)
      |> Enum.sort()
      |> check_unique_keys(map)
      |> Enum.map(fn {k, v} -> [enc_string(k), sep, enc(v, deeper(indent))] end)

    wrap("{", "}", items, indent)
  end

  defp enc(other, _), do: throw({:json_encode, "cannot encode #{inspect(other)} as JSON"})

  defp proper_list?([]), do: true
  defp proper_list?([_ | t]), do: proper_list?(t)
  defp proper_list?(_), do: false

  defp key(k) when is_binary(k), do: k
  defp key(k) when is_atom(k) and k not in [nil, true, false], do: Atom.to_string(k)
  defp key(k), do: throw({:json_encode, "cannot encode the map key #{inspect(k)} as JSON"})

  defp check_unique_keys(pairs, map) do
    keys = Enum.map(pairs, &elem(&1, 0))

    if length(Enum.uniq(keys)) != length(keys),
      do: throw({:json_encode, "a map with the key twice (atom and string): #{inspect(map)}"})

    pairs
  end

  defp deeper(nil), do: nil
  defp deeper(n), do: n + 1

  defp wrap(open, close, items, nil), do: [open, Enum.intersperse(items, ","), close]

  defp wrap(open, close, items, indent) do
    pad = String.duplicate("  ", indent + 1)

    [
      open,
      "\n",
      Enum.map_intersperse(items, ",\n", &[pad, &1]),
      "\n",
      String.duplicate("  ", indent),
      close
    ]
  end

  defp enc_string(s) do
    unless String.valid?(s), do: throw({:json_encode, "not UTF-8: #{inspect(s)}"})
    [?", escape_string(s, s, 0, 0, []), ?"]
  end

  # Copies runs of bytes that need no escape as sub-binaries.
  defp escape_string(<<c, rest::binary>>, s, start, len, acc)
       when c >= 0x20 and c != ?" and c != ?\\,
       do: escape_string(rest, s, start, len + 1, acc)

  defp escape_string(<<c, rest::binary>>, s, start, len, acc) do
    esc =
      case c do
        ?" -> "\\\""
        ?\\ -> "\\\\"
        ?\n -> "\\n"
        ?\r -> "\\r"
        ?\t -> "\\t"
        ?\b -> "\\b"
        ?\f -> "\\f"
        c -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
      end

    escape_string(rest, s, start + len + 1, 0, [acc, binary_part(s, start, len), esc])
  end

  defp escape_string(<<>>, s, start, len, acc), do: [acc, binary_part(s, start, len)]
end
