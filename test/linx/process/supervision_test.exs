defmodule Linx.Process.SupervisionTest do
  # The server under OTP (issue 15): its exit reason reflects the workload,
  # name: registers it, log_output: sends output lines to Logger.
  use Linx.Case, async: true

  import ExUnit.CaptureLog

  @moduletag :tmp_dir

  defp server_exit(opts) do
    {:ok, proc} = Linx.Process.spawn(opts)
    ref = Process.monitor(proc)
    assert_receive {:DOWN, ^ref, :process, ^proc, reason}, 10_000
    reason
  end

  describe "exit reason" do
    test ":normal on status 0, {:shutdown, {:exited, n}} otherwise" do
      assert server_exit(argv: ["/bin/true"]) == :normal
      assert server_exit(argv: ["/bin/sh", "-c", "exit 3"]) == {:shutdown, {:exited, 3}}
    end

    test "{:shutdown, {:signaled, sig}} for a killed workload" do
      assert server_exit(argv: ["/bin/sh", "-c", "kill -TERM $$"]) ==
               {:shutdown, {:signaled, 15}}
    end

    test "the reason comes about a second after the workload ends, not five" do
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "exit 3"])
      ref = Process.monitor(proc)
      assert_receive {:DOWN, ^ref, :process, ^proc, {:shutdown, {:exited, 3}}}, 3_500

      # a :transient child is back as soon: the second run within 3.5 s
      spec =
        Supervisor.child_spec({Linx.Process, argv: ["/bin/sh", "-c", "exit 3"]},
          restart: :transient
        )

      {:ok, sup} = Supervisor.start_link([spec], strategy: :one_for_one, max_restarts: 100)
      [{_, first, _, _}] = Supervisor.which_children(sup)
      ref = Process.monitor(first)
      assert_receive {:DOWN, ^ref, :process, ^first, {:exited, 3}}, 3_500

      assert eventually(
               fn ->
                 match?(
                   [{_, p, _, _}] when is_pid(p) and p != first,
                   Supervisor.which_children(sup)
                 )
               end,
               1000
             )

      Supervisor.stop(sup)
    end

    test "start_link/1: the same reasons, as an exit signal to the linked caller" do
      Process.flag(:trap_exit, true)
      {:ok, proc} = Linx.Process.start_link(argv: ["/bin/sh", "-c", "exit 4"])
      assert_receive {:EXIT, ^proc, {:shutdown, {:exited, 4}}}, 10_000
      {:ok, proc} = Linx.Process.start_link(argv: ["/bin/true"])
      assert_receive {:EXIT, ^proc, :normal}, 10_000
    end

    test "started from child_spec/1: the bare terminal event, an abnormal reason" do
      spec = Supervisor.child_spec({Linx.Process, argv: ["/bin/sh", "-c", "exit 5"]}, id: :x)
      {:ok, sup} = Supervisor.start_link([], strategy: :one_for_one)

      parent = self()

      log =
        capture_log(fn ->
          {:ok, proc} = Supervisor.start_child(sup, spec)
          send(parent, {:proc, proc})
          ref = Process.monitor(proc)
          assert_receive {:DOWN, ^ref, :process, ^proc, {:exited, 5}}, 10_000
        end)

      # a temporary child that failed is reported by its supervisor, never
      # as a crash of the server itself (the log is global: only lines
      # about our server count)
      assert_received {:proc, proc}
      refute log =~ "GenServer #{inspect(proc)} terminating"
      Supervisor.stop(sup)
    end

    test "no crash report for a failed workload, nor for its notify handler" do
      # (the log is global: only lines naming our processes count)
      parent = self()

      log =
        capture_log(fn ->
          {:ok, proc} =
            Linx.Process.spawn(
              argv: ["/bin/sh", "-c", "echo $PPID; exit 1"],
              stdio: :pipe,
              notify: [handler: {__MODULE__.Quiet, nil}, trap: [:getppid]]
            )

          %{handler: handler} = :sys.get_state(proc)
          send(parent, {:pids, proc, handler})
          ref = Process.monitor(proc)
          href = Process.monitor(handler)
          assert_receive {:DOWN, ^ref, :process, _, {:shutdown, {:exited, 1}}}, 10_000
          assert_receive {:DOWN, ^href, :process, _, :shutdown}, 1000
        end)

      assert_received {:pids, proc, handler}
      refute log =~ inspect(proc)
      refute log =~ inspect(handler)
    end

    test "restart: :transient restarts after exit 3, not after exit 0", %{tmp_dir: dir} do
      counter = Path.join(dir, "runs")
      # each run appends a line; the third run exits 0
      script = "echo x >> '#{counter}'; [ $(wc -l < '#{counter}') -ge 3 ] || exit 3"

      spec =
        Supervisor.child_spec({Linx.Process, argv: ["/bin/sh", "-c", script]},
          restart: :transient
        )

      {:ok, sup} = Supervisor.start_link([spec], strategy: :one_for_one, max_restarts: 10)
      # two failures restart it (each server exits {:exited, 3} once its
      # linger is over), the success ends it: three runs, then no child
      assert eventually(fn -> File.read(counter) == {:ok, "x\nx\nx\n"} end, 30_000),
             "runs: #{inspect(File.read(counter))}, children: #{inspect(Supervisor.which_children(sup))}"

      # the third server ends :normal after its linger and is not restarted
      # (a transient child that ended normally stays listed, without a pid)
      assert eventually(
               fn ->
                 match?([{Linx.Process, :undefined, _, _}], Supervisor.which_children(sup))
               end,
               10_000
             ),
             inspect(Supervisor.which_children(sup))

      Process.sleep(1000)
      assert File.read!(counter) == "x\nx\nx\n"
      Supervisor.stop(sup)
    end

    test "restart: and id: among the options go into the child spec", %{tmp_dir: dir} do
      counter = Path.join(dir, "runs")
      script = "echo x >> '#{counter}'; [ $(wc -l < '#{counter}') -ge 2 ] || exit 3"
      child = {Linx.Process, argv: ["/bin/sh", "-c", script], restart: :transient, id: :job}
      {:ok, sup} = Supervisor.start_link([child], strategy: :one_for_one)
      # restarted after exit 3, not after exit 0: two runs, then no pid
      assert eventually(
               fn -> match?([{:job, :undefined, _, _}], Supervisor.which_children(sup)) end,
               10_000
             ),
             inspect(Supervisor.which_children(sup))

      assert File.read!(counter) == "x\nx\n"
      Supervisor.stop(sup)
    end
  end

  describe "name:" do
    test "a registered name, and {:via, Registry, ...}" do
      name = :"linx_named_#{System.unique_integer([:positive])}"
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "30"], name: name)
      assert Process.whereis(name) == proc
      assert GenServer.whereis(name) |> Linx.Process.os_pid() == Linx.Process.os_pid(proc)

      {:ok, _} = Registry.start_link(keys: :unique, name: __MODULE__.Reg)
      via = {:via, Registry, {__MODULE__.Reg, :box}}
      {:ok, proc2} = Linx.Process.spawn(argv: ["/bin/sleep", "30"], name: via)
      assert GenServer.whereis(via) == proc2

      # the name is taken while it runs
      assert {:error, {:already_started, ^proc}} =
               Linx.Process.spawn(argv: ["/bin/true"], name: name)

      Linx.Process.stop(proc, 0)
      Linx.Process.stop(proc2, 0)
    end

    test "await/2 and stop/2 take the name, {:via, ...} and {:global, ...} included" do
      {:ok, _} = Registry.start_link(keys: :unique, name: __MODULE__.AwaitReg)
      via = {:via, Registry, {__MODULE__.AwaitReg, :job}}
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "exit 6"], name: via)
      assert Linx.Process.await(via) == {:exited, 6}
      refute_received {:linx_process, ^proc, {:exited, 6}}

      global = {:global, {__MODULE__, System.unique_integer()}}
      {:ok, proc} = Linx.Process.spawn(argv: ["/bin/sleep", "30"], name: global)
      os_pid = Linx.Process.os_pid(global)
      assert Linx.Process.stop(global, 1000) == {:signaled, 15}
      refute File.exists?("/proc/#{os_pid}")
      ref = Process.monitor(proc)
      assert_receive {:DOWN, ^ref, :process, ^proc, _}, 10_000
      # nobody under that name any more: the server is gone
      assert Linx.Process.await(global, 100) == {:error, :noproc}
    end

    test "a bad name is refused by name" do
      assert_raise ArgumentError, ~r/invalid option :name/, fn ->
        Linx.Process.spawn(argv: ["/bin/true"], name: "box")
      end
    end
  end

  describe "log_output:" do
    test "each line goes to Logger at that level with linx_os_pid metadata" do
      parent = self()
      id = :"linx_log_test_#{System.unique_integer([:positive])}"
      ref = make_ref()
      :ok = :logger.add_handler(id, __MODULE__.Handler, %{config: %{pid: parent, ref: ref}})

      try do
        {:ok, proc} =
          Linx.Process.spawn(
            argv: ["/bin/sh", "-c", "echo one; echo two >&2; printf three"],
            log_output: :warning
          )

        os_pid = Linx.Process.os_pid(proc)
        assert {:exited, 0} = Linx.Process.await(proc)
        msgs = for _ <- 1..3, do: assert_receive({^ref, :warning, m, ^os_pid}, 2000) && m
        assert Enum.sort(msgs) == ["one", "three", "two"]
        # output went to the log, not to the owner
        refute_received {:linx_process, ^proc, {:stdout, _}}
      after
        :logger.remove_handler(id)
      end
    end
  end

  defmodule Quiet do
    @moduledoc false
    @behaviour Linx.Seccomp.Notifier
    def init(arg), do: {:ok, arg}
    def handle_syscall(_call, state), do: {:continue, state}
  end

  defmodule Handler do
    @moduledoc false
    def log(%{level: level, msg: msg, meta: %{linx_os_pid: pid}}, %{config: %{pid: to, ref: ref}}) do
      text =
        case msg do
          {:string, s} -> IO.chardata_to_string(s)
          {:report, r} -> inspect(r)
          {f, a} -> IO.chardata_to_string(:io_lib.format(f, a))
        end

      send(to, {ref, level, text, pid})
    end

    def log(_event, _config), do: :ok
  end
end
