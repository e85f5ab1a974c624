defmodule Linx.Seccomp.NotifyTest do
  use ExUnit.Case, async: true

  import Bitwise
  import ExUnit.CaptureLog

  alias Linx.Seccomp.{BPF, Notify}
  alias Linx.Seccomp.Notify.Handler

  doctest Linx.Seccomp.Notify
  doctest Linx.Seccomp.Notify.Rules
  doctest Linx.Seccomp.Notify.Structs

  @at_fdcwd 0xFFFF_FFFF_FFFF_FF9C

  # A notification as Linx.Process builds it.
  defp call(syscall, args, mem \\ %{}) do
    {:ok, nr} = Linx.Syscalls.number(syscall)
    args = Enum.take(args ++ List.duplicate(0, 6), 6)

    %{
      id: 77,
      pid: String.to_integer(System.pid()),
      tid: String.to_integer(System.pid()),
      nr: nr,
      syscall: syscall,
      arch: 0xC000003E,
      ip: 0,
      args: args,
      mem: mem
    }
  end

  # Decides `call` under a single rule `match -> {:return, 1}` (default ENOSYS).
  defp matches?(syscall, match, args, mem \\ %{}) do
    n = Notify.new!([%{syscall: syscall, match: match, then: {:return, 1}}])

    case Notify.decide(n, call(syscall, args, mem)) do
      {:reply, [{:return, 1}]} -> true
      {:reply, [{:errno, 38}]} -> false
    end
  end

  defp invalid(option, message) do
    error = assert_raise ArgumentError, fn -> Notify.new!(option) end
    assert error.message =~ message, "got: #{error.message}"
  end

  defp sockaddr_un(path), do: <<1::little-16, path::binary>>
  defp sockaddr_in({a, b, c, d}, port), do: <<2::little-16, port::16, a, b, c, d, 0::64>>

  defp sockaddr_in6(ip, port) do
    addr = for w <- Tuple.to_list(ip), into: <<>>, do: <<w::16>>
    <<10::little-16, port::16, 0::32, addr::binary, 0::32>>
  end

  describe "new!/1 validates and names the rule's position" do
    test "unknown syscall" do
      invalid(
        [%{syscall: :getpid, then: :continue}, %{syscall: :frobnicate, then: :continue}],
        "notify rules[1]: unknown syscall :frobnicate"
      )
    end

    test "arg index out of range" do
      invalid(
        [%{syscall: :openat, match: [{:arg, 0, 1}, {:string, 7, "/x"}], then: :continue}],
        "rules[0] (:openat) match[1]: arg index 7 out of range 0..5"
      )
    end

    test "unknown struct field" do
      invalid(
        [
          %{syscall: :getpid, then: :continue},
          %{syscall: :connect, match: [{:sockaddr, 1, family: :inet, host: "x"}], then: :continue}
        ],
        "rules[1] (:connect) match[0]: unknown sockaddr field :host"
      )
    end

    test "unknown open flag and access mode" do
      invalid(
        [%{syscall: :openat, match: [{:open_flags, 2, any: [:creat, :bogus]}], then: :continue}],
        "unknown open flag :bogus"
      )

      invalid(
        [%{syscall: :openat, match: [{:open_flags, 2, access: :read}], then: :continue}],
        "unknown access mode :read"
      )
    end

    test "unknown predicate, test, errno and action" do
      invalid([%{syscall: :kill, match: [{:argh, 0, 1}], then: :continue}], "unknown predicate")

      invalid(
        [%{syscall: :kill, match: [{:arg, 0, {:approx, 1}}], then: :continue}],
        "unknown integer test"
      )

      invalid(
        [%{syscall: :kill, then: {:errno, :enotanerrno}}],
        "rules[0] (:kill) then[0]: unknown errno"
      )

      invalid([%{syscall: :kill, then: :allow}], "unknown action :allow")
    end

    test "a response must end a sequence, and a sequence must end with one" do
      invalid(
        [%{syscall: :uname, then: [{:return, 0}, {:write, {:arg, 0}, "x"}]}],
        "then[0]: {:return, 0} answers the call: it must be the last action"
      )

      invalid(
        [%{syscall: :uname, then: [{:write, {:arg, 0}, "x"}]}],
        "then[0]: {:write, {:arg, 0}, \"x\"} does not answer the call"
      )

      invalid(
        [
          %{
            syscall: :openat,
            then: [{:inject_fd, {:connect_unix, "/a"}, send: true}, {:return, 0}]
          }
        ],
        "answers the call: it must be the last action"
      )
    end

    test "a rule after a catch-all for the same syscall can never match" do
      invalid(
        [
          %{syscall: :kill, then: :continue},
          %{syscall: [:getpid, :kill], match: [{:arg, 0, 1}], then: {:errno, :eperm}}
        ],
        "rules[1] (:kill): can never match: rules[0] matches every :kill call before it"
      )
    end

    test "one argument read two ways" do
      invalid(
        [
          %{syscall: :connect, match: [{:sockaddr, 1, family: :unix}], then: :continue},
          %{syscall: :connect, match: [{:string, 1, "x"}], then: :continue}
        ],
        "rules[1]: arg 1 of :connect is read as"
      )
    end

    test "call and inject_fd arguments" do
      invalid(
        [%{syscall: :mknod, then: {:call, :mknod, [1, 2, 3, 4, 5, 6, 7], []}}],
        "at most 6 arguments"
      )

      invalid(
        [%{syscall: :mknod, then: {:call, :mknod, [:caller_name], []}}],
        "bad call argument"
      )

      invalid(
        [%{syscall: :mknod, then: {:call, :mknod, [], ns: [:moon]}}],
        "unknown namespaces [:moon]"
      )

      invalid(
        [
          %{
            syscall: :connect,
            then: {:inject_fd, {:connect_unix, "/b"}, at: {:arg, 0}, dup: true}
          }
        ],
        "unknown options [:dup]"
      )

      invalid([%{syscall: :connect, then: {:inject_fd, {:socket, "/b"}, []}}], "unknown source")
    end

    test "call context: resolve, beneath and creds" do
      call = fn ctx ->
        [%{syscall: :mknodat, then: {:call, :mknodat, [-100, {:str, "/x"}], ctx}}]
      end

      invalid(call.(resolve: :lexical), "call context resolve: expected :safe or :follow")
      invalid(call.(beneath: "dev"), "beneath: expected an absolute directory path")
      invalid(call.(beneath: "/dev/../srv/"), "beneath: write the directory as \"/srv\"")
      invalid(call.(beneath: "/d\0x"), "NUL byte")
      invalid(call.(beneath: "/dev", resolve: :follow), "beneath: needs resolve: :safe")
      invalid(call.(creds: :caller), "creds: expected true, false or :caller_fs")
      invalid(call.(chroot: true), "(known: :ns, :root, :cwd, :creds, :resolve, :beneath)")

      assert %{rules: [%{then: [{:call, 259, _, ctx}, :return_last]}]} =
               Notify.new!(call.(creds: :caller_fs, beneath: "/srv/dev"))

      assert ctx == %{
               ns: [:mount],
               root: true,
               cwd: true,
               creds: :caller_fs,
               resolve: :safe,
               beneath: "/srv/dev"
             }
    end

    test "strings that can never match" do
      invalid([%{syscall: :openat, match: [{:string, 1, "a\0b"}], then: :continue}], "NUL byte")

      invalid(
        [%{syscall: :openat, match: [{:string, 1, {:under, "/a/../b/"}}], then: :continue}],
        "write the directory as \"/b\""
      )

      invalid(
        [%{syscall: :openat, match: [{:arg, 2, {:mask, 1, 3}}], then: :continue}],
        "bits outside m"
      )
    end

    test "the option's shape" do
      invalid(:rules, "expected a list of rules")
      invalid([rules: [], trap: []], "nothing to trap")
      invalid([rules: [], trap: [:getpid], handlr: nil], "unknown keys [:handlr]")

      invalid(
        [trap: [:getpid], handler: {NoSuchModule, 1}],
        "module NoSuchModule is not available"
      )

      invalid(
        [trap: [:getpid], default: {:call, :getpid, [{:mem, 0}]}],
        "only available in a rule"
      )

      invalid([trap: [:getpid], handler_timeout: 0], "handler_timeout")
      invalid({__MODULE__.Silent, nil}, "has no syscalls/1")
      invalid([%{syscall: :getpid}], "rules[0] (:getpid): missing :then")
      invalid([%{syscall: :getpid, then: :continue, when: 1}], "unknown keys [:when]")
    end

    test "the three forms" do
      rules = [%{syscall: :getpid, then: {:return, 1}}]
      assert Notify.new!(rules).syscalls == [:getpid]
      assert Notify.new!([[syscall: :getpid, then: {:return, 1}]]).syscalls == [:getpid]

      n = Notify.new!({__MODULE__.Counter, :arg})
      assert n.syscalls == [:getppid, :uname]
      assert Notify.handler?(n)

      n = Notify.new!(rules: rules, handler: {__MODULE__.Counter, :arg}, trap: [:getuid])
      assert n.syscalls == [:getpid, :getuid]
      assert n.handler == {__MODULE__.Counter, :arg}
      refute Notify.handler?(Notify.new!(rules))
    end

    test "reads are derived from pointer predicates and {:mem, i}" do
      n =
        Notify.new!([
          %{syscall: :connect, match: [{:sockaddr, 1, family: :unix}], then: :continue},
          %{
            syscall: [:mknodat],
            then: {:call, :mknodat, [-100, {:mem, 1}, {:arg, 2}, {:arg, 3}], []}
          },
          %{syscall: :sendto, match: [{:sockaddr, 4, port: 53}], then: {:errno, :eperm}}
        ])

      assert n.reads == [
               {42, 1, {:bytes_arg, 2, 128}},
               {44, 4, {:bytes_arg, 5, 128}},
               {259, 1, {:cstring, 4096}}
             ]
    end
  end

  describe "decide/2: integer predicates" do
    test "values" do
      assert matches?(:kill, [{:arg, 1, 9}], [100, 9])
      refute matches?(:kill, [{:arg, 1, 9}], [100, 15])
      assert matches?(:kill, [{:arg, 1, {:in, [9, 15]}}], [100, 15])
      # a negative literal is the 64-bit register's two's complement
      assert matches?(:openat, [{:arg, 0, -100}], [@at_fdcwd])
      refute matches?(:openat, [{:arg, 0, -100}], [0xFFFF_FF9C])
    end

    test "C ints: the low 32 bits, signed, whatever the upper half holds" do
      assert matches?(:openat, [{:int, 0, -100}], [@at_fdcwd])
      assert matches?(:openat, [{:int, 0, -100}], [0xFFFF_FF9C])
      assert matches?(:openat, [{:int, 0, {:<, 0}}], [0xFFFF_FF9C])
      refute matches?(:openat, [{:arg, 0, {:<, 0}}], [0xFFFF_FF9C])
    end

    test "masks" do
      s_ifchr = 0o020000
      assert matches?(:mknod, [{:arg, 1, {:mask, 0o170000, s_ifchr}}], [0, s_ifchr ||| 0o644])
      refute matches?(:mknod, [{:arg, 1, {:mask, 0o170000, s_ifchr}}], [0, 0o060000 ||| 0o644])
      assert matches?(:clone, [{:arg, 0, {:all_set, 0x10100}}], [0x10100 ||| 0x11])
      refute matches?(:clone, [{:arg, 0, {:all_set, 0x10100}}], [0x100])
      assert matches?(:clone, [{:arg, 0, {:any_set, 0x10100}}], [0x100])
      assert matches?(:clone, [{:arg, 0, {:none_set, 0x10000000}}], [0x100])
      refute matches?(:clone, [{:arg, 0, {:none_set, 0x10000000}}], [0x10000000])
    end

    test "comparisons are unsigned on :arg" do
      assert matches?(:read, [{:arg, 2, {:>, 4096}}], [0, 0, 4097])
      refute matches?(:read, [{:arg, 2, {:>, 4096}}], [0, 0, 4096])
      assert matches?(:read, [{:arg, 2, {:>=, 4096}}], [0, 0, 4096])
      assert matches?(:read, [{:arg, 2, {:<=, 10}}], [0, 0, 10])
      assert matches?(:read, [{:arg, 2, {:!=, 10}}], [0, 0, 11])
      assert matches?(:read, [{:arg, 2, {:>, 4096}}], [0, 0, 0xFFFF_FFFF_FFFF_FFFF])
    end

    test "any, all, not" do
      p = {:any, [{:arg, 0, 1}, {:all, [{:arg, 0, 2}, {:not, {:arg, 1, 0}}]}]}
      assert matches?(:kill, [p], [1, 0])
      assert matches?(:kill, [p], [2, 9])
      refute matches?(:kill, [p], [2, 0])
      refute matches?(:kill, [p], [3, 9])
    end
  end

  describe "decide/2: strings at a pointer" do
    test "equality, prefix, suffix, contains, in" do
      assert matches?(:openat, [{:string, 1, "/etc/passwd"}], [0, 1], %{1 => "/etc/passwd"})
      # the agent may or may not include the NUL: both work
      assert matches?(:openat, [{:string, 1, "/etc/passwd"}], [0, 1], %{1 => "/etc/passwd\0"})
      refute matches?(:openat, [{:string, 1, "/etc/passwd"}], [0, 1], %{1 => "/etc/passwd2"})
      assert matches?(:openat, [{:string, 1, {:prefix, "/etc/"}}], [0, 1], %{1 => "/etc/x"})
      refute matches?(:openat, [{:string, 1, {:prefix, "/etc/"}}], [0, 1], %{1 => "/etcx"})
      assert matches?(:openat, [{:string, 1, {:suffix, ".so"}}], [0, 1], %{1 => "/lib/a.so"})
      assert matches?(:openat, [{:string, 1, {:contains, "ssh"}}], [0, 1], %{1 => "/etc/ssh/k"})
      assert matches?(:openat, [{:string, 1, {:in, ["/a", "/b"]}}], [0, 1], %{1 => "/b"})
    end

    test "under a directory, normalised lexically" do
      t = [{:string, 1, {:under, "/secret"}}]
      assert matches?(:openat, t, [0, 1], %{1 => "/secret"})
      assert matches?(:openat, t, [0, 1], %{1 => "/secret/a/b"})
      assert matches?(:openat, t, [0, 1], %{1 => "/tmp/../secret//a"})
      assert matches?(:openat, t, [0, 1], %{1 => "/./secret/."})
      refute matches?(:openat, t, [0, 1], %{1 => "/secret/../etc"})
      refute matches?(:openat, t, [0, 1], %{1 => "/secrets"})
      refute matches?(:openat, t, [0, 1], %{1 => "secret/a"})
    end

    test "a failed read or a cut string does not match (except by prefix)" do
      refute matches?(:openat, [{:string, 1, "/x"}], [0, 1], %{1 => {:error, 14}})
      refute matches?(:openat, [{:string, 1, "/x"}], [0, 1], %{})
      long = "/x" <> String.duplicate("a", 4094)
      refute matches?(:openat, [{:string, 1, long}], [0, 1], %{1 => long})
      assert matches?(:openat, [{:string, 1, {:prefix, "/xa"}}], [0, 1], %{1 => long})
      assert matches?(:openat, [{:not, {:string, 1, "/x"}}], [0, 1], %{1 => "/y"})
    end
  end

  describe "decide/2: structs" do
    test "sockaddr_un path, including abstract names" do
      m = [{:sockaddr, 1, family: :unix, path: "/run/a.sock"}]
      assert matches?(:connect, m, [3, 1, 14], %{1 => sockaddr_un("/run/a.sock\0")})
      assert matches?(:connect, m, [3, 1, 13], %{1 => sockaddr_un("/run/a.sock")})
      refute matches?(:connect, m, [3, 1, 13], %{1 => sockaddr_un("/run/b.sock")})
      refute matches?(:connect, m, [3, 1, 16], %{1 => sockaddr_in({127, 0, 0, 1}, 80)})

      abstract = [{:sockaddr, 1, path: <<0, "bus">>}]
      assert matches?(:connect, abstract, [3, 1, 6], %{1 => sockaddr_un(<<0, "bus">>)})
      refute matches?(:connect, abstract, [3, 1, 6], %{1 => sockaddr_un("bus")})

      assert matches?(:connect, [{:sockaddr, 1, path: {:prefix, "/run/"}}], [3, 1], %{
               1 => sockaddr_un("/run/x")
             })
    end

    test "sockaddr_in address (exact and prefix) and port" do
      sa = %{1 => sockaddr_in({10, 1, 2, 3}, 443)}
      assert matches?(:connect, [{:sockaddr, 1, family: :inet, port: 443}], [3, 1, 16], sa)
      assert matches?(:connect, [{:sockaddr, 1, addr: {10, 1, 2, 3}, port: 443}], [3, 1, 16], sa)
      assert matches?(:connect, [{:sockaddr, 1, addr: {{10, 0, 0, 0}, 8}}], [3, 1, 16], sa)
      refute matches?(:connect, [{:sockaddr, 1, addr: {{10, 0, 0, 0}, 16}}], [3, 1, 16], sa)

      assert matches?(
               :connect,
               [{:sockaddr, 1, addr: [{127, 0, 0, 1}, {{10, 1, 0, 0}, 16}]}],
               [3, 1],
               sa
             )

      refute matches?(:connect, [{:sockaddr, 1, port: 80}], [3, 1, 16], sa)
      assert matches?(:connect, [{:sockaddr, 1, port: {:in, [80, 443]}}], [3, 1, 16], sa)
      assert matches?(:connect, [{:sockaddr, 1, port: {:<, 1024}}], [3, 1, 16], sa)
      refute matches?(:connect, [{:sockaddr, 1, family: :inet6}], [3, 1, 16], sa)
      refute matches?(:connect, [{:sockaddr, 1, path: "/x"}], [3, 1, 16], sa)
    end

    test "sockaddr_in6 address and port" do
      ip = {0x2001, 0xDB8, 0, 0, 0, 0, 0, 1}
      sa = %{4 => sockaddr_in6(ip, 53)}

      assert matches?(
               :sendto,
               [{:sockaddr, 4, family: :inet6, addr: ip, port: 53}],
               [3, 0, 0, 0, 1, 28],
               sa
             )

      assert matches?(
               :sendto,
               [{:sockaddr, 4, addr: {{0x2001, 0xDB8, 0, 0, 0, 0, 0, 0}, 32}}],
               [3],
               sa
             )

      refute matches?(:sendto, [{:sockaddr, 4, addr: {0x2001, 0xDB8, 0, 0, 0, 0, 0, 2}}], [3], sa)
      # an IPv4 address never matches an IPv6 sockaddr
      refute matches?(:sendto, [{:sockaddr, 4, addr: {{0, 0, 0, 0}, 0}}], [3], sa)
    end

    test "open flags" do
      o_wronly = 1
      o_creat = 0o100
      o_trunc = 0o1000
      o_cloexec = 0o2000000
      f = o_wronly ||| o_creat ||| o_trunc ||| o_cloexec

      assert matches?(:openat, [{:open_flags, 2, access: :wronly}], [0, 0, f])
      refute matches?(:openat, [{:open_flags, 2, access: :rdonly}], [0, 0, f])
      assert matches?(:openat, [{:open_flags, 2, access: [:wronly, :rdwr]}], [0, 0, f])
      assert matches?(:openat, [{:open_flags, 2, all: [:creat, :trunc]}], [0, 0, f])
      refute matches?(:openat, [{:open_flags, 2, all: [:creat, :excl]}], [0, 0, f])
      assert matches?(:openat, [{:open_flags, 2, any: [:creat, :excl]}], [0, 0, f])
      refute matches?(:openat, [{:open_flags, 2, none: [:creat]}], [0, 0, f])

      assert matches?(:openat, [{:open_flags, 2, access: :rdonly, none: [:creat]}], [
               0,
               0,
               o_cloexec
             ])

      # open(2) carries its flags in arg 1
      assert matches?(:open, [{:open_flags, 1, any: [:creat]}], [0, o_creat])
    end
  end

  describe "decide/2: rule order, default and handler" do
    test "the first matching rule answers; nothing matched -> default ENOSYS" do
      n =
        Notify.new!([
          %{syscall: :kill, match: [{:arg, 1, 9}], then: {:errno, :eperm}},
          %{syscall: :kill, match: [{:arg, 0, 1}], then: {:return, 7}},
          %{syscall: :getpid, match: [{:arg, 0, 5}], then: :continue}
        ])

      assert Notify.decide(n, call(:kill, [1, 9])) == {:reply, [{:errno, 1}]}
      assert Notify.decide(n, call(:kill, [1, 15])) == {:reply, [{:return, 7}]}
      assert Notify.decide(n, call(:kill, [2, 15])) == {:reply, [{:errno, 38}]}
      assert Notify.decide(n, call(:getpid, [])) == {:reply, [{:errno, 38}]}
    end

    test "a configured default, and the handler for what rules do not match" do
      rules = [%{syscall: :kill, match: [{:arg, 1, 9}], then: {:errno, :eperm}}]
      n = Notify.new!(rules: rules, default: :continue)
      assert Notify.decide(n, call(:kill, [1, 15])) == {:reply, [:continue]}

      n = Notify.new!(rules: rules, handler: {__MODULE__.Counter, nil})
      assert Notify.decide(n, call(:kill, [1, 9])) == {:reply, [{:errno, 1}]}
      assert Notify.decide(n, call(:kill, [1, 15])) == :handler
      assert Notify.decide(n, call(:uname, [1])) == :handler
    end

    test "the rules as notify: takes them, and a notification naming its call by :syscall" do
      # issue 13: "decide/2 for the same rules and notification"
      rules = [
        %{syscall: :kill, match: [{:int, 1, 9}], then: {:errno, :eacces}},
        %{syscall: :kill, then: :continue}
      ]

      log =
        capture_log(fn ->
          assert Notify.decide(rules, %{syscall: :kill, args: [1, 9, 0, 0, 0, 0]}) ==
                   {:reply, [{:errno, 13}]}

          assert Notify.decide(rules, %{syscall: :kill, args: [1, 15]}) == {:reply, [:continue]}
          assert Notify.decide(rules, %{syscall: :getpid, args: []}) == {:reply, [{:errno, 38}]}

          assert Notify.decide([rules: rules, default: :continue], call(:getpid, [])) ==
                   {:reply, [:continue]}
        end)

      # decided, not rescued into handler_errno
      refute log =~ "Linx.Seccomp.Notify: deciding"

      assert_raise ArgumentError, ~r/unknown syscall :nope/, fn ->
        Notify.decide([%{syscall: :nope, then: :continue}], call(:getpid, []))
      end
    end
  end

  describe "decide/2: actions become wire steps" do
    test "writes at an argument (with an offset) then a response" do
      n =
        Notify.new!([
          %{syscall: :uname, then: [{:write, {:arg, 0, 65}, "fake\0"}, {:return, 0}]}
        ])

      assert Notify.decide(n, call(:uname, [0x7FFF_0000])) ==
               {:reply, [{:write, 0x7FFF_0000 + 65, "fake\0"}, {:return, 0}]}
    end

    test "call: arguments from the notification, the read string and the caller's ids" do
      n =
        Notify.new!([
          %{
            syscall: :mknodat,
            match: [{:int, 0, -100}],
            then: [
              {:call, :mknodat, [-100, {:mem, 1}, {:arg, 2}, {:arg, 3}], ns: [:mount, :user]},
              {:call, :fchownat, [-100, {:mem, 1}, :caller_uid, :caller_gid, 0], creds: true},
              {:return, 0}
            ]
          }
        ])

      c = call(:mknodat, [@at_fdcwd, 0x1000, 0o020644, 0x103], %{1 => "/dev/null\0"})
      status = File.read!("/proc/#{c.pid}/status")
      [_, euid] = Regex.run(~r/^Uid:\s+\d+\s+(\d+)/m, status)
      [_, egid] = Regex.run(~r/^Gid:\s+\d+\s+(\d+)/m, status)

      assert Notify.decide(n, c) ==
               {:reply,
                [
                  {:call, 259, [-100, {:str, "/dev/null"}, 0o020644, 0x103],
                   %{ns: [:mount, :user], root: true, cwd: true, creds: false, resolve: :safe}},
                  {:call, 260,
                   [
                     -100,
                     {:str, "/dev/null"},
                     String.to_integer(euid),
                     String.to_integer(egid),
                     0
                   ], %{ns: [:mount], root: true, cwd: true, creds: true, resolve: :safe}},
                  {:return, 0}
                ]}

      # the string could not be read: the call fails with the read's errno
      assert Notify.decide(n, %{c | mem: %{1 => {:error, 14}}}) == {:reply, [{:errno, 14}]}
      # the caller is gone: ESRCH
      assert Notify.decide(n, %{c | pid: 0x3FFFFFFF}) == {:reply, [{:errno, 3}]}
    end

    test "a sequence ending in a call returns its result" do
      n = Notify.new!([%{syscall: :getpid, then: {:call, :getpid, [], []}}])

      assert {:reply, [{:call, 39, [], _}, :return_last]} = Notify.decide(n, call(:getpid, []))
    end

    test "inject_fd: at an argument's fd, as the return value, from each source" do
      n =
        Notify.new!([
          %{
            syscall: :connect,
            match: [{:sockaddr, 1, path: "/a"}],
            then: [{:inject_fd, {:connect_unix, "/b"}, at: {:arg, 0}}, {:return, 0}]
          },
          %{
            syscall: :openat,
            then: {:inject_fd, {:open, "/dev/null", [:rdwr], 0}, send: true, cloexec: true}
          },
          %{syscall: :dup, then: {:inject_fd, {:getfd, 1234, 5}, at: 9}}
        ])

      assert Notify.decide(
               n,
               call(:connect, [0xFFFF_FFFF_0000_0005, 1, 4], %{1 => sockaddr_un("/a")})
             ) ==
               {:reply, [{:addfd, {:connect_unix, "/b"}, 5, []}, {:return, 0}]}

      assert Notify.decide(n, call(:openat, [])) ==
               {:reply, [{:addfd, {:open, "/dev/null", 2, 0}, -1, [:cloexec, :send]}]}

      assert Notify.decide(n, call(:dup, [3])) ==
               {:reply, [{:addfd, {:getfd, 1234, 5}, 9, []}, :return_last]}
    end

    test "errno names become numbers" do
      n = Notify.new!([%{syscall: :getpid, then: {:errno, :eacces}}])
      assert Notify.decide(n, call(:getpid, [])) == {:reply, [{:errno, 13}]}
      n = Notify.new!([%{syscall: :getpid, then: {:errno, 95}}])
      assert Notify.decide(n, call(:getpid, [])) == {:reply, [{:errno, 95}]}
    end
  end

  describe "filter/1 (checked with BPF.emulate/2)" do
    test "trapped calls notify, others are allowed, foreign arches die, x32 gets ENOSYS" do
      n =
        Notify.new!(
          rules: [%{syscall: :connect, then: :continue}, %{syscall: :openat, then: :continue}],
          trap: [:uname]
        )

      f = Notify.filter(n)
      assert BPF.validate(f) == :ok

      for sys <- [:connect, :openat, :uname] do
        {:ok, nr} = Linx.Syscalls.number(sys)
        assert BPF.emulate(f, %{nr: nr}) == :notify, "#{sys}"
      end

      for sys <- [:read, :write, :open, :execve, :getpid] do
        {:ok, nr} = Linx.Syscalls.number(sys)
        assert BPF.emulate(f, %{nr: nr}) == :allow, "#{sys}"
      end

      assert BPF.emulate(f, %{nr: 42, arch: :x86}) == :kill_process
      assert BPF.emulate(f, %{nr: 1, arch: 0x40000003}) == :kill_process
      assert BPF.emulate(f, %{nr: 0x40000000 ||| 42}) == {:errno, 38}
      assert BPF.emulate(f, %{nr: 0x40000000 ||| 0}) == {:errno, 38}
    end

    test "every syscall trapped: long filters still reach every check" do
      names = for {name, _} <- Linx.Syscalls.all(), do: name
      f = Notify.filter(Notify.new!(trap: names))
      assert BPF.validate(f) == :ok

      for {_, nr} <- Linx.Syscalls.all() do
        assert BPF.emulate(f, %{nr: nr}) == :notify, "nr #{nr}"
      end

      assert BPF.emulate(f, %{nr: 1000}) == :allow
    end
  end

  describe "notification/1" do
    test "builds the map from the agent's frame" do
      frame = {:notify, 9, 100, 101, 42, 0xC000003E, 0x401000, {3, 4096, 16, 0, 0, 0}, [{1, "x"}]}

      assert Notify.notification(frame) == %{
               id: 9,
               pid: 100,
               tid: 101,
               nr: 42,
               syscall: :connect,
               arch: 0xC000003E,
               ip: 0x401000,
               args: [3, 4096, 16, 0, 0, 0],
               mem: %{1 => "x"}
             }
    end
  end

  # --- handlers --------------------------------------------------------------

  defmodule Counter do
    @behaviour Linx.Seccomp.Notifier
    @impl true
    def init(_), do: {:ok, %{}}
    @impl true
    def syscalls(_), do: [:getppid, :uname]
    @impl true
    def handle_syscall(%{syscall: :getppid} = n, counts),
      do: {{:return, Enum.at(n.args, 0) * 2}, Map.update(counts, :getppid, 1, &(&1 + 1))}

    def handle_syscall(%{syscall: s}, counts),
      do: {:continue, Map.update(counts, s, 1, &(&1 + 1))}

    @impl true
    def summary(counts), do: counts
  end

  defmodule Moody do
    @behaviour Linx.Seccomp.Notifier
    @impl true
    def init(test), do: {:ok, {test, 0}}
    @impl true
    def handle_syscall(%{args: [what | _]}, {test, n}) do
      case what do
        1 -> raise "boom"
        2 -> Process.sleep(:infinity)
        3 -> {{:errno, :notanerrno}, {test, n + 1}}
        4 -> :not_a_tuple
        5 -> {{:return, n}, {test, n + 1}}
        6 -> exit(:bye)
      end
    end

    @impl true
    def summary({_, n}), do: {:handled, n}
  end

  defmodule Reader do
    @behaviour Linx.Seccomp.Notifier
    @impl true
    def init(_), do: {:ok, nil}
    @impl true
    def handle_syscall(%{args: [addr, len | _]} = n, st) do
      case Notify.read_memory(n, addr, len) do
        {:ok, bytes} ->
          {:ok, path} = Notify.fd_path(n, 3)
          {[{:write, {:arg, 0}, String.reverse(bytes) <> path}, {:return, byte_size(bytes)}], st}

        {:error, errno} ->
          {{:errno, errno}, st}
      end
    end
  end

  defmodule Silent do
    def init(_), do: {:ok, nil}
    def handle_syscall(_, s), do: {:continue, s}
  end

  defmodule BadInit do
    def init(_), do: raise("no")
    def handle_syscall(_, s), do: {:continue, s}
  end

  defp start_handler(option) do
    test = self()
    notify = Notify.new!(option)
    {:ok, h} = Handler.start_link(notify, fn term -> send(test, {:sent, term}) end)
    h
  end

  defp handler_call(syscall, args, id) do
    %{call(syscall, args) | id: id}
  end

  describe "Handler" do
    test "threads state through calls and reports a summary" do
      h = start_handler({Counter, nil})
      Handler.handle(h, handler_call(:getppid, [21], 1))
      Handler.handle(h, handler_call(:uname, [0], 2))
      Handler.handle(h, handler_call(:getppid, [5], 3))

      assert_receive {:sent, {:notify_reply, 1, [{:return, 42}]}}
      assert_receive {:sent, {:notify_reply, 2, [:continue]}}
      assert_receive {:sent, {:notify_reply, 3, [{:return, 10}]}}
      assert Handler.summary(h) == {:ok, %{getppid: 2, uname: 1}}
    end

    test "the summary waits for queued calls" do
      h = start_handler(trap: [:getpid], handler: {Moody, nil}, handler_timeout: 200)
      Handler.handle(h, handler_call(:getpid, [5], 1))
      Handler.handle(h, handler_call(:getpid, [5], 2))
      assert Handler.summary(h) == {:ok, {:handled, 2}}
    end

    test "raise, exit, timeout and invalid answers get the errno, log and keep the state" do
      h =
        start_handler(
          trap: [:getpid],
          handler: {Moody, nil},
          handler_timeout: 100,
          handler_errno: :eacces
        )

      log =
        capture_log(fn ->
          Handler.handle(h, handler_call(:getpid, [5], 1))
          Handler.handle(h, handler_call(:getpid, [1], 2))
          Handler.handle(h, handler_call(:getpid, [2], 3))
          Handler.handle(h, handler_call(:getpid, [3], 4))
          Handler.handle(h, handler_call(:getpid, [4], 5))
          Handler.handle(h, handler_call(:getpid, [6], 6))
          Handler.handle(h, handler_call(:getpid, [5], 7))

          assert_receive {:sent, {:notify_reply, 1, [{:return, 0}]}}, 2000
          assert_receive {:sent, {:notify_reply, 2, [{:errno, 13}]}}, 2000
          assert_receive {:sent, {:notify_reply, 3, [{:errno, 13}]}}, 2000
          assert_receive {:sent, {:notify_reply, 4, [{:errno, 13}]}}, 2000
          assert_receive {:sent, {:notify_reply, 5, [{:errno, 13}]}}, 2000
          assert_receive {:sent, {:notify_reply, 6, [{:errno, 13}]}}, 2000
          # only calls 1 and 7 changed the state
          assert_receive {:sent, {:notify_reply, 7, [{:return, 1}]}}, 2000
        end)

      assert log =~ "boom"
      assert log =~ "timed out after 100 ms"
      assert log =~ "unknown errno :notanerrno"
      assert log =~ "returned :not_a_tuple"
      assert log =~ ":bye"
      assert Process.alive?(h)
      assert Handler.summary(h) == {:ok, {:handled, 2}}
    end

    test "the default errno of a failing handler is EPERM" do
      h = start_handler(trap: [:getpid], handler: {Moody, nil})

      capture_log(fn ->
        Handler.handle(h, handler_call(:getpid, [1], 1))
        assert_receive {:sent, {:notify_reply, 1, [{:errno, 1}]}}
      end)
    end

    test "read_memory/3 and fd_path/2 go through the agent and back" do
      h = start_handler(trap: [:pread64], handler: {Reader, nil})
      c = handler_call(:pread64, [0x1000, 4], 1)
      Handler.handle(h, c)

      assert_receive {:sent, {:notify_read, ref, 1, pid, 0x1000, 4}}
      assert pid == c.pid
      # an unknown ref is dropped
      Handler.agent_reply(h, {:notify_mem, ref + 1, "nope"})
      Handler.agent_reply(h, {:notify_mem, ref, "abcd"})
      assert_receive {:sent, {:notify_fd_path, ref2, 1, ^pid, 3}}
      Handler.agent_reply(h, {:notify_fd_path, ref2, "/dev/null"})

      assert_receive {:sent,
                      {:notify_reply, 1, [{:write, 0x1000, "dcba/dev/null"}, {:return, 4}]}}

      Handler.handle(h, handler_call(:pread64, [0, 4], 2))
      assert_receive {:sent, {:notify_read, ref, 2, _, 0, 4}}
      Handler.agent_reply(h, {:notify_mem, ref, {:error, 14}})
      assert_receive {:sent, {:notify_reply, 2, [{:errno, 14}]}}
    end

    test "read_memory/3 outside a handler raises" do
      assert_raise ArgumentError, ~r/only inside/, fn ->
        Notify.read_memory(call(:read, []), 0, 1)
      end
    end

    test "no summary/1: :none; a failing init: start_link fails" do
      h = start_handler(trap: [:getpid], handler: {Silent, nil})
      assert Handler.summary(h) == :none

      Process.flag(:trap_exit, true)
      notify = Notify.new!(trap: [:getpid], handler: {BadInit, nil})

      assert {:error, {:init_raised, BadInit, %RuntimeError{}}} =
               Handler.start_link(notify, fn _ -> :ok end)
    end
  end
end
