defmodule Mix.Tasks.Linx.Seccomp do
  @shortdoc "Compiles, disassembles or lints seccomp filters"

  @moduledoc """
  Works with seccomp filters from the command line.

      mix linx.seccomp compile FILE [-o OUT] [--pfc] [--caps CAP,...]
      mix linx.seccomp disasm FILE
      mix linx.seccomp lint FILE [--caps CAP,...]
      mix linx.seccomp record [-o OUT.json] [--args socket,clone,personality,ioctl] -- CMD ARGS...

  `compile` reads FILE as a JSON OCI/Docker seccomp profile when its name
  ends in `.json` (Docker's `default.json`, Podman's `seccomp.json`, what
  `record` writes), else as an Elixir term file holding a
  `%Linx.Seccomp.Policy{}` or an OCI map (string keys). It compiles it
  with libseccomp and prints the BPF as hex, or writes the raw bytes to
  OUT with `-o`. `--pfc` prints libseccomp's pseudo code instead. `--caps`
  lists the capabilities a Docker profile's `includes`/`excludes` are
  evaluated against. Skipped syscall names and the warnings of
  `Linx.Seccomp.from_oci_with_warnings/2` (entries overridden as crun
  would override them, 64-bit comparisons of 32-bit arguments) are
  reported on stderr.

  `disasm` reads FILE as raw BPF (an array of 8-byte `struct
  sock_filter`) and prints `Linx.Seccomp.BPF.disassemble/1`'s listing.
  `lint` prints `Linx.Seccomp.BPF.lint/1`'s findings for raw BPF, or for a
  profile or policy file (then compiled first, with
  `Linx.Seccomp.Policy.lint/1`'s findings too); exit status 1 if there are
  any.

  `record` runs CMD with every system call recorded
  (`Linx.Seccomp.Profile.record/2`), prints the workload's output and a
  summary on stderr, and writes the profile as JSON to OUT (stdout without
  `-o`); `--args` records the argument values of those calls. The
  workload's exit status becomes the task's.

      mix linx.seccomp record -o /tmp/ls.json -- /bin/ls /
      mix linx.seccomp compile /tmp/ls.json -o /tmp/ls.bpf
      mix linx.seccomp compile test/fixtures/seccomp/moby_default.json -o /tmp/docker.bpf
      mix linx.seccomp disasm /tmp/docker.bpf
  """

  use Mix.Task

  # Called through a variable so this task compiles before (or without)
  # Linx.Seccomp.BPF, which is written separately.
  @bpf Linx.Seccomp.BPF

  @impl true
  def run(args) do
    # everything after "--" is the recorded command, untouched
    {args, command} =
      case Enum.split_while(args, &(&1 != "--")) do
        {before, ["--" | cmd]} -> {before, cmd}
        {before, []} -> {before, nil}
      end

    {opts, rest} =
      OptionParser.parse!(args,
        strict: [output: :string, pfc: :boolean, caps: :string, args: :string],
        aliases: [o: :output]
      )

    Mix.Task.run("app.config")

    case {rest, command} do
      {["compile", file], nil} ->
        compile(file, opts)

      {["disasm", file], nil} ->
        disasm(file)

      {["lint", file], nil} ->
        lint(file, opts)

      {["record"], [_ | _] = cmd} ->
        record(cmd, opts)

      _ ->
        Mix.raise(
          "usage: mix linx.seccomp compile|disasm|lint FILE, or record [-o OUT.json] -- CMD ARGS " <>
            "(see mix help linx.seccomp)"
        )
    end
  end

  defp compile(file, opts) do
    policy = load_policy(file, opts)

    if opts[:pfc] do
      case Linx.Seccomp.pfc(policy) do
        {:ok, text} -> Mix.shell().info(text)
        {:error, reason} -> Mix.raise(Linx.Seccomp.format_error(reason))
      end
    else
      case Linx.Seccomp.compile_with_warnings(policy) do
        {:ok, bpf, warnings} ->
          for {kind, name} <- warnings, do: Mix.shell().error("skipped #{name}: #{kind}")
          write_bpf(bpf, opts[:output])

        {:error, reason} ->
          Mix.raise(Linx.Seccomp.format_error(reason))
      end
    end
  end

  defp load_policy(file, opts) do
    term =
      if String.ends_with?(file, ".json") do
        with {:ok, text} <- File.read(file),
             {:ok, term} <- Linx.JSON.decode(text) do
          term
        else
          {:error, {:invalid_json, at, msg}} ->
            Mix.raise("#{file}: invalid JSON at byte #{at}: #{msg}")

          {:error, reason} ->
            Mix.raise("#{file}: #{:file.format_error(reason)}")
        end
      else
        elem(Code.eval_file(file), 0)
      end

    case term do
      %Linx.Seccomp.Policy{} = p ->
        for w <- Linx.Seccomp.Policy.lint(p), do: Mix.shell().error("warning: " <> w.message)
        p

      %{} = oci ->
        caps = opts |> Keyword.get(:caps, "") |> String.split(",", trim: true)

        case Linx.Seccomp.from_oci_with_warnings(oci, caps: caps) do
          {:ok, p, warnings} ->
            for w <- warnings, do: Mix.shell().error("warning: " <> w.message)
            p

          {:error, reason} ->
            Mix.raise(Linx.Seccomp.format_error(reason))
        end

      other ->
        Mix.raise(
          "#{file}: expected a %Linx.Seccomp.Policy{} or an OCI seccomp map, got #{inspect(other, limit: 5)}"
        )
    end
  end

  defp write_bpf(bpf, nil), do: Mix.shell().info(Base.encode16(bpf, case: :lower))

  defp write_bpf(bpf, out) do
    File.write!(out, bpf)
    Mix.shell().info("wrote #{div(byte_size(bpf), 8)} instructions to #{out}")
  end

  defp disasm(file) do
    file |> read_bpf() |> @bpf.disassemble() |> IO.write()
  end

  defp lint(file, opts) do
    bpf =
      if String.ends_with?(file, [".json", ".exs"]) do
        policy = load_policy(file, opts)

        case Linx.Seccomp.compile(policy) do
          {:ok, bpf} -> bpf
          {:error, reason} -> Mix.raise(Linx.Seccomp.format_error(reason))
        end
      else
        read_bpf(file)
      end

    case @bpf.lint(bpf) do
      [] ->
        Mix.shell().info("no findings")

      findings ->
        for f <- findings, do: Mix.shell().info(format_finding(f))
        Mix.raise("#{length(findings)} lint finding(s)")
    end
  end

  defp record(cmd, opts) do
    kinds =
      opts
      |> Keyword.get(:args, "")
      |> String.split(",", trim: true)
      |> Enum.map(fn kind ->
        case Enum.find(Linx.Seccomp.Profile.kinds(), &(Atom.to_string(&1) == kind)) do
          nil ->
            Mix.raise(
              "--args: unknown kind #{inspect(kind)} (known: #{Enum.join(Linx.Seccomp.Profile.kinds(), ", ")})"
            )

          atom ->
            atom
        end
      end)

    Mix.Task.run("app.start")
    {:ok, profile} = Linx.Seccomp.Profile.record(cmd, args: kinds, stderr_to_stdout: true)
    IO.write(:stderr, profile.output)

    total = profile.calls |> Map.values() |> Enum.sum()

    Mix.shell().error(
      "recorded #{map_size(profile.calls)} distinct system calls (#{total} calls), " <>
        "exit status #{profile.exit}"
    )

    json = Linx.Seccomp.Profile.to_json(profile)

    case opts[:output] do
      nil ->
        IO.write(json)

      out ->
        File.write!(out, json)
        Mix.shell().error("wrote #{out}")
    end

    if profile.exit != 0, do: exit({:shutdown, profile.exit})
  end

  defp format_finding(%{kind: kind, message: message}), do: "#{kind}: #{message}"
  defp format_finding(other), do: inspect(other)

  defp read_bpf(file) do
    case File.read(file) do
      {:ok, bin} when rem(byte_size(bin), 8) == 0 and byte_size(bin) > 0 ->
        bin

      {:ok, bin} ->
        Mix.raise("#{file}: #{byte_size(bin)} bytes is not a whole number of 8-byte instructions")

      {:error, reason} ->
        Mix.raise("#{file}: #{:file.format_error(reason)}")
    end
  end
end
