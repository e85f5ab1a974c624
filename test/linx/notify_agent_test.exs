defmodule Linx.NotifyAgentTest do
  # The agent's side of seccomp user notification, driven through a raw
  # port (no Linx.Process): the listener hand-off, calls trapped before
  # execve, the reply grammar's edge cases, the BEAM going away, and the
  # agent-side reads. Filters come from Linx.Seccomp.Notify.filter/1.
  use Linx.Case, async: true

  alias Linx.Seccomp.Notify

  @agent Path.expand("../../priv/linx_process", __DIR__)
  @moduletag :notify_agent

  @nr %{
    execve: 59,
    openat: 257,
    getpid: 39,
    uname: 63,
    capget: 125,
    close: 3,
    rt_sigaction: 13,
    nanosleep: 35,
    getppid: 110
  }

  defp filter(names), do: Notify.filter(Notify.new!(trap: names))

  defp open_port(req) do
    port =
      Port.open({:spawn_executable, @agent}, [:binary, :nouse_stdio, {:packet, 4}, :exit_status])

    send_term(port, req)
    port
  end

  defp send_term(port, t), do: Port.command(port, :erlang.term_to_binary(t))

  # Runs the port to its exit; react.(event) returns the terms to send.
  defp run(req, react, timeout \\ 15_000) do
    port = open_port(req)
    collect(port, react, [], timeout)
  end

  defp collect(port, react, acc, timeout) do
    receive do
      {^port, {:data, d}} ->
        ev = :erlang.binary_to_term(d)
        for t <- List.wrap(react.(ev)), do: send_term(port, t)
        collect(port, react, [ev | acc], timeout)

      {^port, {:exit_status, s}} ->
        {Enum.reverse(acc), s}
    after
      timeout -> flunk("agent hung; events so far: #{inspect(Enum.reverse(acc), limit: 30)}")
    end
  end

  defp out(evs, tag), do: for({^tag, b} <- evs, into: "", do: b)
  defp notifies(evs), do: for({:notify, _, _, _, nr, _, _, _, _} <- evs, do: nr)

  defp compile!(name, source) do
    dir = tmp_dir!("notify-agent-#{name}")
    src = Path.join(dir, "#{name}.c")
    bin = Path.join(dir, name)
    File.write!(src, source)
    {o, 0} = System.cmd("cc", ["-O2", "-o", bin, src], stderr_to_stdout: true)
    assert o == ""
    bin
  end

  defp spawn_req(argv, extra) do
    {:spawn, Map.merge(%{argv: argv, stdio: :pipe, checkpoint: false}, extra)}
  end

  describe "before execve" do
    test "the child's own trapped calls and execve itself are answered (no deadlock)" do
      bpf = filter([:execve, :openat, :close, :rt_sigaction])
      req = spawn_req(["/bin/echo", "hi"], %{commands: [{:seccomp_notify_install, bpf}]})

      {evs, 0} =
        run(req, fn
          {:notify, id, _, _, _, _, _, _, _} -> [{:notify_reply, id, [:continue]}]
          _ -> []
        end)

      nrs = notifies(evs)
      # close of the child's listener copy, its signal reset, execve, the loader's opens
      assert @nr.close in nrs
      assert @nr.rt_sigaction in nrs
      assert @nr.execve in nrs
      assert @nr.openat in nrs
      assert out(evs, :stdout) == "hi\n"
      assert List.last(evs) == {:status, :exited, 0}
    end

    test "a checkpoint command blocked in a trapped call gets its answer; later commands keep their order" do
      bpf = filter([:capget])
      req = {:spawn, %{argv: ["/bin/true"], stdio: :pipe}}

      {evs, 0} =
        run(req, fn
          {:status, :ready, _} ->
            [{:seccomp_notify_install, bpf}, :caps_query, :proceed]

          {:notify, id, _, _, nr, _, _, _, _} when nr == @nr.capget ->
            [{:notify_reply, id, [:continue]}]

          {:notify, id, _, _, _, _, _, _, _} ->
            [{:notify_reply, id, [:continue]}]

          _ ->
            []
        end)

      assert @nr.capget in notifies(evs)
      assert [_caps] = for({:caps, _, _, _, _, _} = c <- evs, do: c)
      caps_at = Enum.find_index(evs, &match?({:caps, _, _, _, _, _}, &1))
      running_at = Enum.find_index(evs, &(&1 == {:status, :running}))
      assert caps_at < running_at
      assert List.last(evs) == {:status, :exited, 0}
    end

    test "a second listener is refused (EBUSY)" do
      bpf = filter([:uname])

      req =
        spawn_req(["/bin/true"], %{
          commands: [{:seccomp_notify_install, bpf}, {:seccomp_notify_install, bpf}]
        })

      {evs, 5} = run(req, fn _ -> [] end)
      assert {:error, 16, :seccomp_install} in evs
    end
  end

  describe "replies" do
    test "a malformed reply is reported and the caller gets ENOSYS" do
      req =
        spawn_req(["/bin/uname", "-n"], %{commands: [{:seccomp_notify_install, filter([:uname])}]})

      {evs, 0} =
        run(req, fn
          {:notify, id, _, _, _, _, _, _, _} -> [{:notify_reply, id, [{:bogus, 1}]}]
          _ -> []
        end)

      assert Enum.any?(evs, &match?({:malformed, :malformed_command, _}, &1))
      assert {:error, 22, :malformed_command} in evs
      assert out(evs, :stderr) =~ "Function not implemented"
      assert {:status, :exited, 1} = List.last(evs)
    end

    test "a reply that answers before its last step is malformed; the caller gets ENOSYS" do
      req =
        spawn_req(["/bin/uname", "-n"], %{commands: [{:seccomp_notify_install, filter([:uname])}]})

      {evs, 0} =
        run(req, fn
          {:notify, id, _, _, _, _, _, _, _} -> [{:notify_reply, id, [:continue, {:return, 0}]}]
          _ -> []
        end)

      assert out(evs, :stderr) =~ "Function not implemented"
    end

    test "a reply for an unknown id is ignored; the real one still answers" do
      prog =
        compile!("pid", ~S"""
        #include <stdio.h>
        #include <unistd.h>
        #include <sys/syscall.h>
        int main(void) { printf("%ld\n", syscall(SYS_getpid)); return 0; }
        """)

      req = spawn_req([prog], %{commands: [{:seccomp_notify_install, filter([:getpid])}]})

      {evs, 0} =
        run(req, fn
          {:notify, id, _, _, _, _, _, _, _} ->
            [
              {:notify_reply, id + 1_000_000, [{:errno, 1}]},
              {:notify_reply, id, [{:return, 4242}]}
            ]

          _ ->
            []
        end)

      assert out(evs, :stdout) == "4242\n"
      refute Enum.any?(evs, &match?({:error, _, _}, &1))
    end

    test "a failing step answers its errno and is reported" do
      req =
        spawn_req(["/bin/uname", "-n"], %{commands: [{:seccomp_notify_install, filter([:uname])}]})

      {evs, 0} =
        run(req, fn
          {:notify, id, _, _, _, _, _, _, _} ->
            [{:notify_reply, id, [{:write, 8, "x"}, {:return, 0}]}]

          _ ->
            []
        end)

      assert [{:notify_failed, _, 0, 14}] = for({:notify_failed, _, _, _} = f <- evs, do: f)
      assert out(evs, :stderr) =~ "Bad address"
    end

    test "a call's path through a symlink fails ELOOP (reported); resolve: :follow follows it" do
      dir = tmp_dir!("call-resolve")
      outside = tmp_dir!("call-resolve-out")
      File.ln_s!(outside, Path.join(dir, "l"))
      target = Path.join([dir, "l", "x"])

      req =
        spawn_req(["/bin/uname", "-n"], %{commands: [{:seccomp_notify_install, filter([:uname])}]})

      reply = fn ctx ->
        fn
          {:notify, id, _, _, _, _, _, _, _} ->
            # mkdir(path, mode): the legacy form, run as mkdirat
            [{:notify_reply, id, [{:call, 83, [{:str, target}, 0o755], ctx}, :return_last]}]

          _ ->
            []
        end
      end

      {evs, 0} = run(req, reply.(%{}))
      assert [{:notify_failed, _, 0, 40}] = for({:notify_failed, _, _, _} = f <- evs, do: f)
      assert out(evs, :stderr) =~ "Too many levels of symbolic links"
      assert File.ls!(outside) == []

      {evs, 0} = run(req, reply.(%{resolve: :follow}))
      refute Enum.any?(evs, &match?({:notify_failed, _, _, _}, &1))
      assert File.ls!(outside) == ["x"]
    end

    test "addfd with :send: the call returns the injected fd" do
      dir = tmp_dir!("addfd")
      File.write!(Path.join(dir, "real"), "the real file\n")
      File.write!(Path.join(dir, "fake"), "swapped\n")

      req =
        spawn_req(["/bin/cat", Path.join(dir, "real")], %{
          commands: [{:seccomp_notify_install, filter([:openat])}],
          notify_reads: [{@nr.openat, 1, {:cstring, 4096}}]
        })

      {evs, 0} =
        run(req, fn
          {:notify, id, _, _, _, _, _, _, [{1, path}]} ->
            if String.ends_with?(path, "/real"),
              do: [
                {:notify_reply, id,
                 [{:addfd, {:open, Path.join(dir, "fake"), 0, 0}, -1, [:cloexec, :send]}]}
              ],
              else: [{:notify_reply, id, [:continue]}]

          _ ->
            []
        end)

      assert out(evs, :stdout) == "swapped\n"
    end
  end

  describe "a slow {:call} step" do
    # A {:call} helper sleeping 2 s (nanosleep) while another thread of the
    # workload prints every 100 ms: the agent polls the helper instead of
    # waiting for it, so the ticks keep arriving meanwhile; then the
    # reply's last step answers with the call's value.
    test "does not stall output: ticks arrive while the helper sleeps, then the call is answered" do
      prog =
        compile!("slow_call", ~S"""
        #include <pthread.h>
        #include <stdio.h>
        #include <unistd.h>
        #include <sys/syscall.h>
        static void *ticker(void *arg)
        {
                (void)arg;
                for (int i = 0; i < 35; i++) {
                        printf("tick\n");
                        fflush(stdout);
                        usleep(100000);
                }
                return NULL;
        }
        int main(void)
        {
                pthread_t t;
                pthread_create(&t, NULL, ticker, NULL);
                usleep(200000);
                long r = syscall(SYS_getppid);
                printf("call=%ld\n", r);
                fflush(stdout);
                pthread_join(t, NULL);
                return 0;
        }
        """)

      req = spawn_req([prog], %{commands: [{:seccomp_notify_install, filter([:getppid])}]})
      two_s = <<2::little-64, 0::little-64>>
      me = self()

      {evs, 0} =
        run(req, fn
          {:notify, id, _, _, nr, _, _, _, _} when nr == @nr.getppid ->
            send(me, {:replied, System.monotonic_time(:millisecond)})
            [{:notify_reply, id, [{:call, @nr.nanosleep, [{:buf, two_s}, 0], %{}}, :return_last]}]

          {:stdout, b} ->
            now = System.monotonic_time(:millisecond)
            for _ <- Regex.scan(~r/tick/, b), do: send(me, {:tick, now})
            if b =~ "call=", do: send(me, {:answered, now})
            []

          _ ->
            []
        end)

      assert_received {:replied, t0}
      assert_received {:answered, t1}
      ticks = collect_ticks([])

      # the helper really slept: the caller waited for it
      assert t1 - t0 >= 1900
      # while it slept, output kept arriving (the old agent, blocked in the
      # helper's wait, delivered all of them at once after 2 s)
      during = Enum.count(ticks, &(&1 > t0 + 300 and &1 < t0 + 1700))

      assert during >= 5,
             "#{during} ticks during the call; at (ms after the reply): " <>
               inspect(Enum.map(ticks, &(&1 - t0)))

      # answered with the call's value (nanosleep: 0), nothing failed
      assert out(evs, :stdout) =~ "call=0\n"
      refute Enum.any?(evs, &match?({:notify_failed, _, _, _}, &1))
      assert List.last(evs) == {:status, :exited, 0}
    end
  end

  defp collect_ticks(acc) do
    receive do
      {:tick, t} -> collect_ticks([t | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end

  describe "reads" do
    test "declared reads come with the notification; notify_read and notify_fd_path answer" do
      req =
        spawn_req(["/bin/cat", "/etc/hostname"], %{
          commands: [{:seccomp_notify_install, filter([:openat])}],
          notify_reads: [{@nr.openat, 1, {:cstring, 4096}}]
        })

      me = self()

      {evs, 0} =
        run(req, fn
          {:notify, id, pid, tid, _, _, _, {_, a1, _, _, _, _}, [{1, "/etc/hostname"}]} ->
            send(me, {:pids, pid, tid})

            [
              {:notify_read, {:ref, 1}, id, pid, a1, 5},
              {:notify_fd_path, make_ref(), id, pid, 1},
              {:notify_read, :bad, id, pid, 8, 4},
              {:notify_reply, id, [:continue]}
            ]

          {:notify, id, _, _, _, _, _, _, _} ->
            [{:notify_reply, id, [:continue]}]

          _ ->
            []
        end)

      assert_received {:pids, pid, pid}
      assert {:notify_mem, {:ref, 1}, "/etc/"} in evs
      assert [path] = for({:notify_fd_path, r, p} <- evs, is_reference(r), do: p)
      assert path =~ ~r/^pipe:\[\d+\]$/
      assert {:notify_mem, :bad, {:error, 14}} in evs
      assert out(evs, :stdout) == File.read!("/etc/hostname")
    end
  end

  describe "the BEAM goes away" do
    test "closing the port while a call waits kills the workload; nothing hangs" do
      port =
        open_port(
          spawn_req(["/bin/uname", "-n"], %{
            commands: [{:seccomp_notify_install, filter([:uname])}]
          })
        )

      os_pid =
        receive do
          {^port, {:data, d}} ->
            {:status, :spawned, pid} = :erlang.binary_to_term(d)
            pid
        after
          5000 -> flunk("no :spawned")
        end

      wait_notify = fn wait ->
        receive do
          {^port, {:data, d}} ->
            case :erlang.binary_to_term(d) do
              {:notify, _, _, _, _, _, _, _, _} -> :ok
              _ -> wait.(wait)
            end
        after
          5000 -> flunk("no notification")
        end
      end

      wait_notify.(wait_notify)
      Port.close(port)
      assert_os_pid_exits(os_pid)
    end
  end
end
