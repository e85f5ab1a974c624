defmodule Linx.Seccomp.IntArgs do
  @moduledoc """
  System call arguments the kernel reads as 32-bit values (`int`,
  `unsigned int`, `pid_t`, `uid_t`, `umode_t`, …) although seccomp hands
  a filter all 64 bits of the register.

  A filter that compares such an argument as 64 bits can be bypassed by
  setting the high 32 bits, which the kernel then ignores:
  `socket(0x100000028, SOCK_STREAM, 0)` creates an `AF_VSOCK` (40) socket,
  yet passes Docker's and Podman's rules `family == 40 -> EAFNOSUPPORT`,
  `family > 40 -> ...`, because `0x100000028` is neither 40 nor (as 64
  bits) treated like it. Compare the low 32 bits only: in a Linx policy
  `{{:u32, arg}, op, value}` (see `Linx.Seccomp`), in an OCI profile
  `SCMP_CMP_MASKED_EQ` with the mask `0xffffffff`.

  The table follows the kernel's `SYSCALL_DEFINE` signatures (x86_64) for
  the calls filters commonly look at; `Linx.Seccomp.Policy.lint/1` and
  `Linx.Seccomp.BPF.lint/1` use it.

      iex> Linx.Seccomp.IntArgs.of(:socket)
      [0, 1, 2]
      iex> Linx.Seccomp.IntArgs.of("clone")
      []
  """

  # name => indexes of 32-bit arguments (kernel SYSCALL_DEFINE, x86_64)
  @table %{
    read: [0],
    write: [0],
    close: [0],
    pread64: [0],
    pwrite64: [0],
    readv: [0],
    writev: [0],
    lseek: [0, 2],
    ioctl: [0, 1],
    fcntl: [0, 1],
    flock: [0, 1],
    dup: [0],
    dup2: [0, 1],
    dup3: [0, 1, 2],
    socket: [0, 1, 2],
    socketpair: [0, 1, 2],
    connect: [0, 2],
    bind: [0, 2],
    listen: [0, 1],
    accept: [0],
    accept4: [0, 3],
    shutdown: [0, 1],
    setsockopt: [0, 1, 2, 4],
    getsockopt: [0, 1, 2],
    sendto: [0, 3, 5],
    recvfrom: [0, 3],
    sendmsg: [0, 2],
    recvmsg: [0, 2],
    sendmmsg: [0, 2, 3],
    recvmmsg: [0, 2, 3],
    personality: [0],
    setns: [0, 1],
    kill: [0, 1],
    tkill: [0, 1],
    tgkill: [0, 1, 2],
    prctl: [0],
    open: [1, 2],
    openat: [0, 2, 3],
    creat: [1],
    faccessat: [0, 2],
    faccessat2: [0, 2, 3],
    execveat: [0, 4],
    chmod: [1],
    fchmod: [0, 1],
    fchmodat: [0, 2],
    chown: [1, 2],
    lchown: [1, 2],
    fchown: [0, 1, 2],
    fchownat: [0, 2, 3, 4],
    mknod: [1, 2],
    mknodat: [0, 2, 3],
    mkdirat: [0, 2],
    mkdir: [1],
    umount2: [1],
    setuid: [0],
    setgid: [0],
    setreuid: [0, 1],
    setregid: [0, 1],
    setresuid: [0, 1, 2],
    setresgid: [0, 1, 2],
    setfsuid: [0],
    setfsgid: [0],
    bpf: [0, 2],
    keyctl: [0],
    perf_event_open: [1, 2, 3],
    pidfd_open: [0, 1],
    pidfd_getfd: [0, 1, 2],
    pidfd_send_signal: [0, 1, 3],
    epoll_ctl: [0, 1, 2],
    sched_setscheduler: [0, 1],
    sched_setaffinity: [0, 1],
    ioprio_set: [0, 1, 2],
    quotactl: [0],
    syslog: [0, 2],
    reboot: [0, 1, 2],
    kcmp: [0, 1, 2],
    memfd_create: [1],
    wait4: [0, 2],
    getpriority: [0, 1],
    setpriority: [0, 1, 2],
    exit: [0],
    exit_group: [0],
    madvise: [2],
    getrandom: [2],
    userfaultfd: [0],
    seccomp: [0, 1],
    process_vm_readv: [0],
    process_vm_writev: [0],
    fsopen: [1],
    fsconfig: [0, 1, 4],
    fsmount: [0, 1, 2],
    move_mount: [0, 2, 4],
    open_tree: [0, 2],
    clock_settime: [0],
    clock_adjtime: [0],
    name_to_handle_at: [0, 4],
    open_by_handle_at: [0, 2],
    sync_file_range: [0, 3],
    vmsplice: [0, 3],
    unlinkat: [0, 2],
    renameat2: [0, 2, 4],
    linkat: [0, 2, 4],
    symlinkat: [1],
    utimensat: [0, 3],
    statx: [0, 2, 3],
    newfstatat: [0, 3],
    io_uring_setup: [0],
    io_uring_enter: [0, 1, 2, 3],
    io_uring_register: [0, 1, 3],
    inotify_init1: [0],
    eventfd2: [0, 1],
    signalfd4: [0, 3],
    timerfd_create: [0, 1],
    pipe2: [1],
    mlockall: [0],
    unshare: [],
    clone: []
  }

  @doc """
  Indexes of the arguments of `syscall` (an atom, a string or an x86_64
  number) that the kernel reads as 32-bit values; `[]` when none is known.

      iex> Linx.Seccomp.IntArgs.of(41)
      [0, 1, 2]
  """
  @spec of(atom | String.t() | non_neg_integer) :: [0..5]
  def of(nr) when is_integer(nr), do: of(Linx.Syscalls.name(nr))
  def of(name) when is_atom(name), do: Map.get(@table, name, [])

  def of(name) when is_binary(name) do
    case Linx.Syscalls.number(name) do
      {:ok, nr} -> of(nr)
      :error -> []
    end
  end

  @doc """
  Every `{syscall, indexes}` of the table.

      iex> {:personality, [0]} in Linx.Seccomp.IntArgs.all()
      true
  """
  @spec all() :: [{atom, [0..5]}]
  def all, do: @table |> Enum.reject(fn {_, idx} -> idx == [] end) |> Enum.sort()
end
