defmodule Linx.Sandbox do
  @moduledoc """
  One-line sandboxes: presets of `Linx.Process.spawn/1` and `run/2`
  options.

      Linx.Process.run(["/usr/bin/id"], Linx.Sandbox.options(:minimal))
      #=> {"uid=1000 gid=1000 groups=1000\\n", 0}

  `options/2` returns a plain keyword list: read it, change it, pass it on.
  `docs/sandbox.md` explains every option it uses (`root:`, `mounts:`,
  `hostname:`, …) and the order in which the child applies them.

  ## Presets

  `:minimal` expands to exactly (the caller's uid and gid read from
  `/proc/self` at the call):

      [
        root: :tmpfs,
        mounts: [
          {:ro_bind, "/usr", "/usr"},
          {:ro_bind, "/bin", "/bin", optional: true},
          {:ro_bind, "/sbin", "/sbin", optional: true},
          {:ro_bind, "/lib", "/lib", optional: true},
          {:ro_bind, "/lib32", "/lib32", optional: true},
          {:ro_bind, "/lib64", "/lib64", optional: true},
          {:ro_bind, "/libx32", "/libx32", optional: true},
          {:ro_bind, "/etc/ld.so.cache", "/etc/ld.so.cache", optional: true},
          {:ro_bind, "/etc/ld.so.conf", "/etc/ld.so.conf", optional: true},
          {:ro_bind, "/etc/ld.so.conf.d", "/etc/ld.so.conf.d", optional: true},
          {:ro_bind, "/etc/alternatives", "/etc/alternatives", optional: true},
          {:proc, "/proc"},
          {:dev, "/dev"},
          {:tmpfs, "/tmp", mode: 0o1777}
        ],
        namespaces: [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid],
        uid_map: [{1000, caller_uid, 1}],
        gid_map: [{1000, caller_gid, 1}],
        loopback: true,
        hostname: "linx",
        capabilities: [drop: :all],
        no_new_privs: true,
        init: true,
        seccomp: docker_default
      ]

  where `docker_default` is Docker's default seccomp profile
  (`priv/seccomp/docker_default.exs`, moby's `profiles/seccomp/default.json`)
  through `Linx.Seccomp.from_oci/2` with no capabilities.

  `:network` is the same without `:net` in `namespaces:` (the host's
  network) and with two more mounts at the end of the list:

      {:ro_bind, "/etc/resolv.conf", "/etc/resolv.conf", optional: true},
      {:ro_bind, "/etc/ssl", "/etc/ssl", optional: true}

  ## Overrides

  `overrides` merge into the preset: `mounts:` are appended to the
  preset's (so a `{:mount, index}` error counts the preset's entries
  first), every other key replaces the preset's value.

      Linx.Sandbox.options(:minimal, mounts: [{:bind, "/srv/data", "/data"}], hostname: "job-1")
  """

  @all_namespaces [:user, :mount, :uts, :ipc, :cgroup, :net, :time, :pid]

  @docker_file Path.expand("../../priv/seccomp/docker_default.exs", __DIR__)
  @external_resource @docker_file
  @docker_profile elem(Code.eval_file(@docker_file), 0)

  @base_mounts [
    {:ro_bind, "/usr", "/usr"},
    {:ro_bind, "/bin", "/bin", optional: true},
    {:ro_bind, "/sbin", "/sbin", optional: true},
    {:ro_bind, "/lib", "/lib", optional: true},
    {:ro_bind, "/lib32", "/lib32", optional: true},
    {:ro_bind, "/lib64", "/lib64", optional: true},
    {:ro_bind, "/libx32", "/libx32", optional: true},
    {:ro_bind, "/etc/ld.so.cache", "/etc/ld.so.cache", optional: true},
    {:ro_bind, "/etc/ld.so.conf", "/etc/ld.so.conf", optional: true},
    {:ro_bind, "/etc/ld.so.conf.d", "/etc/ld.so.conf.d", optional: true},
    {:ro_bind, "/etc/alternatives", "/etc/alternatives", optional: true},
    {:proc, "/proc"},
    {:dev, "/dev"},
    {:tmpfs, "/tmp", mode: 0o1777}
  ]

  @network_mounts [
    {:ro_bind, "/etc/resolv.conf", "/etc/resolv.conf", optional: true},
    {:ro_bind, "/etc/ssl", "/etc/ssl", optional: true}
  ]

  @type preset :: :minimal | :network

  @doc """
  The options of `preset` (`:minimal` or `:network`, see the module doc)
  with `overrides` merged in: `mounts:` appended, other keys replaced.
  An unknown preset or an overrides value that is not a keyword list
  raises `ArgumentError`; the options themselves are validated by
  `Linx.Process.spawn/1` and `run/2`, like any others.
  """
  @spec options(preset, keyword) :: keyword
  def options(preset, overrides \\ [])

  def options(preset, overrides) when preset in [:minimal, :network] do
    unless Keyword.keyword?(overrides) do
      raise ArgumentError,
            "Linx.Sandbox.options/2: overrides must be a keyword list, got: #{inspect(overrides)}"
    end

    base = preset(preset)
    {extra, overrides} = Keyword.pop(overrides, :mounts, [])

    unless is_list(extra) do
      raise ArgumentError,
            "Linx.Sandbox.options/2: mounts: must be a list, got: #{inspect(extra)}"
    end

    base
    |> Keyword.update!(:mounts, &(&1 ++ extra))
    |> Keyword.merge(overrides)
  end

  def options(preset, _overrides) do
    raise ArgumentError,
          "unknown sandbox preset #{inspect(preset)}, expected :minimal or :network"
  end

  @doc "Docker's default seccomp profile, as a decoded OCI map (for `Linx.Seccomp.from_oci/2`)."
  @spec docker_default_profile() :: map
  def docker_default_profile, do: @docker_profile

  defp preset(:minimal), do: common(@base_mounts, @all_namespaces)
  defp preset(:network), do: common(@base_mounts ++ @network_mounts, @all_namespaces -- [:net])

  defp common(mounts, namespaces) do
    {uid, gid} = Linx.Process.IdMaps.beam_ids()
    {:ok, seccomp} = Linx.Seccomp.from_oci(@docker_profile, caps: [])

    [
      root: :tmpfs,
      mounts: mounts,
      namespaces: namespaces,
      uid_map: [{1000, uid, 1}],
      gid_map: [{1000, gid, 1}],
      loopback: true,
      hostname: "linx",
      capabilities: [drop: :all],
      no_new_privs: true,
      init: true,
      seccomp: seccomp
    ]
  end
end
