defmodule Mix.Tasks.Linx.Seccomp do
  @shortdoc "Compiles, disassembles or lints seccomp filters"

  @moduledoc """
  Works with seccomp filters from the command line.

      mix linx.seccomp compile FILE [-o OUT] [--pfc] [--caps CAP,...]
      mix linx.seccomp disasm FILE
      mix linx.seccomp lint FILE

  `compile` reads FILE as an Elixir term file holding a
  `%Linx.Seccomp.Policy{}` or an OCI/Docker seccomp map (string keys, as
  `test/fixtures/docker_default.exs`), compiles it with libseccomp and
  prints the BPF as hex, or writes the raw bytes to OUT with `-o`. `--pfc`
  prints libseccomp's pseudo code instead. `--caps` lists the capabilities
  a Docker profile's `includes`/`excludes` are evaluated against. Skipped
  syscall names are reported on stderr.

  `disasm` and `lint` read FILE as raw BPF (an array of 8-byte
  `struct sock_filter`) and print `Linx.Seccomp.BPF.disassemble/1`'s
  listing or `Linx.Seccomp.BPF.lint/1`'s findings (exit status 1 if there
  are any).

      mix linx.seccomp compile test/fixtures/docker_default.exs -o /tmp/docker.bpf
      mix linx.seccomp disasm /tmp/docker.bpf
  """

  use Mix.Task

  # Called through a variable so this task compiles before (or without)
  # Linx.Seccomp.BPF, which is written separately.
  @bpf Linx.Seccomp.BPF

  @impl true
  def run(args) do
    {opts, rest} =
      OptionParser.parse!(args,
        strict: [output: :string, pfc: :boolean, caps: :string],
        aliases: [o: :output]
      )

    Mix.Task.run("app.config")

    case rest do
      ["compile", file] ->
        compile(file, opts)

      ["disasm", file] ->
        disasm(file)

      ["lint", file] ->
        lint(file)

      _ ->
        Mix.raise("usage: mix linx.seccomp compile|disasm|lint FILE (see mix help linx.seccomp)")
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
    {term, _} = Code.eval_file(file)

    case term do
      %Linx.Seccomp.Policy{} = p ->
        p

      %{} = oci ->
        caps = opts |> Keyword.get(:caps, "") |> String.split(",", trim: true)

        case Linx.Seccomp.from_oci(oci, caps: caps) do
          {:ok, p} -> p
          {:error, reason} -> Mix.raise(Linx.Seccomp.format_error(reason))
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

  defp lint(file) do
    case file |> read_bpf() |> @bpf.lint() do
      [] ->
        Mix.shell().info("no findings")

      findings ->
        for f <- findings, do: Mix.shell().info(format_finding(f))
        Mix.raise("#{length(findings)} lint finding(s)")
    end
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
