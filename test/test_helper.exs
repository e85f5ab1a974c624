# Integration tests run real workloads in real namespaces: they need root
# (or user namespaces) and the agent built by `mix compile`.
# The soak test (tag :soak, ~5 s) runs by default; LINX_SOAK=0 skips it.
exclude = if System.get_env("LINX_SOAK") == "0", do: [:soak], else: []
ExUnit.start(exclude: exclude, capture_log: true)
