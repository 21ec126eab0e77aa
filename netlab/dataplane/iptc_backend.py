"""Rules into a namespace's *legacy* tables through python-iptables (libiptc): the second backend.

`apply_text(namespace, text)` takes the same whole-tables iptables-restore text as
`iptables.restore` and writes it rule for rule, so `iptables-legacy-save` afterwards reads exactly
as if `iptables-legacy-restore` had loaded the text. The work is split the usual way:

* pure: `parse_text` reads the text into tables (policies, user chains, rules with their line
  numbers) and `rule_steps` turns one rule's arguments into ordered steps (entry field, `-m`,
  `-j`/`-g`, option with values) — no iptc, no root, unit-testable;
* doing: a forked child enters the namespace (`setns`), opens each table with
  `autocommit = False`, flushes its chains, deletes user chains the text no longer declares,
  creates the declared ones, sets built-in policies, appends every rule, and only when *every*
  table was built without error takes the xtables lock (as every legacy iptables command does)
  and commits them, one `IPT_SO_SET_REPLACE` (atomic) per table. A rule that python-iptables or
  libxtables refuses therefore changes nothing; the error names the namespace, table, line and
  rule. The kernel checks some things only at commit (a target outside its table, say): if it
  refuses the first table nothing changed; if a later one, the error lists the tables committed.

IPv4 only (iptc.Table/Rule); the text must be what `iptables-restore` reads, not ip6tables'.

Why a child per call: python-iptables caches one libiptc handle per table name for the whole
process (`iptc.Table._cache`) regardless of the network namespace the handle was opened in, so a
second namespace in the same process would silently get the first one's tables. The parent imports
iptc (once, ~0.3 s, mostly setuptools' distutils shim) but never opens a table; each child starts
with an empty handle cache, uses it in exactly one namespace, and exits with `os._exit`.

Translation is generic: each `--option values...` goes to the module that owns that option name
(the target first, then the newest `-m` match, then — as iptables does for `-p tcp --dport` — an
implicit match named after the protocol), and is handed to the extension's own parser via
`Match.parse`/`Target.parse`; nothing is special-cased per match or target.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from netlab.dataplane import iptables, netns

XTABLES_LOCK = os.environ.get("XTABLES_LOCKFILE", "/run/xtables.lock")
DEFAULT_WAIT = 5.0  # seconds to wait for the xtables lock, as `iptables-restore -w 5`

# Entry-level options (struct ipt_ip): long and short spellings → python-iptables Rule attribute.
_ENTRY = {
    "-s": "src", "--source": "src", "--src": "src",
    "-d": "dst", "--destination": "dst", "--dst": "dst",
    "-i": "in_interface", "--in-interface": "in_interface",
    "-o": "out_interface", "--out-interface": "out_interface",
    "-p": "protocol", "--protocol": "protocol",
}
_MATCH = ("-m", "--match")
_JUMP = ("-j", "--jump")
_GOTO = ("-g", "--goto")
_FRAGMENT = ("-f", "--fragment")
_COUNTERS = ("-c", "--set-counters")
_OPTION = re.compile(r"^--?[A-Za-z]")


class IptcError(Exception):
    """python-iptables could not write the rules; says namespace, table, line and rule."""


@dataclass(frozen=True)
class RuleLine:
    """One `-A CHAIN args` line of the text, with its line number for error messages."""

    line: int
    chain: str
    args: str

    @property
    def text(self) -> str:
        return f"-A {self.chain} {self.args}".rstrip()


@dataclass
class TableText:
    """One `*table` … `COMMIT` section: built-in policies, user chains, rules in order."""

    name: str
    policies: Dict[str, str] = field(default_factory=dict)
    chains: List[str] = field(default_factory=list)
    rules: List[RuleLine] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One thing to do to a python-iptables Rule, in command-line order (order decides dispatch)."""

    # "entry" (name: Rule attribute, values: (value,)), "fragment", "counters" (values: packets,
    # bytes), "match" (name: extension), "target"/"goto" (name: target or chain), "option"
    # (name: option without dashes, values: its arguments).
    kind: str
    name: str = ""
    values: Tuple[str, ...] = ()
    invert: bool = False


# --- pure: text → tables → steps -------------------------------------------------------------

def parse_text(text: str) -> List[TableText]:
    """Tables of an iptables-restore text, in order; raise IptcError naming a bad line."""
    from netlab.proxy.ruleset import RestoreTextError, parse_sections
    try:
        sections = parse_sections(text)
    except RestoreTextError as err:
        raise IptcError(str(err)) from None
    tables = []
    for section in sections:
        # Whole-tables semantics: a deleted chain is simply not declared any more.
        chains = [c for c in section.chains if c not in section.deleted]
        tables.append(TableText(section.name, dict(section.policies), chains,
                                [RuleLine(number, chain, args) for number, chain, args in section.rules]))
    return tables


def tokenize(args: str) -> List[Tuple[str, bool]]:
    """(word, was_quoted) pairs, split as iptables-restore splits a line (double quotes, \\ in them)."""
    if '"' not in args:
        return [(word, False) for word in args.split()]
    words: List[Tuple[str, bool]] = []
    buf: List[str] = []
    quoted = in_quote = escaped = False
    for char in args:
        if in_quote:
            if escaped:
                buf.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quote = False
            else:
                buf.append(char)
            continue
        if char == '"':
            in_quote = quoted = True
        elif char in " \t\n":
            if buf or quoted:
                words.append(("".join(buf), quoted))
            buf, quoted = [], False
        else:
            buf.append(char)
    if in_quote:
        raise ValueError("unterminated quoted string")
    if buf or quoted:
        words.append(("".join(buf), quoted))
    return words


def _is_option(word: Tuple[str, bool]) -> bool:
    return not word[1] and bool(_OPTION.match(word[0]))


def rule_steps(args: str) -> List[Step]:
    """The steps that build the rule `args` (the text after `-A CHAIN`); ValueError if malformed."""
    words = tokenize(args)
    steps: List[Step] = []
    invert = False
    i = 0
    while i < len(words):
        word, quoted = words[i]
        i += 1
        if word == "!" and not quoted:
            if invert:
                raise ValueError("'!' twice in a row")
            invert = True
            continue
        if not _is_option((word, quoted)):
            raise ValueError(f"unexpected argument {word!r}")
        values: List[str] = []
        while i < len(words) and not _is_option(words[i]) and words[i] != ("!", False):
            values.append(words[i][0])
            i += 1
        if word in _FRAGMENT:
            if values:
                raise ValueError(f"{word} takes no value")
            steps.append(Step("fragment", invert=invert))
        elif word in _ENTRY or word in _MATCH or word in _JUMP or word in _GOTO:
            if len(values) != 1:
                raise ValueError(f"{word} needs exactly one value, got {len(values)}")
            if word in _ENTRY:
                steps.append(Step("entry", _ENTRY[word], (values[0],), invert))
            elif invert:
                raise ValueError(f"'!' cannot negate {word}")
            else:
                kind = "match" if word in _MATCH else "target" if word in _JUMP else "goto"
                steps.append(Step(kind, values[0]))
        elif word in _COUNTERS:
            if len(values) != 2 or invert:
                raise ValueError(f"{word} needs PACKETS BYTES")
            steps.append(Step("counters", "", tuple(values)))
        elif word.startswith("--"):
            steps.append(Step("option", word[2:], tuple(values), invert))
        else:
            raise ValueError(f"unsupported option {word}")
        invert = False
    if invert:
        raise ValueError("'!' at the end of the rule")
    return steps


# --- doing: one child process per namespace ----------------------------------------------------

_iptc = None


def _import_iptc():
    """python-iptables, imported once in this process; it must never open a table here."""
    global _iptc
    if _iptc is None:
        import iptc  # runs `modprobe ip_tables` and loads libxtables; opens no table handle
        _iptc = iptc
    return _iptc


class _Failure(Exception):
    """Raised in the child: what failed, where; sent to the parent as JSON."""

    def __init__(self, message: str, table: str = "", rule: Optional[RuleLine] = None,
                 committed: Tuple[str, ...] = ()):
        super().__init__(message)
        self.report = {"message": message, "table": table, "committed": list(committed),
                       "line": rule.line if rule else None, "rule": rule.text if rule else None}


_OPTION_NAMES: Dict[Tuple[str, str], frozenset] = {}


def _option_names(module) -> frozenset:
    """Long option names (bytes) an extension accepts, from its x6_options or extra_opts table."""
    key = (type(module).__name__, module.name)
    if key not in _OPTION_NAMES:
        _OPTION_NAMES[key] = _read_option_names(module)
    return _OPTION_NAMES[key]


def _read_option_names(module) -> frozenset:
    names = set()
    ext = module._module  # python-iptables' handle on the libxtables struct; no public accessor
    for table in (getattr(module, "_orig_options", None), getattr(ext, "x6_options", None),
                  getattr(ext, "extra_opts", None)):
        if not table:  # NULL pointer
            continue
        k = 0
        while table[k].name:
            names.add(table[k].name)
            k += 1
    return frozenset(names)


def _owner(name: str, rule, target, matches: list):
    """The module an option belongs to, the way iptables dispatches it (target, newest match,
    then an implicit match named after the rule's protocol)."""
    key = name.encode()
    if target is not None and key in _option_names(target):
        return target
    seen = set()
    for match in reversed(matches):
        if match.name in seen:  # an older copy of a match loaded again (libxtables: "completed")
            continue
        seen.add(match.name)
        if key in _option_names(match):
            return match
    proto = rule.protocol
    if rule.entry.ip.proto and not proto.startswith("!") and proto not in seen:
        match = rule.create_match(proto)
        matches.append(match)
        if key in _option_names(match):
            return match
    loaded = ", ".join([f"-m {m.name}" for m in matches] + ([f"-j {target.name}"] if target else []))
    raise ValueError(f"unknown option --{name} (not an option of {loaded or 'any module in this rule'})")


def _rule_class(iptc, handle):
    # iptc.Rule.tables opens every table of the family to see whether a -j name is a chain: that
    # would instantiate mangle/raw/security in the namespace (iptables-legacy-save would list
    # them) and open them with autocommit. Only this table's uncommitted handle matters.
    class _Rule(iptc.Rule):
        """A Rule that looks up jump targets in this table's handle only."""

        @property
        def tables(self):
            return [handle]

    return _Rule


def _build_rule(iptc, rule_cls, steps: List[Step]):
    rule = rule_cls()
    target, matches = None, []
    for step in steps:
        if step.kind == "entry":
            setattr(rule, step.name, ("!" if step.invert else "") + step.values[0])
        elif step.kind == "fragment":
            rule.entry.ip.flags |= iptc.ip4tc.ipt_ip.IPT_F_FRAG
            if step.invert:
                rule.entry.ip.invflags |= iptc.ip4tc.ipt_ip.IPT_INV_FRAG
        elif step.kind == "counters":
            rule.counters = (int(step.values[0]), int(step.values[1]))
        elif step.kind == "match":
            try:
                matches.append(rule.create_match(step.name))
            except iptc.XTablesError:
                raise ValueError(f"-m {step.name}: no match extension of that name") from None
        elif step.kind in ("target", "goto"):
            if target is not None:
                raise ValueError("more than one -j/-g")
            try:
                target = rule.create_target(step.name, goto=step.kind == "goto")
            except iptc.XTablesError:
                flag = "-j" if step.kind == "target" else "-g"
                raise ValueError(f"{flag} {step.name}: no chain of that name is declared in this table "
                                 "and no target extension has that name") from None
        else:
            module = _owner(step.name, rule, target, matches)
            values = list(step.values)
            if len(values) == 1:
                value = ("!" if step.invert else "") + values[0]
            elif values or step.invert:
                value = (["!"] if step.invert else []) + values
            else:
                value = ""
            try:
                module.parse(step.name, value)
            except Exception as exc:
                given = " ".join(["!"] * step.invert + [f"--{step.name}"] + values)
                kind = "-j" if module is target else "-m"
                raise ValueError(f"{kind} {module.name}: {given}: {_plain(exc)}") from None
    if target is None:
        rule.create_target("")  # no -j: a rule that only counts (libiptc "fall through")
    return rule


def _plain(exc: Exception) -> str:
    """python-iptables' message without the b'...' reprs of the C strings it embeds."""
    return re.sub(r"""b(['"])(.*?)\1""", r"\2", str(exc))


def _rebuild(iptc, handle, table: TableText, plans: Dict[int, List[Step]]) -> None:
    """Make HANDLE (uncommitted) hold exactly TABLE, as a flushing iptables-restore would."""
    existing = [chain.name for chain in handle.chains]
    builtin = {name for name in existing if handle.builtin_chain(name)}
    for name in existing:
        handle.flush_entries(name)
    declared = set(table.chains)
    for name in existing:
        if name not in builtin and name not in declared:
            handle.delete_chain(name)
    for name in table.chains:
        if name not in builtin and not handle.is_chain(name):
            handle.create_chain(name)
    for name, policy in table.policies.items():
        if name not in builtin:
            raise _Failure(f"{name} is not a built-in chain of {table.name}; it cannot have policy {policy}",
                           table.name)
        handle.set_policy(name, policy, (0, 0))  # restore without -c zeroes the policy counters
    rule_cls = _rule_class(iptc, handle)
    for line in table.rules:
        try:
            rule = _build_rule(iptc, rule_cls, plans[line.line])
            iptc.Chain(handle, line.chain).append_rule(rule)
        except Exception as exc:  # iptc raises IPTCError, XTablesError, ValueError, AttributeError
            raise _Failure(_plain(exc), table.name, line) from exc


def _build(iptc, table: TableText, steps: Dict[int, List[Step]], again: bool = False):
    """TABLE built in an uncommitted libiptc handle (AGAIN: from a new snapshot of the kernel's)."""
    try:
        handle = iptc.Table(table.name, autocommit=False)  # opened on first use in this process
        if again:
            handle.refresh()  # drops the uncommitted changes, reads the table again
    except iptc.IPTCError as exc:
        raise _Failure(f"cannot open the legacy {table.name} table: {_plain(exc)}", table.name) from exc
    try:
        _rebuild(iptc, handle, table, steps)
    except iptc.IPTCError as exc:
        raise _Failure(_plain(exc), table.name) from exc
    return handle


_CHANGED = os.strerror(errno.EAGAIN)


def _write_tables(iptc, tables: List[TableText], plans: Dict[str, Dict[int, List[Step]]],
                  wait: float) -> None:
    if iptc.Table._cache:
        raise _Failure("python-iptables already holds table handles in this process (opened in "
                       "another namespace); refusing to use them")
    # Build without the lock: it is host-wide (every legacy iptables command in every namespace
    # waits on it), building takes seconds for large rulesets, and a commit replaces the whole table.
    handles = [_build(iptc, table, plans[table.name]) for table in tables]
    fd = _lock(wait)
    try:
        committed: List[str] = []
        for table, handle in zip(tables, handles):
            try:
                try:
                    handle.commit()
                except iptc.IPTCError as exc:
                    if _CHANGED not in str(exc):
                        raise
                    # EAGAIN: the table's rule count changed since our snapshot (the kernel checks
                    # it in do_replace); build again from a new snapshot, now under the lock.
                    _build(iptc, table, plans[table.name], again=True).commit()
            except iptc.IPTCError as exc:
                # The kernel checks targets and matches against table, hook and protocol only here
                # and logs which one it refused (`dmesg`, e.g. "DNAT target: only valid in nat table").
                raise _Failure(f"the kernel refused the table: {_plain(exc)} (dmesg names the refused "
                               "match or target)", table.name, committed=tuple(committed)) from exc
            committed.append(table.name)
    finally:
        os.close(fd)


def _lock(wait: float) -> int:
    """Hold the xtables lock (flock on /run/xtables.lock), so legacy iptables commands wait for us."""
    fd = os.open(XTABLES_LOCK, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _Failure(f"another app is holding the xtables lock ({XTABLES_LOCK}); "
                               f"waited {wait:g} s") from None
            time.sleep(0.05)


def _child(namespace: str, tables, plans, wait: float, report_fd: int, home: Tuple[int, int]) -> int:
    try:
        iptc = _import_iptc()
        with netns.entered(namespace):
            if _ns_id(os.stat("/proc/thread-self/ns/net")) == home:
                raise _Failure("it is the caller's own network namespace; refusing to write its tables")
            _write_tables(iptc, tables, plans, wait)
        return 0
    except _Failure as failure:
        report = failure.report
    except BaseException as exc:  # anything else must still reach the parent
        report = {"message": f"{type(exc).__name__}: {exc}", "table": "", "committed": [],
                  "line": None, "rule": None}
    data = json.dumps(report).encode()
    while data:
        data = data[os.write(report_fd, data):]
    return 1


def _describe(namespace: str, report: dict) -> str:
    where = ""
    if report.get("table"):
        where = f": table {report['table']}" + (f", line {report['line']}" if report.get("line") else "")
    text = f"python-iptables in network namespace {namespace!r}{where}: {report['message']}"
    if report.get("rule"):
        text += f"\n> {report['line']:5d}  {report['rule']}"
    committed = report.get("committed") or []
    return text + ("\n" + f"tables already committed: {', '.join(committed)}" if committed
                   else "\nthe previous rules are still in place")


def _steps_by_line(namespace: str, tables: List[TableText]) -> Dict[str, Dict[int, List[Step]]]:
    """Every rule's steps, worked out before anything is touched; IptcError names a malformed rule."""
    plans: Dict[str, Dict[int, List[Step]]] = {}
    for table in tables:
        plans[table.name] = {}
        for line in table.rules:
            try:
                plans[table.name][line.line] = rule_steps(line.args)
            except ValueError as exc:
                raise IptcError(_describe(namespace, {"message": str(exc), "table": table.name,
                                                      "line": line.line, "rule": line.text})) from None
    return plans


def _ns_id(stat: os.stat_result) -> Tuple[int, int]:
    return stat.st_dev, stat.st_ino


def apply_text(namespace: str, text: str, wait: float = DEFAULT_WAIT) -> None:
    """Write whole-tables restore TEXT into NAMESPACE's legacy tables, one commit per table."""
    tables = parse_text(text)
    plans = _steps_by_line(namespace, tables)
    if not netns.exists(namespace):
        raise IptcError(f"network namespace {namespace!r} does not exist")
    _import_iptc()  # once per process, before forking, so children do not pay for it
    sys.stdout.flush()  # python-iptables flushes sys.stdout in the child: do not print twice
    sys.stderr.flush()
    home = _ns_id(os.stat("/proc/thread-self/ns/net"))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into the caller's code
        status = 1
        try:
            os.close(read_fd)
            status = _child(namespace, tables, plans, wait, write_fd, home)
        finally:
            os._exit(status)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    except BaseException:  # e.g. Ctrl-C: stop our child before it commits anything more
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    code = os.waitstatus_to_exitcode(status)
    if code == 0 and not data:
        return
    try:
        report = json.loads(data.decode())
    except ValueError:
        report = {"message": f"the python-iptables child exited with status {code} and no report",
                  "table": "", "committed": []}
    raise IptcError(_describe(namespace, report))


def save(namespace: str, table: Optional[str] = None) -> str:
    """NAMESPACE's legacy tables as `iptables-legacy-save` prints them (what this backend wrote)."""
    return iptables.save(namespace, table, which="legacy")


__all__ = ["IptcError", "RuleLine", "Step", "TableText", "apply_text", "parse_text", "rule_steps",
           "save", "tokenize"]
