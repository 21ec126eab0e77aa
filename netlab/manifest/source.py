"""Read manifest files, folders and stdin into plain data, keeping each document's YAML node tree.

libyaml (yaml.CSafeLoader) scans, parses and composes the nodes in C; the nodes carry their line,
so building the data from them ourselves costs what `yaml.safe_load_all` costs and lets any field
path be turned into a line later (`Locator.line`), only when a problem needs one.

The data is built the way kubectl's YAML-to-JSON step builds it, not PyYAML's way: timestamps stay
strings, `1:30` stays a string (no base-60 integers), non-string map keys become strings, and a key
given twice is reported (the API server's strict decoding rejects duplicate fields).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from netlab.manifest.errors import Problem

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "<stdin>"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_scalars = yaml.constructor.SafeConstructor()

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MERGE = _TAG + "merge"
_AS_STRING = {_TAG + "timestamp", _TAG + "binary", _TAG + "value"}


class MapKey(str):
    """A key of a free-form map (labels, annotations, ...), printed as `labels[key]` in field paths."""

    __slots__ = ()


Path = Tuple[Any, ...]


def format_path(path: Sequence[Any]) -> str:
    """Render ('spec', 'containers', 0, 'name') as spec.containers[0].name, as kubectl does."""
    out = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif isinstance(part, MapKey):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else str(part))
    return "".join(out)


class Locator:
    """Finds the line of a field path inside one document (or List item) from its YAML nodes."""

    def __init__(self, node: Optional[yaml.Node], line: Optional[int]):
        self.node = node
        self.start = line

    def line(self, path: Sequence[Any]) -> Optional[int]:
        """Line of the deepest part of `path` that exists: the key's line for a field."""
        node, line = self.node, self.start
        for part in path:
            if node is None:
                break
            found = _child(node, part)
            if found is None:
                break
            key_node, node = found
            line = key_node.start_mark.line + 1
        return line

    def sub(self, path: Sequence[Any]) -> "Locator":
        """A locator rooted at the node under `path` (a List item, for instance)."""
        node = self.node
        for part in path:
            found = _child(node, part) if node is not None else None
            node = found[1] if found else None
        return Locator(node, self.line(path))


def _child(node: yaml.Node, part: Any) -> Optional[Tuple[yaml.Node, yaml.Node]]:
    """The (key node, value node) of `part` in a mapping, or (item, item) of an index in a list."""
    if isinstance(node, SequenceNode):
        if isinstance(part, int) and 0 <= part < len(node.value):
            return node.value[part], node.value[part]
        return None
    if not isinstance(node, MappingNode):
        return None
    found = None
    for key_node, value_node in node.value:  # the last one wins, as with duplicate keys
        if key_node.tag != _MERGE and isinstance(key_node, ScalarNode) and _key_text(key_node) == part:
            found = key_node, value_node
    if found:
        return found
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            for merged in (value_node.value if isinstance(value_node, SequenceNode) else [value_node]):
                inner = _child(merged, part)
                if inner:
                    return inner
    return None


def _key_text(node: ScalarNode) -> str:
    """A map key as JSON sees it: sigs.k8s.io/yaml turns 80, true and null keys into strings."""
    if node.tag == _STR:
        return node.value
    value = _scalar(node)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _scalar(node: ScalarNode) -> Any:
    """Build one scalar from its resolved tag."""
    tag, text = node.tag, node.value
    if tag == _STR:
        return text
    if tag == _INT or tag == _FLOAT:
        if ":" in text:  # YAML 1.1 base 60 (1:30 == 90); Go's YAML keeps it a string
            return text
        return _scalars.construct_yaml_int(node) if tag == _INT else _scalars.construct_yaml_float(node)
    if tag == _BOOL:
        return _scalars.construct_yaml_bool(node)
    if tag == _NULL:
        return None
    if tag in _AS_STRING:
        return text
    raise _BuildError(node, f"unsupported YAML tag {tag!r}: Kubernetes manifests use plain YAML values")


class _BuildError(Exception):
    def __init__(self, node: yaml.Node, message: str):
        super().__init__(message)
        self.node = node


@dataclass
class Document:
    """One YAML document: its data, where it starts, and how to find the line of any of its fields."""

    file: str
    line: int
    data: Any
    locator: Locator
    duplicates: List[Tuple[Path, str]] = field(default_factory=list)


MAX_EXPANDED_VALUES = 1_000_000


class _Builder:
    """Builds plain dicts, lists and scalars from a node tree, noting duplicate keys."""

    def __init__(self):
        self.memo: dict = {}
        self.sizes: dict = {}      # node id -> how many values it stands for once aliases are expanded
        self.active: set = set()
        self.path: list = []
        self.duplicates: List[Tuple[Path, str]] = []

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, ScalarNode):
            return _scalar(node)
        ident = id(node)
        if ident in self.memo:  # an alias: share the object, as the anchor built it
            return self.memo[ident]
        if ident in self.active:
            raise _BuildError(node, "recursive YAML alias")
        self.active.add(ident)
        if isinstance(node, SequenceNode):
            out: Any = []
            for index, item in enumerate(node.value):
                self.path.append(index)
                out.append(self.build(item))
                self.path.pop()
        else:
            out = self._mapping(node)
        self.active.discard(ident)
        self.memo[ident] = out
        # Aliases share one built object, but every reader of the document walks it expanded: nine
        # levels of nine aliases are 387 million values ("billion laughs"). Refuse it as the API
        # server's YAML decoder does.
        size = 1 + sum(self.sizes.get(id(child), 1) for pair in node.value
                       for child in (pair if isinstance(pair, tuple) else (pair,)))
        self.sizes[ident] = size
        if size > MAX_EXPANDED_VALUES:
            raise _BuildError(node, f"excessive aliasing: YAML aliases expand this document to more than "
                                    f"{MAX_EXPANDED_VALUES} values; write the values out instead")
        return out

    def _mapping(self, node: MappingNode) -> dict:
        merged: dict = {}
        explicit: dict = {}
        lines: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    built = self.build(source)
                    if not isinstance(built, dict):
                        raise _BuildError(source, "a YAML merge key (<<) needs a map")
                    for k, v in built.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                raise _BuildError(key_node, "a map key must be a plain value, not a list or a map")
            key = _key_text(key_node)
            line = key_node.start_mark.line + 1
            if key in explicit:
                self.duplicates.append((tuple(self.path) + (key,), f"line {lines[key]}"))
            lines[key] = line
            self.path.append(key)
            explicit[key] = self.build(value_node)
            self.path.pop()
        if merged:
            merged.update(explicit)
            return merged
        return explicit


def _yaml_problem(file: str, text: str, err: yaml.YAMLError) -> Problem:
    """Turn a PyYAML error into a Problem at its line, with a hint for the usual causes."""
    if isinstance(err, yaml.reader.ReaderError):     # a character YAML does not allow
        line = text[:err.position].count("\n") + 1
        char = f"#x{err.character:04x}" if isinstance(err.character, int) else repr(err.character)
        return Problem(file, line, "", f"YAML syntax error: unacceptable character {char}: control "
                                       "characters are not allowed; remove it or write it escaped in "
                                       'a double-quoted string ("\\a")')
    mark = getattr(err, "problem_mark", None)
    lines = text.splitlines()
    bad = lines[mark.line][mark.column:mark.column + 1] if mark and mark.line < len(lines) else ""
    problem = getattr(err, "problem", None) or str(err)
    message = f"YAML syntax error: {problem}"
    context = getattr(err, "context", None)
    context_mark = getattr(err, "context_mark", None)
    if context:
        at = f" at line {context_mark.line + 1}" if context_mark else ""
        message += f" ({context}{at})"
    if bad == "\t" or "'\\t'" in problem:
        message += "; indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        message += "; check the indentation, and quote values that contain ': '"
    return Problem(file, mark.line + 1 if mark else None, "", message)


def parse(text: str, file: str) -> Tuple[List[Document], List[Problem]]:
    """Split a YAML (or JSON) text into documents; empty documents are dropped as kubectl does."""
    docs: List[Document] = []
    problems: List[Problem] = []
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder()
            try:
                data = builder.build(node)
            except _BuildError as err:
                problems.append(Problem(file, err.node.start_mark.line + 1, "", str(err)))
                continue
            if data is None:
                continue
            line = node.start_mark.line + 1
            docs.append(Document(file, line, data, Locator(node, line), builder.duplicates))
    except yaml.YAMLError as err:
        if file.endswith(".json") and not docs:
            return _parse_json(text, file)
        problems.append(_yaml_problem(file, text, err))
    finally:
        loader.dispose()
    return docs, problems


def _parse_json(text: str, file: str) -> Tuple[List[Document], List[Problem]]:
    """JSON that libyaml cannot read (tabs, for instance): no field lines, but still usable."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return [], [Problem(file, err.lineno, "", f"JSON syntax error: {err.msg}")]
    return [Document(file, 1, data, Locator(None, 1))], []


def read(paths: Sequence[str]) -> Iterator[Tuple[str, Optional[str], Optional[Problem]]]:
    """Yield (file, text, None) for every manifest file named, or (file, None, problem)."""
    for path in paths:
        path = os.fspath(path)
        if path == "-":
            yield STDIN, sys.stdin.read(), None
            continue
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(SUFFIXES))
            files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
            if not files:
                yield path, None, Problem(path, None, "", "no .yaml, .yml or .json files in this folder")
            for file in files:
                yield _read_file(file)
            continue
        yield _read_file(path)


def _read_file(file: str) -> Tuple[str, Optional[str], Optional[Problem]]:
    try:
        with open(file, "rb") as f:
            raw = f.read()
    except OSError as err:
        return file, None, Problem(file, None, "", f"cannot read: {err.strerror or err}")
    try:
        return file, raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return file, None, Problem(file, line, "", "not UTF-8 text: is this a manifest file?")
