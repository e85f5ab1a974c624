# Integration tests run real workloads in real namespaces: they need root
# (or user namespaces) and the agent built by `mix compile`.
exclude = if System.get_env("LINX_SOAK") == "1", do: [], else: [:soak]
ExUnit.start(exclude: exclude, capture_log: true)
