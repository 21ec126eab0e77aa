"""Kubernetes manifests in, typed and validated objects out (kubectl apply's strict validation).

    from netlab.manifest import load, ManifestError
    try:
        manifests = load(["manifests/"], validate="strict")
    except ManifestError as err:
        print(err)          # one `file:line: field.path: message` per problem
    manifests.deployments, manifests.services, manifests.lab, manifests.warnings
"""

from netlab.manifest.errors import ManifestError, Problem
from netlab.manifest.loader import VALIDATE_MODES, lab_config, load, loads, parse_objects
from netlab.manifest.model import (
    ClientConfig, ConfigMap, Container, ContainerPort, Deployment, EndpointSlice, EnvVar, KubeProxyConfig,
    LabConfig, LabelSelector, LabelSelectorRequirement, Manifests, Namespace, NodeConfig, ObjectMeta,
    Pod, PodSpec, PodTemplate, ReplicaSet, Secret, Service, Source,
)

__all__ = [
    "VALIDATE_MODES", "load", "loads", "parse_objects", "lab_config", "ManifestError", "Problem",
    "ClientConfig", "ConfigMap", "Container", "ContainerPort", "Deployment", "EndpointSlice", "EnvVar",
    "KubeProxyConfig", "LabConfig", "LabelSelector", "LabelSelectorRequirement", "Manifests",
    "Namespace", "NodeConfig", "ObjectMeta", "Pod", "PodSpec", "PodTemplate", "ReplicaSet",
    "Secret", "Service", "Source",
]
