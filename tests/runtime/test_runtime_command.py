"""Pure tests of the pod runtime's decisions: $(VAR) expansion, command resolution, replies."""

from __future__ import annotations

import pathlib

import pytest

from netlab.runtime import (
    ContainerSpec,
    ContainerStatus,
    PodRuntimeSpec,
    PodStatus,
    expand,
    parse_builtin_reply,
    plan_pod,
    render_reply,
    resolve_command,
)
from netlab.runtime.command import DEFAULT_PATH, container_env, pod_hostname

# Cases from kubernetes third_party/forked/golang/expansion/expand_test.go (doExpansionTest).
_CTX = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}
EXPANSION_CASES = [
    ("$(VAR_A)", "A"),
    ("$(VAR_A)-$(VAR_A)", "A-A"),
    ("___$(VAR_B)___", "___B___"),
    ("$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("f000-$$VAR_A", "f000-$VAR_A"),
    ("foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("$(VAR_REF)", "$(VAR_A)"),
    ("foo$(VAR_EMPTY)bar", "foobar"),
    ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("$?_boo_$!", "$?_boo_$!"),
    ("$VAR_A", "$VAR_A"),
    ("$(VAR_DNE)", "$(VAR_DNE)"),
    ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("$$$$$$$(VAR_A)", "$$$A"),
    ("$VAR_A)", "$VAR_A)"),
    ("${VAR_A}", "${VAR_A}"),
    ("$(VAR_B)_______$(A", "B_______$(A"),
    ("$(VAR_C)_______$(", "C_______$("),
    ("$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("--$($($($($--", "--$($($($($--"),
    ("$($($($($--foo$(", "$($($($($--foo$("),
    ("foo0--$($($($(", "foo0--$($($($("),
    ("$(foo$$var)", "$(foo$$var)"),
    ("\n", "\n"),
]


@pytest.mark.parametrize("text,want", EXPANSION_CASES)
def test_expand_matches_kubelet(text, want):
    assert expand(text, _CTX) == want


HERE = {"tail", "sh", "sleep", "python3", "/bin/sh", "/usr/bin/env"}


def _exists(name, path):
    return name in HERE


def _c(**kw):
    kw.setdefault("name", "c")
    kw.setdefault("image", "busybox")
    return ContainerSpec(**kw)


@pytest.mark.parametrize(
    "container,want",
    [
        (_c(command=["tail", "-f", "/dev/null"]), ["tail", "-f", "/dev/null"]),
        (_c(command=["sh", "-c"], args=["echo $(GREETING) $$HOME"], env={"GREETING": "hi"}), ["sh", "-c", "echo hi $HOME"]),
        (_c(args=["sleep", "3600"]), ["sleep", "3600"]),
        (_c(image="python:2.7", command=["python", "-m", "SimpleHTTPServer", "8080"]), ["python3", "-m", "http.server", "8080"]),
        (_c(image="python:2.7", command=["python2.7", "-m", "SimpleHTTPServer"]), ["python3", "-m", "http.server"]),
        (_c(image="python:2.7", command=["python"], args=["-m", "CGIHTTPServer", "8000"]), ["python3", "-m", "http.server", "8000", "--cgi"]),
        (_c(image="python:3.9", command=["/usr/local/bin/python3.9", "-c", "print(1)"]), ["python3", "-c", "print(1)"]),
        (_c(image="nginx"), None),
        (_c(image="nginx", command=["nginx", "-g", "daemon off;"]), None),
        (_c(image="registry.k8s.io/echoserver:1.10", args=["--port", "8080"]), None),
        (_c(command=["$(SHELL)", "-c", "true"], env={"SHELL": "/bin/sh"}), ["/bin/sh", "-c", "true"]),
    ],
)
def test_resolve_command(container, want):
    assert resolve_command(container, _exists) == want


def test_resolve_command_looks_in_the_containers_path():
    c = _c(command=["sh", "-c", "true"], env={"PATH": "/nonexistent"})
    assert resolve_command(c) is None
    assert resolve_command(_c(command=["sh", "-c", "true"])) == ["sh", "-c", "true"]


def _pod(containers, name="web-7d4f8-abcde"):
    return PodRuntimeSpec(
        lab="lab", namespace="default", name=name, node="node1", pod_ip="10.244.1.2", host_ip="172.18.0.2",
        netns="lab-pod", state_dir=pathlib.Path("/nonexistent"), containers=containers,
    )


def test_plan_modes_and_env():
    pod = _pod(
        [
            _c(name="web", image="nginx", ports=[(80, "TCP")]),
            _c(name="side", command=["tail", "-f", "/dev/null"], env={"MY_POD_IP": "10.244.1.2", "PATH": "/bin"}),
            _c(name="idle", image="busybox"),
        ]
    )
    plan = plan_pod(pod, lambda name, path: name == "tail")
    assert [(c.name, c.mode) for c in plan.containers] == [("web", "builtin"), ("side", "exec"), ("idle", "sleep")]
    assert plan.netns_path == "/run/netns/lab-pod"
    assert plan.hostname == "web-7d4f8-abcde"
    assert plan.server_info == {
        "pod": "web-7d4f8-abcde", "namespace": "default", "pod_ip": "10.244.1.2", "node": "node1", "host_ip": "172.18.0.2",
    }
    assert plan.containers[0].env == {"PATH": DEFAULT_PATH, "HOSTNAME": "web-7d4f8-abcde", "HOME": "/root"}
    assert plan.containers[1].env["PATH"] == "/bin" and plan.containers[1].env["MY_POD_IP"] == "10.244.1.2"


def test_env_home_for_run_as_user():
    assert container_env(_pod([]), _c(run_as_user=1000))["HOME"] == "/"


def test_hostname_truncated_like_kubelet():
    assert pod_hostname("a" * 62 + "-b" + "c" * 10) == "a" * 62


@pytest.mark.parametrize(
    "containers,match",
    [
        ([_c(name="a"), _c(name="a")], "duplicate container name"),
        ([_c(name="../etc")], "not a DNS label"),
        ([_c(name="a", ports=[(0, "TCP")])], "bad port"),
        ([_c(name="a", ports=[(80, "ICMP")])], "bad port"),
    ],
)
def test_plan_rejects(containers, match):
    with pytest.raises(ValueError, match=match):
        plan_pod(_pod(containers), _exists)


INFO = {"pod": "web-1", "namespace": "default", "pod_ip": "10.244.1.2", "node": "node1", "host_ip": "172.18.0.2", "container": "web"}


def test_reply_round_trip_http():
    body = render_reply(INFO, protocol="TCP", server="10.244.1.2:80", client="10.244.2.3:40000", request="GET / HTTP/1.1", host=None)
    assert "host:" not in body
    response = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    for text in (body, response):
        got = parse_builtin_reply(text)
        assert got == dict(INFO, protocol="TCP", server="10.244.1.2:80", client="10.244.2.3:40000", request="GET / HTTP/1.1")


def test_reply_round_trip_udp_payload_kept_whole():
    text = render_reply(INFO, protocol="UDP", port="53", client="[::1]:5000") + "payload: " + "line1\nkey: value\n"
    got = parse_builtin_reply(text)
    assert got["payload"] == "line1\nkey: value\n"
    assert got["client"] == "[::1]:5000" and got["protocol"] == "UDP" and "key" not in got


def test_reply_values_stay_on_one_line():
    got = parse_builtin_reply(render_reply(INFO, request="GET /\x1b[2J HTTP/1.1"))
    assert got["request"] == "GET /?[2J HTTP/1.1"


def test_pod_phase():
    run = ContainerStatus("a", "running")
    ok = ContainerStatus("b", "terminated", "Completed", exit_code=0)
    bad = ContainerStatus("c", "terminated", "Error", exit_code=1)
    assert PodStatus(1, True, [run, ok]).phase == "Running"
    assert PodStatus(1, True, [ok]).phase == "Succeeded"
    assert PodStatus(1, True, [ok, bad]).phase == "Failed"
    assert PodStatus(1, True, [ContainerStatus("d", "waiting"), run]).phase == "Pending"
