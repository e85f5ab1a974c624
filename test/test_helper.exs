# Integration tests run real workloads in real namespaces: they need root
# (or user namespaces) and the agent built by `mix compile`.
# The soak test (tag :soak, ~5 s) runs by default; LINX_SOAK=0 skips it.
exclude = if System.get_env("LINX_SOAK") == "0", do: [:soak], else: []
ExUnit.start(exclude: exclude, capture_log: true)

# Agents keep draining their input for up to 50 ms after their last frame
# (see "Agent exit codes" in docs/protocol.md): let them finish before the
# VM halts, so erl_child_setup has someone to report their exit to.
ExUnit.after_suite(fn _ ->
  Linx.Pool.resize(0)
  Process.sleep(200)
end)
