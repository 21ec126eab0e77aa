"""`netlab proxy`: kube-proxy's rules for Kubernetes objects, without a cluster: `render` (iptables,
nftables or IPVS mode) and `compare` (one Service in all three)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

import click
import yaml

from netlab.proxy.model import IPV4, IPV6, MARK_PADDED, MARK_STYLES, RenderInput
from netlab.proxy.objects import (Inventory, canonical_cidr, canonical_ip,
                                  render_input_from_inventory)
from netlab.proxy.render import render

_SUFFIXES = (".yaml", ".yml", ".json")


def _read_documents(path: str) -> List[Tuple[str, List[Any]]]:
    """(source, documents) for a file, every YAML/JSON file of a folder, or "-" (stdin)."""
    if path == "-":
        return [("<stdin>", _parse("<stdin>", sys.stdin.read()))]
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in _SUFFIXES)
        if not files:
            raise click.ClickException(f"{path}: no .yaml, .yml or .json files in this folder")
    elif p.is_file():
        files = [p]
    else:
        raise click.ClickException(f"{path}: no such file or folder")
    out = []
    for f in files:
        try:
            text = f.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise click.ClickException(f"{f}: cannot read: {e}") from None
        out.append((str(f), _parse(str(f), text)))
    return out


def _parse(source: str, text: str) -> List[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise click.ClickException(f"{where}: not valid YAML: {problem}") from None


def _input_options(command: Callable) -> Callable:
    """The options every command that renders for one node takes (objects, node, settings)."""
    options = [
        click.option("-f", "--filename", "paths", multiple=True, required=True, metavar="FILE",
                     help="YAML/JSON file, folder of them, or - for stdin (repeatable). Multi-document "
                          "files and `kubectl -o yaml` Lists are read."),
        click.option("--node", required=True, help="The node to render for (endpoints on it are local)."),
        click.option("--node-ip", "node_ips", multiple=True, metavar="IP",
                     help="The node's IPs (repeatable); default: the InternalIP addresses of the Node "
                          "object named NODE."),
        click.option("--cluster-cidr", metavar="CIDR",
                     help="Pod CIDR(s) for local-traffic detection; default: the "
                          "KubeProxyConfiguration's clusterCIDR."),
        click.option("--family", type=click.Choice([IPV4, IPV6]), default=IPV4, show_default=True,
                     help="IP family (kube-proxy runs one proxier per family)."),
        click.option("--mark-style", type=click.Choice(MARK_STYLES), default=MARK_PADDED,
                     show_default=True,
                     help="padded: 0x00004000 as kube-proxy writes it; short: 0x4000 as its unit tests."),
        click.option("--random-fully/--no-random-fully", default=True, show_default=True,
                     help="MASQUERADE --random-fully (kube-proxy adds it for iptables >= 1.6.2)."),
        click.option("--nfacct/--no-nfacct", default=True, show_default=True,
                     help="Whether the nfacct counters exist (their -m nfacct matches need them)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _load(paths: Sequence[str], node: str, node_ips: Sequence[str], cluster_cidr: Optional[str],
          family: str, mark_style: str, random_fully: bool, nfacct: bool) -> Tuple[RenderInput, Inventory]:
    """Read the files, check the options, build the render input; warnings go to stderr."""
    ips = []
    for ip in node_ips:
        if canonical_ip(ip) is None:
            raise click.ClickException(f"--node-ip {ip!r}: not an IP address")
        ips.append(canonical_ip(ip))
    if cluster_cidr is not None:
        for cidr in cluster_cidr.split(","):
            if canonical_cidr(cidr) is None:
                raise click.ClickException(f"--cluster-cidr {cidr!r}: not a CIDR (e.g. 10.244.0.0/16)")
    inventory = Inventory()
    for path in paths:
        for source, documents in _read_documents(path):
            inventory.add(documents, source)
    try:
        data = render_input_from_inventory(
            inventory, node, family,
            node_ips=tuple(ips) or None, cluster_cidr=cluster_cidr, mark_style=mark_style,
            random_fully=random_fully, nfacct=nfacct)
    except ValueError as e:  # a configuration ProxyConfig rejects
        raise click.ClickException(str(e)) from None
    for warning in data.warnings:
        click.echo(f"warning: {warning}", err=True)
    return data, inventory


@click.group("proxy")
def proxy():
    """kube-proxy's iptables, nftables or IPVS mode, rendered from plain Kubernetes objects."""


@proxy.command("render")
@_input_options
@click.option("--mode", type=click.Choice(["iptables", "nftables", "ipvs"]), default="iptables", show_default=True,
              help="kube-proxy's mode: iptables-restore input, the nft -f transaction of a first sync, or "
                   "IPVS mode's kube-ipvs0 addresses, ipvsadm-save, ipset save and iptables text.")
@click.option("--service-cidr", "service_cidrs", multiple=True, metavar="CIDR",
              help="nftables mode: the service CIDR(s), so traffic to unallocated ClusterIPs is dropped.")
@click.option("--whole-tables", is_flag=True,
              help="Print whole filter/nat tables (built-in chains and kube-proxy's jump rules "
                   "included) for a plain iptables-restore into an empty namespace; add "
                   "--no-nfacct unless that namespace has the nfacct counters.")
def render_command(paths, node, node_ips, cluster_cidr, family, mark_style, random_fully,
                   nfacct, mode, service_cidrs, whole_tables):
    """Print the iptables-restore input kube-proxy writes on NODE for the given objects (or with
    --mode nftables the nft transaction of its first sync: the ip kube-proxy table; with --mode
    ipvs what IPVS mode writes, in sections: rendered only, as this kernel has no IP_VS).

    Reads v1 Service, discovery.k8s.io/v1 EndpointSlice, v1 Node and
    kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration objects, alone or in v1 Lists.
    Unset fields default as the API server and kube-proxy default them; objects that
    cannot be used are named on stderr with the reason.

    \b
    Example, for objects taken from a real cluster:
      kubectl get svc,endpointslices,nodes -A -o yaml > cluster.yaml
      kubectl -n kube-system get cm kube-proxy \\
          -o jsonpath='{.data.config\\.conf}' > kube-proxy.yaml
      netlab proxy render -f cluster.yaml -f kube-proxy.yaml --node worker-1

    \b
    Without a Node object or KubeProxyConfiguration:
      netlab proxy render -f manifests/ --node node1 \\
          --node-ip 172.18.0.2 --cluster-cidr 10.244.0.0/16
    """
    if whole_tables and mode == "ipvs":
        raise click.ClickException("--whole-tables is for --mode iptables")
    data, _ = _load(paths, node, node_ips, cluster_cidr, family, mark_style, random_fully, nfacct)
    if mode == "nftables":
        from netlab.proxy.nft_render import render_nft
        nft = render_nft(data.config, data.service_ports, data.endpoints, service_cidrs=tuple(service_cidrs))
        click.echo(nft.to_transaction(), nl=False)
        return
    if mode == "ipvs":
        from netlab.proxy.ipvs_render import render_ipvs
        click.echo(render_ipvs(data.config, data.service_ports, data.endpoints).to_text(), nl=False)
        return
    ruleset = render(data.config, data.service_ports, data.endpoints)
    click.echo(ruleset.to_restore_text(include_builtin_jumps=whole_tables), nl=False)


@proxy.command("compare")
@_input_options
@click.option("--service-cidr", "service_cidrs", multiple=True, metavar="CIDR",
              help="The service CIDR(s), for nftables mode's drop of unallocated ClusterIPs.")
@click.argument("service", metavar="SERVICE")
def compare_command(paths, node, node_ips, cluster_cidr, family, mark_style, random_fully,
                    nfacct, service_cidrs, service):
    """Print what kube-proxy writes on NODE for one SERVICE (NAME or NAMESPACE/NAME; namespace
    default) in iptables, nftables and IPVS mode, one after the other, each headed by how a
    packet finds its endpoint there.

    \b
    Example:
      netlab proxy compare -f manifests/ --node node1 --node-ip 172.18.0.2 \\
          --cluster-cidr 10.244.0.0/16 default/web
    """
    from netlab.proxy.compare import UnknownService, compare_service, parse_service

    try:
        namespace, name = parse_service(service)
    except ValueError as e:
        raise click.ClickException(f"SERVICE {e}") from None
    data, inventory = _load(paths, node, node_ips, cluster_cidr, family, mark_style, random_fully, nfacct)
    try:
        comparison = compare_service(data, namespace, name, service_cidrs=tuple(service_cidrs))
    except UnknownService as e:
        known = any(((svc.get("metadata") or {}).get("namespace") or "default",
                     (svc.get("metadata") or {}).get("name")) == (namespace, name)
                    for svc, _ in inventory.services)
        if known:
            raise click.ClickException(
                f"Service {namespace}/{name}: kube-proxy writes no {family} rules for it (headless, "
                "ExternalName, no ports, or no cluster IP of this family; see the warnings)") from None
        raise click.ClickException(str(e)) from None
    click.echo(comparison.to_text(), nl=False)
