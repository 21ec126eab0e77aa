"""The `netlab` command: a thin click shell over the core, shaped like kubectl."""

from __future__ import annotations

import os
import re
import sys
import time

import click

from netlab import __version__, output

DEFAULT_MANIFESTS = "manifests"


# The errors a user can act on, by module: one clear line each (tracebacks only with --debug).
USER_ERRORS = (("netlab.lab", "LabError"), ("netlab.state", "LabBusy"), ("netlab.state", "StateDamaged"),
               ("netlab.state", "StoreError"),
               ("netlab.manifest.errors", "ManifestError"),
               ("netlab.dataplane.iptables", "RestoreError"), ("netlab.dataplane.iptc_backend", "IptcError"),
               ("netlab.dataplane.network", "WiringError"), ("netlab.graph", "GraphError"),
               ("netlab.proxier", "ProxyModeError"), ("netlab.dataplane.nftables", "NftError"))


def _user_error_types() -> tuple:
    """The classes of USER_ERRORS whose modules are loaded (an error can only come from one that is)."""
    return tuple(getattr(sys.modules[module], name) for module, name in USER_ERRORS if module in sys.modules)


class NetlabGroup(click.Group):
    """Turns the core's user-facing errors into one clear line (tracebacks only with --debug), and
    usage errors into kubectl's: `error: unknown flag: --foo`, then where the usage is, exit 1."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as err:
            where = err.ctx.command_path if err.ctx else "netlab"
            click.echo(f"error: {_kubectl_usage_message(err)}", err=True)
            click.echo(f"See '{where} --help' for usage.", err=True)
            sys.exit(1)
        except click.exceptions.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # the reader went away (`netlab get pods | head -3`): stop quietly, as kubectl does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as err:
            if os.environ.get("NETLAB_DEBUG"):
                raise
            if isinstance(err, _user_error_types()):
                output.fail(str(err))
            # anything else is still one line: what failed, and where to see more
            text = " ".join(str(err).split()) or type(err).__name__
            output.fail(f"{text} ({type(err).__name__}; `netlab --debug ...` shows the traceback)")


def _kubectl_usage_message(err) -> str:
    """A usage error in kubectl's words where it has them (cobra's): unknown flag, unknown command."""
    if isinstance(err, click.exceptions.NoSuchOption):
        return f"unknown flag: {err.option_name}"
    message = err.format_message()
    if message.startswith("No such command"):
        name = message.split("'")[1] if "'" in message else message
        return f'unknown command "{name}" for "{err.ctx.command_path if err.ctx else "netlab"}"'
    return message


@click.group(cls=NetlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netlab")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
def main(debug):
    """Build Kubernetes Service networking from real Linux namespaces, veths, bridges and
    kube-proxy's iptables rules, from unmodified Kubernetes YAML.

    \b
    Typical session (as root):
      netlab up                      # the default lab from manifests/
      netlab get pods -o wide        # pods, their IPs, nodes and namespaces
      netlab exec client-pod -- curl -s 10.244.2.2
      ip netns exec netlab-node1 ip route
      netlab down
    """
    if debug:
        os.environ["NETLAB_DEBUG"] = "1"


def _complete(callback: str):
    """A shell-completion callback of netlab.completion, imported only when the shell asks."""
    def complete(ctx, param, incomplete):
        from netlab import completion
        return getattr(completion, callback)(ctx, param, incomplete)
    return complete


name_option = click.option("--name", "lab_name", metavar="LAB",
                           help="The lab to act on; else $NETLAB_LAB, else the one `netlab use` chose, else "
                                "the only lab that is up.")


def _note_record(ctx, _param, value):
    if value:
        click.echo("Flag --record has been deprecated, --record will be removed in the future", err=True)
        ctx.meta["netlab.record"] = True
    return value


record_option = click.option("--record", is_flag=True, expose_value=False, callback=_note_record,
                             help="Record the command in the objects' kubernetes.io/change-cause annotation "
                                  "(deprecated in kubectl, as here; `rollout history` shows it).")


def _change_cause() -> str | None:
    """With --record: the command line as kubectl records it in kubernetes.io/change-cause
    (the command path, its arguments, then each flag given as --NAME=VALUE)."""
    ctx = click.get_current_context()
    if not ctx.meta.get("netlab.record"):
        return None
    words, flags = ctx.command_path.split()[1:], []
    for param in ctx.command.params:
        if param.name == "record":
            continue
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words += [str(v) for v in (value if isinstance(value, (tuple, list)) else [value]) if v is not None]
        elif ctx.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE and param.opts:
            flag = max(param.opts, key=len)
            for v in value if isinstance(value, (tuple, list)) else [value]:
                flags.append(f"{flag}={str(v).lower() if isinstance(v, bool) else v}")
    return " ".join(["netlab", *words, *flags, "--record=true"])


def _with_change_cause(raw: dict, cause: str | None) -> dict:
    """RAW with CAUSE in its kubernetes.io/change-cause annotation (RAW itself, changed)."""
    if cause is not None:
        from netlab.rollouts import CHANGE_CAUSE
        raw.setdefault("metadata", {}).setdefault("annotations", {})[CHANGE_CAUSE] = cause
    return raw


def _require_root():
    if os.geteuid() != 0:
        raise click.ClickException("netlab builds network namespaces and must run as root (try: sudo netlab ...)")


def _which_lab(lab_name: str | None) -> str:
    from netlab import names
    from netlab.lab import LabError, labs_up
    if lab_name:
        return lab_name
    chosen = names.current_lab()
    if chosen:
        return chosen
    labs = labs_up()
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise LabError("no lab is up; start one with `netlab up`")
    raise LabError(f"several labs are up ({', '.join(labs)}); say which with --name LAB")


def _with_proxy_mode(loaded, mode: str):
    """LOADED with its lab file's spec.proxyMode set to MODE (a lab file made if there was none),
    checked as the lab file would be."""
    import copy
    import dataclasses
    from netlab import manifest
    raw = copy.deepcopy(loaded.lab.raw) if loaded.lab is not None and loaded.lab.raw else \
        {"apiVersion": "netlab.io/v1alpha1", "kind": "Cluster", "spec": {}}
    raw.setdefault("spec", {})["proxyMode"] = mode
    return dataclasses.replace(loaded, lab=manifest.lab_config(raw, source="--proxy-mode"))


def _load(files, validate):
    from netlab import manifest
    loaded = manifest.load([str(f) for f in files], validate=validate)
    for warning in loaded.warnings:
        output.warn(warning)
    return loaded


validate_option = click.option("--validate", type=click.Choice(["strict", "warn", "ignore"]), default="strict",
                               show_default=True,
                               help="Unknown fields: an error (strict, like kubectl), a warning, or ignored.")


@main.command()
@click.option("-f", "--filename", "files", multiple=True, type=click.Path(exists=True, allow_dash=True),
              help="Manifest file or folder (repeatable). Default: manifests/")
@name_option
@validate_option
@click.option("--iptables-backend", type=click.Choice(["restore", "python-iptables"]),
              help="How rules reach the nodes: iptables-restore of the machine's variant (default), or "
                   "python-iptables into the legacy tables (read them with iptables-legacy-save).")
@click.option("--proxy-mode", type=click.Choice(["iptables", "nftables", "ipvs"]),
              help="kube-proxy's mode for a new lab (the lab file's spec.proxyMode; default iptables). IPVS is "
                   "rendered (`netlab proxy render`), not run: it needs a kernel with IP_VS.")
def up(files, lab_name, validate, iptables_backend, proxy_mode):
    """Build a lab (or finish/refresh one) from Kubernetes YAML, and start its supervisor.

    Re-running it on a running lab changes nothing; after an interrupted run it finishes the job.
    `up --name LAB` without -f on a lab that exists resumes it (repairs it, restarts its supervisor,
    keeps its pods) and applies nothing; on a new lab, no -f means the default manifests/.
    """
    from netlab import lab as lab_mod
    from netlab import state as lab_state
    _require_root()
    if not files and lab_name and lab_state.has_state(lab_name) and lab_state.load(lab_name) is not None:
        report = lab_mod.resume(lab_name)
        _print_up_report(report)
        return
    if not files and not os.path.isdir(DEFAULT_MANIFESTS):
        raise click.UsageError(f"there is no {DEFAULT_MANIFESTS}/ folder here: run `netlab up` in the netlab "
                               "checkout for the default lab, or give your manifests with -f FILE|DIR")
    files = files or (DEFAULT_MANIFESTS,)
    loaded = _load(files, validate)
    if proxy_mode == "ipvs":
        raise lab_mod.LabError("kube-proxy's IPVS mode needs a kernel with IP_VS (and the dummy module) and this one "
                               "has neither: netlab renders IPVS mode but runs iptables or nftables")
    if proxy_mode:
        loaded = _with_proxy_mode(loaded, proxy_mode)
    report = lab_mod.apply(lab_name, loaded, create=True, iptables_backend=iptables_backend)
    _print_up_report(report)


def _manifest_files(files, recursive: bool) -> list:
    """The -f arguments, folders walked into with -R as kubectl's visitor does (lexical order)."""
    from netlab.manifest.source import SUFFIXES
    result = []
    for item in files:
        item = str(item)
        if recursive and os.path.isdir(item):
            for folder, dirs, names_ in os.walk(item):
                dirs.sort()
                result += [os.path.join(folder, n) for n in sorted(names_) if n.endswith(SUFFIXES)]
        else:
            result.append(item)
    return result


def _load_for(files, validate, recursive, namespace):
    from netlab import manifest
    loaded = manifest.load(_manifest_files(files, recursive), validate=validate, namespace=namespace)
    for warning in loaded.warnings:
        output.warn(warning)
    return loaded


def _dry_run_suffix(dry_run: str | None) -> str:
    return {None: "", "none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]


files_option = click.option("-f", "--filename", "files", multiple=True, type=click.Path(exists=True, allow_dash=True),
                            help="Manifest file, folder or - for stdin (repeatable).")
recursive_option = click.option("-R", "--recursive", is_flag=True, help="Walk into the folders given with -f.")
dry_run_option = click.option("--dry-run", type=click.Choice(["none", "client", "server"]), default=None,
                              is_flag=False, flag_value="client",
                              help="Check and print what would change, and change nothing.")
namespace_option = click.option("-n", "--namespace", default=None,
                                help="The namespace (default: default, or each manifest's own).")


def _with(options):
    """Apply a list of click decorators (options several commands share) in order."""
    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


write_options = [files_option, recursive_option, dry_run_option, namespace_option, name_option, validate_option,
                 record_option]


def _write(files, lab_name, validate, recursive, namespace, dry_run, verb):
    from netlab import lab as lab_mod
    _require_root()
    if not files:
        raise click.UsageError("must specify one of -f and -k" if verb != "apply" else
                               "error: must specify one of -f and -k")
    loaded = _load_for(files, validate, recursive, namespace)
    cause = _change_cause()
    for obj in loaded.objects:
        if getattr(obj, "kind", None):
            _with_change_cause(obj.raw, cause)
    dry = None if dry_run in (None, "none") else dry_run
    report = lab_mod.apply(_which_lab(lab_name), loaded, create=False, dry_run=dry, verb=verb)
    if dry:
        for line in report.objects_changed + report.objects_unchanged:
            output.echo(line + _dry_run_suffix(dry))
        return
    _print_changes(report)


@main.command()
@_with(write_options)
def apply(files, recursive, dry_run, namespace, lab_name, validate):
    """Apply Kubernetes YAML to a running lab (like kubectl apply -f): each object is created,
    configured or unchanged."""
    if not files:
        raise click.UsageError("must specify one of -f and -k")
    _write(files, lab_name, validate, recursive, namespace, dry_run, "apply")


@main.command()
@_with(write_options)
def replace(files, recursive, dry_run, namespace, lab_name, validate):
    """Replace objects with the ones in the manifests (like kubectl replace -f): each must exist."""
    if not files:
        raise click.UsageError("must specify one of -f and -k")
    _write(files, lab_name, validate, recursive, namespace, dry_run, "replace")


@main.group(invoke_without_command=True)
@_with(write_options)
@click.pass_context
def create(ctx, files, recursive, dry_run, namespace, lab_name, validate):
    """Create objects from manifests (like kubectl create -f; each must be new), or from a
    generator: create deployment, create service."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"namespace": namespace, "lab_name": lab_name, "dry_run": dry_run}
        return
    if not files:
        raise click.UsageError("must specify one of -f and -k, or a generator (deployment, service)")
    _write(files, lab_name, validate, recursive, namespace, dry_run, "create")


def _commit(lab_name, objects, verb, source, dry_run=None) -> None:
    from netlab import edits
    _require_root()
    dry = None if dry_run in (None, "none") else dry_run
    cause = _change_cause()
    objects = [_with_change_cause(raw, cause) for raw in objects]
    for line in edits.commit(_which_lab(lab_name), objects, verb, source, dry):
        output.echo(line)


@create.command("deployment")
@click.argument("name")
@click.option("--image", "images", multiple=True, required=True, help="The container image (repeatable).")
@click.option("--replicas", type=int, default=1, show_default=True)
@click.option("--port", type=int, help="The container port to expose.")
@click.argument("command", nargs=-1)
@name_option
@click.pass_obj
def create_deployment(opts, name, images, replicas, port, command, lab_name):
    """A Deployment of NAME with label app=NAME (like kubectl create deployment)."""
    from netlab import edits
    raw = edits.deployment(name, images[0], replicas, port, list(command), opts["namespace"] or "default")
    for image in images[1:]:
        raw["spec"]["template"]["spec"]["containers"].append(
            {"name": edits.container_name(image), "image": image, "resources": {}})
    _commit(lab_name or opts["lab_name"], [raw], "created", f"deployment.apps/{name}", opts["dry_run"])


@create.command("service")
@click.argument("service_type", metavar="clusterip|nodeport|loadbalancer")
@click.argument("name")
@click.option("--tcp", multiple=True, help="PORT:TARGET_PORT (repeatable).")
@click.option("--node-port", type=int, help="The NodePort (nodeport only).")
@name_option
@click.pass_obj
def create_service(opts, service_type, name, tcp, node_port, lab_name):
    """A Service NAME selecting app=NAME (like kubectl create service)."""
    from netlab import edits
    raw = edits.service(service_type.lower(), name, list(tcp), node_port, opts["namespace"] or "default")
    _commit(lab_name or opts["lab_name"], [raw], "created", f"service/{name}", opts["dry_run"])


def _resolve_targets(lab: str, args: tuple, namespace: str, selector: str | None = None,
                     all_: bool = False) -> list:
    """The objects kubectl's resource arguments name: TYPE NAME..., TYPE/NAME..., TYPE -l SEL,
    TYPE --all -> [(kind, API object)] in the order given."""
    from netlab import inspect, labelselector
    from netlab import lab as lab_mod
    if not args:
        raise click.UsageError("you must specify the type of resource and a name (TYPE NAME or TYPE/NAME)")
    requests = _get_requests(args[0], tuple(args[1:]))
    matches = None
    if selector:
        try:
            matches = labelselector.parse(selector)
        except labelselector.SelectorError as err:
            raise lab_mod.LabError(str(err)) from None
    found = []
    for kind, wanted in requests:
        if not wanted and not selector and not all_:
            raise lab_mod.LabError("resource(s) were provided, but no name was specified")
        scope = None if kind in ("Node", "Namespace") else namespace
        for obj in inspect.get_objects(lab, kind, scope, wanted):
            if matches is None or matches((obj.get("metadata") or {}).get("labels") or {}):
                found.append((kind, obj))
    return found


@main.command()
@click.argument("args", nargs=-1, shell_complete=_complete("type_then_names"))
@files_option
@recursive_option
@click.option("-l", "--selector", help="Delete the objects of TYPE whose labels match.")
@click.option("--all", "all_", is_flag=True, help="Delete every object of TYPE in the namespace.")
@click.option("--grace-period", type=int, default=-1, help="Seconds a pod gets to stop (default: its own "
                                                            "terminationGracePeriodSeconds).")
@click.option("--now", is_flag=True, help="Stop pods at once (--grace-period=1).")
@click.option("--force", is_flag=True, help="With --grace-period=0: remove pods without waiting.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the pods are gone.")
@click.option("--ignore-not-found", is_flag=True, help="Say nothing of objects that are not there.")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def delete(args, files, recursive, selector, all_, grace_period, now, force, wait, ignore_not_found, namespace,
           lab_name):
    """Delete objects: `delete -f FILE`, `delete TYPE NAME...`, `delete TYPE/NAME`, `delete TYPE -l
    SELECTOR` or `delete TYPE --all` (pods, deployments, replicasets, services, configmaps, ...)."""
    from netlab import lab as lab_mod
    _require_root()
    lab = _which_lab(lab_name)
    keys = set()
    if files:
        loaded = _load_for(files, "ignore", recursive, None)
        for obj in loaded.objects:
            keys.add(lab_mod.object_key(obj.raw))
    if args:
        if len(args) == 1 and "/" not in args[0] and not selector and not all_:
            raise click.UsageError("resource(s) were provided, but no name was specified")
        if selector or all_:
            for kind, obj in _resolve_targets(lab, args, namespace, selector, all_):
                meta = obj["metadata"]
                keys.add((kind, None if kind in ("Namespace", "Node") else meta["namespace"], meta["name"]))
        else:
            for kind, wanted in _get_requests(args[0], tuple(args[1:])):
                for name in wanted:
                    keys.add((kind, None if kind == "Namespace" else namespace, name))
    if not keys:
        if selector or all_:
            click.echo("No resources found", err=True)
            return
        raise click.UsageError("nothing to delete: give -f FILE or TYPE NAME")
    grace = None if grace_period < 0 else float(grace_period)
    if now:
        grace = 1.0
    if grace == 0 and not force:
        grace = 1.0              # kubectl: 0 means "at once" only with --force
    if force and grace == 0:
        output.warn("Immediate deletion does not wait for confirmation that the running resource has been "
                    "terminated. The resource may continue to run on the cluster indefinitely.")
    report = lab_mod.delete(lab, keys, grace=grace, missing_ok=ignore_not_found, wait=wait and not force)
    if force and grace == 0:
        report.objects_changed = [line.replace(" deleted", " force deleted") for line in report.objects_changed]
    _print_changes(report)


def _relabel(lab_name, args, namespace, selector, all_, overwrite, dry_run, field: str) -> None:
    """label and annotate: FIELD is "labels" or "annotations"."""
    from netlab import edits
    from netlab import lab as lab_mod
    _require_root()
    lab = _which_lab(lab_name)
    try:
        targets, sets, removes = edits.split_changes(list(args))
    except edits.EditError as err:
        raise lab_mod.LabError(str(err)) from None
    if not sets and not removes:
        raise click.UsageError(f"at least one {field[:-1]} update is required")
    what = field[:-1]
    stored, lines = [], []
    for kind, obj in _resolve_targets(lab, tuple(targets), namespace, selector, all_):
        meta = obj["metadata"]
        resource = f"{lab_mod.resource_name(kind)}/{meta['name']}"
        raw = edits.stored(lab, kind, None if kind in ("Node", "Namespace") else meta["namespace"], meta["name"])
        current = (raw if raw is not None else obj)["metadata"].get(field) or {}
        if field == "annotations" and raw is None:
            from netlab import views
            current = {k: v for k, v in current.items() if k != views.NETNS_ANNOTATION}
        try:
            changed, notes = edits.relabel(current, sets, removes, overwrite, what)
        except edits.EditError as err:
            raise lab_mod.LabError(str(err)) from None
        for note in notes:
            output.echo(note)
        word = edits.label_message(current, changed, overwrite) if field == "labels" else "annotated"
        lines.append(f"{resource} {word}{_dry_run_suffix(dry_run)}")
        if changed == current or dry_run not in (None, "none"):
            continue
        if raw is not None:
            raw["metadata"][field] = changed
            stored.append(edits.as_submitted(raw))
        elif kind == "Pod":
            edits.change_pod_record(lab, meta["namespace"], meta["name"], **{field: changed})
        else:
            raise lab_mod.LabError(f"{resource} is not an object netlab lets you change"
                                   + (" (its labels come from the lab file's spec.nodes[].labels)"
                                      if kind == "Node" else " (its Deployment owns it)"))
    if stored:
        edits.commit(lab, stored, "labeled", "<label>")
    for line in lines:
        output.echo(line)


label_options = [
    click.argument("args", nargs=-1, required=True, shell_complete=_complete("type_then_names")),
    click.option("--overwrite", is_flag=True, help="Replace a value that is already there."),
    click.option("-l", "--selector", help="Every object of TYPE whose labels match."),
    click.option("--all", "all_", is_flag=True, help="Every object of TYPE in the namespace."),
    dry_run_option,
    click.option("-n", "--namespace", default="default", show_default=True),
    name_option,
]


@main.command()
@_with(label_options)
def label(args, overwrite, selector, all_, dry_run, namespace, lab_name):
    """Set or remove labels: `label TYPE NAME KEY=VALUE... KEY-...` (like kubectl label).

    A label a ReplicaSet selects on, taken off one of its pods, releases the pod: the ReplicaSet
    makes a new one and the old one runs on, orphaned."""
    _relabel(lab_name, args, namespace, selector, all_, overwrite, dry_run, "labels")


@main.command()
@_with(label_options)
def annotate(args, overwrite, selector, all_, dry_run, namespace, lab_name):
    """Set or remove annotations: `annotate TYPE NAME KEY=VALUE... KEY-...` (like kubectl annotate)."""
    _relabel(lab_name, args, namespace, selector, all_, overwrite, dry_run, "annotations")


def _one_target(lab, args, namespace):
    """(kind, API object, stored raw) of the single object TYPE NAME or TYPE/NAME names."""
    from netlab import edits
    from netlab import lab as lab_mod
    found = _resolve_targets(lab, tuple(args), namespace)
    if len(found) != 1:
        raise click.UsageError("name exactly one object: TYPE NAME or TYPE/NAME")
    kind, obj = found[0]
    meta = obj["metadata"]
    raw = edits.stored(lab, kind, None if kind in ("Node", "Namespace") else meta["namespace"], meta["name"])
    if raw is None:
        why = " (its Deployment owns it: change the Deployment)" if kind in ("Pod", "ReplicaSet") else \
            " (the lab file's spec.nodes describes it)" if kind == "Node" else ""
        raise lab_mod.LabError(f"{lab_mod.resource_name(kind)}/{meta['name']} is not an object netlab lets you "
                               f"change{why}")
    return kind, obj, raw


@main.command()
@click.argument("args", nargs=-1, required=True, shell_complete=_complete("type_then_names"))
@click.option("-p", "--patch", "patch_text", help="The patch, as JSON or YAML.")
@click.option("--patch-file", type=click.File(), help="The patch, from a file.")
@click.option("--type", "patch_type", type=click.Choice(["json", "merge", "strategic"]), default="strategic",
              show_default=True)
@dry_run_option
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
@record_option
def patch(args, patch_text, patch_file, patch_type, dry_run, namespace, lab_name):
    """Change fields of an object (like kubectl patch):

    \b
      netlab patch svc web -p '{"spec":{"type":"NodePort"}}'
      netlab patch deploy/web --type json -p '[{"op":"replace","path":"/spec/replicas","value":3}]'
    """
    from netlab import edits, patches
    from netlab import lab as lab_mod
    lab = _which_lab(lab_name)
    if patch_file is not None:
        patch_text = patch_file.read()
    if not patch_text:
        raise click.UsageError("must specify --patch or --patch-file containing the contents of the patch")
    kind, _, raw = _one_target(lab, args, namespace)
    try:
        changed = patches.apply(raw, patch_text, patch_type)
    except patches.PatchError as err:
        raise lab_mod.LabError(str(err)) from None
    _commit(lab_name, [edits.as_submitted(changed)], "patched", f"{lab_mod.resource_name(kind)}/{raw['metadata']['name']}",
            dry_run)


@main.command()
@click.argument("args", nargs=-1, required=True, shell_complete=_complete("type_then_names"))
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-o", "--output", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@name_option
@record_option
def edit(args, namespace, fmt, lab_name):
    """Edit an object in $KUBE_EDITOR or $EDITOR (default vi), as kubectl edit: what you save is
    validated as `apply` would; a rejected edit changes nothing and is kept in a file."""
    import subprocess
    import tempfile
    import yaml
    from netlab import edits, manifest
    from netlab import lab as lab_mod
    _require_root()
    lab = _which_lab(lab_name)
    kind, obj, raw = _one_target(lab, args, namespace)
    resource = f"{lab_mod.resource_name(kind)}/{raw['metadata']['name']}"
    shown = edits.editable(obj)
    header = ("# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
              "# and an empty file will abort the edit. If an error occurs while saving this file will be\n"
              "# reopened with the relevant failures.\n#\n")
    text = header + output.dump(shown, fmt) + "\n"
    with tempfile.NamedTemporaryFile("w", prefix="netlab-edit-", suffix=f".{fmt}", delete=False) as handle:
        handle.write(text)
        path = handle.name
    editor = os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi"
    if subprocess.call(f'{editor} "{path}"', shell=True) != 0:
        raise lab_mod.LabError(f"the editor {editor!r} failed; nothing changed (your file: {path})")
    with open(path) as handle:
        after = handle.read()
    body = "\n".join(line for line in after.splitlines() if not line.lstrip().startswith("#"))
    if not body.strip() or after == text:
        os.unlink(path)
        output.echo("Edit cancelled, no changes made.")
        return
    try:
        edited = yaml.safe_load(body)
        loaded = manifest.loads(body, file=path, validate="strict")
        if [o.key for o in loaded.objects] != [(kind, raw["metadata"].get("namespace") if kind not in
                                                ("Namespace", "Node") else None, raw["metadata"]["name"])]:
            raise lab_mod.LabError(f"{path}: the edited object must stay {resource} (its kind, name and "
                                   "namespace cannot change)")
        if edits.as_submitted(edited) == edits.as_submitted(shown):
            os.unlink(path)
            output.echo("Edit cancelled, no changes made.")
            return
        lines = edits.commit(lab, [edits.as_submitted(edited)], "edited", path)
    except (yaml.YAMLError, manifest.ManifestError, lab_mod.LabError) as err:
        output.fail(f"{resource} was not changed:\n{err}\nA copy of your changes has been stored to \"{path}\"")
    os.unlink(path)
    for line in lines:
        output.echo(line)


@main.command()
@click.argument("args", nargs=-1, required=True, shell_complete=_complete("type_then_names"))
@click.option("--port", help="The Service's port (default: the object's container ports).")
@click.option("--target-port", help="The port (number or name) on the pods.")
@click.option("--type", "service_type", type=click.Choice(["ClusterIP", "NodePort", "LoadBalancer"]))
@click.option("--name", "service_name", help="The Service's name (default: the object's).")
@click.option("--protocol", type=click.Choice(["TCP", "UDP", "SCTP"]))
@click.option("--selector", help="The Service's selector (default: the object's).")
@dry_run_option
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--lab", "lab_name", metavar="LAB", help="The lab (expose's own --name is the Service's name).")
def expose(args, port, target_port, service_type, service_name, protocol, selector, dry_run, namespace, lab_name):
    """A Service in front of a pod, Deployment, ReplicaSet or Service (like kubectl expose):

    \b
      netlab expose deployment web --port 80 --target-port 8080 --type NodePort
    """
    from netlab import edits
    from netlab import lab as lab_mod
    lab = _which_lab(lab_name)
    found = _resolve_targets(lab, tuple(args), namespace)
    if len(found) != 1:
        raise click.UsageError("name exactly one object: TYPE NAME or TYPE/NAME")
    kind, obj = found[0]
    if kind not in ("Pod", "Deployment", "ReplicaSet", "Service"):
        raise lab_mod.LabError(f"cannot expose a {kind}")
    try:
        raw = edits.expose(obj, port, target_port, service_type, service_name, protocol, selector)
    except edits.EditError as err:
        raise lab_mod.LabError(str(err)) from None
    _commit(lab, [raw], "exposed", f"service/{raw['metadata']['name']}", dry_run)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("pod_name", metavar="NAME")
@click.option("--image", required=True, help="The container image.")
@click.option("--port", type=int, help="The container port.")
@click.option("--labels", "-l", help="Labels (default: run=NAME), as key=value,key=value.")
@click.option("--env", multiple=True, help="KEY=VALUE for the container (repeatable).")
@click.option("--restart", default="Always", show_default=True, help="Always, OnFailure or Never.")
@click.option("--command", "as_command", is_flag=True, help="ARGS are the command, not the image's arguments.")
@click.option("--rm", "remove", is_flag=True, help="Delete the pod once its container has ended (with -i/-t/--attach).")
@click.option("-i", "--stdin", is_flag=True, help="Keep the container's stdin open and send yours to it.")
@click.option("-t", "--tty", is_flag=True, help="Run the container on a terminal of its own, attached to yours.")
@click.option("--attach", is_flag=True, help="Print the container's output until it ends.")
@dry_run_option
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(pod_name, image, port, labels, env, restart, as_command, remove, stdin, tty, attach, dry_run, namespace,
        lab_name, args):
    """Start a pod running IMAGE (like kubectl run NAME --image IMAGE [-- ARGS]).

    \b
      netlab run web --image nginx --port 80
      netlab run tmp --rm -i --restart=Never --image curlimages/curl -- curl -s web
    With -i your input goes to the container's stdin and with -t it runs on a terminal of its
    own (`run -it --rm tmp --image busybox -- sh` is a shell in a new pod); either prints the
    container's output until it ends, and --rm then deletes the pod."""
    from netlab import edits, inspect
    from netlab import lab as lab_mod
    _require_root()
    lab = _which_lab(lab_name)
    attached = stdin or tty or attach
    if remove and not attached:
        raise click.UsageError("--rm should only be used for attached containers")
    try:
        raw = edits.run_pod(pod_name, image, list(args), as_command, port, labels, list(env), restart,
                            stdin=stdin, tty=tty, namespace=namespace)
    except edits.EditError as err:
        raise lab_mod.LabError(str(err)) from None
    if not attached or dry_run not in (None, "none"):
        _commit(lab, [raw], "created", f"pod/{pod_name}", dry_run)
        return
    edits.commit(lab, [raw], "created", f"pod/{pod_name}")
    if tty:
        click.echo("If you don't see a command prompt, try pressing enter.", err=True)
    _wait_started(lab, pod_name, namespace)
    try:
        if tty:
            attached = inspect.attach(lab, pod_name, namespace, None, send_stdin=stdin)
        else:
            # without a terminal the whole output comes from the container's log (a quick command
            # may have printed before an attach could start); the attach only carries stdin
            attached = False
            if stdin:
                import threading
                sink = open(os.devnull, "wb")
                threading.Thread(target=inspect.attach, args=(lab, pod_name, namespace, None),
                                 kwargs={"stdout": sink}, daemon=True).start()
        if not attached:
            for chunk in inspect.follow_logs(lab, pod_name, namespace, None, 0):
                click.echo(chunk, nl=False)
    except KeyboardInterrupt:
        pass
    if remove:
        report = lab_mod.delete(lab, {("Pod", namespace, pod_name)}, grace=1.0)
        for line in report.objects_changed:
            output.echo(line)


@main.command()
@click.argument("pod", shell_complete=_complete("pod_names"))
@click.option("-c", "--container", help="Container of the pod (default: the first).")
@click.option("-i", "--stdin", is_flag=True, help="Send your input to the container's stdin.")
@click.option("-t", "--tty", is_flag=True, help="Your terminal is the container's (it was started with tty: true).")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def attach(pod, container, stdin, tty, namespace, lab_name):
    """Attach to a running container's main process (like kubectl attach): its output, and with -i
    your input, when its spec has stdin: true (and tty: true for a terminal)."""
    from netlab import inspect
    from netlab import lab as lab_mod
    _require_root()
    lab = _which_lab(lab_name)
    if not inspect.attach(lab, pod.split("/", 1)[-1], namespace, container, send_stdin=stdin):
        raise lab_mod.LabError(f"cannot attach to pod {pod}: its container was not started with stdin or tty, or "
                               "has ended (see `netlab logs`)")


def _wait_started(lab: str, pod_name: str, namespace: str, timeout: float = 60.0) -> str:
    """Wait until the pod's first container has started (or ended); its phase then."""
    import time
    from netlab import inspect
    from netlab import lab as lab_mod
    deadline = time.monotonic() + timeout
    while True:
        (pod,) = inspect.get_objects(lab, "Pod", namespace, [pod_name])
        statuses = pod["status"].get("containerStatuses") or []
        state = (statuses[0].get("state") or {}) if statuses else {}
        if "running" in state or "terminated" in state or pod["status"]["phase"] in ("Succeeded", "Failed"):
            return pod["status"]["phase"]
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in ("CreateContainerConfigError", "CrashLoopBackOff", "ErrImagePull"):
            raise lab_mod.LabError(f"pod {namespace}/{pod_name} did not start: {waiting['reason']}: "
                                   f"{waiting.get('message', '')}")
        if time.monotonic() > deadline:
            raise lab_mod.LabError(f"timed out waiting for the condition on pods/{pod_name}")
        time.sleep(0.05)


@main.command()
@name_option
@click.option("--all", "all_labs", is_flag=True, help="Remove every lab on this machine.")
def down(lab_name, all_labs):
    """Stop every process of a lab and remove every namespace and file it made."""
    from netlab import lab as lab_mod
    _require_root()
    labs = lab_mod.labs_up() if all_labs else [_which_lab(lab_name)]
    for lab in labs:
        removed = lab_mod.down(lab)
        output.echo(f"lab {lab!r} is down ({len(removed)} network namespaces removed)")


@main.command()
@click.argument("lab", required=False)
@click.option("--none", "clear", is_flag=True, help="Forget the current lab.")
def use(lab, clear):
    """Make LAB the lab every command acts on without --name, as `kubectl config use-context`
    does (a $NETLAB_LAB in the environment wins over it). Without LAB: print the current lab."""
    from netlab import names
    if clear:
        _require_root()
        names.use_lab(None)
        output.echo("no current lab")
        return
    if lab is None:
        current = names.current_lab()
        if current is None:
            raise click.ClickException("no current lab (choose one with `netlab use LAB`)")
        output.echo(current)
        return
    problem = names.check_lab_name(lab)
    if problem:
        raise click.ClickException(problem)
    _require_root()
    names.use_lab(lab)
    output.echo(f'Switched to lab "{lab}".')


@main.command()
@name_option
@click.option("-o", "--output", "fmt", type=click.Choice(["json"]), help="Machine-readable: one JSON object per lab.")
def status(lab_name, fmt):
    """Show the labs on this machine, or one lab's nodes, pods and supervisor."""
    import json
    from netlab import inspect
    from netlab import lab as lab_mod
    labs = lab_mod.labs_up()
    if not labs and not lab_name:
        output.echo("no lab is up (start one with `netlab up`)")
        return
    chosen = [lab_name] if lab_name else labs
    if fmt == "json":
        data = [inspect.status_data(lab) for lab in chosen]
        output.echo(json.dumps(data[0] if lab_name else data, indent=2, sort_keys=True))
        return
    for lab in chosen:
        try:
            output.echo(inspect.summary(lab))
        except _user_error_types() as err:
            if lab_name:
                raise
            # one lab that cannot be read (made by another netlab version, say) does not hide the others
            output.echo(f"lab {lab}: cannot be read: {' '.join(str(err).split())}")


@main.command()
@click.option("--iptables-backend", type=click.Choice(["restore", "python-iptables"]), default="restore")
def doctor(iptables_backend):
    """Check kernel features, iptables variants and tools; say what is missing and how to get it."""
    from netlab import doctor as doctor_mod
    checks = doctor_mod.run_checks(backend=iptables_backend)
    output.echo(doctor_mod.format_report(checks))
    if doctor_mod.missing_required(checks):
        sys.exit(1)


GETTABLE = ("Node", "Namespace", "Pod", "Service", "Endpoints", "EndpointSlice", "Event", "Deployment", "ReplicaSet",
            "ConfigMap", "Secret")
# what the API server has said of v1 Endpoints since v1.33 (kubectl prints it as a warning)
ENDPOINTS_DEPRECATED = "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
DESCRIBABLE = ("Pod", "Deployment", "ReplicaSet", "Service", "Endpoints", "EndpointSlice", "Node", "Namespace",
               "ConfigMap", "Secret")
GET_ALL = ("Pod", "Service", "Deployment", "ReplicaSet")     # what `kubectl get all` lists of these


def _get_requests(resource: str, names_: tuple) -> list:
    """kubectl's ways of naming what to get: `pods`, `pod,svc`, `all`, `pods NAME...`,
    `pod/NAME svc/NAME` -> [(kind, [names])] in the order given."""
    from netlab import lab as lab_mod

    def kind_of(word: str) -> str:
        kind = lab_mod.KIND_ALIASES.get(word.lower())
        if kind not in GETTABLE:
            raise lab_mod.LabError(f'the server doesn\'t have a resource type "{word}"')
        return kind

    if "/" in resource:
        requests: dict = {}
        for item in (resource, *names_):
            word, sep, name = item.partition("/")
            if not sep or not name:
                raise lab_mod.LabError("there is no need to specify a resource type as a separate argument when "
                                       "passing arguments in resource/name form (e.g. 'netlab get resource/<resource_name>' "
                                       "instead of 'netlab get resource resource/<resource_name>'")
            requests.setdefault(kind_of(word), []).append(name)
        return list(requests.items())
    kinds = []
    for word in resource.split(","):
        for kind in (GET_ALL if word.lower() == "all" else (kind_of(word),)):
            if kind not in kinds:
                kinds.append(kind)
    return [(kind, list(names_)) for kind in kinds]


@main.command()
@click.argument("resource", shell_complete=_complete("resource_types"))
@click.argument("names_", nargs=-1, metavar="[NAME]...", shell_complete=_complete("object_names"))
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-o", "--output", "fmt", metavar="FORMAT",
              help="wide, json, yaml, name, jsonpath=TEMPLATE or custom-columns=NAME:.path,...")
@click.option("--sort-by", help="Order by this field: a JSONPath such as .metadata.name or "
                                "'{.status.containerStatuses[0].restartCount}'.")
@click.option("--field-selector", help="Only objects whose fields match: metadata.name=web, status.phase!=Running, "
                                       "spec.nodeName=node1 (the fields the API server lets each kind select on).")
@click.option("-l", "--selector", help="Only objects whose labels match (app=web, app!=web, 'env in (a,b)', tier, !tier).")
@click.option("--show-labels", is_flag=True, help="A LABELS column, as kubectl's.")
@click.option("-L", "--label-columns", "label_columns", multiple=True,
              help="A column with each object's value of this label (repeatable, or KEY1,KEY2).")
@click.option("--no-headers", is_flag=True, help="No header line.")
@click.option("-w", "--watch", is_flag=True, help="After the list, print each object again when it changes "
                                                  "(each new event), until interrupted.")
@name_option
def get(resource, names_, namespace, all_namespaces, fmt, sort_by, field_selector, selector, show_labels, label_columns,
        no_headers, watch, lab_name):
    """List nodes, pods, services, endpoints, endpointslices, deployments, replicasets, configmaps, secrets or
    events like kubectl get: one kind, several (pod,svc), `all`, or TYPE/NAME arguments.

    -o wide shows each node's and pod's network namespace (for `ip netns exec`)."""
    from netlab import fieldselector, inspect, jsonpath, labelselector, printers
    from netlab import lab as lab_mod
    fmt, template = _output_format(fmt)
    lab = _which_lab(lab_name)
    requests = _get_requests(resource, names_)
    if any(kind == "Endpoints" for kind, _ in requests):
        output.warn(ENDPOINTS_DEPRECATED)
    try:
        matches = labelselector.parse(selector) if selector else None
    except labelselector.SelectorError as err:
        raise lab_mod.LabError(str(err)) from None
    found = []
    try:
        for kind, wanted in requests:
            objects = inspect.get_objects(lab, kind, None if all_namespaces else namespace, wanted)
            if matches:
                objects = [o for o in objects if matches((o.get("metadata") or {}).get("labels") or {})]
            if field_selector:
                fields = fieldselector.parse(field_selector, kind, label_selector=selector or "")
                objects = [o for o in objects if fields(o)]
            if sort_by:
                objects = jsonpath.sort_objects(objects, sort_by)
            found.append((kind, wanted, objects))
    except (fieldselector.FieldSelectorError, jsonpath.JSONPathError) as err:
        raise lab_mod.LabError(str(err)) from None
    if fmt in ("jsonpath", "custom-columns"):
        objects = [o for _, _, of_kind in found for o in of_kind]
        try:
            if fmt == "jsonpath":
                single = len(found) == 1 and len(found[0][1]) == 1 and len(objects) == 1
                click.echo(jsonpath.render(template, objects[0] if single else output.as_list(objects)), nl=False)
                return
            headers, rows = jsonpath.custom_columns(template, objects)
        except jsonpath.JSONPathError as err:
            raise lab_mod.LabError(str(err)) from None
        text = output.table(headers, rows)
        output.echo("\n".join(text.splitlines()[1:]) if no_headers else text)
        return
    if fmt in ("json", "yaml"):
        objects = [o for _, _, of_kind in found for o in of_kind]
        single = len(found) == 1 and len(found[0][1]) == 1 and len(objects) == 1
        output.echo(output.dump(objects[0] if single else output.as_list(objects), fmt))
        return
    if fmt == "name":
        for kind, _, objects in found:
            for obj in objects:
                output.echo(f"{lab_mod.resource_name(kind)}/{obj['metadata']['name']}")
        return
    if not any(objects for _, _, objects in found):
        where = "" if all(k in ("Node", "Namespace") for k, _, _ in found) or all_namespaces else f" in {namespace} namespace"
        click.echo(f"No resources found{where}.", err=True)
        return
    with_kind = len(found) > 1           # kubectl names each row's kind once several are listed
    tables = []
    for kind, _, objects in found:
        if not objects:
            continue
        headers, rows = printers.table_rows(kind, objects, wide=(fmt == "wide"), all_namespaces=all_namespaces)
        column = 1 if all_namespaces else 0
        if with_kind:
            rows = [row[:column] + [f"{lab_mod.resource_name(kind)}/{row[column]}"] + row[column + 1:]
                    for row in map(list, rows)]
        keys = [key for item in label_columns for key in item.split(",") if key]
        if keys and kind != "Event":
            # kubectl's header is the key's last path segment, upper-cased (-L kubernetes.io/hostname: HOSTNAME)
            headers = list(headers) + [key.rsplit("/", 1)[-1].upper() for key in keys]
            rows = [list(row) + [((obj.get("metadata") or {}).get("labels") or {}).get(key, "") for key in keys]
                    for row, obj in zip(rows, objects)]
        if show_labels and kind != "Event":
            headers = list(headers) + ["LABELS"]
            rows = [list(row) + [labelselector.format_labels((obj.get("metadata") or {}).get("labels"))]
                    for row, obj in zip(rows, objects)]
        text = output.table(headers, rows)
        tables.append("\n".join(text.splitlines()[1:]) if no_headers else text)
    output.echo("\n\n".join(tables))
    if watch and len(found) == 1:
        kind, wanted, _ = found[0]
        _watch(lab, kind, None if all_namespaces else namespace, wanted, fmt == "wide", all_namespaces,
               headers, rows)


OUTPUT_FORMATS = ("wide", "json", "yaml", "name")


def _output_format(fmt: str | None) -> tuple:
    """(format, template) from -o: `wide`, `json`, `jsonpath={.items[*].metadata.name}`, `custom-columns=...`."""
    from netlab import lab as lab_mod
    if fmt is None or fmt in OUTPUT_FORMATS:
        return fmt, None
    name, sep, template = fmt.partition("=")
    if name in ("jsonpath", "custom-columns") and sep and template:
        return name, template
    if name in ("jsonpath", "custom-columns"):
        raise lab_mod.LabError(f"{name} format specified but no {'template' if name == 'jsonpath' else 'custom columns'}"
                               " given")
    raise lab_mod.LabError(f'unable to match a printer suitable for the output format "{fmt}", allowed formats are: '
                           "custom-columns,json,jsonpath,name,wide,yaml")


def _watch(lab, kind, namespace, names_, wide, all_namespaces, headers, rows) -> None:
    """kubectl get -w: a row again for every object whose row changed, in the first list's columns."""
    import time
    from netlab import inspect, printers
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    first = 1 if all_namespaces else 0

    def identity(row):
        # an event is its type, reason, object and message; anything else is named in its first columns
        return repr(row[first + 1:]) if kind == "Event" else repr(row[:first + 1])

    def state(row):
        # what a change is: an event's count ("(x3 over 2m)"); for the rest every column but AGE
        return str(row[first]).partition("(x")[2].split(" ")[0] if kind == "Event" else repr(row[first + 1:-1])

    seen = {identity(r): state(r) for r in rows}
    try:
        while True:
            time.sleep(0.5)
            objects = inspect.get_objects(lab, kind, namespace, names_)
            _, now = printers.table_rows(kind, objects, wide=wide, all_namespaces=all_namespaces)
            for row in now:
                if seen.get(identity(row)) == state(row):
                    continue
                seen[identity(row)] = state(row)
                output.echo("   ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("resource", metavar="TYPE", shell_complete=_complete("resource_types"))
@click.argument("names_", nargs=-1, metavar="[NAME]...", shell_complete=_complete("object_names"))
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def describe(resource, names_, namespace, lab_name):
    """Show an object in detail, with its events, like kubectl describe (TYPE NAME or TYPE/NAME).

    Without a NAME, every object of that type in the namespace."""
    import time
    from netlab import describe as describe_mod
    from netlab import inspect
    from netlab import lab as lab_mod
    lab = _which_lab(lab_name)
    if "/" in resource and not names_:
        resource, _, name = resource.partition("/")
        names_ = (name,)
    kind = lab_mod.KIND_ALIASES.get(resource.lower())
    if kind not in DESCRIBABLE:
        raise lab_mod.LabError(f'the server doesn\'t have a resource type "{resource}"')
    if kind == "Endpoints":
        output.warn(ENDPOINTS_DEPRECATED)
    cluster_scoped = kind in ("Node", "Namespace")
    objects = inspect.get_objects(lab, kind, None if cluster_scoped else namespace, list(names_))
    events = inspect.get_objects(lab, "Event", None if cluster_scoped else namespace, [])
    related = {}
    if kind == "Node":
        related["pods"] = inspect.get_objects(lab, "Pod", None, [])
    if kind == "Deployment":
        related["replicasets"] = inspect.get_objects(lab, "ReplicaSet", namespace, [])
    elif kind == "ReplicaSet":
        related["pods"] = inspect.get_objects(lab, "Pod", namespace, [])
    elif kind == "Service":
        related["endpointslices"] = inspect.get_objects(lab, "EndpointSlice", namespace, [])
    if not objects:
        click.echo("No resources found." if cluster_scoped else f"No resources found in {namespace} namespace.",
                   err=True)
        return
    now = time.time()
    texts = [describe_mod.describe(kind, obj, related, events, now) for obj in objects]
    click.echo("\n\n".join(texts), nl=False)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("-i", "--stdin", is_flag=True, help="Pass your stdin to the command (it always is here).")
@click.option("-t", "--tty", is_flag=True, help="The command gets your terminal (it does whenever stdin is one).")
@click.option("-c", "--container", help="Container of the pod (default: the first).")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
@click.argument("target", shell_complete=_complete("pod_names"))
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def exec(stdin, tty, container, namespace, lab_name, target, command):
    """Run a command in a pod's container, a node or a client (kubectl exec [-it] POD -- CMD; as in
    kubectl, the command comes after `--`).

    \b
      netlab exec web-7d4b9c5f8-x2x5z -- curl -s localhost
      netlab exec -it pod/two-containers -c helper -- sh
      netlab exec deploy/web -- hostname
      netlab exec node/node1 -- iptables -t nat -S
      netlab exec client/client -- curl -s 172.18.0.2:30080

    The command runs in the container's namespaces with your terminal as its own, so -it gives a
    shell a real TTY (job control, line editing) as kubectl's does."""
    from netlab import inspect
    from netlab import lab as lab_mod
    _require_root()
    if "--" not in sys.argv[1:]:
        # kubectl v1.35 too: the command must come after `--` (cobra's ArgsLenAtDash)
        raise lab_mod.LabError("exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\n"
                               "See 'netlab exec -h' for help and examples")
    if tty and not sys.stdin.isatty():
        click.echo("Unable to use a TTY - input is not a terminal or the right kind of file", err=True)
    lab = _which_lab(lab_name)
    target = _pod_of_workload(lab, target, namespace)
    argv = inspect.exec_argv(lab, target, namespace, container, list(command))
    os.execvp(argv[0], argv)


def _pod_of_workload(lab: str, target: str, namespace: str, quiet: bool = False) -> str:
    """kubectl's TYPE/NAME for exec, logs and attach: deploy/NAME, rs/NAME and svc/NAME stand for
    one of their running pods (the first by name, as kubectl's attachablePodForObject picks)."""
    from netlab import inspect, labelselector
    from netlab import lab as lab_mod
    word, sep, name = target.partition("/")
    kind = lab_mod.KIND_ALIASES.get(word.lower()) if sep else None
    if kind not in ("Deployment", "ReplicaSet", "Service"):
        return target
    (obj,) = inspect.get_objects(lab, kind, namespace, [name])
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    wanted = selector if kind == "Service" else selector.get("matchLabels") or {}
    matches = labelselector.parse(",".join(f"{k}={v}" for k, v in sorted(wanted.items()))) if wanted else None
    pods = [p for p in inspect.get_objects(lab, "Pod", namespace, [])
            if matches and matches(p["metadata"].get("labels") or {}) and not p["metadata"].get("deletionTimestamp")]
    running = [p for p in pods if p["status"]["phase"] == "Running"] or pods
    if not running:
        raise lab_mod.LabError(f"no pods of {lab_mod.resource_name(kind)}/{name} are running")
    if len(pods) > 1 and not quiet:
        click.echo(f"Found {len(pods)} pods, using pod/{running[0]['metadata']['name']}", err=True)
    return f"pod/{running[0]['metadata']['name']}"


@main.command()
@click.argument("pod", required=False, shell_complete=_complete("pod_names"))
@click.option("-c", "--container", help="Container of the pod (default: the first).")
@click.option("-f", "--follow", is_flag=True, help="Go on printing what the container writes, until it ends.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines (default: all).")
@click.option("-p", "--previous", is_flag=True, help="The output of the container's previous run (before its last restart).")
@click.option("--since", metavar="DURATION",
              help="Only lines newer than a relative duration like 5s, 2m, or 3h. Only one of since-time / since may be used.")
@click.option("--since-time", metavar="TIME",
              help="Only lines written at or after a date (RFC3339). Only one of since-time / since may be used.")
@click.option("--timestamps", is_flag=True, help="Begin each line with the time it was written (RFC3339, nanoseconds).")
@click.option("--limit-bytes", type=int, default=0, help="At most this many bytes of output (default: all).")
@click.option("--prefix", is_flag=True, help="Begin each line with its source (pod name and container name).")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--system", is_flag=True, help="The lab supervisor's own log instead (POD is then not needed).")
@name_option
def logs(pod, container, follow, tail, previous, since, since_time, timestamps, limit_bytes, prefix, namespace,
         system, lab_name):
    """Print a container's output (kept after it exits and across restarts, with --previous):
    POD, pod/NAME, or deploy/NAME (one of its pods, as kubectl picks). Each line's time is when the
    container's init read it, as kubelet stamps the CRI log."""
    from netlab import inspect
    from netlab import lab as lab_mod
    since_ns = _since_cutoff(since, since_time)
    if limit_bytes < 0:
        raise lab_mod.LabError("--limit-bytes must be greater than 0")
    if tail < -1:
        raise lab_mod.LabError("--tail must be greater than or equal to -1")
    if system:
        from netlab import supervisor
        path = supervisor.info(_which_lab(lab_name))["log"]
        try:
            click.echo(open(path).read(), nl=False)
        except FileNotFoundError:
            raise lab_mod.LabError(f"no supervisor log at {path}") from None
        return
    if pod is None:
        raise click.UsageError("say which pod: netlab logs POD (or --system for the supervisor's log)")
    lab = _which_lab(lab_name)
    pod = _pod_of_workload(lab, pod, namespace)
    text, size, chosen = inspect.logs(lab, pod, namespace, container, previous=previous, tail=tail,
                                      since_ns=since_ns, timestamps=timestamps, limit_bytes=limit_bytes or None)
    source = f"[pod/{pod.split('/', 1)[-1]}/{chosen}] " if prefix else ""
    click.echo(_prefixed(text, source), nl=False)
    if follow and not previous and not limit_bytes:
        try:
            for chunk in inspect.follow_logs(lab, pod, namespace, container, size, timestamps=timestamps):
                click.echo(_prefixed(chunk, source), nl=False)
        except KeyboardInterrupt:
            pass


def _prefixed(text: str, source: str) -> str:
    """TEXT with SOURCE before each line (kubectl logs --prefix)."""
    if not source or not text:
        return text
    return "".join(source + line for line in text.splitlines(keepends=True))


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)")


def _since_cutoff(since: str | None, since_time: str | None) -> int | None:
    """The time (ns) from which `logs --since` / `--since-time` prints lines, as kubectl computes it."""
    import datetime
    from netlab import lab as lab_mod
    from netlab.manifest.lab import parse_duration
    if since is not None and since_time is not None:
        raise lab_mod.LabError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    if since is not None:
        seconds = parse_duration(since)
        if seconds is None:
            raise lab_mod.LabError(f'invalid argument "{since}" for "--since" flag: time: invalid duration "{since}"')
        # kubectl rounds to the nearest second (ToLogOptions); 0 means all
        seconds = int(seconds + 0.5)
        return None if seconds == 0 else time.time_ns() - seconds * 1_000_000_000
    if since_time is not None:
        m = _RFC3339.fullmatch(since_time)
        if not m:
            raise lab_mod.LabError(f'parsing time "{since_time}" as "2006-01-02T15:04:05Z07:00": not an RFC 3339 time')
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        zone = m.group(8)
        offset = datetime.timedelta(0) if zone in "Zz" else \
            (1 if zone[0] == "+" else -1) * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone(offset))
        return int(moment.timestamp()) * 1_000_000_000 + int((m.group(7) or "0").ljust(9, "0"))
    return None


@main.command("port-forward")
@click.argument("target", metavar="POD|TYPE/NAME", shell_complete=_complete("pod_names"))
@click.argument("ports", nargs=-1, required=True, metavar="[LOCAL:]REMOTE...")
@click.option("--address", default="localhost", show_default=True,
              help="Where to listen on the host: localhost or a loopback address (127.0.0.1).")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def port_forward(target, ports, address, namespace, lab_name):
    """Forward local ports to a pod (like kubectl port-forward), until interrupted.

    \b
      netlab port-forward pod/web 8080:80      # curl 127.0.0.1:8080 reaches the pod's port 80
      netlab port-forward svc/web :80          # a free local port to one of the Service's pods
    Each connection is made from inside the pod's network namespace to its localhost, as the
    kubelet's runtime does; the host gets only a listening socket on 127.0.0.1."""
    from netlab import portforward
    _require_root()
    portforward.port_forward(_which_lab(lab_name), target, namespace, list(ports), address=address,
                             echo=output.echo)


@main.command()
@click.argument("source", metavar="FROM")
@click.argument("dest", metavar="DEST[:PORT]")
@click.option("--proto", type=click.Choice(["tcp", "udp", "sctp"]), default=None,
              help="The protocol (default: the Service port's, else tcp).")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Every rule passed, and each endpoint's whole path.")
@click.option("-6", "--ipv6", is_flag=True,
              help="IPv6 (a dual-stack lab): names stand for their IPv6 addresses, e.g. a Service's IPv6 cluster IP. "
                   "A lab whose first family is IPv6 takes it without -6.")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def explain(source, dest, proto, fmt, verbose, ipv6, namespace, lab_name):
    """Why a packet goes where it goes, predicted from the live rules of every namespace it crosses:
    each hook and table, each rule matched (its own -A line), the DNAT choices with their
    probabilities, masquerade or not and why, the routing, and where it ends.

    \b
      netlab explain curl svc/web              # FROM: POD, pod/NAME, node/NAME, client/NAME or an IP
      netlab explain client/client 172.18.0.3:30080
      netlab explain curl web -o json          # verdict, endpoints, masquerade, hops
    """
    from netlab import explain as explain_mod
    _require_root()
    result = explain_mod.explain(_which_lab(lab_name), source, dest, protocol=proto, namespace=namespace, ipv6=ipv6)
    if fmt == "json":
        output.echo(output.dump(explain_mod.to_json(result), "json"))
    else:
        output.echo(explain_mod.format_text(result, verbose=verbose))


@main.command()
@click.argument("source", metavar="FROM")
@click.argument("dest", metavar="DEST[:PORT]")
@click.option("--proto", type=click.Choice(["tcp", "udp"]), default=None,
              help="The protocol (default: the Service port's, else tcp).")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--wait", type=float, default=1.0, show_default=True,
              help="Seconds to wait for an answer before the connection counts as unanswered.")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def trace(source, dest, proto, fmt, wait, namespace, lab_name):
    """Send one real connection and show what the kernel did with it (nftables tracing in every
    namespace on its path, each event mapped back to its iptables rule line, or in nftables mode
    to its rule of ip kube-proxy as `nft list table` prints it), beside `explain`'s
    prediction: the same path, or the first difference, and the endpoint the kernel chose.
    The trace rules (`table ip netlab-trace`) are removed afterwards.

    
      netlab trace curl svc/web                # same FROM/DEST forms as explain
      netlab trace client/client 172.18.0.3:30080 -o json    # adds chosen, matchesExplain
    """
    from netlab import trace as trace_mod
    _require_root()
    result = trace_mod.trace(_which_lab(lab_name), source, dest, protocol=proto, namespace=namespace, wait=wait)
    if fmt == "json":
        output.echo(output.dump(trace_mod.to_json(result), "json"))
    else:
        output.echo(trace_mod.format_text(result))


@main.command()
@click.option("-o", "--output", "fmt", type=click.Choice(["html", "svg", "png", "dot"]), default="html",
              show_default=True)
@click.option("--output-file", "--file", "output_file", type=click.Path(dir_okay=False),
              help="Where to write it (default: LAB-graph.FORMAT here).")
@click.option("--trace", nargs=2, metavar="FROM DEST", help="Draw `netlab explain FROM DEST`'s path over it.")
@click.option("-n", "--namespace", default="default", show_default=True, help="FROM's and DEST's namespace.")
@name_option
def graph(fmt, output_file, trace, namespace, lab_name):
    """Draw the lab: the underlay and clients, each node (IP, cni0, pod CIDR, routes), each pod
    (IP, containers, veth), each Service (ClusterIP, ports, nodePorts) with arrows to its endpoints;
    with --trace, a packet's predicted path over it. One file to open (html: self-contained)."""
    from netlab import graph as graph_mod
    _require_root()
    lab = _which_lab(lab_name)
    path = None
    if trace:
        from netlab import explain as explain_mod
        path = explain_mod.to_json(explain_mod.explain(lab, trace[0], trace[1], namespace=namespace))
    _, summary = graph_mod.render(lab, fmt, output_file, path)
    output.echo(summary)


@main.command()
@click.argument("node")
@click.option("-t", "--table", type=click.Choice(["nat", "filter"]), help="Only this table.")
@click.option("--service", help="Only the chains and rules this Service owns, in the order a packet meets them.")
@click.option("--all-modes", is_flag=True,
              help="With --service: that Service as kube-proxy writes it in iptables, nftables and IPVS mode, "
                   "side by side (rendered for this node from the lab's objects).")
@click.option("-n", "--namespace", default="default", show_default=True, help="The --service's namespace.")
@click.option("--family", type=click.Choice(["IPv4", "IPv6"]),
              help="Which proxier's rules (default: the lab's primary family's): a dual-stack lab's nodes have "
                   "both (IPv6: ip6tables-save, ip6 kube-proxy).")
@name_option
def rules(node, table, service, all_modes, namespace, family, lab_name):
    """Print a node's live iptables rules (iptables-save inside its namespace; nftables mode: its
    ip kube-proxy table; --family IPv6: ip6tables-save, or the ip6 kube-proxy table).

    \b
      netlab rules node1 --service web     # KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP, KUBE-NODEPORTS -> KUBE-EXT ...
      netlab rules node1 --service web --all-modes   # the same Service in iptables, nftables and IPVS form
      netlab rules node1 --family IPv6     # a dual-stack lab's IPv6 rules (an IPv6-first one's by default)
    """
    from netlab import inspect
    _require_root()
    lab = _which_lab(lab_name)
    if all_modes:
        if not service:
            raise click.UsageError("--all-modes shows one Service: add --service NAME")
        click.echo(inspect.service_in_all_modes(lab, node, namespace, service.split("/", 1)[-1]), nl=False)
        return
    text = inspect.rules(lab, node, table, family)
    if service:
        from netlab.proxy.service_rules import nft_service_rules, service_rules
        inspect.get_objects(lab, "Service", namespace, [service.split("/", 1)[-1]])      # NotFound if it is not
        owned = nft_service_rules if text.startswith("table ") else service_rules      # nftables mode's table
        text = owned(text, namespace, service.split("/", 1)[-1])
    click.echo(text, nl=False)


@main.command()
@click.argument("node", required=False)
@click.option("--service", help="Only the connections to this Service (its addresses, nodePorts or endpoints).")
@click.option("-n", "--namespace", default="default", show_default=True, help="The --service's namespace.")
@name_option
def conntrack(node, service, namespace, lab_name):
    """The nodes' connection tracking tables (or NODE's), one connection a line, with the pod,
    Service and node names beside the addresses, and the NAT each entry shows (DNAT to the endpoint
    kube-proxy chose, SNAT of a masqueraded source)."""
    from netlab import conntrack as conntrack_mod
    _require_root()
    for line in conntrack_mod.conntrack(_which_lab(lab_name), node, service, namespace):
        output.echo(line)


@main.command()
@click.option("--from", "source", required=True, metavar="TARGET",
              help="Where requests start: POD, pod/NAME, node/NAME or client/NAME.")
@click.argument("dest")
@click.option("--count", default=100, show_default=True, help="How many requests (each a new connection).")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def probe(source, dest, count, namespace, lab_name):
    """Send requests to DEST and show hits per endpoint beside kube-proxy's expected share.

    \b
    DEST is a Service name (SERVICE or SERVICE:PORT), IP:PORT, or node/NAME:NODEPORT.
      netlab probe --from curl web --count 1000
      netlab probe --from client/client node/node2:30080 --count 200
    The verdict is a chi-square test of the hits against the shares at p = 0.001, over the
    answered requests; requests without an answer are counted apart, by what went wrong.
    """
    from netlab import probe as probe_mod
    _require_root()
    result = probe_mod.probe(_which_lab(lab_name), source, dest, count, namespace)
    output.echo(f"{count} requests from {result.source} to {result.destination} (enters at {result.ingress_node})")
    rows = []
    keys = list(result.expected) + [k for k in result.hits if k not in result.expected]
    total = (sum(result.hits.values()) - result.failed) or 1     # shares of the answered requests
    for key in keys:
        if key.startswith("(no answer"):
            continue
        pod = result.pod_names.get(key.rpartition(":")[0].strip("[]"), "")
        share = result.expected.get(key)
        rows.append([key, pod, result.hits.get(key, 0), f"{100.0 * result.hits.get(key, 0) / total:.1f}%",
                     f"{100.0 * share:.1f}%" if share is not None else "-"])
    output.echo(output.table(["ENDPOINT", "POD", "HITS", "SHARE", "EXPECTED"], rows))
    if result.failed:
        kinds = ", ".join(f"{n} {k[len('(no answer: '):-1]}" for k, n in result.hits.items()
                          if k.startswith("(no answer"))
        output.echo(f"{result.failed} of {count} requests got no answer ({kinds}); the shares and the verdict "
                    "count the answered ones")
    if result.verdict in ("DROP", "REJECT"):
        output.echo(f"kube-proxy's rules {result.verdict} this traffic on {result.ingress_node}")
    if result.affinity:
        output.echo("sessionAffinity: ClientIP: every request from one client should reach one endpoint")
    elif result.fit is not None:
        word = "consistent with" if result.fit.passed else "NOT consistent with"
        output.echo(f"chi-square {result.fit.statistic:.2f}, {result.fit.dof} dof, p = {result.fit.p_value:.4f}: "
                    f"{word} kube-proxy's shares at p = {result.fit.alpha}")


@main.command()
@click.argument("target", metavar="deployment/NAME|replicaset/NAME")
@click.option("--replicas", type=int, required=True, help="The number of pods wanted.")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
@record_option
def scale(target, replicas, namespace, lab_name):
    """Set a Deployment's or ReplicaSet's replicas (like kubectl scale)."""
    from netlab import rollouts
    _require_root()
    output.echo(rollouts.scale(_which_lab(lab_name), target, namespace, replicas, cause=_change_cause()))


@main.group("set")
def set_group():
    """Change a field of a workload (like kubectl set)."""


@set_group.command("image")
@click.argument("target", metavar="deployment/NAME")
@click.argument("assignments", nargs=-1, required=True, metavar="CONTAINER=IMAGE...")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
@record_option
def set_image(target, assignments, namespace, lab_name):
    """Change containers' images; a Deployment rolls its pods to the new template."""
    from netlab import rollouts
    _require_root()
    output.echo(rollouts.set_image(_which_lab(lab_name), target, namespace, list(assignments), cause=_change_cause()))


@main.group()
def rollout():
    """Follow and steer a Deployment's rollouts (like kubectl rollout)."""


@rollout.command("status")
@click.argument("target", metavar="deployment/NAME")
@click.option("-w", "--watch", type=bool, default=True, show_default=True, help="Wait until the rollout is done.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait.")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def rollout_status(target, watch, timeout, namespace, lab_name):
    """Print the rollout's progress until it has finished."""
    from netlab import rollouts
    for line in rollouts.status_lines(_which_lab(lab_name), target, namespace, watch=watch, timeout=timeout):
        output.echo(line)


@rollout.command("history")
@click.argument("target", metavar="deployment/NAME")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def rollout_history(target, namespace, lab_name):
    """List the revisions a Deployment keeps."""
    from netlab import rollouts
    kind, name = rollouts.parse_target(target, ("Deployment",))
    rows = rollouts.history(_which_lab(lab_name), target, namespace)
    output.echo(f"{rollouts.resource_name(kind)}/{name} ")
    output.echo(output.table(["REVISION", "CHANGE-CAUSE"], [[r, c or "<none>"] for r, c in rows]))
    output.echo("")


@rollout.command("undo")
@click.argument("target", metavar="deployment/NAME")
@click.option("--to-revision", type=int, default=0, help="The revision to go back to (default: the previous one).")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def rollout_undo(target, to_revision, namespace, lab_name):
    """Go back to an earlier revision's pod template."""
    from netlab import rollouts
    _require_root()
    output.echo(rollouts.undo(_which_lab(lab_name), target, namespace, to_revision))


@rollout.command("restart")
@click.argument("target", metavar="deployment/NAME")
@click.option("-n", "--namespace", default="default", show_default=True)
@name_option
def rollout_restart(target, namespace, lab_name):
    """Replace every pod of a Deployment by a rolling update."""
    from netlab import rollouts
    _require_root()
    output.echo(rollouts.restart(_which_lab(lab_name), target, namespace))


def _print_changes(report) -> None:
    """kubectl's object lines, then what happened to pods and rules."""
    for warning in report.warnings:
        output.warn(warning)
    for item in report.objects_changed + report.objects_unchanged:
        output.echo(item)
    for item in report.not_gone:
        output.warn(f"pod {item} is still terminating")
    for item in report.pending:
        pod, _, why = item.partition(": ")
        if why.startswith(("ContainerCreating: ", "CreateContainerConfigError: ")):   # waiting for its objects
            reason, _, message = why.partition(": ")
            output.warn(f"pod/{pod.split('/', 1)[1]} is {reason}: {message}")
        else:
            output.echo(f"pod/{pod.split('/', 1)[1]} is Pending")
    for item in report.not_ready:
        output.warn(item)
    if report.created:
        output.echo(f"{len(report.created)} pod(s) started")
    if report.rules_synced:
        output.echo(f"kube-proxy rules loaded on {', '.join(report.rules_synced)}")
    if report.rules_deferred_until is not None:
        import time
        wait = max(0.0, report.rules_deferred_until - time.time())
        output.echo(f"kube-proxy rules follow within {wait:.1f}s (kube-proxy syncs at most once per minSyncPeriod)")
    if not report.changed and not report.objects_changed and not report.rules_synced:
        output.echo("nothing to change")


def _print_up_report(report) -> None:
    from netlab import inspect
    from netlab import lab as lab_mod
    _print_changes(report)
    try:
        summary, steps = inspect.summary(report.lab), inspect.next_steps(report.lab)
    except lab_mod.LabError:
        # a `down` took the lab's lock the moment this `up` let go of it: the up did its work
        output.echo(f"\nlab {report.lab!r} was up ({report.seconds:.2f}s); another command has taken it down since")
        return
    output.echo("")
    output.echo(summary)
    output.echo("")
    output.echo(f"lab {report.lab!r} is up ({report.seconds:.2f}s). Try:")
    for line in steps:
        output.echo(f"  {line}")


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell):
    """Print the shell completion script (commands, flags, resource types and the lab's object names).

    \b
      source <(netlab completion bash)          # this shell
      netlab completion bash > /etc/bash_completion.d/netlab
      netlab completion zsh > "${fpath[1]}/_netlab"
    """
    from netlab import completion as completion_mod
    output.echo(completion_mod.script(main, shell))


def _register_subcommands():
    from netlab.proxy.cli import proxy

    main.add_command(proxy)


_register_subcommands()
