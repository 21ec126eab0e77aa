"""`netlab graph`: a picture of a lab, and of one packet's path over it.

Pure parts first, the machine last:

    topology, Pods, Services, EndpointSlices, routes ──lab_model──▶ GraphModel
    GraphModel (+ explain's JSON path) ──trace_overlay──▶ TraceOverlay   (numbered steps)
    GraphModel (+ path) ──to_dot──▶ Graphviz text ──`dot -Tsvg|-Tpng`──▶ SVG, PNG
                                                   └─to_html──▶ one self-contained page (the SVG inline)
    render(lab, fmt, output, path): reads the lab (its store and `ip -n NETNS -j route` per node),
                                    writes LAB-graph.FORMAT, returns the file and a summary

The picture, top to bottom: the clients, the underlay bridge, one box per node (eth0, cni0, pod CIDR,
routes) with its pods inside, grouped by Kubernetes namespace (IP, containers, host-side veth), and
the Services below, grouped by namespace, each with arrows to its endpoints labelled port → targetPort.

Graphviz ids, which the SVG keeps as element ids (the HTML page's highlighting uses them):
``underlay``, ``node_NODE``, ``client_CLIENT``, ``pod_NS_NAME``, ``svc_NS_NAME``, ``addr_IP`` (an
endpoint outside the lab) and ``netns_NAME`` (a traced namespace the lab does not know). Kubernetes
names are DNS labels (no ``_``), so no two objects share an id.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from netlab import names

FORMATS = ("html", "svg", "png", "dot")
NAT_ACTIONS = ("DNAT", "MASQUERADE", "SNAT")
FONT = "DejaVu Sans"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
NETNS_ANNOTATION = "netlab.io/netns"

# fill colours of the Kubernetes namespaces (pods and Services); others get one of the rest
NAMESPACE_COLOURS = {"default": "#e8f5e9", "kube-system": "#fff3e0"}
OTHER_COLOURS = ("#e3f2fd", "#f3e5f5", "#fffde7", "#e0f7fa", "#fce4ec", "#f1f8e9")
TRACE_COLOUR = "#d32f2f"


class GraphError(Exception):
    """The picture cannot be made (no Graphviz, an unknown format); the message says what to do."""


# -- the model ------------------------------------------------------------------------------------

def node_id(name: str) -> str:
    """A node's graph id (the id of its box in the SVG)."""
    return f"node_{name}"


def client_id(name: str) -> str:
    """An external client's graph id."""
    return f"client_{name}"


def pod_id(namespace: str, name: str) -> str:
    """A pod's graph id."""
    return f"pod_{namespace}_{name}"


def service_id(namespace: str, name: str) -> str:
    """A Service's graph id."""
    return f"svc_{namespace}_{name}"


def address_id(address: str) -> str:
    """The graph id of an endpoint address outside the lab."""
    return f"addr_{address}"


UNDERLAY_ID = "underlay"


@dataclass(frozen=True)
class Route:
    destination: str            # "default" or a CIDR
    via: str | None = None
    dev: str | None = None
    via_node: str | None = None  # the node whose underlay IP is the gateway (a host-gw route)

    def text(self) -> str:
        words = [self.destination]
        if self.via:
            words.append(f"via {self.via}")
        if self.dev:
            words.append(f"dev {self.dev}")
        if self.via_node:
            words.append(f"({self.via_node})")
        return " ".join(words)


@dataclass(frozen=True)
class NodeView:
    name: str
    ip: str
    netns: str
    cni0: str                   # the pod CIDR's gateway, on the cni0 bridge
    pod_cidr: str
    routes: tuple = ()          # Route, as `ip route` lists them (empty: not read)

    @property
    def id(self) -> str:
        return node_id(self.name)


@dataclass(frozen=True)
class ClientView:
    name: str
    ip: str
    netns: str

    @property
    def id(self) -> str:
        return client_id(self.name)


@dataclass(frozen=True)
class ContainerView:
    name: str
    ports: tuple = ()           # "8080", "53/UDP (dns)"


@dataclass(frozen=True)
class PodView:
    name: str
    namespace: str
    ip: str | None
    node: str | None            # None: not scheduled
    containers: tuple           # ContainerView
    veth: str | None            # the node-side end of its veth pair
    netns: str | None
    phase: str = "Running"

    @property
    def id(self) -> str:
        return pod_id(self.namespace, self.name)


@dataclass(frozen=True)
class PortView:
    name: str
    port: int
    protocol: str
    target_port: object         # a number or a container port's name
    node_port: int | None = None

    def text(self) -> str:
        proto = "" if self.protocol == "TCP" else f"/{self.protocol}"
        named = f" ({self.name})" if self.name else ""
        return f"{self.port}{proto} → {self.target_port}{named}"


@dataclass(frozen=True)
class EndpointView:
    address: str
    target: str                 # the graph id of what holds the address (a pod, a node, addr_IP)
    ready: bool
    ports: tuple                # "80 → 8080", one per Service port

    @property
    def label(self) -> str:
        return "\n".join(self.ports)


@dataclass(frozen=True)
class ServiceView:
    name: str
    namespace: str
    type: str
    cluster_ip: str | None
    ports: tuple                # PortView
    lb_ips: tuple = ()
    external_ips: tuple = ()
    external_name: str | None = None
    selector: bool = True
    endpoints: tuple = ()       # EndpointView
    notes: tuple = ()           # non-default behaviour worth seeing: eTP Local, affinity

    @property
    def id(self) -> str:
        return service_id(self.namespace, self.name)


@dataclass(frozen=True)
class GraphModel:
    lab: str
    underlay: str
    underlay_netns: str
    underlay_gateway: str
    lb_pool: tuple
    nodes: tuple
    clients: tuple
    pods: tuple
    services: tuple
    externals: tuple = ()       # endpoint addresses outside the lab

    def owner(self, netns: str) -> str | None:
        """The graph id of the object that owns a network namespace of the lab."""
        if netns == self.underlay_netns:
            return UNDERLAY_ID
        for group in (self.nodes, self.clients, self.pods):
            for item in group:
                if item.netns == netns:
                    return item.id
        return None

    def namespaces(self) -> list:
        """The Kubernetes namespaces with pods or Services, default first, kube-system last."""
        found = {p.namespace for p in self.pods} | {s.namespace for s in self.services}
        return sorted(found, key=lambda n: (n != "default", n == "kube-system", n))

    def title_of(self, graph_id: str) -> str:
        """An object in words: `node node1`, `pod default/web-x`, `Service default/web`."""
        for node in self.nodes:
            if node.id == graph_id:
                return f"node {node.name}"
        for client in self.clients:
            if client.id == graph_id:
                return f"client {client.name}"
        for pod in self.pods:
            if pod.id == graph_id:
                return f"pod {pod.namespace}/{pod.name}"
        for service in self.services:
            if service.id == graph_id:
                return f"Service {service.namespace}/{service.name}"
        if graph_id == UNDERLAY_ID:
            return "the underlay"
        return graph_id.split("_", 1)[-1]


def _routes(raw: list, nodes_by_ip: dict) -> tuple:
    result = []
    for entry in raw or ():
        via = entry.get("gateway")
        result.append(Route(destination=entry.get("dst", "?"), via=via, dev=entry.get("dev"),
                            via_node=nodes_by_ip.get(via)))
    return tuple(result)


def _pod_view(pod: dict) -> PodView:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    containers = []
    for container in spec.get("containers") or ():
        ports = []
        for port in container.get("ports") or ():
            text = str(port.get("containerPort"))
            if port.get("protocol", "TCP") != "TCP":
                text += "/" + port["protocol"]
            if port.get("name"):
                text += f" ({port['name']})"
            ports.append(text)
        containers.append(ContainerView(container.get("name", "?"), tuple(ports)))
    node = spec.get("nodeName")
    namespace = meta.get("namespace", "default")
    phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase") or "Pending"
    return PodView(name=meta["name"], namespace=namespace, ip=status.get("podIP"), node=node,
                   containers=tuple(containers),
                   veth=names.pod_host_veth(namespace, meta["name"], meta.get("uid", "")) if node else None,
                   netns=(meta.get("annotations") or {}).get(NETNS_ANNOTATION), phase=phase)


def _endpoints(service: dict, ports: tuple, slices: list, holder) -> tuple:
    """A Service's endpoints from its EndpointSlices, each with its port → targetPort lines."""
    meta = service["metadata"]
    result = []
    for slice_ in slices:
        slice_meta = slice_.get("metadata") or {}
        if slice_meta.get("namespace", "default") != meta.get("namespace", "default") or \
                (slice_meta.get("labels") or {}).get(SERVICE_NAME_LABEL) != meta["name"]:
            continue
        targets = {(p.get("name") or "", p.get("protocol", "TCP")): p.get("port") for p in slice_.get("ports") or ()}
        lines = []
        for port in ports:
            number = targets.get((port.name, port.protocol))
            if number is None:
                continue
            proto = "" if port.protocol == "TCP" else f"/{port.protocol}"
            lines.append(f"{port.port}{proto} → {number}")
        for endpoint in slice_.get("endpoints") or ():
            for address in endpoint.get("addresses") or ():
                ref = endpoint.get("targetRef") or {}
                # EndpointSlice: a missing ready condition means ready (discovery/v1 EndpointConditions)
                ready = (endpoint.get("conditions") or {}).get("ready") is not False
                result.append(EndpointView(address=address, target=holder(address, ref), ready=ready,
                                           ports=tuple(lines)))
    return tuple(sorted(result, key=lambda e: e.target))


def _service_view(service: dict, slices: list, holder) -> ServiceView:
    meta, spec, status = service["metadata"], service.get("spec") or {}, service.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    ports = tuple(PortView(name=p.get("name") or "", port=p.get("port"), protocol=p.get("protocol", "TCP"),
                           target_port=p.get("targetPort", p.get("port")), node_port=p.get("nodePort"))
                  for p in spec.get("ports") or ())
    notes = []
    if spec.get("externalTrafficPolicy") == "Local":
        notes.append("externalTrafficPolicy Local")
    if spec.get("internalTrafficPolicy") == "Local":
        notes.append("internalTrafficPolicy Local")
    if spec.get("sessionAffinity") == "ClientIP":
        seconds = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds", 10800)
        notes.append(f"sessionAffinity ClientIP ({seconds}s)")
    for source_range in spec.get("loadBalancerSourceRanges") or ():
        notes.append(f"source range {source_range}")
    endpoints = () if kind == "ExternalName" else _endpoints(service, ports, slices, holder)
    return ServiceView(
        name=meta["name"], namespace=meta.get("namespace", "default"), type=kind,
        cluster_ip=spec.get("clusterIP"), ports=ports,
        lb_ips=tuple(i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or ()),
        external_ips=tuple(spec.get("externalIPs") or ()), external_name=spec.get("externalName"),
        selector=bool(spec.get("selector")), endpoints=endpoints, notes=tuple(notes))


def lab_model(topology, pods: list, services: list, slices: list, routes: dict | None = None) -> GraphModel:
    """The picture's content from a lab's Topology and its kubectl-shaped Pods, Services and
    EndpointSlices; ROUTES maps a node's name to its `ip -j route` list (missing: not shown)."""
    routes = routes or {}
    # the primary family's addresses (an IPv6-first or IPv6-only lab's are IPv6)
    v6 = _primary_ipv6(topology)
    nodes_by_ip = {ip: n.name for n in topology.nodes for ip in (n.ip, getattr(n, "ip6", None)) if ip}
    nodes = tuple(NodeView(name=n.name, ip=n.ip6 if v6 else n.ip, netns=n.netns, cni0=n.gateway6 if v6 else n.gateway,
                           pod_cidr=str(n.pod_cidr6 if v6 else n.pod_cidr),
                           routes=_routes(routes.get(n.name), nodes_by_ip)) for n in topology.nodes)
    clients = tuple(ClientView(c.name, c.ip6 if v6 else c.ip, c.netns) for c in topology.clients)
    pod_views = tuple(sorted((_pod_view(p) for p in pods), key=lambda p: (p.node or "~", p.namespace, p.name)))
    by_ip = {p.ip: p.id for p in pod_views if p.ip}
    by_name = {(p.namespace, p.name): p.id for p in pod_views}
    by_ip.update({n.ip: n.id for n in nodes})
    by_ip.update({c.ip: c.id for c in clients})
    externals = []

    def holder(address: str, ref: dict) -> str:
        if ref.get("kind") == "Pod" and (ref.get("namespace", "default"), ref.get("name")) in by_name:
            return by_name[(ref.get("namespace", "default"), ref["name"])]
        if address in by_ip:
            return by_ip[address]
        if address not in externals:
            externals.append(address)
        return address_id(address)

    service_views = tuple(sorted((_service_view(s, slices, holder) for s in services),
                                 key=lambda s: (s.namespace, s.name)))
    return GraphModel(lab=topology.lab, underlay=str(topology.underlay), underlay_netns=topology.underlay_netns,
                      underlay_gateway=topology.underlay_gateway, lb_pool=tuple(topology.load_balancer_pool),
                      nodes=nodes, clients=clients, pods=pod_views, services=service_views,
                      externals=tuple(sorted(externals)))


# -- the trace overlay ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TraceStep:
    number: int
    source: str                 # graph ids
    target: str
    namespace: str              # where the hops of this step ran (the source's namespace)
    hops: tuple                 # indices into the path's hops
    nat: tuple = ()             # the NAT actions taken in that namespace
    note: str = ""              # for a step to an endpoint: its address and probability
    alternative: bool = False   # an endpoint the DNAT could have chosen instead (number 0, not on the path)

    def label(self) -> str:
        head = [] if self.alternative else [str(self.number)]
        return "\n".join([*head, *self.nat, *([self.note] if self.note else [])])


@dataclass(frozen=True)
class TraceOverlay:
    verdict: str
    steps: tuple                # TraceStep, numbered from 1 (then the alternatives, numbered 0)
    end: str | None             # the graph id where the packet ends (rejected, dropped or undecided)
    endpoints: tuple            # the path's endpoint dicts
    masquerade: bool
    hops: tuple                 # the path's hop dicts, as given
    unknown: tuple = ()         # (graph id, netns) of traced namespaces the lab does not know

    def objects(self) -> set:
        """The graph ids the path touches."""
        found = {s.source for s in self.steps} | {s.target for s in self.steps}
        return found | ({self.end} if self.end else set())


def _is_nat(action: str) -> bool:
    return (action or "").strip().upper().startswith(NAT_ACTIONS)


def trace_overlay(model: GraphModel, path: dict) -> TraceOverlay:
    """Number the path's moves between namespaces: each run of hops in one namespace becomes a step
    from its namespace's owner to the next run's; after the last run, a step to each endpoint
    (delivered) or the end marked on the last owner. NAT actions label the step leaving their namespace."""
    hops = tuple(path.get("hops") or ())
    unknown = {}

    def owner(netns: str) -> str:
        found = model.owner(netns)
        if found is None:
            found = unknown.setdefault(netns, "netns_" + re.sub(r"[^A-Za-z0-9_.-]", "_", netns))
        return found

    runs = []                   # (netns, [hop indices])
    for index, hop in enumerate(hops):
        netns = hop.get("namespace") or "?"
        if runs and runs[-1][0] == netns:
            runs[-1][1].append(index)
        else:
            runs.append((netns, [index]))

    def nat_of(indices):
        return tuple(hops[i]["action"].strip() for i in indices if _is_nat(hops[i].get("action")))

    steps = []
    for (netns, indices), (next_ns, _) in zip(runs, runs[1:]):
        steps.append(TraceStep(len(steps) + 1, owner(netns), owner(next_ns), netns, tuple(indices), nat_of(indices)))
    verdict = path.get("verdict") or "?"
    endpoints = tuple(path.get("endpoints") or ())
    end = None
    if runs:
        last_ns, last_indices = runs[-1]
        last = owner(last_ns)
        targets = [(_endpoint_holder(model, e), e) for e in endpoints] if verdict == "delivered" else []
        targets = [(t, e) for t, e in targets if t]
        # the hops followed one DNAT: that endpoint is the path's, the others the choices it had
        dnat_text = " ".join(f"{h.get('rule', '')} {h.get('action', '')}" for h in hops
                             if "DNAT" in (h.get("action") or "").upper())
        chosen = [(t, e) for t, e in targets if e.get("address") and re.search(
            re.escape(e["address"]) + r"(?![\d])", dnat_text)]
        number = len(steps) + 1
        for target, endpoint in chosen or targets:
            note = endpoint.get("address", "")
            if not chosen and len(targets) > 1 and endpoint.get("probability") is not None:
                note += f" p={float(endpoint['probability']):.2f}"
            if target != last:
                steps.append(TraceStep(number, last, target, last_ns, tuple(last_indices), nat_of(last_indices), note))
        if chosen and len(targets) > 1:
            where = next(i for i, h in enumerate(hops) if "DNAT" in (h.get("action") or "").upper())
            choice_ns = hops[where].get("namespace") or "?"
            for target, endpoint in targets:
                if (target, endpoint) in chosen:
                    continue
                probability = endpoint.get("probability")
                note = endpoint.get("address", "") + (f" p={float(probability):.2f}" if probability is not None else "")
                steps.append(TraceStep(0, owner(choice_ns), target, choice_ns, (where,), (), note, alternative=True))
        if not any(s.number == number for s in steps):
            end = last
    return TraceOverlay(verdict=verdict, steps=tuple(steps), end=end, endpoints=endpoints,
                        masquerade=bool(path.get("masquerade")), hops=hops,
                        unknown=tuple((graph_id, netns) for netns, graph_id in unknown.items()))


def _endpoint_holder(model: GraphModel, endpoint: dict) -> str | None:
    """The pod (or node) an explain endpoint names: by its address's IP, else by pod name."""
    ip = (endpoint.get("address") or "").rsplit(":", 1)[0]
    for pod in model.pods:
        if ip and pod.ip == ip:
            return pod.id
    for node in model.nodes:
        if ip and node.ip == ip:
            return node.id
    named = [p for p in model.pods if p.name == endpoint.get("pod")]
    return named[0].id if len(named) == 1 else None


def describe_path(model: GraphModel, overlay: TraceOverlay) -> list:
    """The path in words, one line a step: `1  node node1 → node node2   DNAT to 10.244.2.3:8080`."""
    lines = [f"path: {overlay.verdict}" + (", masqueraded" if overlay.masquerade else ", not masqueraded")]
    for step in overlay.steps:
        if step.alternative:
            continue
        words = [f"{step.number:>3}  {model.title_of(step.source)} → {model.title_of(step.target)}"]
        if step.note:
            words.append(step.note)
        words.extend(step.nat)
        lines.append("   ".join(words))
    others = [s for s in overlay.steps if s.alternative]
    if others:
        lines.append("     the DNAT could also have chosen: " + ", ".join(
            f"{model.title_of(s.target)} ({s.note})" for s in others))
    if overlay.end:
        reason = next((h.get("action", "") for h in reversed(overlay.hops) if h.get("action")), "")
        lines.append(f"     ends in {model.title_of(overlay.end)}: {overlay.verdict}"
                     + (f" ({reason})" if reason else ""))
    return lines


# -- Graphviz -------------------------------------------------------------------------------------

def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Html(str):
    """An HTML-like Graphviz label, written as <...> rather than quoted."""


def _pairs(attrs: dict) -> list:
    return [f"{key}={value if isinstance(value, _Html) else _quote(value)}"
            for key, value in attrs.items() if value is not None]


def _attrs(**attrs) -> str:
    return "[" + " ".join(_pairs(attrs)) + "]"


def _subgraph(name: str, **attrs) -> str:
    """The opening of a cluster with its attributes as statements."""
    return f"subgraph {_quote(name)} {{ " + "; ".join(_pairs(attrs)) + ";"


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def namespace_colour(namespace: str) -> str:
    """The fill of a Kubernetes namespace's pods and Services (stable: from the name)."""
    if namespace in NAMESPACE_COLOURS:
        return NAMESPACE_COLOURS[namespace]
    digest = int(hashlib.sha256(namespace.encode()).hexdigest(), 16)
    return OTHER_COLOURS[digest % len(OTHER_COLOURS)]


def _box(title: str, rows: list, fill: str, marked: bool, subtitle: str = "") -> str:
    """An HTML-like label: a bold title row, then (text, port) rows in a small font."""
    border = f' COLOR="{TRACE_COLOUR}"' if marked else ' COLOR="#607d8b"'
    width = "3" if marked else "1"
    cells = [f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><B>{_esc(title)}</B>'
             + (f'<FONT POINT-SIZE="9">  {_esc(subtitle)}</FONT>' if subtitle else "") + "</TD></TR>"]
    for text, port in rows:
        port_attr = f' PORT="{port}"' if port else ""
        cells.append(f'<TR><TD ALIGN="LEFT"{port_attr}><FONT POINT-SIZE="9">{_esc(text)}</FONT></TD></TR>')
    return _Html(f'<<TABLE BORDER="{width}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2" BGCOLOR="{fill}"'
                 f'{border}>' + "".join(cells) + "</TABLE>>")


def _node_rows(node: NodeView) -> list:
    # eth0 first and cni0 last: the underlay's wire arrives on the left, the pods' veths leave on the right
    rows = [(f"eth0 {node.ip}", "eth0"), (f"netns {node.netns}", None)]
    if node.routes:
        rows.append(("routes:", None))
        rows.extend((f"  {r.text()}", None) for r in node.routes)
    rows.extend([(f"pod CIDR {node.pod_cidr}", None), (f"cni0 {node.cni0}", "cni0")])
    return rows


def _pod_rows(pod: PodView) -> list:
    rows = [(f"IP {pod.ip or '<none>'}", None), (f"node {pod.node or '<none>'}", None)]
    for container in pod.containers:
        rows.append((f"▸ {container.name}", None))
        for start in range(0, len(container.ports), 3):
            rows.append(("    :" + ", ".join(container.ports[start:start + 3]), None))
    if pod.veth:
        rows.append((f"veth {pod.veth} ↔ eth0", None))
    if pod.phase != "Running":
        rows.append((pod.phase, None))
    return rows


def _service_rows(service: ServiceView) -> list:
    if service.type == "ExternalName":
        rows = [(f"ExternalName → {service.external_name}", None)]
    else:
        shown = "None (headless)" if service.cluster_ip == "None" else service.cluster_ip or "<none>"
        rows = [(f"ClusterIP {shown}", None)]
    for port in service.ports:
        text = port.text()
        if port.node_port:
            text += f"   nodePort {port.node_port}"
        rows.append((text, None))
    rows.extend((f"LoadBalancer {ip}", None) for ip in service.lb_ips)
    if service.type == "LoadBalancer" and not service.lb_ips:
        rows.append(("LoadBalancer <pending>", None))
    rows.extend((f"externalIP {ip}", None) for ip in service.external_ips)
    rows.extend((note, None) for note in service.notes)
    if service.selector and service.type != "ExternalName" and not service.endpoints:
        rows.append(("no endpoints", None))
    return rows


def to_dot(model: GraphModel, path: dict | None = None) -> str:
    """The lab as Graphviz text; with PATH (explain's JSON), its steps drawn over it in red."""
    overlay = trace_overlay(model, path) if path else None
    marked = overlay.objects() if overlay else set()
    out = [f"digraph {_quote(model.lab)} {{",
           f'  graph [rankdir=LR newrank=true nodesep=0.25 ranksep=0.6 fontname="{FONT}" '
           f'fontsize=12 labelloc=t label={_quote("lab " + model.lab)} id="lab"]',
           f'  node [shape=plain fontname="{FONT}" fontsize=10]',
           f'  edge [fontname="{FONT}" fontsize=8 color="#78909c" fontcolor="#455a64" arrowsize=0.7]']

    def obj(graph_id, label, kind, extra=""):
        classes = f"{kind} {extra}".strip()
        out.append(f"    {_quote(graph_id)} {_attrs(id=graph_id, label=label, **{'class': classes})}")

    def edge(tail, head, kind, ends, **attrs):
        classes = f"{kind} " + " ".join(f"n-{e}" for e in ends)
        out.append(f"  {tail} -> {head} {_attrs(**{'class': classes}, **attrs)}")

    # the underlay and the clients on it
    out.append("  " + _subgraph("cluster_underlay", label=f"underlay {model.underlay}", style="rounded,filled",
                                fillcolor="#eceff1", color="#90a4ae", id="cluster_underlay"))
    rows = [(model.underlay, None), (f"gateway {model.underlay_gateway}", None),
            (f"netns {model.underlay_netns}", None)]
    if model.lb_pool:
        rows.append((f"LoadBalancer pool {'-'.join(model.lb_pool)}", None))
    obj(UNDERLAY_ID, _box(f"bridge {names.UNDERLAY_BRIDGE}", rows, "#ffffff", UNDERLAY_ID in marked), "underlay")
    for client in model.clients:
        obj(client.id, _box(client.name, [(f"eth0 {client.ip}", None), (f"netns {client.netns}", None)],
                            "#ffffff", client.id in marked, "external client"), "client")
    out.append("  }")
    for client in model.clients:
        edge(_quote(client.id), _quote(UNDERLAY_ID), "wire", (client.id, UNDERLAY_ID), dir="none")

    # the nodes, their pods inside, grouped by Kubernetes namespace
    for node in model.nodes:
        out.append("  " + _subgraph(f"cluster_node_{node.name}", label=f"node {node.name}", style="rounded,filled",
                                    fillcolor="#fafafa", color="#546e7a", penwidth="1.5",
                                    id=f"cluster_node_{node.name}"))
        obj(node.id, _box(node.name, _node_rows(node), "#ffffff", node.id in marked, "node"), "k8s-node")
        for namespace in model.namespaces():
            pods = [p for p in model.pods if p.node == node.name and p.namespace == namespace]
            if not pods:
                continue
            out.append("    " + _subgraph(f"cluster_{node.name}_{namespace}", label=namespace, style="rounded,dashed",
                                          color="#90a4ae", fontsize="9"))
            for pod in pods:
                obj(pod.id, _box(pod.name, _pod_rows(pod), namespace_colour(namespace), pod.id in marked, "pod"),
                    "pod", f"ns-{namespace}")
            out.append("    }")
        out.append("  }")
        edge(f"{_quote(UNDERLAY_ID)}:e", f"{_quote(node.id)}:eth0:w", "wire", (UNDERLAY_ID, node.id), dir="none")
    for node in model.nodes:
        for pod in model.pods:
            if pod.node == node.name:
                edge(f"{_quote(node.id)}:cni0:e", f"{_quote(pod.id)}:w", "wire", (node.id, pod.id), dir="none")
    pending = [p for p in model.pods if p.node is None or p.node not in {n.name for n in model.nodes}]
    if pending:
        out.append("  " + _subgraph("cluster_pending", label="not scheduled", style="rounded,dashed"))
        for pod in pending:
            obj(pod.id, _box(pod.name, _pod_rows(pod), namespace_colour(pod.namespace), pod.id in marked, "pod"),
                "pod", f"ns-{pod.namespace}")
        out.append("  }")

    # the Services, grouped by namespace, with arrows to their endpoints
    for namespace in model.namespaces():
        services = [s for s in model.services if s.namespace == namespace]
        if not services:
            continue
        out.append("  " + _subgraph(f"cluster_services_{namespace}", label=f"Services in {namespace}",
                                    style="rounded,filled", fillcolor="#f5f5f5", color="#90a4ae",
                                    id=f"cluster_services_{namespace}"))
        for service in services:
            obj(service.id, _box(service.name, _service_rows(service), namespace_colour(namespace),
                                 service.id in marked, service.type), "service", f"ns-{namespace}")
        out.append("  }")
    for address in model.externals:
        obj(address_id(address), _box(address, [("outside the lab", None)], "#ffffff", False), "external")
    for service in model.services:
        for endpoint in service.endpoints:
            # drawn endpoint → Service with the arrow turned round, so Graphviz puts Services after the pods
            edge(_quote(endpoint.target), _quote(service.id),
                 "endpoint", (service.id, endpoint.target), dir="back", label=endpoint.label or None,
                 style=None if endpoint.ready else "dashed", tooltip=f"{service.name} → {endpoint.address}")

    if overlay:
        for graph_id, netns in overlay.unknown:
            obj(graph_id, _box(netns, [("a namespace outside this lab", None)], "#ffffff", True), "netns")
        for index, step in enumerate(overlay.steps):
            # constraint=false: the path is drawn over the picture without moving it about much
            edge(_quote(step.source), _quote(step.target), f"trace step-{step.number}", (step.source, step.target),
                 color=TRACE_COLOUR, fontcolor=TRACE_COLOUR, penwidth="1.2" if step.alternative else "2.5",
                 style="dashed" if step.alternative else None, fontsize="10", constraint="false",
                 label=step.label(), id=f"trace_{index}")
        if overlay.end:
            mark = "✓" if overlay.verdict == "delivered" else "✗"
            out.append(f"  {_quote(overlay.end)} {_attrs(xlabel=f'{mark} {overlay.verdict}', fontcolor=TRACE_COLOUR)}")
    out.append("}")
    return "\n".join(out) + "\n"


def dot_binary() -> str:
    """Where Graphviz's `dot` is, or a GraphError saying how to install it."""
    found = shutil.which("dot")
    if not found:
        raise GraphError("Graphviz's `dot` is not installed (Debian: `apt-get install graphviz`, or scripts/setup.sh); "
                         "`-o dot` writes the Graphviz text without it")
    return found


def run_dot(text: str, fmt: str) -> bytes:
    """Lay out Graphviz TEXT with `dot -TFMT` (svg, png)."""
    result = subprocess.run([dot_binary(), f"-T{fmt}"], input=text.encode(), capture_output=True, timeout=120)
    if result.returncode != 0:
        raise GraphError(f"dot -T{fmt} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def to_svg(model: GraphModel, path: dict | None = None) -> str:
    """The picture as SVG text, laid out by `dot`."""
    return run_dot(to_dot(model, path), "svg").decode()


# -- the HTML page --------------------------------------------------------------------------------

_CSS = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 0; color: #263238; background: #fff; }
header { display: flex; align-items: baseline; gap: 16px; padding: 8px 16px; border-bottom: 1px solid #cfd8dc;
         background: #eceff1; }
header h1 { font-size: 18px; margin: 0; }
header p { margin: 0; font-size: 13px; flex: 1; }
header button { font: inherit; font-size: 12px; }
main { display: flex; align-items: flex-start; }
#picture { flex: 1 1 auto; min-width: 0; overflow: auto; padding: 8px; }
#picture.fit svg { width: 100%; height: auto; max-height: calc(100vh - 70px); }
#picture svg text { font-family: "DejaVu Sans", Verdana, sans-serif; }
aside { flex: 0 0 340px; max-height: calc(100vh - 50px); overflow: auto; border-left: 1px solid #cfd8dc;
        padding: 4px 12px; font-size: 12px; }
h2 { font-size: 14px; margin: 12px 0 4px 0; }
#objects { display: flex; flex-wrap: wrap; gap: 24px; padding: 8px 16px 24px 16px; border-top: 1px solid #cfd8dc;
           font-size: 12px; }
table.objects { border-collapse: collapse; }
table.objects td, table.objects th { text-align: left; padding: 2px 8px 2px 0; border-bottom: 1px solid #eceff1;
        vertical-align: top; }
[data-target]:hover, [data-step]:hover { background: #fff8e1; cursor: pointer; }
ol.steps { padding-left: 22px; }
ol.steps li { margin-bottom: 6px; }
code { font-size: 11px; word-break: break-all; }
.verdict { font-weight: bold; color: #d32f2f; }
.verdict.delivered { color: #2e7d32; }
.legend span { display: inline-block; padding: 1px 6px; margin: 2px 4px 2px 0; border: 1px solid #90a4ae; }
svg.focus g.node, svg.focus g.edge { opacity: 0.2; }
svg.focus g.node.hl, svg.focus g.edge.hl { opacity: 1; }
g.edge.hl path { stroke-width: 2.5px; }
"""

_JS = """
(function () {
  var picture = document.getElementById('picture');
  var svg = picture.querySelector('svg');
  var button = document.getElementById('size');
  button.addEventListener('click', function () {
    picture.classList.toggle('fit');
    button.textContent = picture.classList.contains('fit') ? 'actual size' : 'fit to window';
  });
  if (!svg) { return; }
  function clear() {
    svg.classList.remove('focus');
    svg.querySelectorAll('.hl').forEach(function (e) { e.classList.remove('hl'); });
  }
  function light(edges) {
    edges.forEach(function (edge) {
      edge.classList.add('hl');
      edge.classList.forEach(function (c) {
        if (c.indexOf('n-') === 0) {
          var other = document.getElementById(c.slice(2));
          if (other) { other.classList.add('hl'); }
        }
      });
    });
  }
  function focusObject(id) {
    clear();
    var node = document.getElementById(id);
    if (!node) { return; }
    svg.classList.add('focus');
    node.classList.add('hl');
    light(svg.querySelectorAll('g.edge.n-' + CSS.escape(id)));
  }
  function focusStep(number) {
    clear();
    svg.classList.add('focus');
    light(svg.querySelectorAll('g.edge.step-' + number));
  }
  svg.querySelectorAll('g.node').forEach(function (node) {
    node.addEventListener('mouseenter', function () { focusObject(node.id); });
    node.addEventListener('mouseleave', clear);
  });
  document.querySelectorAll('[data-target]').forEach(function (row) {
    row.addEventListener('mouseenter', function () { focusObject(row.getAttribute('data-target')); });
    row.addEventListener('mouseleave', clear);
  });
  document.querySelectorAll('[data-step]').forEach(function (row) {
    row.addEventListener('mouseenter', function () { focusStep(row.getAttribute('data-step')); });
    row.addEventListener('mouseleave', clear);
  });
  // FILE.html#focus=ID opens with that object highlighted (ids: node_NODE, pod_NS_NAME, svc_NS_NAME)
  if (location.hash.indexOf('#focus=') === 0) { focusObject(decodeURIComponent(location.hash.slice(7))); }
})();
"""


def _svg_body(svg: str) -> str:
    """The <svg> element alone (no XML prolog or DOCTYPE: the page inlines it)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _table(title: str, headers: list, rows: list) -> str:
    """A titled table of objects; each row is (graph id, cells) and highlights its object on hover."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(f'<tr data-target="{_esc(target)}">' + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>"
                   for target, cells in rows)
    return f'<div><h2>{_esc(title)}</h2><table class="objects"><tr>{head}</tr>{body}</table></div>'


def _trace_section(model: GraphModel, overlay: TraceOverlay) -> str:
    verdict = _esc(overlay.verdict)
    parts = [f'<h2>Path: <span class="verdict {verdict}">{verdict}</span></h2>',
             f"<p>masquerade: {'yes' if overlay.masquerade else 'no'}</p>"]
    if overlay.endpoints:
        listed = "".join(f"<li>{_esc(e.get('address'))} {_esc(e.get('pod') or '')}"
                         + (f" p={float(e['probability']):.2f}" if e.get("probability") is not None else "") + "</li>"
                         for e in overlay.endpoints)
        parts.append(f"<p>endpoints:</p><ul>{listed}</ul>")
    parts.append('<ol class="steps">')
    for step in overlay.steps:
        if step.alternative:
            continue
        hops = "".join(f"<li><code>{_esc(overlay.hops[i].get('table', ''))}/{_esc(overlay.hops[i].get('chain', ''))}"
                       f"</code> <code>{_esc(overlay.hops[i].get('rule', ''))}</code> → "
                       f"{_esc(overlay.hops[i].get('action', ''))}</li>" for i in step.hops)
        extra = "".join(f"<br><b>{_esc(n)}</b>" for n in step.nat) + (f"<br>{_esc(step.note)}" if step.note else "")
        rules = f"{len(step.hops)} rule{'' if len(step.hops) == 1 else 's'} in {step.namespace}"
        parts.append(f'<li value="{step.number}" data-step="{step.number}">{_esc(model.title_of(step.source))} → '
                     f"{_esc(model.title_of(step.target))}{extra}"
                     f"<details><summary>{_esc(rules)}</summary><ul>{hops}</ul></details></li>")
    parts.append("</ol>")
    others = [s for s in overlay.steps if s.alternative]
    if others:
        parts.append("<p>the DNAT could also have chosen (dashed): "
                     + ", ".join(_esc(f"{model.title_of(s.target)} ({s.note})") for s in others) + "</p>")
    if overlay.end:
        parts.append(f"<p>ends in {_esc(model.title_of(overlay.end))}: {verdict}</p>")
    return "".join(parts)


_LEGEND = ('<h2>Reading the picture</h2><p>Each node is a network namespace (its box: eth0 on the underlay, '
           "its routes, cni0 the bridge its pods' veths plug into); each pod is a namespace of its own, "
           "inside its node; a Service is kube-proxy's rules on every node, drawn once, with an arrow to each "
           "endpoint labelled port → targetPort (dashed: not ready).</p><p class=\"legend\">")


def to_html(model: GraphModel, path: dict | None = None) -> str:
    """One self-contained page: the SVG that dot draws, inline, a side panel with the path (with
    PATH) and tables of every object below; hovering an object or a step highlights its links."""
    svg = _svg_body(to_svg(model, path))
    overlay = trace_overlay(model, path) if path else None
    legend = _LEGEND + "".join(f'<span style="background:{namespace_colour(n)}">{_esc(n)}</span>'
                               for n in model.namespaces()) + "</p>"
    tables = [
        _table("Nodes", ["name", "IP", "pod CIDR", "cni0", "netns"],
               [(n.id, [n.name, n.ip, n.pod_cidr, n.cni0, n.netns]) for n in model.nodes]
               + [(c.id, [f"{c.name} (client)", c.ip, "", "", c.netns]) for c in model.clients]),
        _table("Pods", ["namespace", "name", "IP", "node", "containers", "veth"],
               [(p.id, [p.namespace, p.name, p.ip or "", p.node or "", ", ".join(c.name for c in p.containers),
                        p.veth or ""]) for p in model.pods]),
        _table("Services", ["namespace", "name", "type", "ClusterIP", "ports", "endpoints"],
               [(s.id, [s.namespace, s.name, s.type, s.cluster_ip or "",
                        ", ".join(p.text() + (f" nodePort {p.node_port}" if p.node_port else "") for p in s.ports),
                        ", ".join(e.address for e in s.endpoints)]) for s in model.services]),
    ]
    title = f"netlab graph: lab {model.lab}"
    summary = (f"{len(model.nodes)} nodes, {len(model.pods)} pods, {len(model.services)} Services; "
               f"underlay {model.underlay}. Hover over an object to see its links.")
    if overlay:
        legend += "<p>Red: the traced path, its steps numbered as in the list above (dashed: endpoints the DNAT " \
                  "could have chosen instead).</p>"
    aside = (_trace_section(model, overlay) if overlay else "") + legend
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>"
            f'<header><h1>{_esc(title)}</h1><p>{_esc(summary)}</p><button id="size">actual size</button></header>\n'
            f'<main><section id="picture" class="fit">{svg}</section>\n<aside>{aside}</aside></main>\n'
            f'<section id="objects">{"".join(tables)}</section>\n'
            f"<script>{_JS}</script>\n</body></html>\n")


# -- the lab --------------------------------------------------------------------------------------

def _primary_ipv6(topology) -> bool:
    return (getattr(topology, "ip_families", None) or ("IPv4",))[0] == "IPv6"


def node_routes(topology, run=subprocess.run) -> dict:
    """Each node's routing table of the lab's primary family as `ip -n NETNS -j route` (`ip -6`)
    prints it, less IPv6's link-local routes (a node that cannot be read is left out)."""
    family = ["-6"] if _primary_ipv6(topology) else []
    found = {}
    for node in topology.nodes:
        result = run(["ip", *family, "-n", node.netns, "-j", "route"], capture_output=True, text=True, timeout=10)
        if result.returncode == 0:
            try:
                found[node.name] = [r for r in json.loads(result.stdout or "[]")
                                    if not str(r.get("dst", "")).startswith("fe80:")]
            except ValueError:
                continue
    return found


def model_of(lab: str) -> GraphModel:
    """The picture's content for a running lab: its store's objects and its nodes' live routes."""
    from netlab.inspect import get_objects
    from netlab.lab import _loaded_lab
    _, topology = _loaded_lab(lab)
    return lab_model(topology, get_objects(lab, "Pod", None, []), get_objects(lab, "Service", None, []),
                     get_objects(lab, "EndpointSlice", None, []), node_routes(topology))


def render(lab: str, fmt: str, output=None, path: dict | None = None) -> tuple:
    """Draw LAB as FMT (html, svg, png, dot) into OUTPUT (default ./LAB-graph.FMT), with PATH
    (explain's JSON) drawn over it; returns (the file written, the summary to print)."""
    if fmt not in FORMATS:
        raise GraphError(f"unknown output format {fmt!r}: one of {', '.join(FORMATS)}")
    if fmt != "dot":
        dot_binary()
    model = model_of(lab)
    target = Path(output) if output else Path.cwd() / f"{lab}-graph.{fmt}"
    if fmt == "dot":
        data = to_dot(model, path).encode()
    elif fmt == "html":
        data = to_html(model, path).encode()
    else:
        data = run_dot(to_dot(model, path), fmt)
    target.write_bytes(data)
    lines = [f"wrote {target}"]
    if path:
        lines.extend(describe_path(model, trace_overlay(model, path)))
    return target, "\n".join(lines)
