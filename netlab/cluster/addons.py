"""The objects a new lab starts with, as a kubeadm cluster has them.

The API server's own (pkg/controlplane: the system namespaces controller and the kubernetes
Service's endpoint reconciler):

    namespace/default, kube-system, kube-public, kube-node-lease
    service/kubernetes        the service CIDR's first address, port https 443 -> 6443
    endpointslice/kubernetes  the control-plane node's IP:6443 (the lab's first node), where the
                              supervisor answers as the API server (netlab/apiserver.py)

and kubeadm's addon phase (cmd/kubeadm/app/phases/addons/dns/manifests.go): the cluster DNS in
kube-system.

    deployment.apps/coredns   2 replicas, label k8s-app: kube-dns, spread over the nodes,
                              readiness probe /ready on 8181, liveness /health on 8080
    service/kube-dns          10.96.0.10 (the lab file's spec.clusterDNS.ip), ports dns 53/UDP,
                              dns-tcp 53/TCP, metrics 9153/TCP

The image is kubeadm's, and its pods are named as CoreDNS's are (coredns-HASH-xxxxx); what runs
in them is Debian's unbound serving the cluster's records (Debian 12 has no CoreDNS), with
CoreDNS's /health, /ready and /metrics (netlab/runtime/coredns.py). kubeadm's `coredns`
ConfigMap (the Corefile) and ServiceAccount are left out: nothing here would read them.
"""

from __future__ import annotations

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
API_SERVER_PORT = 6443
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.13.1"     # kubeadm v1.35's CoreDNSVersion
DNS_LABELS = {"k8s-app": "kube-dns"}


def kube_dns_service(cluster_ip: str) -> dict:
    """kube-system/kube-dns, as kubeadm writes it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                       "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            "clusterIP": cluster_ip,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
            "selector": dict(DNS_LABELS),
        },
    }


def coredns_deployment(replicas: int = 2) -> dict:
    """kube-system/coredns, as kubeadm writes it (less the Corefile volume)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dict(DNS_LABELS)},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": dict(DNS_LABELS)},
            "template": {
                "metadata": {"labels": dict(DNS_LABELS)},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchExpressions": [
                                {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
                            "topologyKey": "kubernetes.io/hostname"}}]}},
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{
                        "name": "coredns",
                        "image": COREDNS_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
                        "ports": [
                            {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                            {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                            {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                            {"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"},
                            {"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"},
                        ],
                        "livenessProbe": {"httpGet": {"path": "/health", "port": "liveness-probe", "scheme": "HTTP"},
                                          "initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1,
                                          "failureThreshold": 5},
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "readiness-probe",
                                                       "scheme": "HTTP"}},
                    }],
                    "dnsPolicy": "Default",
                },
            },
        },
    }


def cluster_dns_objects(cluster_ip: str, replicas: int = 2) -> list[dict]:
    """What a new lab's store starts with for its cluster DNS: the Service, then the Deployment."""
    return [kube_dns_service(cluster_ip), coredns_deployment(replicas)]


def system_namespaces() -> list[dict]:
    """The namespaces kube-apiserver creates at start, labelled as the NamespaceDefaultLabelName
    admission sets every namespace's name label."""
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}
            for name in SYSTEM_NAMESPACES]


def kubernetes_service(cluster_ip: str) -> dict:
    """default/kubernetes, as kube-apiserver's controller writes it: no selector, its endpoints are
    the API servers' (pkg/controlplane/controller/kubernetesservice)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "clusterIP": cluster_ip,
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_SERVER_PORT}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
    }


def kubernetes_endpoint_slice(api_server_ip: str) -> dict:
    """default/kubernetes's EndpointSlice, as the API server's endpoint reconciler writes it
    (pkg/controlplane/reconcilers): one ready endpoint per API server."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv6" if ":" in api_server_ip else "IPv4",
        "endpoints": [{"addresses": [api_server_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}],
    }


def control_plane_objects(service_cidr, api_server_ip: str) -> list[dict]:
    """What kube-apiserver creates in a new cluster: the system namespaces, then default/kubernetes
    on the service CIDR's first address (its endpoint the control-plane node's API server; both of
    the cluster's primary family)."""
    import ipaddress
    first = str(ipaddress.ip_network(str(service_cidr)).network_address + 1)
    return system_namespaces() + [kubernetes_service(first), kubernetes_endpoint_slice(api_server_ip)]
