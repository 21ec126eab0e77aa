#!/usr/bin/env bash
# Install what netlab needs on a Debian/Ubuntu machine (as root), then optionally act:
#   scripts/setup.sh up      install, then bring up the default lab from manifests/
#   scripts/setup.sh test    install, then run the whole test suite
#   scripts/setup.sh         install only
# Safe to re-run: it installs only what is missing. The venv lives in .venv/ of this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  # netlab builds network namespaces: as a sudo user the same command works through sudo
  if command -v sudo >/dev/null 2>&1; then
    exec sudo "$0" "$@"
  fi
  echo "setup.sh: run as root (netlab builds network namespaces)" >&2
  exit 1
fi

need_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2"); }
need ip iproute2
need iptables iptables
need iptables-legacy iptables
need conntrack conntrack
need curl curl
need tcpdump tcpdump
need ps procps
need gcc gcc
# containers: busybox applets for busybox/alpine images, catatonit as each pod's pause process
need busybox busybox
need catatonit catatonit
# cluster DNS: unbound in the kube-system DNS pods; dig, nslookup and host in containers
need unbound unbound
need unbound-control unbound
need dig bind9-dnsutils
# seeing inside: nft for kernel traces (nft monitor trace), Graphviz for `netlab graph`, headless
# Chromium for the tests that open graph's HTML page in a real browser
need nft nftables
# IPVS mode, rendered: its ipset text restores into a throwaway namespace in the tests
need ipset ipset
need dot graphviz
need chromium chromium
# a lab across machines keeps its state in etcd (the tests start their own, on 127.0.0.1)
need etcd etcd-server
python3 -m venv --help >/dev/null 2>&1 || need_pkgs+=(python3-venv)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_pkgs+=(python3-venv)
python3 -c 'import sysconfig,os,sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")) else 1)' \
  || need_pkgs+=(python3-dev)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # No package may start a daemon on the host (unbound would listen on the host's port 53 and
  # take over its resolv.conf): a policy-rc.d that refuses every start, for this install only.
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# setup.sh of netlab: no service starts while it installs packages\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  trap '[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  own_policy=
  # netlab runs unbound only inside its DNS pods: the service this install enabled stays off
  if [[ " ${need_pkgs[*]} " == *" unbound "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable unbound.service unbound-resolvconf.service >/dev/null 2>&1 || true
  fi
  # and etcd runs where a lab is given one (`etcd` by hand, or the tests' own): not at every boot
  if [[ " ${need_pkgs[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable etcd.service >/dev/null 2>&1 || true
  fi
fi

# br_netfilter: built into some kernels, a module on others. Loading it is the one host-level change.
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  modprobe br_netfilter 2>/dev/null || echo "setup.sh: warning: br_netfilter unavailable; same-node Service traffic will not work" >&2
fi

if [ ! -x .venv/bin/netlab ] || [ pyproject.toml -nt .venv/.installed ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  touch .venv/.installed
fi
# Byte-compile once, so that commands start fast even where PYTHONDONTWRITEBYTECODE is set.
.venv/bin/python -m compileall -q netlab .venv/lib/python3*/site-packages >/dev/null 2>&1 || true

case "${1:-}" in
  up)   shift; exec .venv/bin/netlab up "$@" ;;
  test) shift; exec .venv/bin/python -m pytest -q -n 2 --dist loadfile "$@" ;;   # two workers, a test file each
  "")   echo "setup.sh: ready: .venv/bin/netlab --help" ;;
  *)    echo "setup.sh: unknown action '$1' (use: up | test)" >&2; exit 2 ;;
esac
