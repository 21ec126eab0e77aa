"""Value checks the API server makes beyond field types: names, ports, enums, selectors.

The messages follow the API server's (k8s.io/kubernetes pkg/apis/*/validation) in substance and
add what to write instead. Every function tolerates values of the wrong type, since the type
walker (schema.py) has already reported those.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from fractions import Fraction
from typing import Any, Dict, Optional, Sequence, Set, Tuple

from netlab.manifest.model import LabelSelector
from netlab.manifest.schema import Findings, suggest
from netlab.manifest.source import MapKey, Path

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_IANA = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_ENV_FIELD = re.compile(r"^metadata\.(labels|annotations)\['[^']+'\]$")

ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
)
PROTOCOLS = ("TCP", "UDP", "SCTP")


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _slug(name: str) -> str:
    """A DNS-1123 label close to `name`, for 'e.g.' hints."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-") or "my-name"


# ------------------------------------------------------------------------------- name formats


def dns_label(value: str, path: Path, f: Findings, what: str = "name") -> bool:
    """A DNS-1123 label (Namespace names, container names, node names): my-name, max 63."""
    if len(value) <= 63 and _LABEL.match(value):
        return True
    f.error(path, f'invalid {what} "{value}": use at most 63 lower case letters, digits and "-", '
                  f"starting and ending with a letter or digit (e.g. {_slug(value)})")
    return False


def dns1035_label(value: str, path: Path, f: Findings, what: str = "name") -> bool:
    """A DNS-1035 label (Service names): like a DNS-1123 label but starting with a letter."""
    if len(value) <= 63 and _DNS1035.match(value):
        return True
    slug = _slug(value)
    if not slug[0].isalpha():
        slug = "svc-" + slug
    f.error(path, f'invalid {what} "{value}": use at most 63 lower case letters, digits and "-", '
                  f"starting with a letter and ending with a letter or digit (e.g. {slug})")
    return False


def dns_subdomain(value: str, path: Path, f: Findings, what: str = "name") -> bool:
    """A DNS-1123 subdomain (most object names): my-name or my.name, max 253."""
    if len(value) <= 253 and _SUBDOMAIN.match(value):
        return True
    f.error(path, f'invalid {what} "{value}": use lower case letters, digits, "-" and ".", '
                  f"starting and ending with a letter or digit (e.g. {_slug(value)})")
    return False


def _qualified_name(key: str) -> Optional[str]:
    """Why `key` is not a valid label/annotation key ([prefix/]name), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "the prefix before '/' is empty"
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return f'the prefix "{prefix}" must be a DNS subdomain (e.g. example.com)'
    if not name or len(name) > 63 or not _QUALIFIED.match(name):
        return ("the name part must be at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def labels(value: Any, path: Path, f: Findings, what: str = "label") -> None:
    """Label keys are qualified names and values are empty or at most 63 name characters."""
    for key, val in _dict(value).items():
        at = tuple(path) + (MapKey(key),)
        why = _qualified_name(key)
        if why:
            f.error(at, f'invalid {what} key "{key}": {why}')
        if isinstance(val, str) and val and (len(val) > 63 or not _QUALIFIED.match(val)):
            f.error(at, f'invalid {what} value "{val}": use at most 63 letters, digits, "-", "_" or ".", '
                        "starting and ending with a letter or digit")


ANNOTATIONS_MAX_BYTES = 256 * 1024       # TotalAnnotationSizeLimitB


def annotations(value: Any, path: Path, f: Findings) -> None:
    """Annotation keys are qualified names; values are free text, at most 256 KiB with the keys."""
    size = 0
    for key, val in _dict(value).items():
        why = _qualified_name(key)
        if why:
            f.error(tuple(path) + (MapKey(key),), f'invalid annotation key "{key}": {why}')
        size += len(str(key).encode()) + (len(val.encode()) if isinstance(val, str) else 0)
    if size > ANNOTATIONS_MAX_BYTES:
        f.error(path, f"too long: {size} bytes of annotations; may not be more than {ANNOTATIONS_MAX_BYTES} "
                      "bytes in total (keep large data in a ConfigMap)")


def enum(value: Any, allowed: Sequence[str], path: Path, f: Findings) -> bool:
    """An enumerated string field (protocol, type, restartPolicy, ...)."""
    if not isinstance(value, str) or value in allowed:
        return True
    choices = ", ".join(f'"{a}"' for a in allowed)
    f.error(path, f'unsupported value "{value}"{suggest(value, allowed)} (supported: {choices})')
    return False


def port(value: Any, path: Path, f: Findings, what: str = "port") -> None:
    """A port number in 1-65535."""
    number = _int(value)
    if number is not None and not 1 <= number <= 65535:
        f.error(path, f"invalid {what} {number}: must be between 1 and 65535, inclusive")


def iana_port_name(value: str, path: Path, f: Findings) -> bool:
    """A named port (IANA_SVC_NAME): at most 15 lower case letters, digits and '-', one letter at least."""
    ok = (len(value) <= 15 and _IANA.match(value) and "--" not in value
          and any(c.isalpha() for c in value))
    if not ok and value.isdigit():
        f.error(path, f'invalid port name "{value}": a quoted number is read as a port name; remove the '
                      "quotes to give a port number")
    elif not ok:
        f.error(path, f'invalid port name "{value}": use at most 15 lower case letters, digits and "-", '
                      "with at least one letter (e.g. http)")
    return bool(ok)


def port_or_name(value: Any, path: Path, f: Findings) -> None:
    """An IntOrString port: a number in 1-65535 or a port name."""
    if isinstance(value, str):
        iana_port_name(value, path, f)
    else:
        port(value, path, f)


INT32_MAX = 2**31 - 1


# Fields the API declares int32 (the rest of netlab's integers are int64): a larger value does not
# decode, so the API server refuses it.
INT32_FIELDS = frozenset((
    "port", "targetPort", "nodePort", "containerPort", "hostPort", "healthCheckNodePort", "replicas",
    "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds", "initialDelaySeconds",
    "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold", "defaultMode", "mode",
))


def _shown(number: int) -> str:
    text = str(number)
    return text if len(text) <= 20 else f"{text[:10]}...{text[-5:]} ({len(text)} digits)"


def int32_fields(value: Any, path: Path, f: Findings) -> None:
    """Every int32 field anywhere in VALUE holds a number in -2^31 .. 2^31-1."""
    if isinstance(value, dict):
        for key, item in value.items():
            at = tuple(path) + (key,)
            number = _int(item)
            if key in INT32_FIELDS and number is not None and not -2**31 <= number <= INT32_MAX:
                f.error(at, f"invalid value {_shown(number)}: must be no more than {INT32_MAX} (an int32)"
                        if number > 0 else f"invalid value {_shown(number)}: out of range for an int32")
            elif isinstance(item, (dict, list)):
                int32_fields(item, at, f)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            int32_fields(item, tuple(path) + (i,), f)


def non_negative(value: Any, path: Path, f: Findings) -> None:
    """A field that must be 0 or more (replicas, minReadySeconds, ...); int32_fields checks the top."""
    number = _int(value)
    if number is not None and number < 0:
        f.error(path, f"invalid value {_shown(number)}: must be greater than or equal to 0")


def ip(value: Any, path: Path, f: Findings, what: str = "IP address") -> None:
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            f.error(path, f'invalid {what} "{value}": write a plain address such as 10.96.0.20')


# ------------------------------------------------------------------------------------ metadata


def metadata(kind: str, meta: Any, f: Findings, name_rule=None) -> None:
    """metadata: a name is required (generateName is not supported), namespace, labels, annotations."""
    if meta is not None and not isinstance(meta, dict):
        return  # the type walker reported it
    meta = _dict(meta)
    name = meta.get("name")
    if not name:
        if meta.get("generateName"):
            f.error(("metadata", "generateName"),
                    "generateName is not supported by netlab: give the object a fixed metadata.name")
        else:
            f.error(("metadata", "name"), f"required field is missing: every {kind} needs a name")
    elif isinstance(name, str) and name_rule is not None:
        name_rule(name, ("metadata", "name"), f)
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and namespace:
        dns_label(namespace, ("metadata", "namespace"), f, "namespace")
    labels(meta.get("labels"), ("metadata", "labels"), f)
    annotations(meta.get("annotations"), ("metadata", "annotations"), f)


def selector(raw: Any, path: Path, f: Findings) -> bool:
    """A metav1.LabelSelector's terms; True when it is well formed."""
    raw = _dict(raw)
    if not isinstance(raw.get("matchLabels") or {}, dict) or not isinstance(raw.get("matchExpressions") or [], list) \
            or not all(isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("operator"), str)
                       for e in raw.get("matchExpressions") or []):
        return False            # the type walker has said what is wrong with its shape
    before = len(f.items)
    labels(raw.get("matchLabels"), tuple(path) + ("matchLabels",), f)
    for i, expr in enumerate(_list(raw.get("matchExpressions"))):
        at = tuple(path) + ("matchExpressions", i)
        expr = _dict(expr)
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values")
        if isinstance(key, str):
            why = _qualified_name(key)
            if why:
                f.error(at + ("key",), f'invalid label key "{key}": {why}')
        if not enum(op, ("In", "NotIn", "Exists", "DoesNotExist"), at + ("operator",), f):
            continue
        if op in ("In", "NotIn") and not values:
            f.error(at + ("values",), f"required when operator is {op}: list the label values to match")
        if op in ("Exists", "DoesNotExist") and values:
            f.error(at + ("values",), f"must be empty when operator is {op}")
    return len(f.items) == before


# ----------------------------------------------------------------------------------------- pods


def local_path(value: Any, at: Path, f: Findings) -> None:
    """A path inside a volume (subPath, items[].path): relative, without "..", as the API server wants."""
    if not isinstance(value, str):
        return
    if value.startswith("/"):
        f.error(at, f'invalid value "{value}": must be a relative path inside the volume')
    elif ".." in value.split("/"):
        f.error(at, f'invalid value "{value}": must not contain ".." (it would leave the volume)')


def pod_spec(spec: Any, path: Path, f: Findings, template_of: Optional[str] = None) -> None:
    """A PodSpec: containers, their names, images, ports and env; restartPolicy for templates."""
    spec = _dict(spec)
    path = tuple(path)
    volumes: Set[str] = set()
    for i, volume in enumerate(_list(spec.get("volumes"))):
        name = _str(_dict(volume).get("name"))
        if name is None:
            continue
        sources = [k for k, v in _dict(volume).items() if k != "name" and v is not None]
        if len(sources) > 1:
            f.error(path + ("volumes", i, sources[1]), f"may not specify more than 1 volume type (also "
                                                        f"{sources[0]}): keep one of them")
        at = path + ("volumes", i, "name")
        if dns_label(name, at, f, "volume name") and name in volumes:
            f.error(at, f'duplicate volume name "{name}"')
        volumes.add(name)
        for kind in ("configMap", "secret", "downwardAPI"):
            for j, item in enumerate(_list(_dict(_dict(volume).get(kind)).get("items"))):
                local_path(_dict(item).get("path"), path + ("volumes", i, kind, "items", j, "path"), f)
        for k, part in enumerate(_list(_dict(_dict(volume).get("projected")).get("sources"))):
            for kind, source in _dict(part).items():
                for j, item in enumerate(_list(_dict(source).get("items"))):
                    local_path(_dict(item).get("path"),
                               path + ("volumes", i, "projected", "sources", k, kind, "items", j, "path"), f)
    containers = spec.get("containers")
    if isinstance(containers, list) and not containers:
        f.error(path + ("containers",), "a pod needs at least one container (name and image)")
    names: Set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(_list(spec.get(group))):
            container(c, path + (group, i), f, names, volumes, spec)
    host_ports: Dict[tuple, int] = {}
    for i, c in enumerate(_list(spec.get("containers"))):
        for j, p in enumerate(_list(_dict(c).get("ports"))):
            number = _int(_dict(p).get("hostPort"))
            if number:
                key = (number, _str(_dict(p).get("protocol")) or "TCP")
                if key in host_ports:
                    f.error(path + ("containers", i, "ports", j, "hostPort"),
                            f"duplicate value {number}/{key[1]}: another container of the pod uses this hostPort")
                host_ports[key] = i
    for key in ("serviceAccountName", "priorityClassName"):
        if _str(spec.get(key)):
            dns_subdomain(spec[key], path + (key,), f, key)
    _dns_config(spec, path, f)
    for i, alias in enumerate(_list(spec.get("hostAliases"))):
        ip(_dict(alias).get("ip"), path + ("hostAliases", i, "ip"), f, "hostAliases IP")
    for i, toleration in enumerate(_list(spec.get("tolerations"))):
        toleration = _dict(toleration)
        enum(toleration.get("operator"), ("Exists", "Equal"), path + ("tolerations", i, "operator"), f)
        enum(toleration.get("effect"), ("NoSchedule", "PreferNoSchedule", "NoExecute"),
             path + ("tolerations", i, "effect"), f)
    if template_of:
        policy = spec.get("restartPolicy")
        if isinstance(policy, str) and policy != "Always":
            f.error(path + ("restartPolicy",),
                    f'unsupported value "{policy}": a {template_of} pod template needs "Always" '
                    "(remove the field or use a Job-like Pod instead)")
    else:
        enum(spec.get("restartPolicy"), ("Always", "OnFailure", "Never"), path + ("restartPolicy",), f)
    enum(spec.get("dnsPolicy"), ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"),
         path + ("dnsPolicy",), f)
    for key in ("hostname", "subdomain"):
        if _str(spec.get(key)):
            dns_label(spec[key], path + (key,), f, key)
    if _str(spec.get("nodeName")):
        dns_subdomain(spec["nodeName"], path + ("nodeName",), f, "node name")
    labels(spec.get("nodeSelector"), path + ("nodeSelector",), f, "node selector")
    security = _dict(spec.get("securityContext"))
    non_negative(security.get("runAsUser"), path + ("securityContext", "runAsUser"), f)
    non_negative(spec.get("terminationGracePeriodSeconds"), path + ("terminationGracePeriodSeconds",), f)


def container(c: Any, path: Path, f: Findings, names: Set[str], volumes: Set[str], spec: dict) -> None:
    """One container: unique DNS-label name, an image, valid ports, env and volume mounts."""
    c = _dict(c)
    path = tuple(path)
    name = _str(c.get("name"))
    if name is not None and dns_label(name, path + ("name",), f, "container name"):
        if name in names:
            f.error(path + ("name",), f'duplicate container name "{name}": each container of a pod '
                                      "needs its own name")
        names.add(name)
    if not c.get("image"):
        f.error(path + ("image",), "required field is missing: the container image, e.g. nginx:1.25")
    elif isinstance(c.get("image"), str) and c["image"] != c["image"].strip():
        f.error(path + ("image",), f'invalid value "{c["image"]}": must not have leading or trailing '
                                   "whitespace")
    enum(c.get("terminationMessagePolicy"), ("File", "FallbackToLogsOnError"),
         path + ("terminationMessagePolicy",), f)
    enum(c.get("imagePullPolicy"), ("Always", "IfNotPresent", "Never"), path + ("imagePullPolicy",), f)
    port_names: Set[str] = set()
    for i, p in enumerate(_list(c.get("ports"))):
        p = _dict(p)
        at = path + ("ports", i)
        port(p.get("containerPort"), at + ("containerPort",), f, "containerPort")
        if _int(p.get("hostPort")):
            port(p.get("hostPort"), at + ("hostPort",), f, "hostPort")
        enum(p.get("protocol"), PROTOCOLS, at + ("protocol",), f)
        pname = _str(p.get("name"))
        if pname and iana_port_name(pname, at + ("name",), f):
            if pname in port_names:
                f.error(at + ("name",), f'duplicate port name "{pname}"')
            port_names.add(pname)
    for i, e in enumerate(_list(c.get("env"))):
        env_var(_dict(e), path + ("env", i), f)
    mount_paths: Set[str] = set()
    for i, m in enumerate(_list(c.get("volumeMounts"))):
        mount_path = _str(_dict(m).get("mountPath"))
        if mount_path in mount_paths:
            f.error(path + ("volumeMounts", i, "mountPath"), f'invalid value "{mount_path}": must be unique '
                                                              "(another mount of the container uses it)")
        if mount_path:
            mount_paths.add(mount_path)
        if _dict(m).get("subPath"):
            local_path(_dict(m)["subPath"], path + ("volumeMounts", i, "subPath"), f)
        mount = _str(_dict(m).get("name"))
        if mount is not None and mount not in volumes:
            known = f" (volumes: {', '.join(sorted(volumes))})" if volumes else ""
            f.error(path + ("volumeMounts", i, "name"),
                    f'no volume named "{mount}" in the pod\'s spec.volumes{suggest(mount, volumes)}{known}')
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(c.get(probe), dict):
            probe_spec(c[probe], path + (probe,), f, probe)
    security = _dict(c.get("securityContext"))
    non_negative(security.get("runAsUser"), path + ("securityContext", "runAsUser"), f)
    resources(c.get("resources"), path + ("resources",), f)


PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def probe_spec(probe: Dict[str, Any], path: Path, f: Findings, which: str) -> None:
    """A probe (validateProbe): one handler, non-negative timings, successThreshold 1 unless readiness."""
    path = tuple(path)
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        f.error(path, "must specify a handler type: one of exec, httpGet, tcpSocket or grpc")
    elif len(handlers) > 1:
        f.error(path + (handlers[1],), f"may not specify more than 1 handler type (also {handlers[0]}): "
                                       "keep one of them")
    for action in ("httpGet", "tcpSocket"):
        target = _dict(probe.get(action))
        if "port" in target:                  # the type walker says when it is missing
            port_or_name(target["port"], path + (action, "port"), f)
    enum(_dict(probe.get("httpGet")).get("scheme"), ("HTTP", "HTTPS"), path + ("httpGet", "scheme"), f)
    if isinstance(probe.get("exec"), dict) and not probe["exec"].get("command"):
        f.error(path + ("exec", "command"), "required field is missing: the command to run, e.g. "
                                            "[cat, /tmp/healthy]")
    grpc = _dict(probe.get("grpc"))
    port(grpc.get("port"), path + ("grpc", "port"), f)
    for timing in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                   "failureThreshold"):
        non_negative(probe.get(timing), path + (timing,), f)
    success = _int(probe.get("successThreshold"))
    if which != "readinessProbe" and success not in (None, 0, 1):
        f.error(path + ("successThreshold",), f"invalid value {success}: must be 1 for a {which}")
    grace = _int(probe.get("terminationGracePeriodSeconds"))
    if grace is not None and grace <= 0:
        f.error(path + ("terminationGracePeriodSeconds",), f"invalid value {grace}: must be greater than 0")


_SUFFIXES = {"": 1, "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3,
             "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20,
             "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: Any) -> Optional[Fraction]:
    """The exact value of a resource.Quantity (250m, 0.5, 64Mi, 1e3), None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Fraction(value)
    found = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?", str(value))
    if not found:
        return None
    number, suffix = Fraction(found.group(1)), found.group(2) or ""
    if suffix[:1] in ("e", "E"):
        exponent = int(suffix[1:])
        return number * 10**exponent if exponent >= 0 else number / 10**-exponent
    return number * _SUFFIXES[suffix]


def resources(raw: Any, path: Path, f: Findings) -> None:
    """ValidateResourceRequirements: no negative amount, and no request above its limit."""
    raw = _dict(raw)
    limits, requests = _dict(raw.get("limits")), _dict(raw.get("requests"))
    for group, values in (("limits", limits), ("requests", requests)):
        for name, amount in values.items():
            parsed = quantity(amount)
            if parsed is not None and parsed < 0:
                f.error(tuple(path) + (group, MapKey(name)), f'invalid value "{amount}": must be greater than '
                                                             "or equal to 0")
    for name, amount in requests.items():
        wanted, cap = quantity(amount), quantity(limits.get(name)) if name in limits else None
        if wanted is not None and cap is not None and cap >= 0 and wanted > cap:
            f.error(tuple(path) + ("requests", MapKey(name)), f'invalid value "{amount}": must be less than or '
                                                              f"equal to {name} limit of {limits[name]}")


def env_var(e: Dict[str, Any], path: Path, f: Findings) -> None:
    """An env entry: a name without '=', and either value or one valueFrom source."""
    path = tuple(path)
    name = _str(e.get("name"))
    if name is not None and (not name or "=" in name or not name.isprintable()):
        f.error(path + ("name",), f'invalid environment variable name "{name}": use printable '
                                  "characters other than '=' (e.g. MY_VAR)")
    source = e.get("valueFrom")
    if not isinstance(source, dict):
        return
    if e.get("value"):
        f.error(path + ("valueFrom",), "may not be set together with value: keep one of them")
    given = [k for k, v in source.items() if v is not None]
    if len(given) != 1:
        f.error(path + ("valueFrom",), "give exactly one of fieldRef, resourceFieldRef, configMapKeyRef, "
                                       "secretKeyRef or fileKeyRef")
        return
    ref = _dict(source.get("fieldRef"))
    field_path = _str(ref.get("fieldPath"))
    if field_path is not None and field_path not in ENV_FIELD_PATHS and not _ENV_FIELD.match(field_path):
        f.error(path + ("valueFrom", "fieldRef", "fieldPath"),
                f'unsupported value "{field_path}"{suggest(field_path, ENV_FIELD_PATHS)} '
                "(supported: " + ", ".join(ENV_FIELD_PATHS) + ", metadata.labels['KEY'], "
                "metadata.annotations['KEY'])")
    api = ref.get("apiVersion")
    if isinstance(api, str) and api != "v1":
        f.error(path + ("valueFrom", "fieldRef", "apiVersion"), f'unsupported value "{api}": use "v1"')


def pod_template(template: Any, path: Path, f: Findings, owner: str) -> None:
    """A workload's pod template: its labels and its pod spec."""
    template = _dict(template)
    meta = _dict(template.get("metadata"))
    labels(meta.get("labels"), tuple(path) + ("metadata", "labels"), f)
    annotations(meta.get("annotations"), tuple(path) + ("metadata", "annotations"), f)
    if template.get("spec") is None:
        f.error(tuple(path) + ("spec",), "required field is missing: the pod template needs "
                                         "spec.containers (name and image)")
    pod_spec(template.get("spec"), tuple(path) + ("spec",), f, template_of=owner)


# ------------------------------------------------------------------------------------ per kind


def pod(obj: Dict[str, Any], f: Findings) -> None:
    metadata("Pod", obj.get("metadata"), f, dns_subdomain)
    if obj.get("spec") is None:
        f.error(("spec",), "required field is missing: a Pod needs spec.containers (name and image)")
    pod_spec(obj.get("spec"), ("spec",), f)


def workload(kind: str, obj: Dict[str, Any], f: Findings) -> None:
    """ReplicaSet and Deployment: replicas, a non-empty selector that matches the template's labels."""
    metadata(kind, obj.get("metadata"), f, dns_subdomain)
    spec = _dict(obj.get("spec"))
    if obj.get("spec") is None:
        f.error(("spec",), f"required field is missing: a {kind} needs spec.selector and spec.template")
        return
    non_negative(spec.get("replicas"), ("spec", "replicas"), f)
    non_negative(spec.get("minReadySeconds"), ("spec", "minReadySeconds"), f)
    template = spec.get("template")
    if template is None and kind == "ReplicaSet":
        f.error(("spec", "template"), "required field is missing: the pod template "
                                      "(metadata.labels and spec.containers)")
    if template is not None:
        pod_template(template, ("spec", "template"), f, kind)
    raw_selector = spec.get("selector")
    if not isinstance(raw_selector, dict):
        return
    if not selector(raw_selector, ("spec", "selector"), f):
        return
    chosen = LabelSelector.from_dict(raw_selector)
    if chosen.is_empty():
        f.error(("spec", "selector"), f"empty selector is invalid for a {kind}: "
                                      "add matchLabels that match the template's labels")
        return
    template_labels = _dict(_dict(_dict(template).get("metadata")).get("labels"))
    if template is not None and not chosen.matches(template_labels):
        wanted = ", ".join(f"{k}: {v}" for k, v in chosen.match_labels.items())
        hint = f" (e.g. {wanted})" if wanted else ""
        f.error(("spec", "template", "metadata", "labels"),
                f"selector does not match template labels: give the template labels that "
                f"spec.selector ({chosen}) selects{hint}")
    if kind == "Deployment":
        _strategy(spec, f)
        non_negative(spec.get("revisionHistoryLimit"), ("spec", "revisionHistoryLimit"), f)
        deadline = _int(spec.get("progressDeadlineSeconds"))
        ready = _int(spec.get("minReadySeconds")) or 0
        if (600 if deadline is None else deadline) <= ready:
            f.error(("spec", "progressDeadlineSeconds"),
                    f"invalid value {600 if deadline is None else deadline}: must be greater than "
                    f"minReadySeconds ({ready})" + (" (600 when not given)" if deadline is None else ""))


def _strategy(spec: Dict[str, Any], f: Findings) -> None:
    strategy = _dict(spec.get("strategy"))
    path = ("spec", "strategy")
    kind = strategy.get("type") or "RollingUpdate"
    if not enum(kind, ("RollingUpdate", "Recreate"), path + ("type",), f):
        return
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate" and rolling is not None:
        f.error(path + ("rollingUpdate",), 'may not be set when type is "Recreate": remove it')
        return
    rolling = _dict(rolling)
    for key in ("maxSurge", "maxUnavailable"):
        value = rolling.get(key)
        if isinstance(value, str) and not re.fullmatch(r"\d+%", value):
            f.error(path + ("rollingUpdate", key), f'invalid value "{value}": use a number or a '
                                                   'percentage such as "25%"')
        elif key == "maxUnavailable" and isinstance(value, str) and int(value[:-1]) > 100:
            f.error(path + ("rollingUpdate", key), f'invalid value "{value}": must not be greater than 100%')
        non_negative(value, path + ("rollingUpdate", key), f)
    if rolling.get("maxSurge") in (0, "0%") and rolling.get("maxUnavailable") in (0, "0%"):
        f.error(path + ("rollingUpdate", "maxUnavailable"), "may not be 0 when maxSurge is 0")


def service(obj: Dict[str, Any], f: Findings) -> None:
    """A Service: type, ports (names, ranges, nodePort only where it applies), affinity, policies."""
    metadata("Service", obj.get("metadata"), f, dns1035_label)
    spec = _dict(obj.get("spec"))
    path = ("spec",)
    kind = spec.get("type") or "ClusterIP"
    if not enum(kind, ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"), path + ("type",), f):
        return
    external = kind == "ExternalName"
    if external:
        name = spec.get("externalName")
        if not name:
            f.error(path + ("externalName",), "required for type ExternalName: the DNS name to "
                                              "answer with, e.g. my.database.example.com")
        elif isinstance(name, str):
            dns_subdomain(name.rstrip("."), path + ("externalName",), f, "externalName")
    cluster_ip = spec.get("clusterIP")
    headless = cluster_ip == "None"
    ports = _list(spec.get("ports"))
    if not ports and not external and not headless:
        f.error(path + ("ports",), "required field is missing: list the ports the Service exposes, "
                                   "e.g. - port: 80")
    seen_names: Dict[str, int] = {}
    seen_ports: Set[tuple] = set()
    seen_node_ports: Dict[tuple, int] = {}
    for i, p in enumerate(ports):
        p = _dict(p)
        at = path + ("ports", i)
        port(p.get("port"), at + ("port",), f)
        enum(p.get("protocol"), PROTOCOLS, at + ("protocol",), f)
        if p.get("targetPort") not in (None, 0, ""):      # 0 and "" default to port, as the API server's
            port_or_name(p["targetPort"], at + ("targetPort",), f)
        name = _str(p.get("name"))
        if name:
            if dns_label(name, at + ("name",), f, "port name") and name in seen_names:
                f.error(at + ("name",), f'duplicate port name "{name}"')
            seen_names[name] = i
        elif len(ports) > 1:
            f.error(at + ("name",), "required when a Service has more than one port: name each port "
                                    "(e.g. http, https)")
        key = (_int(p.get("port")), _str(p.get("protocol")) or "TCP")
        if key[0] is not None and key in seen_ports:
            f.error(at, f"duplicate port {key[0]}/{key[1]}")
        seen_ports.add(key)
        node_port = _int(p.get("nodePort"))
        if node_port:
            if kind not in ("NodePort", "LoadBalancer"):
                f.error(at + ("nodePort",), f'may not be set when type is "{kind}": use type NodePort '
                                            "or LoadBalancer, or remove it")
            else:
                port(node_port, at + ("nodePort",), f, "nodePort")
                twice = (node_port, _str(p.get("protocol")) or "TCP")
                if twice in seen_node_ports:
                    f.error(at + ("nodePort",), f"duplicate value {node_port} (also spec.ports"
                                                f"[{seen_node_ports[twice]}].nodePort)")
                seen_node_ports[twice] = i
        protocol_name = _str(p.get("appProtocol"))
        if protocol_name and _qualified_name(protocol_name):
            f.error(at + ("appProtocol",), f'invalid value "{protocol_name}": '
                                           f"{_qualified_name(protocol_name)}")
    labels(spec.get("selector"), path + ("selector",), f, "selector")
    _cluster_ips(spec, kind, f)
    for i, address in enumerate(_list(spec.get("externalIPs"))):
        ip(address, path + ("externalIPs", i), f, "external IP")
    ip(spec.get("loadBalancerIP"), path + ("loadBalancerIP",), f, "loadBalancerIP")
    _source_ranges(obj, kind, f)
    affinity = spec.get("sessionAffinity") or "None"
    enum(affinity, ("None", "ClientIP"), path + ("sessionAffinity",), f)
    config = _dict(spec.get("sessionAffinityConfig"))
    timeout = _int(_dict(config.get("clientIP")).get("timeoutSeconds"))
    if config and affinity == "None":
        f.error(path + ("sessionAffinityConfig",), 'may not be set when sessionAffinity is "None": '
                                                   'set sessionAffinity: ClientIP or remove it')
    if timeout is not None and not 0 < timeout <= 86400:
        f.error(path + ("sessionAffinityConfig", "clientIP", "timeoutSeconds"),
                f"invalid value {timeout}: must be between 1 and 86400 (one day)")
    etp = spec.get("externalTrafficPolicy")
    if etp:
        if enum(etp, ("Cluster", "Local"), path + ("externalTrafficPolicy",), f) \
                and kind not in ("NodePort", "LoadBalancer") and not spec.get("externalIPs"):
            f.error(path + ("externalTrafficPolicy",), "may only be set when type is NodePort or "
                                                       "LoadBalancer (or the Service has externalIPs)")
    enum(spec.get("internalTrafficPolicy"), ("Cluster", "Local"), path + ("internalTrafficPolicy",), f)
    health = _int(spec.get("healthCheckNodePort"))
    if health and not (kind == "LoadBalancer" and etp == "Local"):
        f.error(path + ("healthCheckNodePort",), "may only be set for type LoadBalancer with "
                                                 "externalTrafficPolicy Local")
    if _str(spec.get("loadBalancerClass")) and _qualified_name(spec["loadBalancerClass"]):
        f.error(path + ("loadBalancerClass",), f'invalid value "{spec["loadBalancerClass"]}": '
                                               f'{_qualified_name(spec["loadBalancerClass"])}')
    families = []
    for i, family in enumerate(_list(spec.get("ipFamilies"))):
        if enum(family, ("IPv4", "IPv6"), path + ("ipFamilies", i), f) and family in families:
            f.error(path + ("ipFamilies", i), f'duplicate value "{family}"')
        families.append(family)
    addresses = [a for a in [_str(spec.get("clusterIP"))] + _list(spec.get("clusterIPs"))
                 if isinstance(a, str) and a not in ("", "None")]
    for address in addresses[:1]:
        try:
            version = f"IPv{ipaddress.ip_address(address).version}"
        except ValueError:
            break
        if families and families[0] != version:
            f.error(path + ("ipFamilies", 0), f'invalid value "{families[0]}": the clusterIP {address} is '
                                              f"{version}; ipFamilies[0] must match it")
    given = [a for a in _list(spec.get("clusterIPs")) if isinstance(a, str)]
    if len(given) == 2 and _families(given) == {4, 6} \
            and spec.get("ipFamilyPolicy") not in ("PreferDualStack", "RequireDualStack"):
        f.error(path + ("clusterIPs", 1), f'invalid value "{given[1]}": a second clusterIP needs ipFamilyPolicy '
                                          "PreferDualStack or RequireDualStack (SingleStack, the default, has one)")
    enum(spec.get("ipFamilyPolicy"), ("SingleStack", "PreferDualStack", "RequireDualStack"),
         path + ("ipFamilyPolicy",), f)


def _cluster_ips(spec: Dict[str, Any], kind: str, f: Findings) -> None:
    """clusterIP and clusterIPs: addresses or "None" (headless, type ClusterIP only), one per family,
    the first equal to clusterIP, none for ExternalName (ValidateService)."""
    path = ("spec",)
    cluster_ip = _str(spec.get("clusterIP"))
    given = [a for a in _list(spec.get("clusterIPs")) if isinstance(a, str)]
    first = cluster_ip or (given[0] if given else "")
    if kind == "ExternalName":
        if cluster_ip or given:
            at = path + (("clusterIP",) if cluster_ip else ("clusterIPs",))
            f.error(at, "may not be set for ExternalName services: an ExternalName Service is only a DNS "
                        "name; remove it")
        return
    if first == "None" and kind in ("NodePort", "LoadBalancer"):
        at = path + (("clusterIP",) if cluster_ip else ("clusterIPs", 0))
        f.error(at, f'invalid value "None": may not be set to \'None\' for {kind} services (a headless '
                    "Service has no virtual IP to forward node ports to)")
    if cluster_ip and cluster_ip != "None":
        ip(cluster_ip, path + ("clusterIP",), f, "clusterIP")
    if cluster_ip and given and given[0] != cluster_ip:
        f.error(path + ("clusterIPs", 0), f'invalid value "{given[0]}": must match spec.clusterIP '
                                          f'("{cluster_ip}"); write the same address or leave one out')
    if len(given) > 2:
        f.error(path + ("clusterIPs",), f"must have at most 2 entries (one IPv4 and one IPv6), "
                                        f"not {len(given)}")
    families = set()
    for i, address in enumerate(given):
        if address == "None":
            if len(given) > 1:
                f.error(path + ("clusterIPs", i), 'must be the only entry when it is "None"')
            continue
        before = len(f.items)
        ip(address, path + ("clusterIPs", i), f, "clusterIP")
        if len(f.items) == before:
            family = ipaddress.ip_address(address).version
            if family in families:
                f.error(path + ("clusterIPs", i), f'invalid value "{address}": may specify no more than '
                                                  "one IP for each IP family")
            families.add(family)


def _families(addresses: list) -> set:
    """The IP versions (4, 6) of the ADDRESSES that parse."""
    found = set()
    for address in addresses:
        try:
            found.add(ipaddress.ip_address(address).version)
        except ValueError:
            pass
    return found


SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"


def _source_ranges(obj: Dict[str, Any], kind: str, f: Findings) -> None:
    """loadBalancerSourceRanges (or its annotation): CIDRs, for type LoadBalancer only."""
    spec = _dict(obj.get("spec"))
    ranges = [r for r in _list(spec.get("loadBalancerSourceRanges")) if isinstance(r, str)]
    at: Path = ("spec", "loadBalancerSourceRanges")
    if not ranges:
        annotation = _str(_dict(_dict(obj.get("metadata")).get("annotations")).get(SOURCE_RANGES_ANNOTATION))
        if not annotation:
            return
        ranges = [r.strip() for r in annotation.split(",")]
        at = ("metadata", "annotations", MapKey(SOURCE_RANGES_ANNOTATION))
    if kind != "LoadBalancer":
        f.error(at, "may only be used when type is LoadBalancer")
    for i, cidr in enumerate(ranges):
        try:
            ipaddress.ip_network(cidr.strip(), strict=False)
            valid = "/" in cidr
        except ValueError:
            valid = False
        if not valid:
            where = at + (i,) if at[0] == "spec" else at
            f.error(where, f'invalid value "{cidr}": must be a list of IP ranges, for example '
                           "10.240.0.0/24,10.250.0.0/24 (a single address is written 1.2.3.4/32)")


def namespace(obj: Dict[str, Any], f: Findings) -> None:
    metadata("Namespace", obj.get("metadata"), f, dns_label)


def endpoint_slice(obj: Dict[str, Any], f: Findings) -> None:
    """An EndpointSlice: address type, addresses of that type, ports."""
    metadata("EndpointSlice", obj.get("metadata"), f, dns_subdomain)
    family = obj.get("addressType")
    if not enum(family, ("IPv4", "IPv6", "FQDN"), ("addressType",), f):
        return
    for i, endpoint in enumerate(_list(obj.get("endpoints"))):
        addresses = _list(_dict(endpoint).get("addresses"))
        at = ("endpoints", i, "addresses")
        if not addresses or len(addresses) > 100:
            f.error(at, "must list between 1 and 100 addresses")
        for j, address in enumerate(addresses):
            if isinstance(address, str) and family in ("IPv4", "IPv6"):
                try:
                    parsed = ipaddress.ip_address(address)
                    ok = parsed.version == (4 if family == "IPv4" else 6)
                except ValueError:
                    ok = False
                if not ok:
                    f.error(at + (j,), f'invalid {family} address "{address}"')
    for i, p in enumerate(_list(obj.get("ports"))):
        p = _dict(p)
        port(p.get("port"), ("ports", i, "port"), f)
        enum(p.get("protocol"), PROTOCOLS, ("ports", i, "protocol"), f)


def other(kind: str, obj: Dict[str, Any], f: Findings) -> None:
    """A kind netlab validates but does not model: only its name is required."""
    if obj.get("metadata") is not None and not isinstance(obj.get("metadata"), dict):
        return
    meta = _dict(obj.get("metadata"))
    if not meta.get("name") and not meta.get("generateName"):
        f.error(("metadata", "name"), f"required field is missing: every {kind} needs a name")


_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_DATA_BYTES = 1024 * 1024        # the API server's limit on a ConfigMap's or Secret's data


def _data_keys(kind: str, obj: Dict[str, Any], fields: Tuple[str, ...], f: Findings) -> int:
    """Keys of the data maps are file names ([-._a-zA-Z0-9], not "." or "..", at most 253, each
    key in one map only); returns the data's size in bytes, base64 values decoded."""
    seen: Dict[str, str] = {}
    size = 0
    for name in fields:
        for key, value in _dict(obj.get(name)).items():
            at = (name, MapKey(key))
            if not key or len(key) > 253 or not _DATA_KEY.match(key) or key in (".", "..") or key.startswith(".."):
                f.error(at, f'invalid key "{key}": a {kind} key becomes a file name: use letters, digits, '
                            '"-", "_" and "." (not "." or "..", not starting with "..", at most 253)')
            elif key in seen and not (kind == "Secret" and name == "stringData"):
                f.error(at, f'key "{key}" is already in {seen[key]}: a key may appear in only one of them')
            seen.setdefault(key, name)
            if not isinstance(value, str):
                continue
            if name in ("binaryData",) or (kind == "Secret" and name == "data"):
                try:
                    size += len(base64.b64decode(value, validate=True))
                except (ValueError, binascii.Error):
                    f.error(at, f"invalid base64 in {name}: encode the value (e.g. `echo -n VALUE | base64 -w0`)"
                                + (", or put the text in stringData" if kind == "Secret" else ", or put the text in data"))
            else:
                size += len(value.encode())
    return size


def config_map(obj: Dict[str, Any], f: Findings) -> None:
    """A ConfigMap: keys usable as file names, binaryData in base64, at most 1 MiB in all."""
    metadata("ConfigMap", obj.get("metadata"), f, dns_subdomain)
    if _data_keys("ConfigMap", obj, ("data", "binaryData"), f) > MAX_DATA_BYTES:
        f.error(("data",), f"too long: a ConfigMap holds at most {MAX_DATA_BYTES} bytes of data")


def secret(obj: Dict[str, Any], f: Findings) -> None:
    """A Secret: keys usable as file names, data in base64, at most 1 MiB in all."""
    metadata("Secret", obj.get("metadata"), f, dns_subdomain)
    if _data_keys("Secret", obj, ("data", "stringData"), f) > MAX_DATA_BYTES:
        f.error(("data",), f"too long: a Secret holds at most {MAX_DATA_BYTES} bytes of data")


BY_KIND = {
    "Pod": pod,
    "ConfigMap": config_map,
    "Secret": secret,
    "ReplicaSet": lambda obj, f: workload("ReplicaSet", obj, f),
    "Deployment": lambda obj, f: workload("Deployment", obj, f),
    "Service": service,
    "Namespace": namespace,
    "EndpointSlice": endpoint_slice,
}


def check_kind(kind: str, obj: Dict[str, Any], f: Findings) -> None:
    """Run the value checks of `kind` on a document whose types were already walked."""
    int32_fields(obj, (), f)
    if obj.get("status") is not None and not isinstance(obj["status"], dict):
        f.error(("status",), f"expected a map, got {type(obj['status']).__name__}: status is written by the "
                             "cluster; remove it")
    BY_KIND.get(kind, lambda o, fi: other(kind, o, fi))(obj, f)


def _dns_config(spec: dict, path: tuple, f) -> None:
    """validatePodDNSConfig: dnsPolicy None needs a dnsConfig with a nameserver; at most 3
    nameservers, 32 search paths of 2048 characters in all, each a DNS subdomain; named options."""
    config = spec.get("dnsConfig")
    at = path + ("dnsConfig",)
    if spec.get("dnsPolicy") == "None":
        if not isinstance(config, dict):
            f.error(at, "Required value: must provide `dnsConfig` when `dnsPolicy` is None")
            return
        if not _list(config.get("nameservers")):
            f.error(at + ("nameservers",), "Required value: must provide at least one DNS nameserver when "
                    "`dnsPolicy` is None")
            return
    config = _dict(config)
    nameservers = _list(config.get("nameservers"))
    if len(nameservers) > 3:
        f.error(at + ("nameservers",), "must not have more than 3 nameservers")
    for i, address in enumerate(nameservers):
        ip(address, at + ("nameservers", i), f, "nameserver")
    searches = [s for s in _list(config.get("searches")) if isinstance(s, str)]
    if len(searches) > 32:
        f.error(at + ("searches",), "must not have more than 32 search paths")
    if len(" ".join(searches)) > 2048:
        f.error(at + ("searches",), "must not have more than 2048 characters (including spaces) in the search list")
    for i, search in enumerate(searches):
        dns_subdomain(search.removesuffix("."), at + ("searches", i), f, "search path")
    for i, option in enumerate(_list(config.get("options"))):
        if not _str(_dict(option).get("name")):
            f.error(at + ("options", i, "name"), "Required value: must not be empty")

