"""The cluster's DNS records, as CoreDNS's kubernetes plugin serves them (plugin/kubernetes), from
the Services, their EndpointSlices and the pods. Pure: the DNS pods load what this returns.

For a zone DOMAIN (cluster.local) and TTL 30 (kubeadm's Corefile says `ttl 30`):

    web.default.svc.DOMAIN              A      the cluster IP (ClusterIP, NodePort, LoadBalancer)
                                        AAAA   the IPv6 cluster IP of a dual-stack or IPv6 Service
                                        A      each ready endpoint's address (headless: clusterIP None)
                                        AAAA   each ready endpoint of the Service's IPv6 EndpointSlices
                                        CNAME  spec.externalName (type ExternalName)
                                        SRV    0 W PORT web.default.svc.DOMAIN. for every port
                                               (headless: one per ready endpoint, its own name)
    _http._tcp.web.default.svc.DOMAIN   SRV    the same, for the port named http with protocol TCP
    EP.web.default.svc.DOMAIN           A      a ready endpoint's address (AAAA: an IPv6 one); EP is
                                               its hostname (a pod with hostname: and subdomain: web,
                                               which names both its addresses) or its address with
                                               dashes (10-244-1-5, fd00-10-244-1--5 for fd00:10:244:1::5)
    10-244-1-5.default.pod.DOMAIN       A      every pod with an address (CoreDNS's `pods verified`
                                               indexes status.podIP alone, so a dual-stack pod's
                                               IPv6 address has no pod record)
    5.1.244.10.in-addr.arpa             PTR    a cluster IP's Service; an endpoint's names; a pod
                                               that is no Service's endpoint gets its pod record
                                               (IPv6 addresses under ip6.arpa)
    DOMAIN                              SOA, NS ns.dns.DOMAIN (the kube-dns Service's address),
    dns-version.DOMAIN                  TXT "1.1.0", the schema version CoreDNS answers

W is 100 divided by the number of SRV records of that name, as CoreDNS weighs them. Each record
is a line `NAME TTL IN TYPE DATA` as unbound's local-data takes it, names absolute.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

TTL = 30
SCHEMA_VERSION = "1.1.0"        # github.com/kubernetes/dns/blob/master/docs/specification.md


def _dashed(ip: str) -> str:
    """CoreDNS endpointHostname for an address without a hostname: dots (or colons) as dashes. An
    IPv6 address is written as the API has it (compressed), and one ending in "::" gets a "0" so
    the label does not end with a dash."""
    if ":" in ip:
        dashed = str(ipaddress.ip_address(ip)).replace(":", "-")
        return dashed + "0" if dashed.endswith("-") else dashed
    return ip.replace(".", "-")


def reverse_name(ip: str) -> str:
    """The in-addr.arpa (ip6.arpa) name of IP, absolute."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _cluster_ips(spec: dict) -> list[str]:
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if ip and ip != "None"]


def _ready_endpoints(slices: list) -> list[tuple[str, str, list]]:
    """(address, endpoint name, its slice's ports) of every ready endpoint in SLICES, sorted."""
    found = []
    for slice_ in slices:
        for endpoint in slice_.get("endpoints") or ():
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or ():
                found.append((address, endpoint.get("hostname") or _dashed(address), slice_.get("ports") or []))
    # IPv4 before IPv6: addresses of two families do not compare
    return sorted(found, key=lambda item: (ipaddress.ip_address(item[0]).version, ipaddress.ip_address(item[0]),
                                           item[1]))


def _address_type(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


def _add_srv(add, name: str, port: dict, target: str) -> None:
    """SRV records of one port: at the Service's name, and at _PORT._PROTO. of it if the port is named."""
    protocol = (port.get("protocol") or "TCP").lower()
    for owner in [name] + ([f"_{port['name']}._{protocol}.{name}"] if port.get("name") else []):
        add(owner, "SRV", f"{port['port']} {target}")   # priority and weight once all are known


def records(services: list, slices: list, pods: list, dns_ip: str | None,
            domain: str = "cluster.local") -> list[str]:
    """Every record of the zone: SERVICES and SLICES are API objects (with allocated cluster IPs),
    PODS dicts with namespace, name and ip (the primary address: an "ip6" gets no pod record);
    DNS_IP the kube-dns Service's address (None: no NS glue). Sorted, each record once."""
    zone = domain.rstrip(".") + "."
    rrsets: dict[tuple[str, str], list[str]] = defaultdict(list)

    def add(name: str, kind: str, data: str) -> None:
        if data not in rrsets[(name, kind)]:
            rrsets[(name, kind)].append(data)

    add(zone, "SOA", f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 {TTL}")
    add(zone, "NS", f"ns.dns.{zone}")
    if dns_ip:
        add(f"ns.dns.{zone}", _address_type(dns_ip), dns_ip)
    add(f"dns-version.{zone}", "TXT", f'"{SCHEMA_VERSION}"')

    slices_of: dict[tuple[str, str], list] = defaultdict(list)
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        owner = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if owner:
            slices_of[(meta.get("namespace") or "default", owner)].append(slice_)
    pointed: set[str] = set()          # addresses that have a PTR from a Service
    for service in sorted(services, key=lambda s: (s["metadata"].get("namespace") or "default",
                                                   s["metadata"]["name"])):
        meta, spec = service["metadata"], service.get("spec") or {}
        namespace = meta.get("namespace") or "default"
        name = f"{meta['name']}.{namespace}.svc.{zone}"
        if spec.get("type") == "ExternalName":
            target = (spec.get("externalName") or "").rstrip(".")
            if target:
                add(name, "CNAME", target + ".")
            continue
        endpoints = _ready_endpoints(slices_of.get((namespace, meta["name"]), []))
        cluster_ips = _cluster_ips(spec)
        for ip in cluster_ips:
            add(name, _address_type(ip), ip)
            add(reverse_name(ip), "PTR", name)
            pointed.add(ip)
            for port in spec.get("ports") or ():
                _add_srv(add, name, port, name)
        for address, endpoint, ports in endpoints:
            if not cluster_ips:        # headless: the name is every ready endpoint, SRV their ports
                add(name, _address_type(address), address)
                for port in ports:
                    _add_srv(add, name, port, f"{endpoint}.{name}")
            add(f"{endpoint}.{name}", _address_type(address), address)
            add(reverse_name(address), "PTR", f"{endpoint}.{name}")
            pointed.add(address)
    for pod in sorted(pods, key=lambda p: (p["namespace"], p["name"])):
        ip = pod.get("ip")
        if not ip:
            continue
        record = f"{_dashed(ip)}.{pod['namespace']}.pod.{zone}"
        add(record, _address_type(ip), ip)
        if ip not in pointed:
            add(reverse_name(ip), "PTR", record)
    lines = []
    for (owner, kind), values in rrsets.items():
        weight = 100 // len(values) if kind == "SRV" else 0
        for value in values:
            data = f"0 {weight} {value}" if kind == "SRV" else value
            lines.append(f"{owner} {TTL} IN {kind} {data}")
    return sorted(lines)


def owners(lines) -> dict[str, set[str]]:
    """The records of LINES grouped by their name (what unbound-control removes at once)."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        grouped[line.split(" ", 1)[0]].add(line)
    return grouped


def changes(loaded, wanted) -> tuple[list[str], list[str]]:
    """What turns the records LOADED into WANTED: (names to remove, records to add). A name whose
    records changed at all is removed and loaded again, as unbound removes a name's data whole."""
    before, after = owners(loaded), owners(wanted)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    remove = [name for name in changed if name in before]
    add = sorted(line for name in changed for line in after.get(name, ()))
    return remove, add
