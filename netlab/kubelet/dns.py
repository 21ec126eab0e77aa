"""A pod's /etc/resolv.conf, as kubelet makes it (pkg/kubelet/network/dns/dns.go GetPodDNS).

    dnsPolicy ClusterFirst (the default)    nameserver = the cluster DNS Service (10.96.0.10),
                                            search NS.svc.DOMAIN svc.DOMAIN DOMAIN, options ndots:5
    ClusterFirstWithHostNet                 the same (for a hostNetwork pod too)
    Default                                 the node's resolver configuration
    None                                    dnsConfig alone
and `dnsConfig` (nameservers, searches, options) merged on top, as kubelet merges it. A
hostNetwork pod with ClusterFirst gets Default, as upstream.

A netlab node has no upstream resolver (kubelet's --resolv-conf is empty): Default gives a file
without a nameserver, so lookups fail at once instead of waiting for the host's servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLUSTER_DOMAIN = "cluster.local"
NDOTS = 5
MAX_NAMESERVERS = 3              # validation.MaxDNSNameservers
MAX_SEARCHES = 32                # validation.MaxDNSSearchPaths


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The file, laid out as containerd writes it (search, nameserver, options)."""
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines += [f"nameserver {ns}" for ns in self.nameservers]
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)


def pod_hostname_and_domain(pod_name: str, namespace: str, pod_spec: dict,
                            domain: str = CLUSTER_DOMAIN) -> tuple[str, str | None]:
    """kubelet's GeneratePodHostNameAndDomain: the pod's hostname (spec.hostname, else its name,
    at most 63 characters) and, with spec.subdomain, its domain SUBDOMAIN.NS.svc.DOMAIN."""
    from netlab.runtime.command import pod_hostname        # the same 63-character cut
    hostname = pod_spec.get("hostname") or pod_hostname(pod_name)
    subdomain = pod_spec.get("subdomain")
    return hostname, (f"{subdomain}.{namespace}.svc.{domain}" if subdomain else None)


def _dedup(items: list[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _merge_options(existing: list[str], extra: list[dict]) -> list[str]:
    """dns.go mergeDNSOptions: a dnsConfig option replaces the one of the same name."""
    values: dict[str, str] = {}
    for option in existing:
        name, _, value = option.partition(":")
        values[name] = value
    for option in extra:
        values[option.get("name") or ""] = option.get("value") or ""
    return [f"{name}:{value}" if value else name for name, value in values.items() if name]


def pod_resolv_conf(pod_spec: dict, namespace: str, cluster_dns: str, node: ResolvConf | None = None,
                    domain: str = CLUSTER_DOMAIN) -> ResolvConf:
    """The resolv.conf of a pod with POD_SPEC (the manifest's spec) in NAMESPACE; NODE is the
    node's own configuration (empty in a lab)."""
    node = node or ResolvConf()
    policy = pod_spec.get("dnsPolicy") or "ClusterFirst"
    host_network = bool(pod_spec.get("hostNetwork"))
    if policy == "ClusterFirst" and host_network:
        policy = "Default"                # dns.go getPodDNSType: ClusterFirst does not apply to hostNetwork
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        # the cluster DNS alone, the node's search paths after the cluster's, kubelet's ndots
        conf = ResolvConf([cluster_dns], _dedup([f"{namespace}.svc.{domain}", f"svc.{domain}", domain] + node.searches),
                          [f"ndots:{NDOTS}"])
    elif policy == "Default":
        conf = ResolvConf(list(node.nameservers), list(node.searches), list(node.options))
    else:                                 # None: dnsConfig alone
        conf = ResolvConf()
    config = pod_spec.get("dnsConfig") or {}
    if config:
        conf.nameservers = _dedup(conf.nameservers + list(config.get("nameservers") or []))[:MAX_NAMESERVERS]
        conf.searches = _dedup(conf.searches + list(config.get("searches") or []))[:MAX_SEARCHES]
        conf.options = _merge_options(conf.options, list(config.get("options") or []))
    return conf
