"""kube-proxy's nftables table in a namespace: one transaction per sync, as knftables does.

Every call acts inside the node's namespace, so `ip netns exec NODE nft list table ip kube-proxy`
shows what was written. A transaction is all or nothing (nft -f checks and commits it as one
netlink batch): when it fails, the previous table stays and the error names the failing line
with the lines around it.

A partial sync's transaction (service, endpoint and external chains, map elements) is sent as
the netlink batch nft would send for it (dataplane/nft_netlink.py), because nft 1.0.6 first
lists every chain of the ruleset, which on a node with 10,000 Services takes half a second.
Whatever that encoder does not write (a full sync: the table, base chains, sets) goes through
`nft -f -` (nsenter --net), as does a batch the kernel refused, so that the error is nft's own.

`read_table()` turns the live table (`nft -j list table`) back into the renderer's NftTable:
its chains, sets, maps and their elements, which is what kube-proxy itself lists on a restart
(chains and set elements, pkg/proxy/nftables/proxier.go syncProxyRules); rules are not read back.
`read_whole_table()` adds the rules, from `nft list table` in kube-proxy's spelling
(proxy/nft_listing.py), for what inspects the live table (probe, explain, the read-back tests).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

from netlab.dataplane import netns
from netlab.proxy.nft_ruleset import Chain, Element, NftTable, NftTextError, Op, Set, Table, parse_transaction

FAMILY = "ip"
TABLE = "kube-proxy"

# nft's error location: "/dev/stdin:5:1-30: Error: ..." (file:line:columns)
_FAILED_LINE = re.compile(r":(\d+):\d+(?:-\d+)?: Error:")


class NftError(Exception):
    """nft refused a transaction, or could not be run; the message shows the failing line in context."""


def _nft(namespace: str) -> list:
    # nsenter without "--": util-linux 2.38 would try to execute "--"
    return ["nsenter", f"--net={netns.path(namespace)}", "nft"]


def _context(text: str, line_no: int, around: int = 2) -> str:
    lines = text.splitlines()
    start, end = max(1, line_no - around), min(len(lines), line_no + around)
    return "\n".join(f"{'>' if n == line_no else ' '} {n:5d}  {lines[n - 1]}" for n in range(start, end + 1))


def failure(namespace: str, text: str, message: str) -> NftError:
    """The error for a refused transaction TEXT: nft's message and the failing line in context."""
    message = message.strip()
    match = _FAILED_LINE.search(message)
    first = message.splitlines()[0] if message else "no message"
    detail = f"\n{_context(text, int(match.group(1)))}" if match else ""
    return NftError(f"nft -f in network namespace {namespace!r} failed: {first}{detail}\n"
                    "the previous rules are still in place")


def _run(argv: list, text: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, input=text, capture_output=True, text=True)
    except FileNotFoundError:
        raise NftError("nft is not on PATH: apt-get install nftables "
                       "(`netlab doctor` checks everything netlab needs)") from None


def _over_netlink(namespace: str, text: str) -> bool:
    """Commit TEXT as nft's netlink batch if the encoder writes every operation of it; False when it
    does not, or when the kernel refused the batch (nothing of it committed: nft -f says why)."""
    from netlab.dataplane import nft_netlink
    if text.startswith("add table"):          # a full sync: the table, base chains and sets
        return False
    try:
        parsed = parse_transaction(text)
        if any((p.family, p.table) != (parsed[0].family, parsed[0].table) for p in parsed):
            return False
        batch = nft_netlink.encode([p.op for p in parsed], parsed[0].family, parsed[0].table)
    except (NftTextError, nft_netlink.Unsupported, IndexError):
        return False
    try:
        nft_netlink.commit(namespace, batch)
    except (nft_netlink.KernelRefused, OSError):   # nft -f then says what is wrong, in its words
        return False
    return True


def apply(namespace: str, text: str) -> None:
    """Run the transaction TEXT (`nft -f -` input) in NAMESPACE atomically; raise NftError on failure."""
    if not text or _over_netlink(namespace, text):
        return
    result = _run(_nft(namespace) + ["-f", "-"], text)
    if result.returncode != 0:
        raise failure(namespace, text, result.stderr or result.stdout)


def apply_many(jobs: list) -> list:
    """Run (namespace, cleanup, transaction) jobs: each cleanup first (on its own, as kube-proxy
    does), then the transaction; netlink batches on as many threads as there are CPUs (the
    kernel's commit checks every chain a base chain reaches, which takes time on a big table),
    nft processes for every namespace at once.

    Returns the namespaces whose cleanup failed (kube-proxy then forces a full sync); raises the
    first failed main transaction after every job has run (the others' tables are written).
    """
    cleanup_failed = []
    for phase in (1, 2):
        pending = [(job[0], job[phase]) for job in jobs if job[phase]]
        sent = _over_netlink_all(pending)
        running = []
        for (namespace, text), done in zip(pending, sent):
            if done:
                continue
            try:
                proc = subprocess.Popen(_nft(namespace) + ["-f", "-"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            except FileNotFoundError:
                raise NftError("nft is not on PATH: apt-get install nftables "
                               "(`netlab doctor` checks everything netlab needs)") from None
            running.append((namespace, text, proc))
        failures = []
        for namespace, text, proc in running:
            out, err = proc.communicate(text)
            if proc.returncode != 0:
                if phase == 1:
                    cleanup_failed.append(namespace)
                else:
                    failures.append(failure(namespace, text, err or out))
        if failures:
            raise failures[0]
    return cleanup_failed


def _over_netlink_all(pending: list) -> list:
    """_over_netlink() of each (namespace, text), on up to one thread per CPU; what each returned."""
    if len(pending) < 2:
        return [_over_netlink(namespace, text) for namespace, text in pending]
    import threading        # (imported here: most commands never write nft tables)
    results = [False] * len(pending)
    errors: list = []
    next_job = iter(range(len(pending)))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                n = next(next_job, None)
            if n is None:
                return
            try:
                results[n] = _over_netlink(*pending[n])
            except Exception as err:           # unexpected: raised below, after the other jobs
                errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(min(len(pending), os.cpu_count() or 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def list_table(namespace: str, family: str = FAMILY, table: str = TABLE) -> str:
    """`nft list table FAMILY TABLE` inside NAMESPACE ("" when there is no such table)."""
    result = _run(_nft(namespace) + ["list", "table", family, table])
    return result.stdout if result.returncode == 0 else ""


def has_table(namespace: str, family: str = FAMILY, table: str = TABLE) -> bool:
    return _run(_nft(namespace) + ["list", "table", family, table]).returncode == 0


def delete_table(namespace: str, family: str = FAMILY, table: str = TABLE) -> None:
    """Remove the table from NAMESPACE if it is there (add + delete: no error when it is not)."""
    apply(namespace, f"add table {family} {table}\ndelete table {family} {table}\n")


def read_table(namespace: str, family: str = FAMILY, table: str = TABLE) -> NftTable | None:
    """The live table as an NftTable (chains without their rules, sets, maps, elements), or None."""
    result = _run(_nft(namespace) + ["-j", "list", "table", family, table])
    if result.returncode != 0:
        return None
    return table_from_json(json.loads(result.stdout), family, table)


def read_whole_table(namespace: str, family: str = FAMILY, table: str = TABLE) -> NftTable | None:
    """read_table() with each chain's rules, or None when there is no such table."""
    from netlab.proxy.nft_listing import chain_rules, listing_details, rule_in_kube_proxy_spelling
    as_json = _run(_nft(namespace) + ["-j", "list", "table", family, table])
    listed = _run(_nft(namespace) + ["list", "table", family, table])
    if as_json.returncode != 0 or listed.returncode != 0:
        return None
    details = listing_details(listed.stdout)
    document = json.loads(as_json.stdout)
    for item in document.get("nftables", []):
        (kind, obj), = item.items()
        if kind == "table" and details["table_comment"] is not None:
            obj["comment"] = details["table_comment"]
        elif kind == "chain" and obj.get("name") in details["chain_comments"]:
            obj["comment"] = details["chain_comments"][obj["name"]]
        elif kind in ("set", "map") and obj.get("name") in details["set_flags"]:
            obj["flags"] = details["set_flags"][obj["name"]]
    base = table_from_json(document, family, table, comments=True)
    lines = [f"add rule {family} {table} {chain} {rule_in_kube_proxy_spelling(rule)}"
             for chain, rules in chain_rules(listed.stdout).items() for rule in rules]
    return base.apply_text("\n".join(lines) + "\n") if lines else base


def _value(value) -> str:
    """One JSON key part or verdict as knftables writes it ("10.96.0.1", "tcp", "goto CHAIN", "drop")."""
    if isinstance(value, dict):
        if "elem" in value:                        # an element with timeout/expires/comment
            return _value(value["elem"]["val"])
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        if "range" in value:
            return "-".join(_value(v) for v in value["range"])
        for verdict in ("goto", "jump"):
            if verdict in value:
                return f"{verdict} {value[verdict]['target']}"
        (word, _), = value.items()                 # {"drop": null}, {"reject": null}, ...
        return word
    return str(value)


def _key(value) -> tuple:
    if isinstance(value, dict) and "elem" in value:
        value = value["elem"]["val"]
    if isinstance(value, dict) and "concat" in value:
        return tuple(_value(v) for v in value["concat"])
    return (_value(value),)


def _type(spec) -> str:
    return " . ".join(spec) if isinstance(spec, list) else str(spec)


def _comment(value) -> str | None:
    return value["elem"].get("comment") if isinstance(value, dict) and "elem" in value else None


def table_from_json(document: dict, family: str = FAMILY, table: str = TABLE, comments: bool = False) -> NftTable:
    """`nft -j list table` output as an NftTable (pure); with COMMENTS the elements keep theirs
    (kube-proxy's own read of the table, which read_table() mirrors, does without)."""
    tables, chains, sets, elements = [], [], [], []
    for item in document.get("nftables", []):
        (kind, obj), = item.items()
        if kind == "table":
            tables.append(Op("add", Table(obj.get("comment"))))
        elif kind == "chain":
            chains.append(Op("add", Chain(obj["name"], obj.get("type"), obj.get("hook"), obj.get("prio"),
                                          obj.get("comment"))))
        elif kind in ("set", "map"):
            stype = _type(obj["type"]) + (f" : {_type(obj['map'])}" if kind == "map" else "")
            sets.append(Op("add", Set(obj["name"], kind, stype, tuple(obj.get("flags") or ()),
                                      obj.get("timeout"), obj.get("comment"))))
            for elem in obj.get("elem") or []:
                if kind == "map":
                    key, value = elem
                    elements.append(Op("add", Element(obj["name"], _key(key), (_value(value),), "map",
                                                      _comment(key) if comments else None)))
                else:
                    elements.append(Op("add", Element(obj["name"], _key(elem), (), "set",
                                                      _comment(elem) if comments else None)))
    return NftTable(family, table).apply(tables + chains + sets + elements)
