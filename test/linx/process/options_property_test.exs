defmodule Linx.Process.OptionsPropertyTest do
  # Property-style, with a small seeded generator (no Hex here):
  #   1. every generated option list either validates or raises
  #      ArgumentError — never another exception;
  #   2. every valid one encodes to a request that the agent, in its
  #      {:echo, request} mode, decodes back to the same meaning.
  use ExUnit.Case, async: true

  @cases 300
  @namespaces [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]

  # Per option: {valid values, broken values}.
  @pool %{
    argv:
      {[["/bin/true"], ["/bin/echo", "a", "b c"], ["true"]],
       [[], "/bin/true", ["/bin/echo", :atom], ["/bin/echo", "nul\0"], [""]]},
    env: {[[], [{"A", "1"}], [{"HOME", nil}]], [[{"A=B", "x"}], [{:a, "b"}], %{"A" => "1"}]},
    clear_env: {[true, false], ["yes"]},
    cwd: {["/tmp", "/"], ["", :tmp, "a\0b"]},
    namespaces: {[[], [:user], [:pid, :user, :uts], @namespaces], [[:bogus], :user]},
    stdio:
      {[
         :inherit,
         :devnull,
         :pty,
         :pipe,
         [stdout: :pipe],
         [stdin: :pipe, stderr: :devnull],
         [stdout: {:connect_unix, "/run/x.sock"}]
       ], [[stdout: :pty], [stdfoo: :pipe], :tty]},
    no_new_privs: {[true, false], [1]},
    checkpoint: {[true, false], [nil]},
    on_exit: {[:kill, :detach], [:later]},
    winsize: {[{24, 80}, {0, 0}], [{70_000, 1}, {1}]},
    stdio_window: {[1024, 65_536, 1_048_576], [0, 1023, :infinity]},
    capabilities:
      {[[drop: :all], [keep: [:kill]], [keep: [:net_bind_service], ambient: [:net_bind_service]]],
       [[keep: [:kill], ambient: [:chown]], [keep: [:no_such_cap]], :all]},
    seccomp:
      {[
         {:bpf, <<6, 0, 0, 0, 0, 0, 255, 127>>},
         [{:bpf, <<6, 0, 0, 0, 0, 0, 255, 127>>}, {:bpf, <<6, 0, 0, 0, 0, 0, 255, 127>>}]
       ], [{:bpf, <<1, 2, 3>>}, :nope]},
    bogus_option: {[], [1]}
  }

  # Each option present with probability 1/3; a broken value 1 time in 12.
  defp generate(n) do
    :rand.seed(:exsss, {7, 7, 7})

    for _ <- 1..n do
      for {k, {good, bad}} <- @pool,
          k == :argv or :rand.uniform(3) == 1,
          values = if(bad != [] and (good == [] or :rand.uniform(12) == 1), do: bad, else: good),
          do: {k, Enum.random(values)}
    end
  end

  defp validate(opts) do
    {:ok, Linx.Process.Options.validate!(opts, :spawn)}
  rescue
    e in ArgumentError -> {:error, e}
  end

  defp echo(request) do
    path = Path.join(:code.priv_dir(:linx), "linx_process")

    port =
      Port.open({:spawn_executable, path}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

    Port.command(port, :erlang.term_to_binary({:echo, request}))

    receive do
      {^port, {:data, bin}} ->
        receive do
          {^port, {:exit_status, 0}} -> :erlang.binary_to_term(bin)
        after
          5000 -> flunk("the agent did not exit after echo")
        end
    after
      5000 -> flunk("no echo from the agent")
    end
  end

  # What the agent should make of a request: stdio shorthands expanded,
  # namespaces in the wire order, defaults filled in.
  defp expected({kind, map}) do
    stdio =
      case map.stdio do
        :pty -> :pty
        mode when is_atom(mode) -> [stdin: mode, stdout: mode, stderr: mode]
        list -> for fd <- [:stdin, :stdout, :stderr], do: {fd, Keyword.get(list, fd, :inherit)}
      end

    %{
      kind: kind,
      argv: map.argv,
      env: map.env,
      cwd: Map.get(map, :cwd),
      namespaces: Enum.filter(@namespaces, &(&1 in Map.get(map, :namespaces, []))),
      target: Map.get(map, :target),
      stdio: stdio,
      no_new_privs: map.no_new_privs,
      on_exit: map.on_exit,
      checkpoint: map.checkpoint,
      commands: map.commands,
      winsize: Map.get(map, :winsize),
      stdio_window: Map.get(map, :stdio_window)
    }
  end

  test "every option list validates or raises ArgumentError, and valid ones mean the same to the agent" do
    results = for opts <- generate(@cases), do: {opts, validate(opts)}
    valid = for {_opts, {:ok, o}} <- results, do: o
    invalid = for {_opts, {:error, e}} <- results, do: e

    # The generator must exercise both sides.
    assert length(valid) > 20, "only #{length(valid)} valid cases"
    assert length(invalid) > 20, "only #{length(invalid)} invalid cases"

    for e <- invalid do
      assert e.message =~ ~r/option|argv|:/, "unhelpful message: #{e.message}"
    end

    for o <- valid do
      request = Linx.Process.Wire.request(o, o.checkpoint)
      assert {:decoded, decoded} = echo(request)
      want = expected(request)

      for {key, value} <- want do
        assert Map.fetch!(decoded, key) == value,
               "#{key}: sent #{inspect(value)}, the agent read #{inspect(decoded[key])} " <>
                 "(options: #{inspect(o, limit: 8)})"
      end
    end
  end
end
