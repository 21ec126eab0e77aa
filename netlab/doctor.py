"""`netlab doctor`: can this machine build a lab, and if not, what exactly is missing.

Shape: `gather()` collects facts (reads files, runs `--version`s and the probe children) and the pure
`evaluate()` turns facts into `Check`s; `run_checks()` is the two together.

Kernel features are decided two ways. `/proc/config.gz`, when present, says what the kernel was built
with (`=y` built in, `=m` a module that must exist under /lib/modules/$(uname -r)). A probe then does
the real thing: `unshare --net python -c ...` starts a child in a *new, unnamed* network namespace that
adds a veth pair and a bridge, creates an nfacct object and dumps conntrack over netlink, and restores
a tiny kube-proxy-shaped ruleset (statistic, recent, comment, addrtype, conntrack, mark/MARK,
MASQUERADE, REJECT, DNAT, nfacct) with the same `iptables-restore` the data plane will use. A second
child, in its own throwaway namespace and in parallel, imports python-iptables and writes one chain
to see which tables it really writes. The namespaces die with the children, so the root namespace
and `ip netns list` are never touched; a child refuses to run if its namespace is the parent's. When
the probe runs, it decides; the config explains. One trace outside namespaces: a legacy restore
(python-iptables backend) creates /run/xtables.lock, as every iptables-legacy command does.

Which iptables variant the machine uses and which restore command writes it live in the data plane
(netlab.dataplane.variant); the doctor reports them.
"""

from __future__ import annotations

import errno
import gzip
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from netlab.dataplane.variant import _version_output, parse_iptables_version, pick_restore

from netlab.dataplane.nfnetlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST, nla
from netlab.dataplane.nfnetlink import request as nfnetlink_request

BACKENDS = ("restore", "python-iptables")

# iptables >= 1.6.2 has MASQUERADE --random-fully and `iptables-restore -w/-W` (kube-proxy's test).
RANDOM_FULLY_MIN = (1, 6, 2)

BRIDGE_NF_CALL = "/proc/sys/net/bridge/bridge-nf-call-iptables"
PROC_CONFIG = "/proc/config.gz"

_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: what was checked, whether it passed, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: Optional[str] = None
    required: bool = True


# --------------------------------------------------------------------------------------------------
# Pure parsing


def parse_kernel_config(text: str) -> dict[str, str]:
    """Parse kernel config text into {"VETH": "y", "DUMMY": "n", ...} ("# CONFIG_X is not set" -> "n")."""
    config: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$", line)
        if m:
            config[m.group(1)] = m.group(2).strip().strip('"')
            continue
        m = re.match(r"^# CONFIG_([A-Za-z0-9_]+) is not set$", line)
        if m:
            config[m.group(1)] = "n"
    return config


def supports_random_fully(version: Optional[tuple[int, int, int]]) -> bool:
    """Whether this iptables version has MASQUERADE --random-fully and restore's -w/-W (kube-proxy's cutoff)."""
    return version is not None and version >= RANDOM_FULLY_MIN


# --------------------------------------------------------------------------------------------------
# Kernel features: config symbols, modules, probe rules (data)

# Config symbol -> module it builds as when =m.
_MODULES = {
    "NET_NS": None,
    "VETH": "veth",
    "BRIDGE": "bridge",
    "BRIDGE_NETFILTER": "br_netfilter",
    "NF_TABLES": "nf_tables",
    "NFT_COMPAT": "nft_compat",
    "IP_NF_IPTABLES_LEGACY": "ip_tables",
    "IP_NF_IPTABLES": "ip_tables",
    "NF_NAT": "nf_nat",
    "NFT_NAT": "nft_chain_nat",
    "IP_NF_NAT": "iptable_nat",
    "NETFILTER_XT_MATCH_STATISTIC": "xt_statistic",
    "NETFILTER_XT_MATCH_RECENT": "xt_recent",
    "NETFILTER_XT_MATCH_COMMENT": "xt_comment",
    "NETFILTER_XT_MATCH_ADDRTYPE": "xt_addrtype",
    "NETFILTER_XT_MATCH_CONNTRACK": "xt_conntrack",
    "NETFILTER_XT_MARK": "xt_mark",
    "NETFILTER_XT_TARGET_MASQUERADE": "xt_MASQUERADE",
    "IP_NF_TARGET_MASQUERADE": "ipt_MASQUERADE",
    "IP_NF_TARGET_REJECT": "ipt_REJECT",
    "NETFILTER_XT_NAT": "xt_nat",
    "NETFILTER_XT_MATCH_NFACCT": "xt_nfacct",
    "NETFILTER_NETLINK_ACCT": "nfnetlink_acct",
    "NF_CT_NETLINK": "nf_conntrack_netlink",
}

BACKEND_FEATURE = "iptables kernel backend"


@dataclass(frozen=True)
class _Feature:
    """A kernel feature: the config it needs per iptables variant ("A|B": first symbol the config knows)."""

    name: str
    config: dict  # variant ("nft" | "legacy" | "*") -> tuple of items
    required: bool = True


_NS_FEATURES = (
    _Feature("network namespaces", {"*": ("NET_NS",)}),
    _Feature("veth", {"*": ("VETH",)}),
    _Feature("bridge", {"*": ("BRIDGE",)}),
)

# "A|B": newer kernels split legacy tables out as IP_NF_IPTABLES_LEGACY (6.9) and moved MASQUERADE to
# NETFILTER_XT_TARGET_MASQUERADE (5.2); the first symbol the config mentions decides.
_NETFILTER_FEATURES = (
    _Feature(BACKEND_FEATURE, {"nft": ("NF_TABLES", "NFT_COMPAT"), "legacy": ("IP_NF_IPTABLES_LEGACY|IP_NF_IPTABLES",)}),
    _Feature("nat table", {"nft": ("NF_NAT", "NFT_NAT"), "legacy": ("NF_NAT", "IP_NF_NAT")}),
    _Feature("xt_statistic", {"*": ("NETFILTER_XT_MATCH_STATISTIC",)}),
    _Feature("xt_recent", {"*": ("NETFILTER_XT_MATCH_RECENT",)}),
    _Feature("xt_comment", {"*": ("NETFILTER_XT_MATCH_COMMENT",)}),
    _Feature("xt_addrtype", {"*": ("NETFILTER_XT_MATCH_ADDRTYPE",)}),
    _Feature("xt_conntrack", {"*": ("NETFILTER_XT_MATCH_CONNTRACK",)}),
    _Feature("xt_mark/MARK", {"*": ("NETFILTER_XT_MARK",)}),
    _Feature("MASQUERADE", {"*": ("NETFILTER_XT_TARGET_MASQUERADE|IP_NF_TARGET_MASQUERADE",)}),
    _Feature("REJECT", {"*": ("IP_NF_TARGET_REJECT",)}),
    _Feature("DNAT", {"*": ("NETFILTER_XT_NAT",)}),
    _Feature("nfacct", {"*": ("NETFILTER_XT_MATCH_NFACCT", "NETFILTER_NETLINK_ACCT")}, required=False),
    _Feature("conntrack netlink", {"*": ("NF_CT_NETLINK",)}),
)

# Probe chains hang off the hooks kube-proxy uses, so targets are validated against the hooks that
# reach them (DNAT from PREROUTING/OUTPUT, MASQUERADE from POSTROUTING, REJECT from filter).
_PROBE_HOOKS = {
    "nat": (
        ("PREROUTING", "OUTPUT", "POSTROUTING", "INPUT"),
        ("NETLAB-DOCTOR-SVC", "NETLAB-DOCTOR-POST"),
        ("-A PREROUTING -j NETLAB-DOCTOR-SVC", "-A OUTPUT -j NETLAB-DOCTOR-SVC",
         "-A POSTROUTING -j NETLAB-DOCTOR-POST"),
    ),
    "filter": (
        ("INPUT", "FORWARD", "OUTPUT"),
        ("NETLAB-DOCTOR-FWD",),
        ("-A INPUT -j NETLAB-DOCTOR-FWD", "-A FORWARD -j NETLAB-DOCTOR-FWD", "-A OUTPUT -j NETLAB-DOCTOR-FWD"),
    ),
}

NFACCT_PROBE_NAME = "netlab-doctor"

# Feature -> {table: rule lines}; the lines are kube-proxy's own shapes. "{random_fully}" is filled in.
_PROBE_RULES = {
    BACKEND_FEATURE: {"filter": ()},
    "nat table": {"nat": ()},
    "xt_statistic": {"nat": (
        "-A NETLAB-DOCTOR-SVC -m statistic --mode random --probability 0.33333333349 -j RETURN",)},
    "xt_recent": {"nat": (
        "-A NETLAB-DOCTOR-SVC -m recent --name NETLAB-DOCTOR --set --mask 255.255.255.255 --rsource -j RETURN",
        "-A NETLAB-DOCTOR-SVC -m recent --name NETLAB-DOCTOR --rcheck --seconds 10800 --reap"
        " --mask 255.255.255.255 --rsource -j RETURN")},
    "xt_comment": {"nat": ('-A NETLAB-DOCTOR-SVC -m comment --comment "netlab doctor" -j RETURN',)},
    "xt_addrtype": {"nat": ("-A NETLAB-DOCTOR-SVC -m addrtype --dst-type LOCAL -j RETURN",)},
    "xt_conntrack": {"filter": ("-A NETLAB-DOCTOR-FWD -m conntrack --ctstate INVALID -j DROP",)},
    "xt_mark/MARK": {"nat": (
        "-A NETLAB-DOCTOR-SVC -j MARK --or-mark 0x4000",
        "-A NETLAB-DOCTOR-POST -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A NETLAB-DOCTOR-POST -j MARK --xor-mark 0x4000")},
    "MASQUERADE": {"nat": ("-A NETLAB-DOCTOR-POST -j MASQUERADE{random_fully}",)},
    "REJECT": {"filter": ("-A NETLAB-DOCTOR-FWD -p tcp -j REJECT --reject-with icmp-port-unreachable",)},
    "DNAT": {"nat": ("-A NETLAB-DOCTOR-SVC -p tcp -j DNAT --to-destination 10.96.0.10:53",)},
    "nfacct": {"filter": (f"-A NETLAB-DOCTOR-FWD -m nfacct --nfacct-name {NFACCT_PROBE_NAME} -j RETURN",)},
}


def probe_ruleset(features, random_fully: bool = True) -> str:
    """Render the iptables-restore text that exercises `features` (names from _PROBE_RULES)."""
    tables: dict[str, list[str]] = {}
    for name in features:
        for table, lines in _PROBE_RULES[name].items():
            tables.setdefault(table, []).extend(lines)
    out = []
    for table in ("filter", "nat"):  # iptables-save order
        if table not in tables:
            continue
        builtins, chains, jumps = _PROBE_HOOKS[table]
        out.append(f"*{table}")
        out.extend(f":{c} ACCEPT [0:0]" for c in builtins)
        out.extend(f":{c} - [0:0]" for c in chains)
        out.extend(jumps)
        flag = " --random-fully" if random_fully else ""
        out.extend(line.replace("{random_fully}", flag) for line in tables[table])
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def config_verdict(config: Optional[dict], items, has_module: Callable[[str], bool], kernel: str = ""
                   ) -> tuple[Optional[bool], str, Optional[str]]:
    """Decide a feature from kernel config: (ok or None if unknown, detail, fix)."""
    if config is None:
        return None, f"no {PROC_CONFIG}", None
    built, notes, problems, fixes = [], [], [], []
    for item in items:
        alternatives = item.split("|")
        symbol = next((s for s in alternatives if s in config), None)
        if symbol is None:
            problems.append(f"CONFIG_{alternatives[0]} not in kernel config")
            fixes.append(f"use a kernel built with CONFIG_{alternatives[0]}=y or =m")
            continue
        value = config[symbol]
        module = _MODULES.get(symbol)
        if value == "y":
            built.append(symbol)
        elif value == "m" and module and has_module(module):
            notes.append(f"module {module}")
        elif value == "m":
            problems.append(f"CONFIG_{symbol}=m but module {module} is not installed")
            fixes.append(f"install the kernel modules for {kernel or '$(uname -r)'} (module {module})")
        else:
            problems.append(f"CONFIG_{symbol} is not set")
            fixes.append(f"use a kernel built with CONFIG_{symbol}=y or =m")
    if problems:
        return False, "; ".join(problems), "; ".join(fixes)
    if built and not notes:
        detail = "built in" if len(built) > 1 else f"CONFIG_{built[0]}=y"
    else:
        detail = ", ".join(([f"CONFIG_{s}=y" for s in built]) + notes)
    return True, detail, None


# --------------------------------------------------------------------------------------------------
# Facts (I/O)

# Tool -> (Debian package, required).
TOOLS = {
    "ip": ("iproute2", True),
    "conntrack": ("conntrack", True),
    "curl": ("curl", True),
    "tcpdump": ("tcpdump", False),
    "catatonit": ("catatonit", True),        # every pod's pause process
    "busybox": ("busybox", False),           # busybox/alpine images' applets
    "unbound": ("unbound", True),            # the cluster DNS pods (kube-system/coredns)
    "unbound-control": ("unbound", True),
    "dig": ("bind9-dnsutils", False),        # dig, nslookup, host in containers
    "unshare": ("util-linux", False),  # only for the doctor's own probe
    "nft": ("nftables", False),              # kube-proxy's nftables mode (spec.proxyMode: nftables)
}
IPTABLES_BINARIES = ("iptables", "iptables-restore", "iptables-nft-restore", "iptables-legacy-restore",
                     "iptables-nft-save", "iptables-legacy-save")
# Import name -> distribution name.
PY_PACKAGES = {"pyroute2": "pyroute2", "click": "click", "yaml": "PyYAML", "iptc": "python-iptables"}


@dataclass
class Facts:
    """Everything the checks are decided from; built by gather(), or by hand in tests."""

    euid: int
    kernel: str
    config: Optional[dict] = None
    modules: frozenset = frozenset()
    bridge_nf: Optional[str] = None  # value of bridge-nf-call-iptables, None when absent
    tools: dict = field(default_factory=dict)  # binary -> path or None
    versions: dict = field(default_factory=dict)  # iptables binary -> `--version` output
    py: dict = field(default_factory=dict)  # import name -> version ("" if unknown) or None if absent
    probe: Optional[dict] = None  # the probe child's JSON
    probe_error: Optional[str] = None  # why there is no probe
    iptc_imported: bool = False  # whether the probe imported python-iptables


def _read_config() -> Optional[dict]:
    """Read and parse /proc/config.gz, None when the kernel does not expose it."""
    try:
        with gzip.open(PROC_CONFIG, "rt", errors="replace") as f:
            return parse_kernel_config(f.read())
    except OSError:
        return None


def _module_index(kernel: str) -> frozenset:
    """Names of modules loaded or installed for this kernel (dashes normalised to underscores)."""
    names = set()
    try:
        with open("/proc/modules") as f:
            names.update(line.split(" ", 1)[0] for line in f)
    except OSError:
        pass
    base = os.path.join("/lib/modules", kernel)
    for index in ("modules.dep", "modules.builtin"):
        try:
            with open(os.path.join(base, index)) as f:
                for line in f:
                    path = line.split(":", 1)[0].strip()
                    names.add(re.sub(r"\.ko(\.\w+)?$", "", os.path.basename(path)))
        except OSError:
            pass
    return frozenset(n.replace("-", "_") for n in names)


def _py_version(module: str) -> Optional[str]:
    """Installed version of a Python package by import name, without importing it; None if absent."""
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(PY_PACKAGES[module])
    except importlib.metadata.PackageNotFoundError:
        return ""


def _start_probe(params: dict) -> subprocess.Popen:
    """Start the probe child in a new, unnamed network namespace (it vanishes when the child exits)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    boot = (f"import sys; sys.path.insert(0, {root!r}); "
            "from netlab.doctor import _probe_main; _probe_main(sys.argv[1])")
    return subprocess.Popen(
        [params["unshare"], "--net", "--", sys.executable, "-I", "-c", boot, json.dumps(params)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish_probe(proc: subprocess.Popen) -> tuple[Optional[dict], Optional[str]]:
    """Wait for the probe child and parse its JSON: (result, None) or (None, why not)."""
    try:
        out, err = proc.communicate(timeout=_PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, f"probe timed out after {_PROBE_TIMEOUT:.0f}s"
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, _short(err) or f"probe exited {proc.returncode} without a result"
    if result.get("error"):
        return None, result["error"]
    return result, None


def gather(backend: str = "restore") -> Facts:
    """Collect the facts: files under /proc and /lib/modules, `--version`s, and one namespace probe."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    facts = Facts(euid=os.geteuid(), kernel=os.uname().release)
    facts.tools = {t: shutil.which(t) for t in (*TOOLS, *IPTABLES_BINARIES)}
    facts.versions = {b: _version_output(b) for b in IPTABLES_BINARIES[:4] if facts.tools[b]}

    variant = parse_iptables_version(facts.versions.get("iptables") or "")[1]
    probe_variant = "legacy" if backend == "python-iptables" else variant
    restore = _restore_for(facts, probe_variant)
    version = parse_iptables_version(facts.versions.get(restore[0], "") if restore else "")[0]

    # Importing python-iptables runs `modprobe ip_tables`; only do it where that cannot change the
    # host (no loadable modules) or where the backend needs ip_tables anyway.
    facts.iptc_imported = backend == "python-iptables" or not os.path.exists("/proc/modules")
    procs = []
    if facts.euid != 0:
        facts.probe_error = "not root"
    elif not facts.tools["unshare"]:
        facts.probe_error = "unshare not on PATH"
    else:
        params = {
            "unshare": facts.tools["unshare"],
            "parent_netns": os.stat("/proc/self/ns/net").st_ino,
            "part": "net",
            "ip": facts.tools["ip"],
            "restore": shutil.which(restore[0]) if restore else None,
            "wait": supports_random_fully(version),
            "random_fully": supports_random_fully(version),
            "features": [f.name for f in _NETFILTER_FEATURES if f.required and f.name in _PROBE_RULES],
            "optional": [f.name for f in _NETFILTER_FEATURES if not f.required and f.name in _PROBE_RULES],
            "saves": {v: facts.tools[f"iptables-{v}-save"] for v in ("nft", "legacy")
                      if facts.tools[f"iptables-{v}-save"]},
        }
        # Importing iptc takes ~0.3 s (ldconfig scans), so it gets its own child and namespace in parallel.
        parts = [params] + ([dict(params, part="iptc")] if facts.iptc_imported else [])
        for part in parts:
            try:
                procs.append((part["part"], _start_probe(part)))
            except OSError as e:
                facts.probe_error = f"could not start the probe: {e}"

    # Read the rest while the probe runs.
    facts.config = _read_config()
    facts.modules = _module_index(facts.kernel)
    try:
        with open(BRIDGE_NF_CALL) as f:
            facts.bridge_nf = f.read().strip()
    except OSError:
        facts.bridge_nf = None
    facts.py = {m: _py_version(m) for m in PY_PACKAGES}

    for part, proc in procs:
        result, error = _finish_probe(proc)
        if part == "net":
            facts.probe = result
            facts.probe_error = facts.probe_error or error
        elif facts.probe is not None:
            facts.probe["iptc"] = result["iptc"] if result else {"imported": False, "error": error}
    return facts


def _restore_for(facts: Facts, variant: Optional[str]) -> Optional[list[str]]:
    """restore_command() over already-gathered facts (no extra subprocesses)."""
    plain = parse_iptables_version(facts.versions.get("iptables-restore") or "")[1]
    return pick_restore(variant, lambda b: bool(facts.tools.get(b)), plain)


def run_checks(backend: str = "restore", proxy_mode: str = "iptables") -> list[Check]:
    """Check this machine for everything `netlab up` needs with `backend` and `proxy_mode`; changes
    nothing on the host."""
    return evaluate(gather(backend), backend, proxy_mode)


# --------------------------------------------------------------------------------------------------
# Evaluate (pure)


def evaluate(facts: Facts, backend: str = "restore", proxy_mode: str = "iptables") -> list[Check]:
    """Turn gathered facts into the ordered list of checks (nft is required in nftables mode)."""
    variant = parse_iptables_version(facts.versions.get("iptables") or "")[1]
    probe_variant = "legacy" if backend == "python-iptables" else variant
    checks = [Check("root", facts.euid == 0, f"euid {facts.euid}",
                    None if facts.euid == 0 else "run as root (sudo netlab ...)")]
    for feature in _NS_FEATURES:
        checks.append(_kernel_check(facts, feature, probe_variant))
    checks.append(_br_netfilter_check(facts))
    for feature in _NETFILTER_FEATURES:
        checks.append(_kernel_check(facts, feature, probe_variant))
    checks.extend(_iptables_checks(facts, backend, variant))
    checks.append(_iptc_check(facts, backend))
    for tool, (package, required) in TOOLS.items():
        path = facts.tools.get(tool)
        required = required or (tool == "nft" and proxy_mode == "nftables")
        checks.append(Check(tool, bool(path), path or "not on PATH",
                            None if path else f"apt-get install {package}", required))
    for module in ("pyroute2", "click", "yaml"):
        version = facts.py.get(module)
        dist = PY_PACKAGES[module]
        checks.append(Check(module, version is not None,
                            f"{dist} {version}".strip() if version is not None else f"cannot import {module}",
                            None if version is not None else f"{sys.executable} -m pip install {dist}"))
    return checks


def _probe_result(facts: Facts, name: str) -> Optional[tuple[bool, str]]:
    """The probe's verdict on feature `name`, None if the probe did not cover it."""
    if facts.probe is None:
        return None
    result = facts.probe.get("results", {}).get(name)
    return (bool(result[0]), str(result[1])) if result else None


def _kernel_check(facts: Facts, feature: _Feature, variant: Optional[str]) -> Check:
    """Decide one kernel feature: the probe when it ran, the kernel config otherwise."""
    items = feature.config.get(variant or "nft") or feature.config["*"]
    conf_ok, conf_detail, conf_fix = config_verdict(
        facts.config, items, lambda m: m.replace("-", "_") in facts.modules, facts.kernel)
    probe = _probe_result(facts, feature.name)
    if probe is not None:
        ok, detail = probe[0], f"{probe[1]}; {conf_detail}"
    elif conf_ok is not None:
        why = facts.probe_error or (facts.probe or {}).get("skipped", {}).get(feature.name, "not covered")
        ok, detail = conf_ok, f"{conf_detail} (not probed: {why})"
    else:
        ok, detail = False, f"unknown: {conf_detail}, and not probed ({facts.probe_error})"
    fix = None
    if not ok:
        modules = [_MODULES.get(s) for item in items for s in item.split("|")]
        fix = conf_fix or ("modprobe " + " ".join(dict.fromkeys(m for m in modules if m))
                           if any(modules) else "use a kernel with network namespace support")
    return Check(feature.name, ok, detail, fix, feature.required)


def _br_netfilter_check(facts: Facts) -> Check:
    """br_netfilter is loaded when its sysctl exists; pods on one bridge need it to reach services."""
    conf_ok, conf_detail, conf_fix = config_verdict(
        facts.config, ("BRIDGE_NETFILTER",), lambda m: m in facts.modules, facts.kernel)
    if facts.bridge_nf is not None:
        return Check("br_netfilter", True, f"bridge-nf-call-iptables={facts.bridge_nf}; {conf_detail}")
    if conf_ok is False and facts.config and facts.config.get("BRIDGE_NETFILTER") != "m":
        return Check("br_netfilter", False, f"{BRIDGE_NF_CALL} missing; {conf_detail}", conf_fix)
    return Check("br_netfilter", False, f"{BRIDGE_NF_CALL} missing (module not loaded); {conf_detail}",
                 "modprobe br_netfilter")


def _iptables_checks(facts: Facts, backend: str, variant: Optional[str]) -> list[Check]:
    """The iptables command, its variant and version, and the restore binaries."""
    text = facts.versions.get("iptables")
    version, _ = parse_iptables_version(text or "")
    used = _restore_for(facts, variant) if backend == "restore" else None
    checks = []
    if text is None:
        checks.append(Check("iptables", False, "not on PATH", "apt-get install iptables", backend == "restore"))
    elif variant is None:
        checks.append(Check("iptables", False, f"cannot tell its backend from {text!r}",
                            "apt-get install iptables (1.8+ reports nf_tables or legacy)", backend == "restore"))
    else:
        flags = ("--random-fully and -w supported" if supports_random_fully(version)
                 else "no --random-fully or -w (needs iptables >= 1.6.2)")
        vs = ".".join(map(str, version))
        checks.append(Check("iptables", True, f"v{vs} ({'nf_tables' if variant == 'nft' else 'legacy'}); {flags}",
                            None, backend == "restore"))
    if used is None and backend == "restore" and variant:
        used = [f"iptables-{variant}-restore"]  # missing; report it as the required one
    for binary in IPTABLES_BINARIES[1:4]:
        needed = used is not None and used[0] == binary
        out = facts.versions.get(binary)
        if facts.tools.get(binary):
            detail = out.splitlines()[0] if out else facts.tools[binary]
            checks.append(Check(binary, True, detail + ("; netlab restores with this" if needed else ""),
                                None, needed))
        else:
            checks.append(Check(binary, False, "not on PATH", "apt-get install iptables", needed))
    return checks


def _iptc_check(facts: Facts, backend: str) -> Check:
    """python-iptables: installed, importable, and which kernel tables it really writes."""
    required = backend == "python-iptables"
    version = facts.py.get("iptc")
    if version is None:
        return Check("python-iptables", False, "cannot import iptc",
                     f"apt-get install gcc python3-dev && {sys.executable} -m pip install python-iptables", required)
    probe = (facts.probe or {}).get("iptc")
    if not facts.iptc_imported or probe is None:
        why = ("import runs modprobe ip_tables" if not facts.iptc_imported
               else facts.probe_error or "probe did not report")
        return Check("python-iptables", True, f"{version} installed (not imported: {why}); writes legacy tables",
                     None, required)
    if not probe.get("imported"):
        return Check("python-iptables", False, f"import iptc failed: {probe.get('error')}",
                     "apt-get install iptables (libxtables12, libip4tc2)", required)
    if not probe.get("wrote"):
        return Check("python-iptables", not required, f"{version} imports, but writing failed: {probe.get('error')}",
                     "needs legacy ip_tables in the kernel (CONFIG_IP_NF_IPTABLES_LEGACY)", required)
    seen = probe.get("seen_by", [])
    tables = " and ".join(seen) or "no"  # a chain it wrote, as the variants' save commands see it
    return Check("python-iptables", True, f"{version}; writes the {tables} tables (chain written in a throwaway "
                 f"netns shows in {' and '.join(f'iptables-{v}-save' for v in seen) or 'neither save'})",
                 None, required)


# --------------------------------------------------------------------------------------------------
# Report


def missing_required(checks: list[Check]) -> list[Check]:
    """The failed checks that block `netlab up` (it refuses early and prints their fixes)."""
    return [c for c in checks if c.required and not c.ok]


def format_report(checks: list[Check]) -> str:
    """Aligned lines `ok      name  detail` / `MISSING name  detail -> fix`, then a one-line verdict."""
    width = max((len(_label(c)) for c in checks), default=0)
    lines = []
    for c in checks:
        status = "ok" if c.ok else ("MISSING" if c.required else "absent")
        line = f"{status:<7} {_label(c):<{width}}  {c.detail}"
        if not c.ok and c.fix:
            line += f"  -> {c.fix}"
        lines.append(line.rstrip())
    lines.append(verdict(checks))
    return "\n".join(lines)


def verdict(checks: list[Check]) -> str:
    """One line: ready or not, and what is missing."""
    missing = missing_required(checks)
    optional = [c.name for c in checks if not c.required and not c.ok]
    opt = f" (optional, absent: {', '.join(optional)})" if optional else ""
    required = sum(1 for c in checks if c.required)
    if missing:
        return (f"not ready: {len(missing)} of {required} required checks failed: "
                f"{', '.join(c.name for c in missing)}{opt}")
    return f"ready: all {required} required checks pass{opt}"


def _label(check: Check) -> str:
    """The name column: optional checks say so."""
    return check.name if check.required else f"{check.name} (optional)"


def _short(text: Optional[str], limit: int = 160) -> str:
    """Error output on one line, trimmed."""
    one = "; ".join(line.strip() for line in (text or "").strip().splitlines() if line.strip())
    return one if len(one) <= limit else one[:limit - 3] + "..."


# --------------------------------------------------------------------------------------------------
# The probe child (runs inside `unshare --net`; everything it creates dies with its namespace)

_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_CREATE, _NLM_F_DUMP = NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP
_nfnetlink = nfnetlink_request


def _errno_text(code: int) -> str:
    """`ENOENT (No such file or directory)` for an errno."""
    return f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"


def _run(cmd: list, stdin: Optional[str] = None) -> tuple[bool, str]:
    """Run a command in the probe namespace: (ok, its error output on one line)."""
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError) as e:
        return False, str(e)
    return proc.returncode == 0, _short(proc.stderr or proc.stdout)


def _probe_restore(params: dict, results: dict) -> None:
    """Restore the probe rules: all required features at once, and one at a time only on failure."""
    restore = [params["restore"]] + (["-w", "5"] if params["wait"] else [])
    rf = params["random_fully"]

    def attempt(features):
        return _run(restore, probe_ruleset(features, rf))

    tag = "restored in a throwaway netns" + (" (with --random-fully)" if rf else "")
    ok, err = attempt(params["features"])
    if ok:
        for name in params["features"]:
            results[name] = (True, tag if name == "MASQUERADE" else "restored in a throwaway netns")
    else:
        for name in params["features"]:
            tables = list(_PROBE_RULES[name])
            dep = "nat table" if "nat" in tables and name != "nat table" else None
            if dep and not results.get(dep, (True,))[0]:
                results[name] = (False, "not tried: the nat table failed")
                continue
            ok, err = attempt([name])
            results[name] = (ok, "restored in a throwaway netns" if ok else f"restore failed: {err}")
    for name in params["optional"]:
        if name == "nfacct":
            code = _nfnetlink(7, 0, _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE, socket.AF_UNSPEC,
                              _nla(1, NFACCT_PROBE_NAME.encode() + b"\0"))  # NFNL_SUBSYS_ACCT, NFACCT_NAME
            if code:
                results[name] = (False, f"creating an nfacct object failed: {_errno_text(code)}")
                continue
        ok, err = attempt([name])
        results[name] = (ok, "restored in a throwaway netns" if ok else f"restore failed: {err}")


_nla = nla


def _probe_iptc(params: dict) -> dict:
    """Import python-iptables here and write one chain, then see which save command shows it."""
    try:
        import iptc  # noqa: F401  (imported in the child only: it runs modprobe and caches handles)
    except Exception as e:  # any failure to load libxtables/libiptc surfaces here
        return {"imported": False, "error": _short(f"{type(e).__name__}: {e}")}
    out = {"imported": True}
    try:
        table = iptc.Table(iptc.Table.NAT)
        table.create_chain("NETLAB-DOCTOR")
    except Exception as e:
        out.update(wrote=False, error=_short(f"{type(e).__name__}: {e}"))
        return out
    out["wrote"] = True
    seen = []
    for variant, save in sorted(params["saves"].items()):
        try:
            proc = subprocess.run([save, "-t", "nat"], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            continue
        if ":NETLAB-DOCTOR " in proc.stdout:
            seen.append(variant)
    out["seen_by"] = seen
    return out


def _probe_main(arg: str) -> None:
    """Entry point of the probe child; prints one JSON line."""
    params = json.loads(arg)
    out: dict = {"results": {}, "skipped": {}}
    if os.stat("/proc/self/ns/net").st_ino == params["parent_netns"]:
        print(json.dumps({"error": "probe is not in a new network namespace; refused to touch it"}))
        return
    started = time.monotonic()
    if params["part"] == "iptc":
        out["iptc"] = _probe_iptc(params)
        print(json.dumps(out))
        return
    results, skipped = out["results"], out["skipped"]
    results["network namespaces"] = (True, "created a throwaway netns")
    if params["ip"]:
        for name, cmd in (("veth", ["link", "add", "nd-veth0", "type", "veth", "peer", "name", "nd-veth1"]),
                          ("bridge", ["link", "add", "nd-br0", "type", "bridge"])):
            ok, err = _run([params["ip"]] + cmd)
            results[name] = (ok, "created one in a throwaway netns" if ok else f"ip {' '.join(cmd)}: {err}")
    else:
        skipped["veth"] = skipped["bridge"] = "ip not on PATH"
    code = _nfnetlink(1, 1, _NLM_F_REQUEST | _NLM_F_DUMP, socket.AF_INET)  # CTNETLINK, IPCTNL_MSG_CT_GET
    results["conntrack netlink"] = (code == 0, "dumped conntrack in a throwaway netns" if code == 0
                                    else f"conntrack dump failed: {_errno_text(code)}")
    if params["restore"]:
        _probe_restore(params, results)
    else:
        for name in params["features"] + params["optional"]:
            skipped[name] = "no iptables-restore for the backend"
    out["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(out))
