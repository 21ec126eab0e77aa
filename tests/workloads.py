"""Workload manifests the tests share: traefik/whoami pods on one node (each reply names the pod
and the caller's address as it arrived), a client pod on another, a Service in front."""


def whoami_on(node: str = "node2", replicas: int = 2) -> str:
    """Deployment web: REPLICAS traefik/whoami pods, all on NODE."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers: [{{name: whoami, image: traefik/whoami, ports: [{{containerPort: 80}}]}}]
"""


def client_pod(name: str = "curl", node: str = "node1") -> str:
    """A pod NAME on NODE that only sleeps: the place requests start from."""
    return f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  containers: [{{name: c, image: curlimages/curl, command: [sleep, infinity]}}]
"""


def service(name: str = "web", spec: str = "", port: str = "{port: 80}", app: str = "web") -> str:
    """Service NAME selecting app=APP on PORT, with SPEC's extra fields (one `key: value` a line)."""
    extra = "".join(f"  {line}\n" for line in spec.splitlines() if line.strip())
    return f"""\
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
{extra}  selector: {{app: {app}}}
  ports: [{port}]
"""


def documents(*parts: str) -> str:
    return "---\n".join(parts)
