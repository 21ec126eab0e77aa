"""`netlab proxy render`: reads YAML files/folders/Lists, prints kube-proxy's restore input."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from netlab.proxy.cli import proxy

from proxy_testlib import GOLDEN, load_yaml, sort_like_upstream

OVERALL = load_yaml(GOLDEN / "rulesets" / "overall.yaml")["objects"]
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "test-node"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.2"}]}}
KPC = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
       "clusterCIDR": "10.0.0.0/8"}


def run(*args):
    return CliRunner().invoke(proxy, ["render", *args])


def test_render_prints_the_upstream_ruleset(tmp_path):
    f = tmp_path / "objects.yaml"
    f.write_text(yaml.safe_dump_all(OVERALL + [NODE, KPC]))
    result = run("-f", str(f), "--node", "test-node", "--mark-style", "short",
                 "--no-random-fully")
    assert result.exit_code == 0, result.output
    expected = (GOLDEN / "rulesets" / "overall.expected").read_text()
    assert sort_like_upstream(result.stdout) == expected
    # The Go fixture's svc4 is a NodePort Service without a nodePort, which only a real API
    # server would fill in.
    assert result.stderr == (f"warning: {f}: Service ns4/svc4: spec.ports[0] (p80) has no "
                             "nodePort (the API server allocates one when the Service is "
                             "created); no NodePort rules for it\n")


def test_kubectl_list_gives_the_same_text_as_separate_files(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List",
                                      "metadata": {"resourceVersion": ""},
                                      "items": OVERALL + [NODE]}))
    (tmp_path / "kpc.yaml").write_text(yaml.safe_dump(KPC))
    folder = tmp_path / "many"
    folder.mkdir()
    for i, obj in enumerate(OVERALL + [NODE, KPC]):
        (folder / f"{i:02d}.yaml").write_text(yaml.safe_dump(obj))
    a = run("-f", str(listed), "-f", str(tmp_path / "kpc.yaml"), "--node", "test-node")
    b = run("-f", str(folder), "--node", "test-node")
    assert a.exit_code == b.exit_code == 0
    assert a.stdout == b.stdout
    assert "0x00004000" in a.stdout and "MASQUERADE --random-fully" in a.stdout


def test_warnings_name_the_object_on_stderr(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n"
                 "  ports: [{port: 80}]\n---\napiVersion: v1\nkind: Pod\n"
                 "metadata: {name: p, namespace: default}\n")
    result = run("-f", str(f), "--node", "n1", "--node-ip", "172.18.0.2",
                 "--cluster-cidr", "10.244.0.0/16")
    assert result.exit_code == 0
    assert f"warning: {f}: Service web: no spec.clusterIP" in result.stderr
    assert f"warning: {f}: Pod default/p: v1 Pod is not used by kube-proxy; ignored" in result.stderr
    assert result.stdout.startswith("*filter\n")


def test_whole_tables_option(tmp_path):
    f = tmp_path / "objects.yaml"
    f.write_text(yaml.safe_dump_all(OVERALL))
    result = run("-f", str(f), "--node", "test-node", "--node-ip", "192.168.0.2",
                 "--cluster-cidr", "10.0.0.0/8", "--whole-tables", "--no-nfacct")
    assert result.exit_code == 0
    assert ":PREROUTING ACCEPT [0:0]" in result.stdout
    assert "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES" in result.stdout
    assert "nfacct" not in result.stdout


def test_stdin(tmp_path):
    result = CliRunner().invoke(proxy, ["render", "-f", "-", "--node", "n", "--node-ip", "10.0.0.1"],
                                input=yaml.safe_dump_all(OVERALL))
    assert result.exit_code == 0 and "KUBE-SVC-XPGD46QRK7WJZT7O" in result.stdout


def test_errors_are_one_line_with_exit_code_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: [\n")
    for args, message in [
        (["-f", str(tmp_path / "missing.yaml")], f"Error: {tmp_path / 'missing.yaml'}: no such file or folder"),
        (["-f", str(bad)], f"Error: {bad}:4: not valid YAML"),
        (["-f", str(bad), "--node-ip", "300.1.1.1"], "Error: --node-ip '300.1.1.1': not an IP address"),
    ]:
        result = run(*args, "--node", "n")
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(message), result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_help_shows_an_example():
    result = CliRunner().invoke(proxy, ["render", "--help"])
    assert result.exit_code == 0
    assert "kubectl get svc,endpointslices,nodes -A -o yaml" in result.stdout
    assert "netlab proxy render -f" in result.stdout


def test_registered_in_the_netlab_command():
    from netlab.cli import main
    result = CliRunner().invoke(main, ["proxy", "render", "--help"])
    assert result.exit_code == 0


def test_render_mode_nftables_prints_the_first_syncs_transaction(tmp_path):
    f = tmp_path / "objects.yaml"
    f.write_text(yaml.safe_dump_all(OVERALL + [NODE, KPC]))
    result = run("-f", str(f), "--node", "test-node", "--mode", "nftables", "--service-cidr", "172.30.0.0/16")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == 'add table ip kube-proxy { comment "rules for kube-proxy" ; }'
    # the same Services as upstream's TestOverallNFTablesRules: each one's chain and its map entry
    expected = (GOLDEN / "nft" / "overall.nft").read_text().splitlines()
    for line in expected:
        if line.startswith(("add chain ip kube-proxy service-", "add element ip kube-proxy service-ips")):
            assert line in lines, line
