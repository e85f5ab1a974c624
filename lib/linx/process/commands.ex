defmodule Linx.Process.Commands do
  @moduledoc false
  # Turns the :capabilities and :seccomp options into the agent's checkpoint
  # commands (docs/protocol.md), in the one order that works:
  #
  #   1. cap_drop_bounding  - needs CAP_SETPCAP, so before the thread sets drop
  #   2. cap_set_thread     - lowers effective/permitted/inheritable
  #   3. cap_set_ambient    - needs each cap in permitted and inheritable
  #   4. seccomp_install    - last, so the filter need not allow the steps above
  #
  # Filters stack in the order given. Impossible capability combinations are
  # refused here with ArgumentError, not discovered as EPERM in the child.

  import Bitwise
  alias Linx.Capabilities
  alias Linx.Process.Wire

  @cap_keys [:keep, :drop, :ambient, :effective, :permitted, :inheritable, :bounding]

  # `full` is the permitted set the child holds at the checkpoint: every
  # capability in a user namespace of its own, else the agent's (the BEAM's)
  # permitted set. "drop: [...]" means "full minus these".
  @spec from_options(term, term, non_neg_integer) :: [tuple]
  def from_options(caps, seccomp, full \\ Capabilities.to_mask(:all)) do
    cap_commands(caps, full) ++ seccomp_commands(seccomp)
  end

  @doc false
  # The five target sets as masks, or nil when the option is absent.
  @spec cap_sets(term, non_neg_integer) :: map | nil
  def cap_sets(opts, full \\ Capabilities.to_mask(:all))
  def cap_sets(nil, _full), do: nil

  def cap_sets(opts, full) do
    unless Keyword.keyword?(opts) and opts != [] do
      bad_caps!(opts, "a keyword list such as [keep: [:net_bind_service], drop: :all]")
    end

    for {k, _} <- opts, k not in @cap_keys do
      bad_caps!(opts, "known keys #{inspect(@cap_keys)}; unknown key #{inspect(k)}")
    end

    all = full
    mask = fn key, default -> set_mask(opts, key, default) end

    # keep/drop give the starting point for every set (keep alone means
    # "only these"; keep wins over drop); explicit sets override it.
    base =
      case {Keyword.get(opts, :keep), Keyword.get(opts, :drop)} do
        {nil, nil} -> all
        {nil, :all} -> 0
        {nil, _drop} -> all &&& ~~~mask.(:drop, 0)
        {_keep, d} when d in [nil, :all] -> mask.(:keep, 0)
        {_keep, _drop} -> (all &&& ~~~mask.(:drop, 0)) ||| mask.(:keep, 0)
      end

    ambient = mask.(:ambient, 0)
    bounding = mask.(:bounding, base ||| ambient)
    permitted = mask.(:permitted, base ||| ambient)
    effective = mask.(:effective, permitted)
    inheritable = mask.(:inheritable, ambient)

    sets = %{
      effective: effective,
      permitted: permitted,
      inheritable: inheritable,
      bounding: bounding,
      ambient: ambient
    }

    check!(sets, opts)
  end

  defp set_mask(opts, key, default) do
    case Keyword.fetch(opts, key) do
      :error ->
        default

      {:ok, :all} ->
        Capabilities.to_mask(:all)

      {:ok, list} when is_list(list) ->
        try do
          Capabilities.to_mask(list)
        rescue
          e in ArgumentError -> bad_caps!(opts, "#{inspect(key)}: #{Exception.message(e)}")
        end

      {:ok, other} ->
        bad_caps!(
          opts,
          "#{inspect(key)} to be a list of capabilities or :all, got #{inspect(other)}"
        )
    end
  end

  # The kernel's rules, checked before anything runs.
  defp check!(s, opts) do
    subset = fn a, b -> (a &&& ~~~b) == 0 end

    cond do
      not subset.(s.effective, s.permitted) ->
        impossible!(
          opts,
          "effective must be a subset of permitted",
          s.effective &&& ~~~s.permitted
        )

      not subset.(s.ambient, s.permitted &&& s.inheritable) ->
        impossible!(
          opts,
          "every ambient capability must also be permitted and inheritable",
          s.ambient &&& ~~~(s.permitted &&& s.inheritable)
        )

      not subset.(s.inheritable, s.bounding) ->
        impossible!(
          opts,
          "inheritable capabilities must stay in the bounding set",
          s.inheritable &&& ~~~s.bounding
        )

      true ->
        s
    end
  end

  defp cap_commands(nil, _full), do: []

  defp cap_commands(opts, full) do
    s = cap_sets(opts, full)
    all = Capabilities.to_mask(:all)

    [
      Wire.cap_drop_bounding(all &&& ~~~s.bounding),
      Wire.cap_set_thread(s.effective, s.permitted, s.inheritable),
      Wire.cap_set_ambient(s.ambient)
    ]
  end

  defp impossible!(opts, rule, offending) do
    raise ArgumentError,
          "invalid option :capabilities #{inspect(opts)}: impossible combination: #{rule} " <>
            "(offending: #{inspect(Capabilities.from_mask(offending))})"
  end

  defp bad_caps!(opts, expected) do
    raise ArgumentError,
          "invalid option :capabilities: got #{inspect(opts)}, expected #{expected}"
  end

  ## Seccomp

  # Policies (Linx.Seccomp.policy/3, OCI maps) are compiled by libseccomp
  # (cached) before any port opens; raw {:bpf, binary} passes through.
  defp seccomp_commands(nil), do: []

  defp seccomp_commands(filters) do
    case Linx.Seccomp.to_bpf_list(filters) do
      {:ok, bpfs} ->
        Enum.map(bpfs, &Wire.seccomp_install/1)

      {:error, reason} ->
        raise ArgumentError,
              "invalid option :seccomp: #{Linx.Seccomp.format_error(reason)} " <>
                "(expected a Linx.Seccomp policy, an OCI seccomp map, {:bpf, binary}, " <>
                "or a list of them)"
    end
  end
end
