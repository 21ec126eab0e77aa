"""netlab doctor: pure parsing/evaluation tests, then real runs on this machine (root)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from netlab import doctor
from netlab.dataplane import variant
from netlab.doctor import (
    BACKEND_FEATURE,
    Check,
    Facts,
    config_verdict,
    evaluate,
    format_report,
    missing_required,
    parse_iptables_version,
    parse_kernel_config,
    pick_restore,
    probe_ruleset,
    supports_random_fully,
)

# ---------------------------------------------------------------------------------------------
# parsing


@pytest.mark.parametrize("text, expected", [
    ("iptables v1.8.9 (nf_tables)", ((1, 8, 9), "nft")),
    ("iptables v1.8.7 (legacy)", ((1, 8, 7), "legacy")),
    ("iptables-restore v1.8.9 (nf_tables)\n", ((1, 8, 9), "nft")),
    ("iptables-restore v1.8.9 (legacy)", ((1, 8, 9), "legacy")),
    ("iptables v1.6.1", ((1, 6, 1), "legacy")),  # pre-1.8: legacy only, no tag
    ("iptables v1.4.21", ((1, 4, 21), "legacy")),
    ("iptables v1.8.4", ((1, 8, 4), None)),  # 1.8 without a tag: cannot tell
    ("iptables v1.8", ((1, 8, 0), None)),
    ("", (None, None)),
    ("bash: iptables: command not found", (None, None)),
])
def test_parse_iptables_version(text, expected):
    assert parse_iptables_version(text) == expected


@pytest.mark.parametrize("version, ok", [((1, 6, 1), False), ((1, 6, 2), True), ((1, 8, 9), True), (None, False)])
def test_random_fully_cutoff(version, ok):
    assert supports_random_fully(version) is ok


def test_parse_kernel_config():
    text = """#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.18.44 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"
CONFIG_NET_NS=y
CONFIG_VETH=m
# CONFIG_DUMMY is not set
CONFIG_NF_CONNTRACK_EXPECT_MAX=1024

# CONFIG_MODULES is not set
"""
    assert parse_kernel_config(text) == {
        "CC_VERSION_TEXT": "gcc (Debian 12.2.0-14) 12.2.0",
        "NET_NS": "y",
        "VETH": "m",
        "DUMMY": "n",
        "NF_CONNTRACK_EXPECT_MAX": "1024",
        "MODULES": "n",
    }


def _has(*modules):
    return lambda m: m in modules


def test_config_verdict_builtin_and_module():
    config = {"NETFILTER_XT_MATCH_STATISTIC": "y", "VETH": "m", "NF_TABLES": "y", "NFT_COMPAT": "y"}
    assert config_verdict(config, ("NETFILTER_XT_MATCH_STATISTIC",), _has()) == \
        (True, "CONFIG_NETFILTER_XT_MATCH_STATISTIC=y", None)
    assert config_verdict(config, ("NF_TABLES", "NFT_COMPAT"), _has()) == (True, "built in", None)
    assert config_verdict(config, ("VETH",), _has("veth")) == (True, "module veth", None)
    ok, detail, fix = config_verdict(config, ("VETH",), _has(), "6.1.0-18-amd64")
    assert ok is False
    assert detail == "CONFIG_VETH=m but module veth is not installed"
    assert fix == "install the kernel modules for 6.1.0-18-amd64 (module veth)"


def test_config_verdict_missing():
    config = {"NETFILTER_XT_MATCH_RECENT": "n"}
    assert config_verdict(config, ("NETFILTER_XT_MATCH_RECENT",), _has()) == (
        False, "CONFIG_NETFILTER_XT_MATCH_RECENT is not set",
        "use a kernel built with CONFIG_NETFILTER_XT_MATCH_RECENT=y or =m")
    ok, detail, _ = config_verdict(config, ("NF_CT_NETLINK",), _has())
    assert (ok, detail) == (False, "CONFIG_NF_CT_NETLINK not in kernel config")
    assert config_verdict(None, ("VETH",), _has()) == (None, "no /proc/config.gz", None)


def test_config_verdict_first_known_alternative_decides():
    # 6.9+: legacy tables are IP_NF_IPTABLES_LEGACY; IP_NF_IPTABLES=y alone does not give them.
    new_kernel = {"IP_NF_IPTABLES_LEGACY": "n", "IP_NF_IPTABLES": "y"}
    assert config_verdict(new_kernel, ("IP_NF_IPTABLES_LEGACY|IP_NF_IPTABLES",), _has())[0] is False
    old_kernel = {"IP_NF_IPTABLES": "y"}
    assert config_verdict(old_kernel, ("IP_NF_IPTABLES_LEGACY|IP_NF_IPTABLES",), _has()) == \
        (True, "CONFIG_IP_NF_IPTABLES=y", None)


# ---------------------------------------------------------------------------------------------
# restore command and probe ruleset


def test_pick_restore():
    everything = _has("iptables-restore", "iptables-nft-restore", "iptables-legacy-restore")
    assert pick_restore("nft", everything, "nft") == ["iptables-nft-restore"]
    assert pick_restore("legacy", everything, "nft") == ["iptables-legacy-restore"]
    # iptables 1.6: only the plain (legacy) binary
    assert pick_restore("legacy", _has("iptables-restore"), "legacy") == ["iptables-restore"]
    assert pick_restore("nft", _has("iptables-restore"), "legacy") is None
    assert pick_restore(None, everything, "nft") is None


def test_restore_command_rejects_unknown_variant():
    with pytest.raises(FileNotFoundError, match="apt-get install iptables"):
        variant.restore_command(None)


def _chains_and_jumps(text):
    declared, jumped = set(), set()
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            declared.add((table, line[1:].split()[0]))
        elif line.startswith("-A"):
            words = line.split()
            declared_chain = (table, words[1])
            assert declared_chain in declared, f"rule in undeclared chain: {line}"
            if "-j" in words:
                target = words[words.index("-j") + 1]
                if target.startswith("NETLAB-"):
                    jumped.add((table, target))
    return declared, jumped


def test_probe_ruleset_every_rule_and_jump_has_a_declared_chain():
    features = list(doctor._PROBE_RULES)
    text = probe_ruleset(features)
    declared, jumped = _chains_and_jumps(text)
    assert jumped <= declared
    assert text.count("COMMIT") == 2
    assert text.index("*filter") < text.index("*nat")
    assert "-A NETLAB-DOCTOR-POST -j MASQUERADE --random-fully" in text
    assert "--random-fully" not in probe_ruleset(["MASQUERADE"], random_fully=False)


def test_probe_ruleset_single_feature_touches_only_its_table():
    assert probe_ruleset(["nat table"]) == (
        "*nat\n"
        ":PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
        ":NETLAB-DOCTOR-SVC - [0:0]\n:NETLAB-DOCTOR-POST - [0:0]\n"
        "-A PREROUTING -j NETLAB-DOCTOR-SVC\n-A OUTPUT -j NETLAB-DOCTOR-SVC\n"
        "-A POSTROUTING -j NETLAB-DOCTOR-POST\n"
        "COMMIT\n")
    assert "*nat" not in probe_ruleset(["xt_conntrack"])


# ---------------------------------------------------------------------------------------------
# evaluate() over hand-built facts


CONFIG_ALL_Y = {s: "y" for s in doctor._MODULES}

TOOLS_ALL = {t: f"/usr/sbin/{t}" for t in (*doctor.TOOLS, *doctor.IPTABLES_BINARIES)}
VERSIONS_NFT = {
    "iptables": "iptables v1.8.9 (nf_tables)",
    "iptables-restore": "iptables-restore v1.8.9 (nf_tables)",
    "iptables-nft-restore": "iptables-nft-restore v1.8.9 (nf_tables)",
    "iptables-legacy-restore": "iptables-restore v1.8.9 (legacy)",
}
PY_ALL = {"pyroute2": "0.9.7", "click": "8.1.0", "yaml": "6.0", "iptc": "1.2.0"}


def _facts(**overrides):
    base = dict(euid=0, kernel="6.1.0-test", config=dict(CONFIG_ALL_Y), bridge_nf="1",
                tools=dict(TOOLS_ALL), versions=dict(VERSIONS_NFT), py=dict(PY_ALL),
                probe=None, probe_error="test: no probe")
    base.update(overrides)
    return Facts(**base)


def _by_name(checks):
    return {c.name: c for c in checks}


def test_evaluate_everything_present_from_config_only():
    checks = evaluate(_facts())
    assert missing_required(checks) == []
    by = _by_name(checks)
    assert by["xt_statistic"].detail == "CONFIG_NETFILTER_XT_MATCH_STATISTIC=y (not probed: test: no probe)"
    assert by["iptables-nft-restore"].required and not by["iptables-legacy-restore"].required
    assert by["iptables"].detail == "v1.8.9 (nf_tables); --random-fully and -w supported"
    assert not by["python-iptables"].required
    assert len(by) == len(checks), "check names are unique"


def test_evaluate_missing_pieces_say_how_to_fix():
    tools = dict(TOOLS_ALL, conntrack=None, tcpdump=None)
    config = dict(CONFIG_ALL_Y, BRIDGE_NETFILTER="m", NETFILTER_XT_MATCH_RECENT="n")
    py = dict(PY_ALL, pyroute2=None)
    checks = evaluate(_facts(euid=1000, tools=tools, config=config, bridge_nf=None, py=py,
                             modules=frozenset({"br_netfilter"})))
    by = _by_name(checks)
    assert (by["root"].ok, by["root"].fix) == (False, "run as root (sudo netlab ...)")
    assert (by["conntrack"].ok, by["conntrack"].fix) == (False, "apt-get install conntrack")
    assert by["tcpdump"].ok is False and by["tcpdump"].required is False
    assert by["br_netfilter"].fix == "modprobe br_netfilter"
    assert by["xt_recent"].fix == "use a kernel built with CONFIG_NETFILTER_XT_MATCH_RECENT=y or =m"
    assert by["pyroute2"].fix.endswith("-m pip install pyroute2")
    assert [c.name for c in missing_required(checks)] == ["root", "br_netfilter", "xt_recent", "conntrack", "pyroute2"]


def test_evaluate_probe_overrides_config():
    probe = {"results": {"xt_statistic": [False, "restore failed: Couldn't load match `statistic'"],
                         "veth": [True, "created one in a throwaway netns"]}, "skipped": {}}
    config = dict(CONFIG_ALL_Y, VETH="n")
    by = _by_name(evaluate(_facts(probe=probe, probe_error=None, config=config)))
    assert by["xt_statistic"].ok is False
    assert by["xt_statistic"].detail.startswith("restore failed: Couldn't load match")
    assert by["xt_statistic"].fix == "modprobe xt_statistic"
    assert by["veth"].ok is True  # it worked, whatever the config says


def test_evaluate_nothing_known_is_a_failure():
    by = _by_name(evaluate(_facts(config=None)))
    assert by["xt_statistic"].ok is False
    assert by["xt_statistic"].detail == "unknown: no /proc/config.gz, and not probed (test: no probe)"


def test_evaluate_backend_decides_what_is_required():
    by = _by_name(evaluate(_facts(py=dict(PY_ALL, iptc=None)), backend="python-iptables"))
    assert by["python-iptables"].required and not by["python-iptables"].ok
    assert not by["iptables-nft-restore"].required
    # the legacy kernel tables are what python-iptables needs
    assert "IP_NF_IPTABLES_LEGACY" in by[BACKEND_FEATURE].detail


def test_evaluate_no_iptables():
    tools = dict(TOOLS_ALL, **{b: None for b in doctor.IPTABLES_BINARIES})
    by = _by_name(evaluate(_facts(tools=tools, versions={})))
    assert (by["iptables"].ok, by["iptables"].fix) == (False, "apt-get install iptables")


def test_evaluate_missing_restore_binary_is_the_required_one():
    tools = dict(TOOLS_ALL, **{"iptables-nft-restore": None, "iptables-restore": None})
    versions = {"iptables": VERSIONS_NFT["iptables"]}
    checks = evaluate(_facts(tools=tools, versions=versions))
    by = _by_name(checks)
    assert len(by) == len(checks)
    assert by["iptables-nft-restore"].required and not by["iptables-nft-restore"].ok
    assert by["iptables-nft-restore"].fix == "apt-get install iptables"
    # iptables 1.8 without the nft-named binary: the plain restore is nft, so netlab uses it
    tools = dict(TOOLS_ALL, **{"iptables-nft-restore": None})
    by = _by_name(evaluate(_facts(tools=tools)))
    assert by["iptables-restore"].required and by["iptables-restore"].ok
    assert not by["iptables-nft-restore"].required


def test_gather_rejects_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        doctor.run_checks("ipvs")


# ---------------------------------------------------------------------------------------------
# report


def test_format_report_golden():
    checks = [
        Check("network namespaces", True, "CONFIG_NET_NS=y"),
        Check("conntrack", False, "not on PATH", "apt-get install conntrack"),
        Check("tcpdump", False, "not on PATH", "apt-get install tcpdump", required=False),
    ]
    assert format_report(checks) == (
        "ok      network namespaces  CONFIG_NET_NS=y\n"
        "MISSING conntrack           not on PATH  -> apt-get install conntrack\n"
        "absent  tcpdump (optional)  not on PATH  -> apt-get install tcpdump\n"
        "not ready: 1 of 2 required checks failed: conntrack (optional, absent: tcpdump)")


def test_format_report_ready():
    report = format_report([Check("root", True, "euid 0"), Check("veth", True, "built in")])
    assert report.splitlines()[-1] == "ready: all 2 required checks pass"


# ---------------------------------------------------------------------------------------------
# real runs on this machine


def _nfacct_names():
    """Names of the nfacct objects in this namespace, by a read-only netlink dump (no nfacct tool here)."""
    import socket
    import struct
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    names = []
    try:
        sock.settimeout(2.0)
        sock.bind((0, 0))
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)
        sock.send(struct.pack("=IHHII", 16 + len(body), (7 << 8) | 1, 0x1 | 0x300, 1, 0) + body)  # ACCT_GET dump
        while True:
            data = sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if kind in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                    return names
                attr = off + 20  # nlmsghdr + nfgenmsg
                while attr + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, attr)
                    if atype == 1:  # NFACCT_NAME
                        names.append(data[attr + 4:attr + alen].rstrip(b"\0").decode())
                    attr += (alen + 3) & ~3
                off += (length + 3) & ~3
    finally:
        sock.close()


def _root_namespace_state():
    """The root namespace's rules, links and named namespaces, with counters and timestamps removed."""
    def run(*cmd):
        if not shutil.which(cmd[0]):
            return ""
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        out = re.sub(r"\[\d+:\d+\]", "[]", out)
        return "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    return {
        "nft": run("nft", "list", "ruleset"),
        "iptables-save": run("iptables-save"),
        "iptables-legacy-save": run("iptables-legacy-save"),
        "links": run("ip", "-o", "link", "show"),
        "netns": run("ip", "netns", "list"),
        "nfacct": sorted(_nfacct_names()),
    }


MUST_PASS_HERE = ("root", "network namespaces", "veth", "bridge", "br_netfilter", "iptables",
                  "iptables-nft-restore", "xt_statistic", "xt_recent", BACKEND_FEATURE, "nat table")


@pytest.mark.root
def test_run_checks_on_this_machine_passes_and_changes_nothing():
    before = _root_namespace_state()
    started = time.monotonic()
    checks = doctor.run_checks()
    elapsed = time.monotonic() - started
    after = _root_namespace_state()
    print(format_report(checks))
    print(f"doctor took {elapsed:.3f}s")

    by = _by_name(checks)
    for name in MUST_PASS_HERE:
        assert by[name].ok, f"{name}: {by[name].detail}"
    # the kernel checks were decided by a real probe, not just the config
    for name in ("veth", "bridge", "xt_statistic", "xt_recent"):
        assert "throwaway netns" in by[name].detail, by[name].detail
    assert "(nf_tables)" in by["iptables"].detail
    assert after == before
    assert doctor.NFACCT_PROBE_NAME not in after["nfacct"]
    assert elapsed < 2.0  # target ~1 s; slack for a loaded CI VM


@pytest.mark.root
def test_iptables_variant_and_restore_command_here():
    assert variant.iptables_variant() == "nft"
    assert variant.restore_command("nft") == ["iptables-nft-restore"]
    assert variant.restore_command("legacy") == ["iptables-legacy-restore"]


@pytest.mark.root
def test_probe_refuses_to_run_in_the_callers_namespace(capsys):
    params = {"parent_netns": os.stat("/proc/self/ns/net").st_ino}
    doctor._probe_main(json.dumps(params))
    assert "refused" in json.loads(capsys.readouterr().out)["error"]


PROBE_BROKEN_MATCH = """
import json, sys
sys.path.insert(0, {root!r})
from netlab import doctor
doctor._PROBE_RULES["xt_statistic"] = {{"nat": ("-A NETLAB-DOCTOR-SVC -m nosuchmatch -j RETURN",)}}
results = {{}}
doctor._probe_restore(json.loads(sys.argv[1]), results)
print(json.dumps(results))
"""


@pytest.mark.root
def test_probe_pins_a_failing_restore_on_the_feature():
    root = os.path.dirname(os.path.dirname(os.path.abspath(doctor.__file__)))
    params = {"restore": shutil.which("iptables-nft-restore"), "wait": True, "random_fully": True,
              "features": [BACKEND_FEATURE, "nat table", "xt_statistic", "xt_recent"], "optional": []}
    proc = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", PROBE_BROKEN_MATCH.format(root=root), json.dumps(params)],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results["xt_statistic"][0] is False
    assert "nosuchmatch" in results["xt_statistic"][1]
    assert results["xt_recent"][0] is True and results["nat table"][0] is True
