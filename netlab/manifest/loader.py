"""Load manifests from files, folders and stdin, validate all of them, and build typed objects.

One load is all or nothing: every problem of every document is collected and raised as one
ManifestError, so the caller can refuse the whole apply before touching the machine.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from netlab.manifest import build, checks, lab, schema
from netlab.manifest.errors import ManifestError, Problem
from netlab.manifest.model import LabConfig, Manifests, Source
from netlab.manifest.schema import ERROR, STRICT, WARNING, Findings
from netlab.manifest.source import Locator, format_path, parse, read

VALIDATE_MODES = ("strict", "warn", "ignore")

_GROUP_VERSION = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
)
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")

schema.register({
    "NetlabList": {"f": {"apiVersion": "str", "kind": "str", "metadata": "NetlabListMeta", "items": "[any]"}},
    "NetlabListMeta": {"f": {"resourceVersion": "str", "continue": "str", "selfLink": "str",
                             "remainingItemCount": "int"}},
})

_SKIP_REASONS = {
    "Node": "netlab does not model Nodes: the lab's nodes come from its Cluster document (spec.nodes)",
    "Endpoints": "netlab does not model Endpoints: it computes them from Services and ready pods",
}


def load(paths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]], validate: str = "strict",
         namespace: Optional[str] = None) -> Manifests:
    """Load files, folders (their *.yaml, *.yml, *.json, sorted, not recursive) and '-' (stdin).

    validate: "strict" (unknown fields are errors, as kubectl apply), "warn" or "ignore".
    namespace: like kubectl's -n: the default namespace, and objects naming another are errors.
    Raises ManifestError with every problem found; returns Manifests otherwise.
    """
    run = _Load(validate, namespace)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for file, text, problem in read(paths):
        if problem is not None:
            run.errors.append(problem)
        else:
            run.add(text, file)
    return run.finish()


def loads(text: str, file: str = "<string>", validate: str = "strict",
          namespace: Optional[str] = None) -> Manifests:
    """Load manifests from a string; `file` names it in messages."""
    run = _Load(validate, namespace)
    run.add(text, file)
    return run.finish()


def parse_objects(objects: Sequence[Dict[str, Any]], source: str = "<objects>", validate: str = "strict",
                  namespace: Optional[str] = None) -> List[Any]:
    """Typed objects from already-parsed maps (a lab's stored objects); problems have no line."""
    run = _Load(validate, namespace)
    for data in objects:
        run.add_data(data, source)
    return run.finish().objects


def lab_config(raw: Optional[Dict[str, Any]], source: str = "<lab config>") -> LabConfig:
    """The LabConfig of a stored Cluster document (LabConfig.raw); None gives the defaults."""
    if not raw:
        return LabConfig()
    run = _Load("strict", None)
    run.add_data({"apiVersion": lab.API_VERSION, "kind": lab.KIND, **raw}, source)
    return run.finish().lab


def _plural(kind: str) -> str:
    if kind.endswith("s"):
        return kind + "es"
    if kind.endswith("y") and kind[-2:-1] not in "aeiou":
        return kind[:-1] + "ies"
    return kind + "s"


class _Load:
    """The state of one load: problems, warnings, objects and what was seen where."""

    def __init__(self, validate: str, namespace: Optional[str]):
        if validate not in VALIDATE_MODES:
            raise ValueError(f"validate must be one of {', '.join(VALIDATE_MODES)}, not {validate!r}")
        self.validate = validate
        self.namespace = namespace
        self.errors: List[Problem] = []
        self.warnings: List[str] = []
        self.objects: List[Any] = []
        self.lab: Optional[LabConfig] = None

    def add(self, text: str, file: str) -> None:
        docs, problems = parse(text, file)
        for doc in docs:
            if doc.duplicates:
                found = Findings()
                for path, where in doc.duplicates:
                    found.strict(path, f'duplicate field "{path[-1]}" (also at {where}): remove one of them')
                self._report(found, doc.locator, file)
            self._document(doc.data, doc.locator, file)
        self.errors.extend(problems)  # a syntax error ends the parse, so it comes after the documents

    def add_data(self, data: Any, file: str) -> None:
        """One document that is already data (no YAML nodes, so no lines)."""
        self._document(data, Locator(None, None), file)

    def finish(self) -> Manifests:
        if self.errors:
            raise ManifestError(self.errors, self.warnings)
        return Manifests(self.objects, self.lab or LabConfig(), self.warnings)

    # ------------------------------------------------------------------------------ reporting

    def _report(self, found: Findings, locator: Locator, file: str) -> None:
        """Pin findings to lines and sort them into errors and warnings by the validate mode."""
        located = sorted(
            ((sev, Problem(file, locator.line(path), format_path(path), message))
             for sev, path, message in found.items),
            key=lambda item: item[1].line or 0,
        )
        for sev, problem in located:
            if sev == ERROR or (sev == STRICT and self.validate == "strict"):
                self.errors.append(problem)
            elif sev == WARNING or (sev == STRICT and self.validate == "warn"):
                self.warnings.append(str(problem))

    def _error(self, locator: Locator, file: str, path: Tuple[Any, ...], message: str) -> None:
        found = Findings()
        found.error(path, message)
        self._report(found, locator, file)

    # ------------------------------------------------------------------------------ documents

    def _document(self, data: Any, locator: Locator, file: str) -> None:
        """Dispatch one document (or List item) by apiVersion and kind."""
        if not isinstance(data, dict):
            self._error(locator, file, (), f"expected a Kubernetes object (a map with apiVersion and "
                                           f"kind), got {schema.describe(data)}")
            return
        api, kind = data.get("apiVersion"), data.get("kind")
        known = schema.kinds()
        if not isinstance(kind, str) or not kind:
            what = "required field is missing" if kind is None else f"expected a kind such as Pod, got {schema.describe(kind)}"
            self._error(locator, file, ("kind",), f"{what}: every object needs apiVersion and kind "
                                                  "(e.g. apiVersion: v1, kind: Pod)")
            return
        if not isinstance(api, str) or not api:
            wanted = known.get(kind, {}).get("apiVersion") or (lab.API_VERSION if kind == lab.KIND else None)
            hint = f'add "apiVersion: {wanted}"' if wanted else "every object needs one (e.g. apiVersion: v1)"
            what = "required field is missing" if api is None else f"expected a string, got {schema.describe(api)}"
            self._error(locator, file, ("apiVersion",), f"{what}: {hint}")
            return
        if kind.endswith("List") and ("items" in data or kind == "List"):
            self._list(data, locator, file)
        elif kind == lab.KIND:
            self._lab(data, api, locator, file)
        elif kind in known:
            self._known(data, api, kind, locator, file)
        else:
            self._unknown(data, api, kind, locator, file)

    def _list(self, data: Dict[str, Any], locator: Locator, file: str) -> None:
        """A v1 List (or a kubectl FooList): each item is a document of its own."""
        found = Findings()
        schema.check(data, "NetlabList", (), found)
        self._report(found, locator, file)
        items = data.get("items")
        for i, item in enumerate(items if isinstance(items, list) else ()):
            self._document(item, locator.sub(("items", i)), file)

    def _lab(self, data: Dict[str, Any], api: str, locator: Locator, file: str) -> None:
        where = Source(file, locator.start)
        if api != lab.API_VERSION:
            self._error(locator, file, ("apiVersion",),
                        f'unsupported apiVersion "{api}" for a Cluster: netlab\'s lab document uses '
                        f'"apiVersion: {lab.API_VERSION}"')
            return
        if self.lab is not None and self.lab.source is not None:
            self._error(locator, file, (), f"a second Cluster document (the first is at {self.lab.source}): "
                                           "a load may hold one; merge them")
            return
        found = Findings()
        schema.check(data, "NetlabCluster", (), found)
        config = lab.parse(data, found, where)
        self._report(found, locator, file)
        self.lab = config

    def _known(self, data: Dict[str, Any], api: str, kind: str, locator: Locator, file: str) -> None:
        """A kind in the schema table: check every field; build it when netlab models it."""
        entry = schema.kinds()[kind]
        if api != entry["apiVersion"]:
            self._error(locator, file, ("apiVersion",),
                        f'{kind} is not served as "{api}": use "apiVersion: {entry["apiVersion"]}"')
            return
        found = Findings()
        schema.check(data, entry["type"], (), found)
        checks.check_kind(kind, data, found)
        where = Source(file, locator.start, locator)
        modeled = kind in build.MODELED
        namespace = None
        if modeled and not found.has_errors_of(ERROR):
            namespace = self._namespaced(data, kind, found)
        self._report(found, locator, file)
        if not modeled:
            self._skip(data, kind, locator, file)
            return
        if namespace is None:
            return
        # the same object again is applied again, in order, as kubectl does: the later one wins
        self.objects.append(build.obj(kind, data, where, namespace))

    def _namespaced(self, data: Dict[str, Any], kind: str, found: Findings) -> Optional[str]:
        """The namespace an object lands in, checking it against the load's namespace (-n)."""
        default = self.namespace or "default"
        if kind == "Namespace":
            return default
        given = (data.get("metadata") or {}).get("namespace")
        if given and self.namespace and given != self.namespace:
            found.error(("metadata", "namespace"),
                        f'the object\'s namespace "{given}" does not match the namespace "{self.namespace}" '
                        "given on the command line: drop one of them")
            return None
        return given or default

    def _skip(self, data: Dict[str, Any], kind: str, locator: Locator, file: str) -> None:
        name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
        named = f' "{name}"' if isinstance(name, str) else ""
        reason = _SKIP_REASONS.get(kind, f"netlab does not model {_plural(kind)}")
        found = Findings()
        found.warn((), f"skipping {kind}{named}: {reason}")
        self._report(found, locator, file)

    def _unknown(self, data: Dict[str, Any], api: str, kind: str, locator: Locator, file: str) -> None:
        """A kind outside the table: an error when malformed or a likely typo, else skipped."""
        if not _GROUP_VERSION.match(api):
            self._error(locator, file, ("apiVersion",), f'invalid apiVersion "{api}": write GROUP/VERSION '
                                                        "(e.g. apps/v1) or VERSION for the core group (v1)")
            return
        same_api = [k for k, v in schema.kinds().items() if v["apiVersion"] == api]
        close = [k for k in same_api if k.lower() == kind.lower()] or \
            difflib.get_close_matches(kind, same_api, n=1, cutoff=0.8)
        if close:
            self._error(locator, file, ("kind",), f'unknown kind "{kind}" in {api}; did you mean "{close[0]}"?')
            return
        if not _KIND.match(kind):
            hint = schema.suggest(kind, list(schema.kinds()) + [lab.KIND])
            self._error(locator, file, ("kind",), f'invalid kind "{kind}"{hint} (kinds are CamelCase '
                                                  "names such as Deployment)")
            return
        self._skip(data, kind, locator, file)
