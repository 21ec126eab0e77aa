"""`netlab graph` on a real lab: the page opens in Debian's headless Chromium naming every object,
the SVG is valid, the PNG is a PNG, and the picture shows what the machine has (routes, veths)."""

import html.parser
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET

import pytest

from netlab import graph
from netlab.inspect import get_objects
from netlab.lab import _loaded_lab
from tests.conftest import lab_up

pytestmark = pytest.mark.root

CHROMIUM = "/usr/bin/chromium"
SVG = "{http://www.w3.org/2000/svg}svg"

LAB = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - {name: nginx, image: nginx, ports: [{name: http, containerPort: 8080}]}
          - {name: helper, image: busybox, command: [tail, -f, /dev/null]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-np}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, targetPort: http, nodePort: 30080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-lb}
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: nobody}
    spec:
      selector: {app: nothing-has-this-label}
      ports: [{port: 80}]
    """)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "lab.yaml"
    path.write_text(LAB)
    with lab_up("nlgr", "-f", str(path)) as name:
        yield name


@pytest.fixture(scope="module")
def objects(lab):
    """Every node, pod and Service of the lab (kube-system's too), and the Topology."""
    _, topology = _loaded_lab(lab)
    return {"Node": get_objects(lab, "Node", None, []), "Pod": get_objects(lab, "Pod", None, []),
            "Service": get_objects(lab, "Service", None, []), "topology": topology}


def all_names(objects) -> list:
    found = [o["metadata"]["name"] for kind in ("Node", "Pod", "Service") for o in objects[kind]]
    return found + [c.name for c in objects["topology"].clients]


def chromium(tmp_path, *args):
    """Debian's Chromium, headless, with a fresh profile and nothing reaching for the network."""
    if not shutil.which(CHROMIUM):
        pytest.skip("needs Debian's chromium (scripts/setup.sh installs it)")
    profile = tmp_path / f"chromium-{len(list(tmp_path.glob('chromium-*')))}"
    profile.mkdir()
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=120)


class _Classes(html.parser.HTMLParser):
    """(id, classes) of every element of a page as the browser left it."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.found.append((tag, attrs.get("id"), (attrs.get("class") or "").split()))


def elements(dom: str) -> list:
    parser = _Classes()
    parser.feed(dom)
    return parser.found


def node_pods(objects):
    pods = [p for p in objects["Pod"] if p["metadata"]["namespace"] == "default"]
    return {p["spec"]["nodeName"]: p for p in pods}


def test_the_html_page_opens_in_chromium_naming_every_node_pod_and_service(lab, objects, tmp_path):
    page, summary = graph.render(lab, "html", tmp_path / "lab.html")
    assert summary == f"wrote {page}"
    shot = tmp_path / "shot.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1600,1000", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", taken.stderr
    assert shot.stat().st_size > 30_000                  # a picture, not a blank page
    dumped = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert "Uncaught" not in dumped.stderr, dumped.stderr   # the page's script ran without an error
    dom = dumped.stdout
    assert "<svg" in dom
    for name in all_names(objects):
        assert name in dom, name
    assert "kube-dns" in dom and "coredns-" in dom       # the cluster's own DNS is drawn too


def test_a_focus_link_opens_the_page_with_one_pod_and_its_links_highlighted(lab, objects, tmp_path):
    page, _ = graph.render(lab, "html", tmp_path / "lab.html")
    pod = node_pods(objects)["node2"]["metadata"]["name"]
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + f"#focus=pod_default_{pod}").stdout
    found = elements(dom)
    lit = {ident for _, ident, classes in found if "hl" in classes}
    assert {f"pod_default_{pod}", "node_node2", "svc_default_web-np", "svc_default_web-lb"} <= lit
    assert "svc_default_nobody" not in lit
    assert any(tag == "svg" and "focus" in classes for tag, _, classes in found)


def test_svg_is_valid_and_shows_the_machines_routes_and_veths(lab, objects, tmp_path):
    path, _ = graph.render(lab, "svg", tmp_path / "lab.svg")
    root = ET.parse(path).getroot()
    assert root.tag == SVG
    ids = {el.get("id") for el in root.iter()}
    for pod in objects["Pod"]:
        assert f"pod_{pod['metadata']['namespace']}_{pod['metadata']['name']}" in ids
    text = " ".join(el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "10.244.2.0/24 via 172.18.0.3 dev eth0 (node2)" in text        # read from node1 with `ip route`
    model = graph.model_of(lab)
    for pod in model.pods:
        links = subprocess.run(["ip", "-n", f"{lab}-{pod.node}", "-br", "link"], capture_output=True,
                               text=True).stdout
        assert pod.veth in links and f"veth {pod.veth}" in text, pod.name


def test_png_is_a_png(lab, tmp_path):
    path, _ = graph.render(lab, "png", tmp_path / "lab.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000


def test_the_default_file_is_lab_graph_format_in_the_current_directory(lab, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, summary = graph.render(lab, "dot")
    assert path == tmp_path / f"{lab}-graph.dot" and path.read_text().startswith(f'digraph "{lab}"')
    assert summary == f"wrote {path}"


def test_a_traced_page_draws_the_path_over_the_lab(lab, objects, tmp_path):
    pods = node_pods(objects)
    far = pods["node2"]
    address = f"{far['status']['podIP']}:8080"
    path = {"verdict": "delivered", "masquerade": True,
            "endpoints": [{"address": f"{p['status']['podIP']}:8080", "pod": p["metadata"]["name"],
                           "probability": 0.5} for p in pods.values()],
            "hops": [{"namespace": f"{lab}-node1", "table": "nat", "chain": "KUBE-NODEPORTS",
                      "rule": "-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -j KUBE-EXT-X", "action": "jump"},
                     {"namespace": f"{lab}-node1", "table": "nat", "chain": "KUBE-SEP-Y",
                      "rule": f"-A KUBE-SEP-Y -p tcp -m tcp -j DNAT --to-destination {address}",
                      "action": f"DNAT to {address}"},
                     {"namespace": f"{lab}-node1", "table": "nat", "chain": "KUBE-POSTROUTING",
                      "rule": "-A KUBE-POSTROUTING -j MASQUERADE --random-fully", "action": "MASQUERADE"},
                     {"namespace": f"{lab}-node2", "table": "filter", "chain": "FORWARD",
                      "rule": "-A FORWARD -j KUBE-FORWARD", "action": "ACCEPT"}]}
    page, summary = graph.render(lab, "html", tmp_path / "traced.html", path)
    assert summary.splitlines()[1:4] == [
        "path: delivered, masqueraded",
        f"  1  node node1 → node node2   DNAT to {address}   MASQUERADE",
        f"  2  node node2 → pod default/{far['metadata']['name']}   {address}"]
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    steps = [classes for _, _, classes in elements(dom) if "trace" in classes]
    assert len(steps) == 3                              # two numbered steps and the DNAT's other choice
    assert sorted(c for classes in steps for c in classes if c.startswith("step-")) == ["step-0", "step-1", "step-2"]
