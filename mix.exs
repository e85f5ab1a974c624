defmodule Mix.Tasks.Compile.LinxAgent do
  @moduledoc false
  # Builds priv/linx_process (and the other C programs) by running `make`.
  # Defined here, not under lib/, because Mix needs the compiler before it
  # can compile the project. make's output is shown as-is; a C error fails
  # `mix compile`.
  use Mix.Task.Compiler

  @impl true
  def run(_args) do
    if System.get_env("LINX_SKIP_MAKE") == "1" do
      {:noop, []}
    else
      make()
    end
  end

  defp make do
    {output, status} =
      System.cmd("make", ["--no-print-directory", "all"],
        stderr_to_stdout: true,
        env: [{"MIX_BUILD_PATH", Mix.Project.build_path()}]
      )

    cond do
      status != 0 ->
        Mix.shell().error(output)
        Mix.raise("make failed with exit status #{status} (C build of priv/linx_process)")

      String.contains?(output, "Nothing to be done") or output == "" ->
        {:noop, []}

      true ->
        Mix.shell().info(output)
        {:ok, []}
    end
  end
end

defmodule Linx.MixProject do
  use Mix.Project

  def project do
    [
      app: :linx,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      compilers: [:linx_agent] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: [],
      docs: [main: "readme"],
      aliases: aliases()
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {Linx.Application, []}]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp aliases do
    [clean: ["clean", fn _ -> System.cmd("make", ["clean"]) end]]
  end
end
