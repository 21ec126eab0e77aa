"""Shell completion for `netlab`, as `kubectl completion bash|zsh` gives kubectl's: commands and
flags, resource types, and the names of the lab's objects.

`netlab completion bash` prints the script (click's, for the `netlab` program); the shell then
calls netlab back with _NETLAB_COMPLETE set, and the callbacks here answer from the lab's state
under /run/netlab (so completing names needs the same root as every other netlab command).
A lab that is not up, or a state that cannot be read, completes to nothing rather than failing.
"""

from __future__ import annotations

from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")
# the resource words completed for a TYPE (kubectl's plural names, then the short ones)
RESOURCE_WORDS = ("pods", "services", "deployments", "replicasets", "endpoints", "endpointslices", "nodes",
                  "namespaces", "events", "configmaps", "secrets", "po", "svc", "deploy", "rs", "ep", "no", "ns",
                  "cm", "all")


def script(main, shell: str) -> str:
    """The completion script for SHELL (bash, zsh or fish), to `source` or put in the shell's
    completion folder."""
    cls = get_completion_class(shell)
    if cls is None:
        raise ValueError(f"unsupported shell {shell!r} (use one of: {', '.join(SHELLS)})")
    return cls(main, {}, "netlab", "_NETLAB_COMPLETE").source()


def _names(ctx, kind_word: str, prefix: str) -> list:
    """The names of the lab's objects of KIND_WORD in the command's namespace that start with PREFIX."""
    from netlab import inspect, names
    from netlab import lab as lab_mod
    kind = lab_mod.KIND_ALIASES.get(kind_word.lower())
    if kind is None:
        return []
    lab = ctx.params.get("lab_name") or names.current_lab()
    try:
        if lab is None:
            up = lab_mod.labs_up()
            lab = up[0] if len(up) == 1 else None
        if lab is None:
            return []
        namespace = None if kind in ("Node", "Namespace") else (ctx.params.get("namespace") or "default")
        objects = inspect.get_objects(lab, kind, namespace, [])
    except Exception:               # a completion never fails the shell: it just offers nothing
        return []
    return sorted(o["metadata"]["name"] for o in objects if o["metadata"]["name"].startswith(prefix))


def resource_types(ctx, param, incomplete: str) -> list:
    """TYPE, or TYPE/NAME once a `/` is typed."""
    if "/" in incomplete:
        word, _, prefix = incomplete.partition("/")
        return [CompletionItem(f"{word}/{name}") for name in _names(ctx, word, prefix)]
    return [CompletionItem(word) for word in RESOURCE_WORDS if word.startswith(incomplete)]


def object_names(ctx, param, incomplete: str) -> list:
    """NAME of the TYPE given before it (`get pods <TAB>`)."""
    resource = ctx.params.get("resource") or ""
    if "/" in resource or "," in resource:
        return []
    return [CompletionItem(name) for name in _names(ctx, resource, incomplete)]


def type_then_names(ctx, param, incomplete: str) -> list:
    """For commands whose arguments are TYPE NAME... (delete, label, patch, edit): a TYPE first,
    then names of that TYPE."""
    given = [a for a in (ctx.params.get(param.name) or ()) if a]
    if not given:
        return resource_types(ctx, param, incomplete)
    if "/" in given[0]:
        return resource_types(ctx, param, incomplete) if "/" in incomplete else []
    return [CompletionItem(name) for name in _names(ctx, given[0], incomplete)]


def pod_names(ctx, param, incomplete: str) -> list:
    """A pod's name, or TYPE/NAME (exec, logs, port-forward)."""
    if "/" in incomplete:
        return resource_types(ctx, param, incomplete)
    return [CompletionItem(name) for name in _names(ctx, "pods", incomplete)]
