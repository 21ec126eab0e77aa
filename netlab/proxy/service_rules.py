"""The rules one Service owns on a node, in the order a packet meets them.

The tutorials' routine, `iptables -t nat -S | grep web`, shows a Service's lines out of order and
misses its endpoints' chains (KUBE-SEP-* carry the Service's name only in their comments). Here,
from a node's iptables-save text:

    nat     KUBE-SERVICES entries (cluster IP, external IPs, LoadBalancer IPs)
            -> KUBE-SVC-* (the endpoint choice) -> each KUBE-SEP-* (DNAT)
            KUBE-NODEPORTS entries -> KUBE-EXT-* -> KUBE-FW-* (loadBalancerSourceRanges)
            -> KUBE-SVL-* (externalTrafficPolicy: Local's endpoints)
    filter  the rules naming the Service (REJECT "has no endpoints", DROP for a policy or a
            firewall), whatever chain they are in

A Service's rules are found by the comment kube-proxy writes on each ("NS/NAME:PORT ..."), then
by following the jumps from those rules into the chains they lead to. Pure: text in, text out.

In nftables mode a Service's chains carry its name (service-HASH-NS/NAME/PROTO/PORT, and
external-, firewall-, endpoint-): nft_service_rules keeps those chains and the map and set
elements that lead into them, from `nft list table ip kube-proxy` or a knftables transaction.
"""

from __future__ import annotations

import re

from netlab.proxy.ruleset import parse_sections

_JUMP = re.compile(r"(?:^|\s)-j\s+(KUBE-(?:SVC|SEP|EXT|FW|SVL|XLB)-[A-Z0-9]+)\b")
# the entry chains, in the order a packet meets them; a Service's own chains follow each entry
ENTRY_ORDER = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES", "KUBE-PROXY-FIREWALL", "KUBE-FORWARD")


def _names(args: str, service: str) -> bool:
    """Whether a rule's comment names SERVICE ("NS/NAME" or "NS/NAME:PORT")."""
    return re.search(rf'--comment "?{re.escape(service)}(?::|"|\s)', args) is not None


def service_rules(save_text: str, namespace: str, name: str) -> str:
    """The part of SAVE_TEXT (iptables-save of a node) that Service NAMESPACE/NAME owns, as
    iptables-save text ("" when the node has no rule for it)."""
    service = f"{namespace}/{name}"
    out = []
    for section in parse_sections(save_text):
        by_chain: dict = {}
        for _, chain, args in section.rules:
            by_chain.setdefault(chain, []).append(args)
        owned_chains: list = []
        lines: list = []

        def follow(chain: str) -> None:
            """The chain's rules, then the chains they jump to (each once), depth first."""
            if chain in owned_chains:
                return
            owned_chains.append(chain)
            rules = by_chain.get(chain, [])
            lines.extend(f"-A {chain} {args}" for args in rules)
            for args in rules:
                for target in _JUMP.findall(args):
                    follow(target)

        entries = [c for c in ENTRY_ORDER if c in by_chain] + \
                  [c for c in by_chain if c not in ENTRY_ORDER and not _JUMP.match(f"-j {c}")]
        for chain in entries:
            for args in by_chain[chain]:
                if not _names(args, service):
                    continue
                lines.append(f"-A {chain} {args}")
                for target in _JUMP.findall(args):
                    follow(target)
        if not lines:
            continue
        out.append(f"*{section.name}")
        out.extend(f":{chain} - [0:0]" for chain in owned_chains)
        out.extend(lines)
        out.append("COMMIT")
    return "\n".join(out) + ("\n" if out else "")


def _nft_owned(line: str, service: str) -> bool:
    return re.search(rf"(?:service|external|firewall|endpoint)-[A-Z0-9]+-{re.escape(service)}/", line) is not None


def nft_service_rules(text: str, namespace: str, name: str) -> str:
    """The part of an nftables-mode node's rules that Service NAMESPACE/NAME owns: from `nft list
    table` output its chains whole and the map elements that name them; from a transaction its
    lines ("" when there is nothing)."""
    service = f"{namespace}/{name}"
    if not text.lstrip().startswith("table "):
        return "".join(line + "\n" for line in text.splitlines() if _nft_owned(line, service))
    out: list = []
    chains: list = []           # (rank in a packet's order, block)
    block: list = []
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if depth == 1 and (stripped.startswith(("chain ", "map ", "set "))):
            block = [line]
        elif block:
            block.append(line)
        depth += line.count("{") - line.count("}")
        if block and depth == 1:
            head = block[0].strip()
            if head.startswith("chain ") and _nft_owned(head, service):
                rank = next(i for i, kind in enumerate(("external-", "firewall-", "service-", "endpoint-"))
                            if head[len("chain "):].startswith(kind) or kind == "endpoint-")
                chains.append((rank, block))
            elif head.startswith(("map ", "set ")):
                # only the elements that lead into the Service's chains
                elements = [b.strip().rstrip(",") for b in block if _nft_owned(b, service) and " : " in b]
                if elements:
                    out.append(block[0])
                    out.extend(f"\t\t{e}" for e in elements)
                    out.append("\t}")
            block = []
    # the maps that lead in, then external -> firewall -> service -> endpoint chains, as a packet goes
    for _, chain in sorted(chains, key=lambda item: item[0]):
        out.extend(chain)
    return "".join(line + "\n" for line in out)
