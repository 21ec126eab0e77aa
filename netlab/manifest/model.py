"""Typed, validated Kubernetes objects and lab settings, as the rest of netlab consumes them.

Each top-level object keeps `.raw` (the document as written, for `-o yaml`) and `.source` (where it
was written). Objects are built only from documents that passed validation, so fields here carry the
API server's defaults and need no further checking.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple

# ---------------------------------------------------------------------------------------- common


@dataclass(frozen=True)
class Source:
    """Where an object was written: file and 1-based line of its first field.

    `locator` (when the object came from YAML) finds the line of any field, so checks made later
    against the lab's stored objects (admission) can still name the field's own line."""

    file: str
    line: Optional[int] = None
    locator: Any = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def line_of(self, path: Tuple[Any, ...]) -> Optional[int]:
        """The line of the field at PATH (the object's first line when it is not known)."""
        return self.locator.line(path) if self.locator is not None else self.line


@dataclass(frozen=True)
class ObjectMeta:
    """The parts of metadata netlab uses; namespace is None for cluster-scoped kinds."""

    name: str
    namespace: Optional[str] = "default"
    labels: Dict[str, str] = field(default_factory=dict)
    annotations: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelSelectorRequirement:
    """One matchExpressions entry: key, operator (In, NotIn, Exists, DoesNotExist), values."""

    key: str
    operator: str
    values: Tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Match as k8s.io/apimachinery labels.Requirement.Matches does (NotIn matches a missing key)."""
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        raise ValueError(f"unsupported label selector operator {self.operator!r}")

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class LabelSelector:
    """A metav1.LabelSelector; an empty one selects everything, as LabelSelectorAsSelector does."""

    match_labels: Dict[str, str] = field(default_factory=dict)
    match_expressions: Tuple[LabelSelectorRequirement, ...] = ()

    @classmethod
    def from_dict(cls, raw: Optional[Mapping[str, Any]]) -> "LabelSelector":
        """Build from a validated selector map ({matchLabels, matchExpressions})."""
        raw = raw or {}
        expressions = tuple(
            LabelSelectorRequirement(e["key"], e["operator"], tuple(e.get("values") or ()))
            for e in raw.get("matchExpressions") or ()
        )
        return cls(dict(raw.get("matchLabels") or {}), expressions)

    def matches(self, labels: Optional[Mapping[str, str]]) -> bool:
        """True when every matchLabels pair and every expression holds for `labels`."""
        labels = labels or {}
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(e.matches(labels) for e in self.match_expressions)

    def is_empty(self) -> bool:
        """True for a selector with no terms (it selects everything)."""
        return not self.match_labels and not self.match_expressions

    def __str__(self) -> str:
        """kubectl's rendering: app=web,tier in (a,b)."""
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        parts += [str(e) for e in self.match_expressions]
        return ",".join(parts)


# ------------------------------------------------------------------------------------------ pods


@dataclass(frozen=True)
class ContainerPort:
    """A containerPort entry; name is the one a Service's named targetPort refers to."""

    name: Optional[str]
    container_port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class EnvVar:
    """An env entry: a literal value, a downward-API fieldPath, or a source netlab cannot resolve.

    `key_ref` is a configMapKeyRef/secretKeyRef: (kind "ConfigMap" or "Secret", object name, key,
    optional). `unsupported` names the valueFrom source netlab does not provide (resourceFieldRef,
    fileKeyRef) so the runtime can warn and leave the variable out.
    """

    name: str
    value: Optional[str] = None
    field_path: Optional[str] = None
    unsupported: Optional[str] = None
    key_ref: Optional[Tuple[str, str, str, bool]] = None


@dataclass(frozen=True)
class Container:
    """A container: what to run, its environment and ports; run_as_user falls back to the pod's."""

    name: str
    image: str
    command: Optional[List[str]] = None
    args: Optional[List[str]] = None
    env: List[EnvVar] = field(default_factory=list)
    ports: List[ContainerPort] = field(default_factory=list)
    working_dir: Optional[str] = None
    run_as_user: Optional[int] = None
    readiness_probe: Optional[Dict[str, Any]] = None
    liveness_probe: Optional[Dict[str, Any]] = None
    image_pull_policy: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PodSpec:
    """The pod fields netlab acts on, with the API server's defaults filled in."""

    containers: List[Container]
    init_containers: List[Container] = field(default_factory=list)
    node_name: Optional[str] = None
    node_selector: Dict[str, str] = field(default_factory=dict)
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    hostname: Optional[str] = None
    subdomain: Optional[str] = None
    dns_policy: str = "ClusterFirst"
    host_network: bool = False
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def container(self, name: str) -> Optional[Container]:
        """The container (or init container) called `name`."""
        for c in self.containers + self.init_containers:
            if c.name == name:
                return c
        return None


class _Object:
    """What every top-level object offers: kind, name, namespace and a unique key."""

    kind: ClassVar[str] = ""
    api_version: ClassVar[str] = ""
    meta: ObjectMeta

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def namespace(self) -> Optional[str]:
        return self.meta.namespace

    @property
    def key(self) -> Tuple[str, Optional[str], str]:
        """(kind, namespace, name): what makes an object unique in a cluster."""
        return self.kind, self.meta.namespace, self.meta.name


@dataclass(frozen=True)
class Pod(_Object):
    """A v1 Pod."""

    kind: ClassVar[str] = "Pod"
    api_version: ClassVar[str] = "v1"
    meta: ObjectMeta
    spec: PodSpec
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)

    @property
    def pod_spec(self) -> PodSpec:
        """The spec its pod runs (a workload's is its template's)."""
        return self.spec

    @property
    def pod_template_raw(self) -> Dict[str, Any]:
        """The manifest map a pod of it is made from (metadata and spec)."""
        return self.raw


@dataclass(frozen=True)
class PodTemplate:
    """The pod template of a ReplicaSet or Deployment."""

    labels: Dict[str, str]
    annotations: Dict[str, str]
    spec: PodSpec
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class _Workload(_Object):
    """What a ReplicaSet and a Deployment share: a pod template."""

    template: PodTemplate
    raw: Dict[str, Any]

    @property
    def pod_spec(self) -> PodSpec:
        """The spec its pods run: its template's."""
        return self.template.spec

    @property
    def pod_template_raw(self) -> Dict[str, Any]:
        """Its pod template map, as written."""
        return (self.raw.get("spec") or {}).get("template") or {}


@dataclass(frozen=True)
class ReplicaSet(_Workload):
    """An apps/v1 ReplicaSet; replicas defaults to 1."""

    kind: ClassVar[str] = "ReplicaSet"
    api_version: ClassVar[str] = "apps/v1"
    meta: ObjectMeta
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)


@dataclass(frozen=True)
class Deployment(_Workload):
    """An apps/v1 Deployment; strategy is the API-defaulted strategy map (RollingUpdate 25%/25%)."""

    kind: ClassVar[str] = "Deployment"
    api_version: ClassVar[str] = "apps/v1"
    meta: ObjectMeta
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    strategy: Dict[str, Any] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)


# -------------------------------------------------------------------------------------- services


@dataclass(frozen=True)
class Service(_Object):
    """A v1 Service kept as its validated map; the proxy reads the rule-relevant fields from `raw`."""

    kind: ClassVar[str] = "Service"
    api_version: ClassVar[str] = "v1"
    meta: ObjectMeta
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)

    @property
    def spec(self) -> Dict[str, Any]:
        return self.raw.get("spec") or {}

    @property
    def type(self) -> str:
        """ClusterIP, NodePort, LoadBalancer or ExternalName (default ClusterIP)."""
        return self.spec.get("type") or "ClusterIP"

    @property
    def selector(self) -> Optional[Dict[str, str]]:
        """The pod selector map, or None when the Service has none (its endpoints are managed apart)."""
        return self.spec.get("selector") or None

    @property
    def ports(self) -> List[Dict[str, Any]]:
        return list(self.spec.get("ports") or [])


@dataclass(frozen=True)
class Namespace(_Object):
    """A v1 Namespace (cluster-scoped: meta.namespace is None)."""

    kind: ClassVar[str] = "Namespace"
    api_version: ClassVar[str] = "v1"
    meta: ObjectMeta
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)


@dataclass(frozen=True)
class ConfigMap(_Object):
    """A v1 ConfigMap: `data` (text) and `binaryData` (base64) keys, kept as its validated map."""

    kind: ClassVar[str] = "ConfigMap"
    api_version: ClassVar[str] = "v1"
    meta: ObjectMeta
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)


@dataclass(frozen=True)
class Secret(_Object):
    """A v1 Secret: `data` (base64) and `stringData` (text, merged over data as the API server does)."""

    kind: ClassVar[str] = "Secret"
    api_version: ClassVar[str] = "v1"
    meta: ObjectMeta
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)


@dataclass(frozen=True)
class EndpointSlice(_Object):
    """A discovery.k8s.io/v1 EndpointSlice kept as its validated map."""

    kind: ClassVar[str] = "EndpointSlice"
    api_version: ClassVar[str] = "discovery.k8s.io/v1"
    meta: ObjectMeta
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)

    @property
    def address_type(self) -> str:
        return self.raw.get("addressType", "")

    @property
    def endpoints(self) -> List[Dict[str, Any]]:
        return list(self.raw.get("endpoints") or [])

    @property
    def ports(self) -> List[Dict[str, Any]]:
        return list(self.raw.get("ports") or [])

    @property
    def service_name(self) -> Optional[str]:
        """The Service this slice belongs to (label kubernetes.io/service-name)."""
        return self.meta.labels.get("kubernetes.io/service-name")


# ------------------------------------------------------------------------------------------- lab

_UNDERLAY = ipaddress.IPv4Network("172.18.0.0/16")


@dataclass(frozen=True)
class NodeConfig:
    """A lab node: its name, labels, and its underlay address (node k is .k+1 of the underlay)."""

    name: str
    ip: ipaddress.IPv4Address
    labels: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientConfig:
    """An external client namespace on the underlay."""

    name: str
    ip: ipaddress.IPv4Address


@dataclass(frozen=True)
class HostConfig:
    """A machine a lab spans (spec.hosts): its name, its own address, and the lab nodes it runs."""

    name: str
    address: ipaddress.IPv4Address
    nodes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class KubeProxyConfig:
    """KubeProxyConfiguration-style settings for the iptables rules."""

    masquerade_all: bool = False
    masquerade_bit: int = 14
    detect_local_mode: str = "ClusterCIDR"
    min_sync_period: float = 1.0    # seconds (--iptables-min-sync-period): syncs at most this often, after a burst of 2


@dataclass(frozen=True)
class ClusterDNSConfig:
    """spec.clusterDNS: the kube-system DNS a new lab starts with (netlab/cluster/addons.py)."""

    enabled: bool = True
    ip: Optional[ipaddress.IPv4Address] = None     # None: .10 of the service CIDR
    replicas: int = 2


def default_nodes(count: int = 2, underlay: ipaddress.IPv4Network = _UNDERLAY) -> Tuple[NodeConfig, ...]:
    """node1..nodeN at .2, .3, ... of the underlay."""
    base = int(underlay.network_address)
    return tuple(NodeConfig(f"node{k}", ipaddress.IPv4Address(base + k + 1)) for k in range(1, count + 1))


@dataclass(frozen=True)
class LabConfig:
    """The lab's own Cluster document (netlab.io/v1alpha1) with DESIGN.md §3 defaults filled in."""

    API_VERSION: ClassVar[str] = "netlab.io/v1alpha1"
    KIND: ClassVar[str] = "Cluster"

    name: Optional[str] = None
    nodes: Tuple[NodeConfig, ...] = field(default_factory=default_nodes)
    pod_cidr: Optional[ipaddress.IPv4Network] = ipaddress.IPv4Network("10.244.0.0/16")
    node_cidr_mask_size: int = 24
    service_cidr: Optional[ipaddress.IPv4Network] = ipaddress.IPv4Network("10.96.0.0/12")
    underlay: ipaddress.IPv4Network = _UNDERLAY
    node_port_range: Tuple[int, int] = (30000, 32767)
    clients: Tuple[ClientConfig, ...] = (ClientConfig("client", ipaddress.IPv4Address("172.18.0.100")),)
    load_balancer_pool: Tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] = (
        ipaddress.IPv4Address("172.18.255.200"),
        ipaddress.IPv4Address("172.18.255.250"),
    )
    iptables_backend: str = "restore"
    proxy_mode: str = "iptables"    # spec.proxyMode: kube-proxy's iptables or nftables mode
    pod_network: str = "host-gw"    # spec.podNetwork: flannel's host-gw or vxlan backend
    kube_proxy: KubeProxyConfig = field(default_factory=KubeProxyConfig)
    cluster_dns: ClusterDNSConfig = field(default_factory=ClusterDNSConfig)
    # spec.ipFamilies, the primary first; the IPv6 ranges are set only on a lab with IPv6, and an
    # IPv6-only lab's pod_cidr and service_cidr are None (its underlay keeps an IPv4 range)
    ip_families: Tuple[str, ...] = ("IPv4",)
    pod_cidr6: Optional[ipaddress.IPv6Network] = None
    node_cidr_mask_size6: int = 64
    service_cidr6: Optional[ipaddress.IPv6Network] = None
    underlay6: Optional[ipaddress.IPv6Network] = None
    hosts: Tuple[HostConfig, ...] = ()   # spec.hosts: () is a lab on this machine alone
    store_etcd: Optional[str] = None     # spec.store.etcd: where a lab across hosts keeps its state
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: Optional[Source] = field(default=None, compare=False)

    @property
    def dual_stack(self) -> bool:
        """True when the lab runs IPv6 (beside IPv4, or alone): its nodes, clients and pods have IPv6
        addresses, and each node runs the IPv6 proxier."""
        return "IPv6" in self.ip_families

    def node_pod_cidr(self, k: int) -> ipaddress.IPv4Network:
        """Pod CIDR of node k (1-based): the k-th /nodeCIDRMaskSize subnet of the pod CIDR."""
        size = 1 << (32 - self.node_cidr_mask_size)
        return ipaddress.IPv4Network((int(self.pod_cidr.network_address) + k * size, self.node_cidr_mask_size))

    @property
    def cluster_dns_ip(self):
        """The kube-dns Service IP: spec.clusterDNS.ip, else .10 of the primary family's service
        CIDR (an IPv4Address or IPv6Address)."""
        cidr = self.service_cidr if self.ip_families[0] == "IPv4" else self.service_cidr6
        return self.cluster_dns.ip or cidr.network_address + 10


# ------------------------------------------------------------------------------------- the load

KubeObject = Any  # Pod | ReplicaSet | Deployment | Service | Namespace | EndpointSlice | ConfigMap | Secret


@dataclass
class Manifests:
    """Everything one load produced: objects in input order, the lab settings, and warnings.

    `objects` is every document as written, so an object given twice is there twice (kubectl
    applies both, in order); the per-kind lists hold each object once, as its last definition."""

    objects: List[KubeObject] = field(default_factory=list)
    lab: LabConfig = field(default_factory=LabConfig)
    warnings: List[str] = field(default_factory=list)

    def final(self) -> List[KubeObject]:
        """Each object once, as its last definition leaves it, in the order first written."""
        last: Dict[Tuple[str, Optional[str], str], KubeObject] = {}
        for obj in self.objects:
            last[obj.key] = obj
        order: Dict[Tuple[str, Optional[str], str], None] = dict.fromkeys(o.key for o in self.objects)
        return [last[key] for key in order]

    def of_kind(self, cls: type) -> list:
        return [o for o in self.final() if isinstance(o, cls)]

    @property
    def pods(self) -> List[Pod]:
        return self.of_kind(Pod)

    @property
    def replicasets(self) -> List[ReplicaSet]:
        return self.of_kind(ReplicaSet)

    @property
    def deployments(self) -> List[Deployment]:
        return self.of_kind(Deployment)

    @property
    def services(self) -> List[Service]:
        return self.of_kind(Service)

    @property
    def namespaces(self) -> List[Namespace]:
        return self.of_kind(Namespace)

    @property
    def endpointslices(self) -> List[EndpointSlice]:
        return self.of_kind(EndpointSlice)
