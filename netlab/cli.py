"""The `netlab` command: a thin click shell over the core (kubectl-shaped)."""

import click

from netlab import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netlab")
def main():
    """Build Kubernetes Service networking from real Linux namespaces, veths, bridges and
    kube-proxy's iptables rules, from unmodified Kubernetes YAML."""


def _register_subcommands():
    from netlab.proxy.cli import proxy

    main.add_command(proxy)


try:
    _register_subcommands()
except ImportError:  # pragma: no cover - while the proxy package is being built
    pass
