"""netlab: Kubernetes Service networking built from plain Linux parts.

Layers, each calling only the one below it:
manifest (YAML -> typed objects) -> cluster (desired state, pure) -> proxy (kube-proxy rules, pure)
-> dataplane (namespaces, links, processes, iptables) -> state (what a lab built, on disk); cli on top.
"""

__version__ = "0.1.0"
