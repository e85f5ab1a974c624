defmodule Linx.SoakTest do
  # 1,000 short workloads, 50 at a time, with namespaces: every exit status
  # is reported exactly once and is right, and nothing is left behind.
  # Tagged :soak (excluded by default; script/test runs it with LINX_SOAK=1).
  use Linx.Case, async: false

  @moduletag :soak
  @moduletag timeout: 600_000

  defp count(fun),
    do: File.ls!("/proc") |> Enum.filter(&match?({_, ""}, Integer.parse(&1))) |> Enum.count(fun)

  defp children_of(pid) do
    count(fn dir ->
      case File.read("/proc/#{dir}/stat") do
        {:ok, stat} ->
          [_, rest] = String.split(stat, ") ", parts: 2)
          Enum.at(String.split(rest), 1) == pid

        _ ->
          false
      end
    end)
  end

  defp child_setup do
    File.ls!("/proc")
    |> Enum.find(fn dir ->
      File.read("/proc/#{dir}/comm") == {:ok, "erl_child_setup\n"} and
        match?({:ok, _}, File.read("/proc/#{dir}/stat")) and
        File.read!("/proc/#{dir}/stat")
        |> String.split(") ")
        |> List.last()
        |> String.split()
        |> Enum.at(1) ==
          System.pid()
    end)
  end

  defp agents, do: count(fn dir -> File.read("/proc/#{dir}/comm") == {:ok, "linx_process\n"} end)
  defp open_fds, do: length(File.ls!("/proc/self/fd"))

  # The pool refills in the background after the test before this one: an
  # agent it is opening is a child of erl_child_setup, in idle(), but not
  # yet exec'd (not yet named linx_process). Count once it is full and
  # every idle agent has exec'd, or the counts below start off by one.
  defp settle_pool do
    assert eventually(fn ->
             %{idle: idle, size: size} = :sys.get_state(Linx.Pool)
             ports = :queue.to_list(idle)

             length(ports) == size and
               Enum.all?(ports, fn port ->
                 case Port.info(port, :os_pid) do
                   {:os_pid, p} -> File.read("/proc/#{p}/comm") == {:ok, "linx_process\n"}
                   _ -> false
                 end
               end)
           end)
  end

  test "1,000 workloads, 50 at a time, each status exactly once" do
    total = String.to_integer(System.get_env("LINX_SOAK_N", "1000"))
    settle_pool()
    # idle pooled agents are not workloads' agents: counted apart, since
    # the pool refills in the background (before, after, whenever)
    agents_before = agents() - Linx.Pool.idle()
    fds_before = open_fds()
    setup_children_before = children_of(child_setup())

    results =
      1..total
      |> Task.async_stream(
        fn i ->
          code = rem(i, 7)

          {:ok, proc} =
            Linx.Process.spawn(
              argv: ["/bin/sh", "-c", "exit #{code}"],
              namespaces: [:user, :pid, :uts, :ipc, :mount]
            )

          {i, code, proc, Linx.Process.await(proc, 30_000)}
        end,
        max_concurrency: 50,
        timeout: 60_000
      )
      |> Enum.map(fn {:ok, r} -> r end)

    for {i, code, _proc, terminal} <- results do
      assert terminal == {:exited, code}, "workload #{i}: #{inspect(terminal)}"
    end

    # Exactly once: await flushed each terminal event; none may remain.
    Process.sleep(200)
    {:messages, left} = Process.info(self(), :messages)
    assert Enum.filter(left, &match?({:linx_process, _, _}, &1)) == []

    assert eventually(fn -> agents() - Linx.Pool.idle() <= agents_before end, 5000),
           "linx_process agents left running: #{agents() - Linx.Pool.idle() - agents_before}"

    assert eventually(fn -> open_fds() <= fds_before + 2 end, 5000),
           "fds leaked: #{fds_before} -> #{open_fds()}"

    # Ports are children of erl_child_setup, which reaps them: none left,
    # zombie or alive, beyond what was there before.
    assert eventually(fn -> children_of(child_setup()) <= setup_children_before end, 5000)
  end
end
