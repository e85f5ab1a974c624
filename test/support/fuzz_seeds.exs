# Writes the seed corpora of the fuzz harnesses (fuzz/seeds/<harness>/)
# from the Elixir side: every file is what the BEAM really sends
# (:erlang.term_to_binary of a request or command, as Port.command does
# with {:packet, 4}), or, for the child <-> agent channel, the record
# layout of c_src/chan.h. Deterministic: running it twice writes the same
# bytes, so the committed seeds only change when this file does.
#
#   elixir test/support/fuzz_seeds.exs [fuzz/seeds]     (or: make fuzz-seeds)
#
# See docs/protocol.md for the terms and docs/reliability.md for the
# harnesses.

defmodule Linx.FuzzSeeds do
  import Bitwise

  @namespaces [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]

  # ------------------------------------------------------------- BPF bytes

  # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}, little-endian
  defp insn(code, jt, jf, k), do: <<code::little-16, jt::8, jf::8, k::little-32>>

  @ld_w_abs 0x20
  @jeq_k 0x15
  @ret_k 0x06
  @allow 0x7FFF0000
  @errno_eperm 0x00050001
  @user_notif 0x7FC00000

  # A filter of exactly `n` instructions (n >= 4), as an allowlist
  # compiler lays it out: check the arch, load the syscall number, n - 4
  # comparisons falling through, allow.
  def bpf(n) when n >= 4 do
    IO.iodata_to_binary([
      insn(@ld_w_abs, 0, 0, 4),
      insn(@jeq_k, 1, 0, 0xC000003E),
      insn(@ret_k, 0, 0, @errno_eperm),
      for(i <- 0..(n - 5)//1, do: insn(@jeq_k, 0, 0, i)),
      insn(@ret_k, 0, 0, @allow)
    ])
  end

  def notify_bpf do
    IO.iodata_to_binary([
      insn(@ld_w_abs, 0, 0, 0),
      insn(@jeq_k, 0, 1, 257),
      insn(@ret_k, 0, 0, @user_notif),
      insn(@ret_k, 0, 0, @allow)
    ])
  end

  # ------------------------------------------------------------- commands

  def checkpoint_commands do
    [
      caps_query: :caps_query,
      cap_drop_bounding: {:cap_drop_bounding, 1 <<< 21 ||| 1 <<< 12},
      cap_drop_bounding_all: {:cap_drop_bounding, (1 <<< 41) - 1},
      # a u64 mask above 2^63 arrives as a bignum
      cap_drop_bounding_bignum: {:cap_drop_bounding, 0xFFFF_FFFF_FFFF_FFFF},
      cap_set_thread: {:cap_set_thread, 1 <<< 10, 1 <<< 10 ||| 1 <<< 12, 0},
      cap_set_ambient: {:cap_set_ambient, 1 <<< 10},
      cap_set_ambient_zero: {:cap_set_ambient, 0},
      seccomp_install_1: {:seccomp_install, insn(@ret_k, 0, 0, @allow)},
      seccomp_install_16: {:seccomp_install, bpf(16)},
      seccomp_install_4096: {:seccomp_install, bpf(4096)},
      seccomp_notify_install: {:seccomp_notify_install, notify_bpf()},
      pty_winsize: {:pty_winsize, {24, 80, 0, 0}},
      pty_winsize_max: {:pty_winsize, {65535, 65535, 65535, 65535}},
      landlock: :landlock
    ]
  end

  def running_commands do
    [
      proceed: :proceed,
      abort: :abort,
      close_stdin: :close_stdin,
      signal_term: {:signal, 15},
      signal_64: {:signal, 64},
      pty_in: {:pty_in, "ls -l\r"},
      pty_in_empty: {:pty_in, ""},
      stdin: {:stdin, "hello\nworld\n"},
      stdin_binary: {:stdin, :binary.copy(<<0, 255, 10>>, 300)},
      output_ack: {:output_ack, 65_536},
      output_ack_max: {:output_ack, 1 <<< 40},
      # frames the agent must refuse without dying
      bad_signal_0: {:signal, 0},
      bad_signal_65: {:signal, 65},
      bad_winsize_arity: {:pty_winsize, {1, 2, 3}},
      bad_unknown_atom: :frobnicate,
      bad_charlist_payload: {:stdin, ~c"abc"},
      bad_negative_mask: {:cap_drop_bounding, -1},
      bad_output_ack_over_max: {:output_ack, (1 <<< 40) + 1}
    ]
  end

  def notify_commands do
    id = 0xDEAD_BEEF_0000_0001

    [
      notify_reply_continue: {:notify_reply, id, [:continue]},
      notify_reply_return: {:notify_reply, id, [{:return, 0}]},
      notify_reply_return_negative: {:notify_reply, id, [{:return, -1}]},
      notify_reply_errno: {:notify_reply, id, [{:errno, 1}]},
      notify_reply_write:
        {:notify_reply, id, [{:write, 0x7FFD_0000_1000, "patched\0"}, :continue]},
      notify_reply_call:
        {:notify_reply, id,
         [
           {:call, 257, [-100, {:str, "/etc/hostname"}, 0, 0],
            %{ns: [:mount], root: true, cwd: true, creds: true}},
           :return_last
         ]},
      notify_reply_call_safe:
        {:notify_reply, id,
         [
           {:call, 259, [-100, {:str, "/srv/dev/null"}, 0o020600, 259],
            %{ns: [:mount], creds: :caller_fs, resolve: :safe, beneath: "/srv/dev"}},
           {:call, 260, [-100, {:str, "/srv/dev/null"}, 1000, 1000, 0],
            %{ns: [:mount], resolve: :safe, beneath: "/srv/dev"}},
           {:return, 0}
         ]},
      notify_reply_call_follow:
        {:notify_reply, id,
         [{:call, 133, [{:str, "/dev/null"}, 0o020600, 259], %{resolve: :follow}}, :return_last]},
      notify_reply_call_buf:
        {:notify_reply, id, [{:call, 1, [1, {:buf, "out\n"}, 4], %{}}, :return_last]},
      notify_reply_addfd_open:
        {:notify_reply, id, [{:addfd, {:open, "/dev/null", 0, 0}, -1, [:cloexec, :send]}]},
      notify_reply_addfd_connect:
        {:notify_reply, id, [{:addfd, {:connect_unix, "/run/x.sock"}, 5, []}, :return_last]},
      notify_reply_addfd_getfd:
        {:notify_reply, id, [{:addfd, {:getfd, 1234, 3}, -1, [:cloexec]}, :return_last]},
      notify_reply_all_steps:
        {:notify_reply, id,
         [
           {:write, 4096, <<1, 2, 3>>},
           {:call, 39, [], %{ns: @namespaces, root: false, cwd: false, creds: false}},
           {:addfd, {:open, "/tmp", 0o200000, 0}, 7, [:cloexec]},
           {:return, 3}
         ]},
      notify_read: {:notify_read, make_ref_like(), id, 1234, 0x7FFD_0000_0000, 4096},
      notify_fd_path: {:notify_fd_path, {:ref, 1}, id, 1234, 3}
    ]
  end

  # A real reference is node- and time-dependent; the seeds must be
  # deterministic, so the "any term" ref is a tuple (the agent echoes it).
  defp make_ref_like, do: {:req, 42}

  # -------------------------------------------------------------- requests

  def requests do
    all_cmds =
      Keyword.values(checkpoint_commands())
      |> Enum.reject(&match?({:seccomp_notify_install, _}, &1))

    full = %{
      argv: ["/bin/sh", "-c", "echo hi; exec cat"],
      env: ["PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8"],
      cwd: "/tmp",
      namespaces: @namespaces,
      stdio: [stdin: :pipe, stdout: :pipe, stderr: {:connect_unix, "/run/linx/err.sock"}],
      no_new_privs: true,
      close_handshake: true,
      on_exit: :detach,
      checkpoint: true,
      commands: all_cmds,
      winsize: {50, 132, 0, 0},
      stdio_window: 1_048_576,
      uid_map: [{0, 1000, 1}, {1, 100_000, 65_536}],
      gid_map: [{0, 1000, 1}, {1, 100_000, 65_536}],
      setgroups: :deny,
      cgroups_v1: ["/sys/fs/cgroup/memory/linx/x-1", "/sys/fs/cgroup/pids/linx/x-1"],
      rlimits: [{:nofile, 64, 64}, {:core, 0, 18_446_744_073_709_551_615}],
      nice: -5,
      cpus: [0, 1, 63, 64],
      timeout: 10_000,
      kill_timeout: 500,
      root: :tmpfs,
      mounts: [
        {:ro_bind, "/usr", "/usr", 0, 0, 1},
        {:tmpfs, "/tmp", "", 0o1777, 65_536, 0},
        {:file, "/etc/hostname", "linx\n", 0, 0, 0},
        {:remount_ro, "/", "", 0, 0, 0}
      ],
      hostname: "linx",
      loopback: true,
      time_offsets: {-60, 3600},
      fds: [
        {3, {:file, "/etc/hostname", [:read]}},
        {7, {:file, "/tmp/out.log", [:write, :append, :create]}},
        {255, {:connect_unix, "/run/linx/fd.sock"}}
      ],
      landlock: [{:read, "/usr"}, {:execute, "/usr/bin"}, {:read_write, "/tmp"}],
      # Linx.Seccomp.Notify.compile/1 of [kill(_, 9) -> EPERM, kill -> continue]
      notify_program:
        <<76, 88, 78, 80, 1, 0, 2, 0, 1, 1, 3, 38, 0, 62, 0, 0, 0, 16, 0, 0, 0, 17, 1, 1, 9, 0, 0,
          0, 0, 0, 0, 0, 1, 1, 3, 1, 0, 62, 0, 0, 0, 4, 0, 0, 0, 1, 1, 1, 1>>,
      notify_events: true,
      arg0: "-sh",
      pty_modes: [:noecho, :raw]
    }

    minimal = %{argv: ["/bin/true"]}

    [
      spawn_minimal: {:spawn, minimal},
      spawn_every_key: {:spawn, full},
      spawn_pty: {:spawn, %{argv: ["/bin/sh"], stdio: :pty, winsize: {24, 80, 640, 480}}},
      spawn_pipe: {:spawn, %{argv: ["/bin/cat"], stdio: :pipe, checkpoint: false}},
      spawn_id_maps:
        {:spawn,
         %{
           argv: ["/bin/id"],
           namespaces: [:user],
           checkpoint: false,
           uid_map: [{0, 0, 1}],
           gid_map: [{0, 0, 1}],
           setgroups: :allow
         }},
      spawn_stdio_window:
        {:spawn, %{argv: ["/bin/cat"], stdio: :pipe, checkpoint: false, stdio_window: 4096}},
      spawn_devnull: {:spawn, %{argv: ["/bin/true"], stdio: :devnull, on_exit: :kill}},
      spawn_inherit: {:spawn, %{argv: ["/bin/true"], stdio: :inherit, env: []}},
      spawn_stdio_keywords:
        {:spawn, %{argv: ["/bin/true"], stdio: [stdout: :devnull, stderr: :inherit]}},
      spawn_userns:
        {:spawn, %{argv: ["/bin/id"], namespaces: [:user, :pid, :mount], no_new_privs: false}},
      spawn_no_checkpoint_cmds:
        {:spawn,
         %{
           argv: ["/bin/true"],
           checkpoint: false,
           commands: [{:cap_drop_bounding, 0xFFFF_FFFF_FFFF_FFFF}, :caps_query]
         }},
      spawn_seccomp_4096:
        {:spawn, %{argv: ["/bin/true"], commands: [{:seccomp_install, bpf(4096)}]}},
      spawn_notify_reads:
        {:spawn,
         %{
           argv: ["/bin/true"],
           notify_reads: [
             {257, 1, {:cstring, 4096}},
             {1, 1, {:bytes_arg, 2, 65536}},
             {0, 1, {:bytes, 8}}
           ],
           commands: [{:seccomp_notify_install, notify_bpf()}]
         }},
      # unknown keys of every kind are skipped, whatever their value
      spawn_unknown_keys:
        {:spawn,
         %{
           :argv => ["/bin/true"],
           :extra_pid => self_like(),
           :extra_float => 1.5,
           :extra_big => 1 <<< 200,
           :extra_neg => -(1 <<< 70),
           :extra_tuple => {:a, {:b, [1, 2, 3]}, %{"k" => "v"}},
           :extra_charlist => ~c"hello",
           :extra_improper => [1 | 2],
           :extra_bits => <<1::3>>,
           :extra_fun => &Enum.map/2,
           "binary_key" => 1,
           {:tuple, :key} => [:ignored]
         }},
      enter_all: {:enter, %{argv: ["/bin/sh"], target: 1}},
      enter_some:
        {:enter,
         %{
           argv: ["/bin/sh", "-l"],
           target: 4_194_304,
           namespaces: [:mount, :net, :pid],
           stdio: :pty
         }},
      enter_every_key: {:enter, Map.put(full, :target, 12345)},
      spawn_init:
        {:spawn, %{argv: ["/bin/sleep", "1"], namespaces: [:pid], init: true, checkpoint: false}},
      bad_init_without_pid: {:spawn, %{argv: ["/bin/true"], init: true}},
      bad_fds_stdio_target: {:spawn, %{argv: ["/bin/true"], fds: [{2, {:connect_unix, "/s"}}]}},
      bad_fds_twice:
        {:spawn,
         %{
           argv: ["/bin/true"],
           fds: [{4, {:file, "/a", [:read]}}, {4, {:file, "/b", [:write]}}]
         }},
      bad_landlock_empty: {:spawn, %{argv: ["/bin/true"], landlock: []}},
      echo_spawn: {:echo, {:spawn, full}},
      echo_enter: {:echo, {:enter, %{argv: ["/bin/true"], target: 1}}},
      echo_minimal: {:echo, {:spawn, minimal}},
      # requests the agent must refuse with {:malformed, ...}
      bad_empty_argv: {:spawn, %{argv: []}},
      bad_nul_in_argv: {:spawn, %{argv: ["/bin/a\0b"]}},
      bad_enter_no_target: {:enter, %{argv: ["/bin/true"]}},
      bad_unknown_ns: {:spawn, %{argv: ["/bin/true"], namespaces: [:mount, :bogus]}},
      bad_running_cmd_at_checkpoint: {:spawn, %{argv: ["/bin/true"], commands: [{:signal, 9}]}},
      bad_kind: {:run, %{argv: ["/bin/true"]}},
      bad_echo_echo: {:echo, {:echo, {:spawn, minimal}}},
      bad_opts_list: {:spawn, [argv: ["/bin/true"]]},
      bad_argv_charlist: {:spawn, %{argv: [~c"/bin/true"]}},
      bad_on_exit: {:spawn, %{argv: ["/bin/true"], on_exit: :later}}
    ]
  end

  # A pid of a fixed node, so the seed is deterministic.
  defp self_like do
    # NEW_PID_EXT for node :"nonode@nohost": id 80, serial 0, creation 0
    :erlang.binary_to_term(
      <<131, 88, 119, 13, "nonode@nohost", 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0>>
    )
  end

  # -------------------------------------------------------------- chan.h

  # struct chan_rec: u32 type, u32 len, i32 pid, i32 err, i32 stage,
  # u32 reserved, u64 mask[5]; then the payload (seccomp_install only)
  defp rec(type, opts \\ []) do
    payload = Keyword.get(opts, :payload, "")
    masks = Keyword.get(opts, :mask, [0, 0, 0, 0, 0])

    <<type::little-32, byte_size(payload)::little-32,
      Keyword.get(opts, :pid, 0)::little-signed-32, Keyword.get(opts, :err, 0)::little-signed-32,
      Keyword.get(opts, :stage, 0)::little-signed-32,
      0::little-32>> <>
      for(m <- masks, into: "", do: <<m::little-64>>) <> payload
  end

  # enum chan_type (c_src/chan.h) and a few enum linx_stage values
  # (c_src/error.h: none=0, execve=1, ..., seccomp_install=13)
  @ready 1
  @ok 2
  @err 3
  @caps 4
  @proceed 16
  @abort 17
  @drop 18
  @set_thread 19
  @set_ambient 20
  @seccomp 21
  @caps_query 22

  def chan_records do
    [
      ready: rec(@ready, pid: 1),
      ready_big_pid: rec(@ready, pid: 4_194_304),
      ok: rec(@ok),
      err_execve: rec(@err, err: 2, stage: 1),
      err_seccomp_install: rec(@err, err: 22, stage: 13),
      caps: rec(@caps, mask: [0x1FF_FFFF_FFFF, 0x1FF_FFFF_FFFF, 0, 0x1FF_FFFF_FFFF, 0]),
      proceed: rec(@proceed),
      abort: rec(@abort),
      cap_drop_bounding: rec(@drop, mask: [1 <<< 21, 0, 0, 0, 0]),
      cap_set_thread: rec(@set_thread, mask: [1, 3, 0, 0, 0]),
      cap_set_ambient: rec(@set_ambient, mask: [1 <<< 10, 0, 0, 0, 0]),
      seccomp_install_1: rec(@seccomp, payload: insn(@ret_k, 0, 0, @allow)),
      seccomp_install_4096: rec(@seccomp, payload: bpf(4096)),
      caps_query: rec(@caps_query),
      # refused records
      bad_short: binary_part(rec(@ok), 0, 20),
      bad_len: rec(@ok) <> <<0>>,
      bad_stage: rec(@err, err: 1, stage: 9999),
      bad_payload_not_insns: rec(@seccomp, payload: <<1, 2, 3>>),
      bad_type: rec(99)
    ]
  end

  # ------------------------------------------------------------- framing

  # byte 0: the reader's limit (255: 16 MiB, else 16 * byte), byte 1: the
  # chunk schedule seed, then the stream (see fuzz/fuzz_framing.c)
  defp frame(body), do: <<byte_size(body)::32, body::binary>>

  def framing_streams do
    req = :erlang.term_to_binary(Keyword.fetch!(requests(), :spawn_every_key))

    cmds =
      for {_, c} <- checkpoint_commands() ++ running_commands(), do: :erlang.term_to_binary(c)

    session = IO.iodata_to_binary([frame(req) | Enum.map(cmds, &frame/1)])
    small = :erlang.term_to_binary({:signal, 15})

    [
      session_one_byte_chunks: <<255, 0>> <> session,
      session_big_chunks: <<255, 12>> <> session,
      session_random_chunks: <<255, 7>> <> session,
      oversized_then_small: <<1, 3>> <> frame(:binary.copy("x", 100)) <> frame(small),
      oversized_truncated: <<1, 5>> <> <<0, 0, 1, 0>> <> :binary.copy("y", 40),
      empty_frames: <<255, 1>> <> frame("") <> frame("") <> frame(small),
      truncated_header: <<255, 2>> <> frame(small) <> <<0, 0>>,
      truncated_body: <<255, 4>> <> frame(small) <> <<0, 0, 0, 50>> <> "short",
      max_frame_header_only: <<255, 9>> <> <<0x01, 0, 0, 0>>,
      over_max_frame: <<255, 9>> <> <<0x01, 0, 0, 1>> <> "abc"
    ]
  end

  # ------------------------------------------------------------ regressions

  # Minimized reproducers of what the fuzzers found, written by hand so
  # they read as the bug they pin (libFuzzer's own crash-*/leak-* files go
  # to the same directories). The BEAM never encodes a map with a repeated
  # key, but fd 3 is a byte stream: the agent must not trust it.
  defp body(term),
    do: binary_part(:erlang.term_to_binary(term), 1, byte_size(:erlang.term_to_binary(term)) - 1)

  defp map_with_pairs(pairs) do
    IO.iodata_to_binary([
      <<116, length(pairs)::32>> | for({k, v} <- pairs, do: [body(k), body(v)])
    ])
  end

  defp request_with_pairs(pairs), do: <<131, 104, 2>> <> body(:spawn) <> map_with_pairs(pairs)

  def regressions do
    [
      request: [
        # request.c opt_argv/decode_string_list: a second "argv" key
        # overwrote r->argv without freeing the first list (leak)
        "leak-dup-argv": request_with_pairs(argv: ["/a"], argv: ["/b"]),
        # same for env (decode_string_list) and cwd (decode_path)
        "leak-dup-env": request_with_pairs(argv: ["/a"], env: ["A=1"], env: ["B=2"]),
        "leak-dup-cwd": request_with_pairs(argv: ["/a"], cwd: "/x", cwd: "/y"),
        # the first list leaks also when the second one fails to decode
        "leak-dup-argv-bad-second": request_with_pairs(argv: ["/a"], argv: [1])
      ]
    ]
  end

  # ---------------------------------------------------------------- write

  def write(dir) do
    sets = [
      request: for({n, t} <- requests(), do: {n, :erlang.term_to_binary(t)}),
      command:
        for(
          {n, t} <- checkpoint_commands() ++ running_commands() ++ notify_commands(),
          do: {n, :erlang.term_to_binary(t)}
        ),
      chan: chan_records(),
      framing: framing_streams()
    ]

    for {harness, seeds} <- sets do
      hdir = Path.join(dir, Atom.to_string(harness))
      File.rm_rf!(hdir)
      File.mkdir_p!(hdir)

      for {name, bin} <- seeds do
        File.write!(Path.join(hdir, "#{name}.bin"), bin)
      end

      IO.puts("#{hdir}: #{length(seeds)} seeds")
    end

    # next to the seeds: fuzz/seeds -> fuzz/regression
    rdir = Path.join(Path.dirname(dir), "regression")

    for {harness, files} <- regressions() do
      hdir = Path.join(rdir, Atom.to_string(harness))
      File.mkdir_p!(hdir)
      for {name, bin} <- files, do: File.write!(Path.join(hdir, "#{name}.bin"), bin)
      IO.puts("#{hdir}: #{length(files)} hand-minimized reproducers")
    end
  end
end

case System.argv() do
  [dir] -> Linx.FuzzSeeds.write(dir)
  [] -> Linx.FuzzSeeds.write("fuzz/seeds")
end
