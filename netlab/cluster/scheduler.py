"""Pod placement: honour nodeName and nodeSelector, then spread like the default scheduler.

The default scheduler's PodTopologySpread and NodeResourcesBalancedAllocation plugins, for
identical nodes and pods without requests, amount to: put a replica where its siblings are
fewest, then where pods are fewest. Ties go to the first node so that placement is repeatable.
"""

from __future__ import annotations

from collections import Counter


class Unschedulable(Exception):
    """No node fits the pod; the message says why, like the scheduler's FailedScheduling event."""


def choose_node(nodes, node_name: str | None, node_selector: dict | None,
                pods_per_node: Counter, siblings_per_node: Counter) -> str:
    """Pick the node for one pod given how many pods (and sibling replicas) each node has."""
    if node_name:
        if node_name not in {n.name for n in nodes}:
            raise Unschedulable(f'spec.nodeName "{node_name}" is not a node of this lab '
                                f"(nodes: {', '.join(n.name for n in nodes)})")
        return node_name
    selector = node_selector or {}
    fitting = [n for n in nodes if all(n.labels.get(k) == v for k, v in selector.items())]
    if not fitting:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
        raise Unschedulable(f"0/{len(nodes)} nodes are available: {len(nodes)} node(s) didn't "
                            f"match Pod's node affinity/selector ({wanted})")
    best = min(fitting, key=lambda n: (siblings_per_node[n.name], pods_per_node[n.name], n.index))
    return best.name
