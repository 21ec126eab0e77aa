"""A partial sync that looks only at the changed Services writes what the whole walk writes.

NftRuleset.updated() re-plans only the Services handed to it (kube-proxy's change trackers hand
its sync only what changed), and sync() then walks only those (_partial). Both must give exactly
what render_nft() of everything and syncProxyRules' walk over every Service give
(sync(reference=True)): the same ruleset, the same transaction text in the same order, the same
stale chains and the same table after it. Random changes of every kind, seeded, many rounds.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from netlab.proxy.model import Endpoint, LoadBalancerIngress, ProxyConfig, ServicePort
from netlab.proxy.nft_render import render_nft

NODE = "node1"
CONFIG = ProxyConfig(node_name=NODE, node_ips=("172.18.0.2",), cluster_cidr="10.100.0.0/14", nfacct=False)
CIDRS = ("10.96.0.0/16",)


def _service(rng: random.Random, i: int) -> list:
    name = f"svc{i}"
    kind = rng.choice(["ClusterIP", "ClusterIP", "NodePort", "LoadBalancer"])
    common = dict(type=kind, cluster_ip=f"10.96.0.{i + 1}",
                  session_affinity=rng.choice(["None", "None", "ClientIP"]),
                  internal_traffic_policy=rng.choice(["Cluster", "Cluster", "Local"]),
                  external_ips=(f"192.168.99.{i + 1}",) if rng.random() < 0.2 else ())
    if kind != "ClusterIP":
        common["external_traffic_policy"] = rng.choice(["Cluster", "Local"])
    if kind == "LoadBalancer":
        common["load_balancer_ingress"] = (LoadBalancerIngress(f"5.6.7.{i + 1}"),)
        if rng.random() < 0.5:
            common["load_balancer_source_ranges"] = ("203.0.113.0/25",)
    ports = []
    for n, (pname, proto, port) in enumerate(rng.sample([("http", "TCP", 80), ("dns", "UDP", 53),
                                                         ("https", "TCP", 443)], rng.choice([1, 1, 2]))):
        node_port = 30000 + 10 * i + n if kind != "ClusterIP" else 0
        ports.append(ServicePort("ns", name, pname, proto, port=port, node_port=node_port, **common))
    return ports


def _endpoints(rng: random.Random, ports: list) -> list:
    out = []
    count = rng.choice([0, 1, 2, 3, 4])
    for k in range(count):
        ip = f"10.100.{rng.randrange(4)}.{rng.randrange(1, 250)}"
        ready = rng.random() > 0.15
        for sp in ports:
            out.append(Endpoint("ns", sp.name, sp.port_name, sp.protocol, ip, sp.port, ready=ready,
                                serving=ready or rng.random() < 0.5, terminating=not ready,
                                node_name=rng.choice([NODE, "node2", "node3"])))
    return out


def _mutate(rng: random.Random, ports: dict, eps: dict, next_id: list) -> set:
    """Change one or two Services at random; the (namespace, name) changed."""
    changed = set()
    for _ in range(rng.choice([1, 1, 2])):
        action = rng.choice(["endpoint ip", "endpoint ip", "add endpoint", "drop endpoint", "readiness",
                             "delete service", "add service", "affinity", "no endpoints"])
        name = rng.choice(sorted(ports)) if ports else None
        if action == "add service" or name is None:
            i = next_id[0]
            next_id[0] += 1
            name = f"svc{i}"
            ports[name] = _service(rng, i)
            eps[name] = _endpoints(rng, ports[name])
        elif action == "delete service":
            del ports[name]
            eps.pop(name, None)
        elif action == "affinity":
            flip = "None" if ports[name][0].session_affinity == "ClientIP" else "ClientIP"
            ports[name] = [dataclasses.replace(sp, session_affinity=flip) for sp in ports[name]]
        elif action == "no endpoints":
            eps[name] = []
        elif action == "add endpoint" or not eps.get(name):
            eps[name] = eps.get(name, []) + _endpoints(rng, ports[name])[:len(ports[name])]
        elif action == "drop endpoint":
            del eps[name][rng.randrange(len(eps[name]))]
        elif action == "readiness":
            k = rng.randrange(len(eps[name]))
            e = eps[name][k]
            eps[name][k] = dataclasses.replace(e, ready=not e.ready, terminating=e.ready)
        else:
            k = rng.randrange(len(eps[name]))
            eps[name][k] = dataclasses.replace(eps[name][k], ip=f"10.101.{rng.randrange(256)}.{rng.randrange(1, 250)}")
        changed.add(("ns", name))
    return changed


def _flat(table: dict) -> list:
    return [x for name in sorted(table) for x in table[name]]


def _same_sync(fast, slow) -> None:
    assert fast.transaction == slow.transaction
    assert fast.cleanup == slow.cleanup
    assert fast.state.stale_chains == slow.state.stale_chains
    assert fast.state.kernel.dump() == slow.state.kernel.dump()


@pytest.mark.parametrize("seed", range(12))
def test_a_partial_sync_of_the_changed_services_is_the_whole_walks(seed):
    rng = random.Random(seed)
    ports = {f"svc{i}": _service(rng, i) for i in range(25)}
    eps = {name: _endpoints(rng, sp) for name, sp in ports.items()}
    next_id = [25]
    ruleset = render_nft(CONFIG, _flat(ports), _flat(eps), service_cidrs=CIDRS)
    state = ruleset.sync(None, now=0.0).state
    for round_no in range(1, 40):
        changed = _mutate(rng, ports, eps, next_id)
        names = {name for _, name in changed}
        updated = ruleset.updated(changed, [sp for n in names for sp in ports.get(n, ())],
                                  [e for n in names for e in eps.get(n, ())])
        whole = render_nft(CONFIG, _flat(ports), _flat(eps), service_cidrs=CIDRS)
        assert updated.digest() == whole.digest()
        assert updated.services == whole.services
        now = round_no * rng.choice([0.4, 0.7, 1.5])      # stale chains: some deleted, some not yet
        slow = whole.sync(state, now=now, reference=True)
        assert not slow.full
        # a ruleset rendered afresh finds the changed Services by their fingerprints
        _same_sync(whole.sync(state, now=now), slow)
        fast = updated.sync(state, now=now)
        _same_sync(fast, slow)
        ruleset, state = updated, fast.state


def test_two_services_sharing_an_element_fall_back_to_the_whole_walk():
    a = ServicePort("ns", "a", "http", "TCP", "10.96.0.1", 80, external_ips=("192.168.99.9",))
    b = ServicePort("ns", "b", "http", "TCP", "10.96.0.2", 80, external_ips=("192.168.99.9",))
    eps = [Endpoint("ns", "a", "http", "TCP", "10.100.0.1", 80), Endpoint("ns", "b", "http", "TCP", "10.100.0.2", 80)]
    ruleset = render_nft(CONFIG, [a, b], eps, service_cidrs=CIDRS)
    state = ruleset.sync(None).state
    moved = [Endpoint("ns", "a", "http", "TCP", "10.100.0.3", 80)]
    updated = ruleset.updated({("ns", "a")}, [a], moved)
    fast = updated.sync(state, now=5.0)
    assert updated._partial(state, state.kernel, {}, 5.0) is None
    _same_sync(fast, updated.sync(state, now=5.0, reference=True))


def test_a_consuming_sync_writes_the_same_and_its_previous_state_cannot_be_synced_from_again():
    rng = random.Random(99)
    ports = {f"svc{i}": _service(rng, i) for i in range(10)}
    eps = {name: _endpoints(rng, sp) for name, sp in ports.items()}
    ruleset = render_nft(CONFIG, _flat(ports), _flat(eps), service_cidrs=CIDRS)
    state = ruleset.sync(None).state
    for round_no in range(1, 6):
        changed = _mutate(rng, ports, eps, [10 + round_no])
        names = {name for _, name in changed}
        updated = ruleset.updated(changed, [sp for n in names for sp in ports.get(n, ())],
                                  [e for n in names for e in eps.get(n, ())])
        copied = updated.sync(state, now=2.0 * round_no)
        consumed = updated.sync(state, now=2.0 * round_no, consume=True)
        _same_sync(consumed, copied)
        assert state.consumed
        with pytest.raises(ValueError, match="consumed"):
            updated.sync(state, now=2.0 * round_no)
        ruleset, state = updated, consumed.state


def test_an_updated_ruleset_does_not_keep_the_ones_before_it_alive():
    import gc
    import weakref
    rng = random.Random(7)
    ports = {f"svc{i}": _service(rng, i) for i in range(5)}
    eps = {name: _endpoints(rng, sp) for name, sp in ports.items()}
    ruleset = render_nft(CONFIG, _flat(ports), _flat(eps), service_cidrs=CIDRS)
    first = weakref.ref(ruleset)
    for round_no in range(3):
        changed = _mutate(rng, ports, eps, [5 + round_no])
        names = {name for _, name in changed}
        ruleset = ruleset.updated(changed, [sp for n in names for sp in ports.get(n, ())],
                                  [e for n in names for e in eps.get(n, ())])
    gc.collect()
    assert first() is None
