"""kube-proxy's iptables mode as a pure function: (node, Services, EndpointSlices, config) → rules.

    objects.py  Kubernetes object dicts → model (ProxyConfig, ServicePort, Endpoint), defaulted
    render.py   model → Ruleset, rule for rule what kube-proxy writes on a full sync
    ruleset.py  Ruleset (tables → chains → rules) → iptables-restore text; text → Ruleset
    chains.py   chain names and hashes, kube-proxy's jump rules from the built-in chains
    trace.py    walk a Ruleset for one packet: DNAT targets, masquerade, DROP/REJECT
    cli.py      `netlab proxy render`

No root, no subprocess: the data plane applies the text.
"""

from netlab.proxy.model import Endpoint, LoadBalancerIngress, ProxyConfig, RenderInput, ServicePort
from netlab.proxy.objects import (Inventory, build_render_input, render_input_from_inventory,
                                  ruleset_for_node)
from netlab.proxy.render import render
from netlab.proxy.ruleset import Ruleset, parse_restore_text
from netlab.proxy.trace import TraceResult, trace

__all__ = [
    "Endpoint", "Inventory", "LoadBalancerIngress", "ProxyConfig", "RenderInput", "Ruleset",
    "ServicePort", "TraceResult", "build_render_input", "parse_restore_text", "render",
    "render_input_from_inventory", "ruleset_for_node", "trace",
]
