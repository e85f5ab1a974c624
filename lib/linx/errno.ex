defmodule Linx.Errno do
  @moduledoc """
  Linux errno numbers and their names, as atoms (`:enoent`).

  The agent reports failures as integers (it is C); `Linx.Process` turns
  them into atoms with `name/1` so callers match on `{:enoent, :execve}`
  rather than on `{2, :execve}`. The table comes from the kernel's
  `asm-generic/errno-base.h` and `asm-generic/errno.h` (x86_64 uses the
  generic numbers).

      iex> Linx.Errno.name(2)
      :enoent
      iex> Linx.Errno.number(:eperm)
      {:ok, 1}
      iex> Linx.Errno.name(4242)
      4242
  """

  @table [
    eperm: 1,
    enoent: 2,
    esrch: 3,
    eintr: 4,
    eio: 5,
    enxio: 6,
    e2big: 7,
    enoexec: 8,
    ebadf: 9,
    echild: 10,
    eagain: 11,
    enomem: 12,
    eacces: 13,
    efault: 14,
    enotblk: 15,
    ebusy: 16,
    eexist: 17,
    exdev: 18,
    enodev: 19,
    enotdir: 20,
    eisdir: 21,
    einval: 22,
    enfile: 23,
    emfile: 24,
    enotty: 25,
    etxtbsy: 26,
    efbig: 27,
    enospc: 28,
    espipe: 29,
    erofs: 30,
    emlink: 31,
    epipe: 32,
    edom: 33,
    erange: 34,
    edeadlk: 35,
    enametoolong: 36,
    enolck: 37,
    enosys: 38,
    enotempty: 39,
    eloop: 40,
    enomsg: 42,
    eidrm: 43,
    echrng: 44,
    el2nsync: 45,
    el3hlt: 46,
    el3rst: 47,
    elnrng: 48,
    eunatch: 49,
    enocsi: 50,
    el2hlt: 51,
    ebade: 52,
    ebadr: 53,
    exfull: 54,
    enoano: 55,
    ebadrqc: 56,
    ebadslt: 57,
    ebfont: 59,
    enostr: 60,
    enodata: 61,
    etime: 62,
    enosr: 63,
    enonet: 64,
    enopkg: 65,
    eremote: 66,
    enolink: 67,
    eadv: 68,
    esrmnt: 69,
    ecomm: 70,
    eproto: 71,
    emultihop: 72,
    edotdot: 73,
    ebadmsg: 74,
    eoverflow: 75,
    enotuniq: 76,
    ebadfd: 77,
    eremchg: 78,
    elibacc: 79,
    elibbad: 80,
    elibscn: 81,
    elibmax: 82,
    elibexec: 83,
    eilseq: 84,
    erestart: 85,
    estrpipe: 86,
    eusers: 87,
    enotsock: 88,
    edestaddrreq: 89,
    emsgsize: 90,
    eprototype: 91,
    enoprotoopt: 92,
    eprotonosupport: 93,
    esocktnosupport: 94,
    eopnotsupp: 95,
    epfnosupport: 96,
    eafnosupport: 97,
    eaddrinuse: 98,
    eaddrnotavail: 99,
    enetdown: 100,
    enetunreach: 101,
    enetreset: 102,
    econnaborted: 103,
    econnreset: 104,
    enobufs: 105,
    eisconn: 106,
    enotconn: 107,
    eshutdown: 108,
    etoomanyrefs: 109,
    etimedout: 110,
    econnrefused: 111,
    ehostdown: 112,
    ehostunreach: 113,
    ealready: 114,
    einprogress: 115,
    estale: 116,
    euclean: 117,
    enotnam: 118,
    enavail: 119,
    eisnam: 120,
    eremoteio: 121,
    edquot: 122,
    enomedium: 123,
    emediumtype: 124,
    ecanceled: 125,
    enokey: 126,
    ekeyexpired: 127,
    ekeyrevoked: 128,
    ekeyrejected: 129,
    eownerdead: 130,
    enotrecoverable: 131,
    erfkill: 132,
    ehwpoison: 133
  ]

  @by_number Map.new(@table, fn {name, n} -> {n, name} end)
  @by_name Map.new(@table)

  @doc "The errno atom for `n`, or `n` itself when Linux has no name for it."
  @spec name(integer) :: atom | integer
  def name(n) when is_integer(n), do: Map.get(@by_number, n, n)

  @doc "The number of an errno atom (`:eacces` → 13); also accepts an integer as is."
  @spec number(atom | integer) :: {:ok, pos_integer} | :error
  def number(n) when is_integer(n) and n > 0 and n < 4096, do: {:ok, n}
  def number(name) when is_atom(name), do: Map.fetch(@by_name, name)
  def number(_), do: :error

  @doc """
  The number of an errno atom, for code that names errnos rather than
  writing numbers. Raises `ArgumentError` for a name Linux does not have.

      iex> Linx.Errno.number!(:enosys)
      38
  """
  @spec number!(atom) :: pos_integer
  def number!(name) when is_atom(name) do
    case Map.fetch(@by_name, name) do
      {:ok, n} -> n
      :error -> raise ArgumentError, "unknown errno #{inspect(name)}"
    end
  end

  @doc "Every known errno name."
  @spec names() :: [atom]
  def names, do: Keyword.keys(@table)
end
