defmodule Linx.Seccomp.NotifyScenariosTest do
  # End to end: real workloads, a real kernel, the agent's listener. Each
  # scenario is one thing people do with user notification (LXD's mknod,
  # seitan's connect redirect, a path policy, emulated answers, many
  # threads, a stateful handler). Needs root and the agent's notify support.
  use Linx.Case, async: true

  import Bitwise

  alias Linx.Seccomp.Notify.Structs

  @moduletag :notify

  # Compiles one C source (a heredoc below) into a fresh tmp dir.
  defp compile!(name, source, flags \\ []) do
    dir = tmp_dir!("notify-#{name}")
    src = Path.join(dir, "#{name}.c")
    bin = Path.join(dir, name)
    File.write!(src, source)

    {out, status} =
      System.cmd("cc", ["-O2", "-Wall", "-o", bin, src | flags], stderr_to_stdout: true)

    assert status == 0, "cc #{name}.c failed:\n#{out}"
    bin
  end

  defp stat!(path) do
    {out, 0} = System.cmd("stat", ["-c", "%F %t %T %u %g", path])
    String.trim(out)
  end

  describe "1. LXD-style device creation" do
    setup do
      dir = tmp_dir!("mknod")
      File.chmod!(dir, 0o777)
      on_exit(fn -> File.rm_rf!(dir) end)
      %{dir: dir}
    end

    # mknod(2) of /dev/null's numbers under `dir` is done for the caller, in
    # its mount namespace, and chowned to it; any other device is EPERM.
    defp mknod_rules(dir) do
      null = Structs.makedev(1, 3)
      s_ifmt = 0o170000
      s_ifchr = 0o020000

      make_it = fn path_arg ->
        [
          {:call, :mknodat, [-100, {:mem, path_arg}, {:arg, path_arg + 1}, {:arg, path_arg + 2}],
           ns: [:mount]},
          {:call, :fchownat, [-100, {:mem, path_arg}, :caller_uid, :caller_gid, 0], ns: [:mount]},
          {:return, 0}
        ]
      end

      [
        %{
          syscall: :mknodat,
          match: [
            {:int, 0, -100},
            {:string, 1, {:under, dir}},
            {:arg, 2, {:mask, s_ifmt, s_ifchr}},
            {:arg, 3, null}
          ],
          then: make_it.(1)
        },
        %{syscall: :mknodat, then: {:errno, :eperm}},
        %{
          syscall: :mknod,
          match: [
            {:string, 0, {:under, dir}},
            {:arg, 1, {:mask, s_ifmt, s_ifchr}},
            {:arg, 2, null}
          ],
          then: make_it.(0)
        },
        %{syscall: :mknod, then: {:errno, :eperm}}
      ]
    end

    test "a workload in a user namespace gets /dev/null's device, nothing else", %{dir: dir} do
      opts = [
        namespaces: [:user, :mount],
        uid_map: [{0, 100_000, 65536}],
        gid_map: [{0, 100_000, 65536}],
        # root inside the container, 100000 on the host (as LXD runs it)
        uid: 0,
        gid: 0,
        notify: mknod_rules(dir),
        stderr_to_stdout: true
      ]

      null = Path.join(dir, "null")
      assert {"", 0} = Linx.Process.run(["/usr/bin/mknod", null, "c", "1", "3"], opts)
      # character device 1:3 owned by the caller (root in its namespace = 100000 on the host)
      assert stat!(null) == "character special file 1 3 100000 100000"

      zero = Path.join(dir, "zero")
      assert {out, 1} = Linx.Process.run(["/usr/bin/mknod", zero, "c", "1", "5"], opts)
      assert out =~ "Operation not permitted"
      refute File.exists?(zero)

      # the same device elsewhere is refused too
      assert {_, 1} =
               Linx.Process.run(
                 [
                   "/usr/bin/mknod",
                   "/tmp/linx-null-#{System.unique_integer([:positive])}",
                   "c",
                   "1",
                   "3"
                 ],
                 opts
               )
    end
  end

  describe "2. seitan-style connect redirect" do
    @client """
    #include <stdio.h>
    #include <string.h>
    #include <unistd.h>
    #include <sys/socket.h>
    #include <sys/un.h>

    int main(int argc, char **argv) {
      struct sockaddr_un sa = { .sun_family = AF_UNIX };
      char buf[128];
      int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
      if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 2; }
      if (write(fd, "ping\\n", 5) != 5) { perror("write"); return 3; }
      ssize_t n = read(fd, buf, sizeof buf - 1);
      if (n < 0) { perror("read"); return 4; }
      buf[n] = 0;
      printf("got: %s\\n", buf);
      return 0;
    }
    """

    test "connecting to path A talks to B's server" do
      client = compile!("client", @client)
      dir = tmp_dir!("redirect")
      path_a = Path.join(dir, "a.sock")
      path_b = Path.join(dir, "b.sock")

      {:ok, listen} =
        :gen_tcp.listen(0, [:binary, ifaddr: {:local, path_b}, active: false, packet: :raw])

      server =
        Task.async(fn ->
          {:ok, sock} = :gen_tcp.accept(listen, 5000)
          {:ok, "ping\n"} = :gen_tcp.recv(sock, 5, 5000)
          :ok = :gen_tcp.send(sock, "pong from B")
          :gen_tcp.close(sock)
        end)

      rules = [
        %{
          syscall: :connect,
          match: [{:sockaddr, 1, family: :unix, path: path_a}],
          then: [{:inject_fd, {:connect_unix, path_b}, at: {:arg, 0}}, {:return, 0}]
        }
      ]

      assert {"got: pong from B\n", 0} =
               Linx.Process.run([client, path_a], notify: [rules: rules, default: :continue])

      Task.await(server)

      # without a matching rule the connect runs for real (nothing listens at A)
      assert {out, 2} =
               Linx.Process.run([client, Path.join(dir, "c.sock")],
                 notify: [rules: rules, default: :continue],
                 stderr_to_stdout: true
               )

      assert out =~ "No such file or directory"
      :gen_tcp.close(listen)
    end
  end

  describe "3. openat policy" do
    test "anything under the directory is EACCES; other opens run" do
      dir = tmp_dir!("policy")
      secret = Path.join(dir, "secret")
      File.mkdir_p!(secret)
      File.write!(Path.join(secret, "key"), "hunter2")
      File.write!(Path.join(dir, "open"), "hello")

      notify = [
        rules: [
          %{syscall: :openat, match: [{:string, 1, {:under, secret}}], then: {:errno, :eacces}},
          %{syscall: :open, match: [{:string, 0, {:under, secret}}], then: {:errno, :eacces}}
        ],
        default: :continue
      ]

      assert {"hello", 0} = Linx.Process.run(["/bin/cat", Path.join(dir, "open")], notify: notify)

      for path <- [Path.join(secret, "key"), "#{dir}/./open/../secret//key", secret] do
        assert {out, 1} =
                 Linx.Process.run(["/bin/cat", path], notify: notify, stderr_to_stdout: true)

        assert out =~ "Permission denied", "#{path}: #{out}"
      end
    end
  end

  describe "4. emulated answers" do
    @emulated """
    #include <stdio.h>
    #include <unistd.h>
    #include <sys/utsname.h>
    #include <sys/sysinfo.h>

    int main(void) {
      struct utsname u;
      struct sysinfo si;
      if (uname(&u) != 0) { perror("uname"); return 2; }
      if (sysinfo(&si) != 0) { perror("sysinfo"); return 3; }
      printf("pid=%d sysname=%s nodename=%s uptime=%ld procs=%u totalram=%lu\\n",
             (int)getpid(), u.sysname, u.nodename, si.uptime, si.procs, si.totalram);
      return 0;
    }
    """

    test "getpid, uname and sysinfo answered with values written into the caller" do
      prog = compile!("emulated", @emulated)

      rules = [
        %{syscall: :getpid, then: {:return, 4242}},
        %{
          syscall: :uname,
          then: [
            {:write, {:arg, 0}, Structs.utsname(sysname: "Linx", nodename: "linx-fake")},
            {:return, 0}
          ]
        },
        %{
          syscall: :sysinfo,
          then: [
            {:write, {:arg, 0}, Structs.sysinfo(uptime: 12345, procs: 7, totalram: 1 <<< 30)},
            {:return, 0}
          ]
        }
      ]

      assert {out, 0} = Linx.Process.run([prog], notify: rules)

      assert out ==
               "pid=4242 sysname=Linx nodename=linx-fake uptime=12345 procs=7 totalram=1073741824\n"
    end
  end

  describe "5. many threads" do
    @threads """
    #include <pthread.h>
    #include <stdio.h>
    #include <string.h>
    #include <unistd.h>
    #include <sys/syscall.h>
    #include <sys/utsname.h>

    #define THREADS 8
    #define ROUNDS 300

    static int bad[THREADS];

    static void *worker(void *arg) {
      long t = (long)arg;
      for (long i = 0; i < ROUNDS; i++) {
        struct utsname u;
        memset(&u, 0, sizeof u);
        /* a rule per thread number: getpgid(t) = 1000 + t */
        if (syscall(SYS_getpgid, t) != 1000 + t) bad[t]++;
        /* the handler: getsid(x) = 2x + 1 */
        long x = t * 100000 + i;
        if (syscall(SYS_getsid, x) != 2 * x + 1) bad[t]++;
        /* a memory write into this thread's own buffer */
        if (uname(&u) != 0 || strcmp(u.nodename, "mt-node") != 0) bad[t]++;
      }
      return NULL;
    }

    int main(void) {
      pthread_t th[THREADS];
      int total = 0;
      for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
      for (int t = 0; t < THREADS; t++) { pthread_join(th[t], NULL); total += bad[t]; }
      printf("bad=%d calls=%d\\n", total, THREADS * ROUNDS * 3);
      return total ? 1 : 0;
    }
    """

    defmodule Doubler do
      @behaviour Linx.Seccomp.Notifier
      @impl true
      def init(_), do: {:ok, 0}
      @impl true
      def syscalls(_), do: [:getsid]
      @impl true
      def handle_syscall(%{args: [x | _]}, n), do: {{:return, 2 * x + 1}, n + 1}
      @impl true
      def summary(n), do: n
    end

    test "8 threads x 300 rounds x 3 trapped calls all get their own answers" do
      prog = compile!("threads", @threads, ["-pthread"])

      rules =
        for t <- 0..7 do
          %{syscall: :getpgid, match: [{:arg, 0, t}], then: {:return, 1000 + t}}
        end ++
          [
            %{
              syscall: :uname,
              then: [{:write, {:arg, 0}, Structs.utsname(nodename: "mt-node")}, {:return, 0}]
            }
          ]

      {:ok, proc} =
        Linx.Process.spawn(
          argv: [prog],
          stdio: :pipe,
          notify: [rules: rules, handler: {Doubler, nil}, trap: [:getsid]]
        )

      assert_receive {:linx_process, ^proc, {:stdout, "bad=0 calls=7200\n"}}, 60_000
      assert_receive {:linx_process, ^proc, {:notify_summary, 2400}}, 60_000
      assert_receive {:linx_process, ^proc, {:exited, 0}}, 60_000
    end
  end

  describe "6. a handler keeping state" do
    @counted """
    #include <unistd.h>
    #include <sys/syscall.h>
    #include <sys/utsname.h>

    int main(void) {
      struct utsname u;
      for (int i = 0; i < 5; i++) syscall(SYS_getppid);
      for (int i = 0; i < 3; i++) uname(&u);
      return 0;
    }
    """

    defmodule PerSyscall do
      @behaviour Linx.Seccomp.Notifier
      @impl true
      def init(owner), do: {:ok, {owner, %{}}}
      @impl true
      def syscalls(_), do: [:getppid, :uname]
      @impl true
      def handle_syscall(%{syscall: name}, {owner, counts}),
        do: {:continue, {owner, Map.update(counts, name, 1, &(&1 + 1))}}

      @impl true
      def summary({_owner, counts}), do: counts
    end

    test "counts calls per syscall; the owner gets the summary before the exit" do
      prog = compile!("counted", @counted)
      {:ok, proc} = Linx.Process.spawn(argv: [prog], notify: {PerSyscall, self()})

      assert_receive {:linx_process, ^proc, event}, 10_000
      assert {:notify_summary, %{getppid: 5, uname: uname}} = event
      # the dynamic loader or libc may call uname too; the program calls it 3 times
      assert uname >= 3
      assert_receive {:linx_process, ^proc, {:exited, 0}}, 10_000
    end

    defmodule Crashy do
      @behaviour Linx.Seccomp.Notifier
      @impl true
      def init(_), do: {:ok, nil}
      @impl true
      def syscalls(_), do: [:uname]
      @impl true
      def handle_syscall(_n, _s), do: raise("handler bug")
    end

    test "a handler that crashes answers EPERM and the workload goes on" do
      ExUnit.CaptureLog.capture_log(fn ->
        assert {out, 1} =
                 Linx.Process.run(["/bin/uname", "-n"],
                   notify: {Crashy, nil},
                   stderr_to_stdout: true
                 )

        assert out =~ "Operation not permitted"
      end)
    end
  end
end
