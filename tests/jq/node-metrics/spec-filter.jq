# node-metrics' `nodes` filter as the spec states it (pricing-hooks.md §7, the original module's):
# the oracle `tests/config.rs` compares the shipped filter with, under real jq.
{
  name: .metadata.name,
  node_group: (.metadata.labels["node.deckhouse.io/group"] // ""),
  pricing_node_type: (.metadata.annotations["pricing.flant.com/nodeType"] // ""),
  virtualization: (.metadata.annotations["node.deckhouse.io/virtualization"] // ""),
  is_controlplane: ((.metadata.labels["node.deckhouse.io/group"] == "master")
                    or ((.metadata.labels // {}) | has("node-role.kubernetes.io/control-plane"))),
  cp_taint: ([.spec.taints[]? | select(.key == "node-role.kubernetes.io/control-plane"
                                    or .key == "node-role.kubernetes.io/master")] | length > 0)
}
| .is_controlplane_tainted = (.is_controlplane and .cp_taint)
| del(.cp_taint)
