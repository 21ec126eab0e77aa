"""The pure desired-state core: IPAM, scheduling and the workload controllers."""

import ipaddress
import random
from collections import Counter

import pytest

from netlab.cluster import controllers, ipam
from netlab.cluster.scheduler import Unschedulable, choose_node
from netlab.cluster.topology import build_topology
from netlab.manifest.model import (Container, Deployment, LabConfig, LabelSelector, ObjectMeta, Pod, PodSpec,
                                   PodTemplate)

CIDR = ipaddress.ip_network("10.244.1.0/24")


def test_first_pod_on_a_node_gets_dot_two_and_the_gateway_is_never_handed_out():
    assert ipam.allocate(CIDR, set(), None) == "10.244.1.2"
    assert ipam.allocate(CIDR, {"10.244.1.2"}, "10.244.1.2") == "10.244.1.3"


def test_a_freed_address_is_not_reused_before_the_range_wraps_like_host_local():
    # .2 was freed, .3 is the last reserved: the next pod gets .4, not .2
    assert ipam.allocate(CIDR, {"10.244.1.3"}, "10.244.1.3") == "10.244.1.4"


def test_allocation_wraps_after_the_last_address_and_skips_broadcast():
    used = {f"10.244.1.{i}" for i in range(3, 255)}
    assert ipam.allocate(CIDR, used, "10.244.1.254") == "10.244.1.2"
    with pytest.raises(ipam.RangeFull):
        ipam.allocate(CIDR, used | {"10.244.1.2"}, "10.244.1.254")


def _topology(count=2, labels=None):
    config = LabConfig()
    if count != 2 or labels:
        from netlab.manifest.model import NodeConfig
        nodes = tuple(NodeConfig(f"node{k}", ipaddress.IPv4Address(f"172.18.0.{k + 1}"), (labels or {}).get(k, {}))
                      for k in range(1, count + 1))
        config = LabConfig(nodes=nodes)
    return build_topology("t", config)


def test_topology_follows_the_kubeadm_flannel_defaults():
    topo = _topology()
    assert [(n.name, n.ip, str(n.pod_cidr), n.gateway, n.netns) for n in topo.nodes] == [
        ("node1", "172.18.0.2", "10.244.1.0/24", "10.244.1.1", "t-node1"),
        ("node2", "172.18.0.3", "10.244.2.0/24", "10.244.2.1", "t-node2"),
    ]
    assert [(c.name, c.ip, c.netns) for c in topo.clients] == [("client", "172.18.0.100", "t-client")]
    assert topo.underlay_gateway == "172.18.0.1"


def test_scheduler_honours_node_name_and_node_selector():
    topo = _topology(3, labels={3: {"disk": "ssd"}})
    assert choose_node(topo.nodes, "node2", None, Counter(), Counter()) == "node2"
    assert choose_node(topo.nodes, None, {"disk": "ssd"}, Counter(), Counter()) == "node3"
    with pytest.raises(Unschedulable, match="didn't match"):
        choose_node(topo.nodes, None, {"disk": "hdd"}, Counter(), Counter())
    with pytest.raises(Unschedulable, match="not a node"):
        choose_node(topo.nodes, "node9", None, Counter(), Counter())


def _spec(**kw):
    return PodSpec(containers=[Container(name="c", image="nginx")], **kw)


def _deployment(name="web", replicas=4, image="nginx"):
    template_raw = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}
    raw = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template_raw}}
    template = PodTemplate(labels={"app": name}, annotations={}, spec=_spec(), raw=template_raw)
    return Deployment(meta=ObjectMeta(name), selector=LabelSelector({"app": name}), template=template,
                      replicas=replicas, raw=raw)


def _pod(name, **spec_kw):
    raw = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec_kw.pop("raw_spec", {})}}
    return Pod(meta=ObjectMeta(name), spec=_spec(**spec_kw), raw=raw)


class Passes:
    """The controllers' passes over one lab, with every pod ready and deletions finished at once."""

    def __init__(self, topology):
        self.topology = topology
        self.pods, self.replicasets, self.deployments, self.last_reserved = [], {}, {}, {}

    def step(self, objects, seed, now=0.0):
        observed = {p.key: controllers.Observed("Running", True, now, 0) for p in self.pods if p.node}
        result = controllers.plan(objects, self.pods, self.topology, self.last_reserved, rng=random.Random(seed),
                                  now=now, replicasets=self.replicasets, deployments=self.deployments,
                                  observed=observed)
        self.pods, self.replicasets = result.pods, result.replicasets
        self.deployments, self.last_reserved = result.deployments, result.last_reserved
        return result


def test_deployment_pods_get_kubernetes_style_names_and_spread_evenly():
    topo = _topology()
    plan = Passes(topo).step([_deployment()], 1)
    names_ = [p.name for p in plan.create]
    rs_hash = plan.create[0].labels["pod-template-hash"]
    assert all(n.startswith(f"web-{rs_hash}-") and len(n.split("-")[-1]) == 5 for n in names_)
    assert set("".join(n.split("-")[-1] for n in names_)) <= set(controllers._ALPHANUMS)
    assert Counter(p.node for p in plan.create) == {"node1": 2, "node2": 2}
    assert sorted(p.ip for p in plan.create) == ["10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3"]
    (rs,) = plan.replicasets.values()
    assert rs.name == f"web-{rs_hash}" and rs.owner == "web" and rs.revision == 1
    assert all(p.owner_uid == rs.uid for p in plan.create)


def test_planning_again_on_its_own_result_changes_nothing():
    passes = Passes(_topology())
    objects = [_deployment(), _pod("solo")]
    first = passes.step(objects, 2)
    again = passes.step(objects, 3)
    assert again.create == [] and again.delete == []
    assert {p.key for p in again.keep} == {p.key for p in first.pods}


def test_scaling_up_adds_a_pod_and_a_deleted_pod_is_replaced_with_a_new_name_and_ip():
    passes = Passes(_topology())
    passes.step([_deployment(replicas=3)], 4)
    scaled = passes.step([_deployment(replicas=4)], 5)
    assert len(scaled.keep) == 3 and len(scaled.create) == 1
    gone = passes.pods[0]
    passes.pods = passes.pods[1:]
    (new,) = passes.step([_deployment(replicas=4)], 6).create
    assert new.name != gone.name and new.ip != gone.ip


def test_scaling_down_deletes_the_newest_pods_first():
    passes = Passes(_topology())
    passes.step([_deployment(replicas=2)], 7, now=100)
    later = passes.step([_deployment(replicas=3)], 8, now=200)
    down = passes.step([_deployment(replicas=2)], 9, now=300)
    assert [p.name for p in down.delete] == [later.create[0].name]


def test_a_changed_deployment_template_rolls_its_pods_to_a_new_replicaset_hash():
    passes = Passes(_topology())
    first = passes.step([_deployment(image="nginx:1")], 10)
    rolled = passes.step([_deployment(image="nginx:2")], 11)
    # RollingUpdate 25%/25% of 4: one new pod over the count, one old one down
    assert len(rolled.create) == 1 and len(rolled.delete) == 1
    assert rolled.create[0].labels["pod-template-hash"] != first.create[0].labels["pod-template-hash"]
    for seed in range(12, 30):
        passes.step([_deployment(image="nginx:2")], seed)
    hashes = Counter(p.labels["pod-template-hash"] for p in passes.pods)
    assert hashes == {rolled.create[0].labels["pod-template-hash"]: 4}
    assert sorted(rs.revision for rs in passes.replicasets.values()) == [1, 2]


def test_the_new_replicaset_carries_the_deployments_change_cause_and_not_its_bookkeeping():
    passes = Passes(_topology())
    first = _deployment(image="nginx:1")
    first.raw["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    passes.step([first], 10)
    rolled = _deployment(image="nginx:2")
    rolled.raw["metadata"]["annotations"] = {"kubernetes.io/change-cause": "netlab set image ... --record=true",
                                             "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    for seed in range(11, 30):
        passes.step([rolled], seed)
    by_revision = {rs.revision: rs for rs in passes.replicasets.values()}
    assert by_revision[1].annotations == {}
    assert by_revision[2].annotations == {"kubernetes.io/change-cause": "netlab set image ... --record=true"}
    assert by_revision[2].document()["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "netlab set image ... --record=true", "deployment.kubernetes.io/revision": "2"}


def test_an_unschedulable_pod_stays_pending_under_the_same_name():
    topo = _topology()
    pod = _pod("picky", node_selector={"disk": "ssd"}, raw_spec={"nodeSelector": {"disk": "ssd"}})
    passes = Passes(topo)
    (pending,) = passes.step([pod], 0).create
    assert pending.node is None and "didn't match" in pending.reason
    again = passes.step([pod], 1)
    assert [p.name for p in again.create] == ["picky"] and again.delete == []


def test_removing_a_bare_pod_object_deletes_its_pod():
    passes = Passes(_topology())
    passes.step([_pod("a"), _pod("b")], 0)
    second = passes.step([_pod("a")], 1)
    assert [p.name for p in second.delete] == ["b"]


def _replicaset(name="front", replicas=3, labels=None):
    from netlab.manifest.model import ReplicaSet
    labels = labels or {"tier": "front"}
    template_raw = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    raw = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template_raw}}
    template = PodTemplate(labels=labels, annotations={}, spec=_spec(), raw=template_raw)
    return ReplicaSet(meta=ObjectMeta(name), selector=LabelSelector(labels), template=template, replicas=replicas,
                      raw=raw)


def _labelled_pod(name, labels):
    raw = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    return Pod(meta=ObjectMeta(name, labels=labels), spec=_spec(), raw=raw)


def test_a_replicaset_adopts_a_matching_pod_applied_before_it_and_releases_it_when_relabelled():
    passes = Passes(_topology())
    orphan = _labelled_pod("early", {"tier": "front"})
    passes.step([orphan], 0)
    adopted = passes.step([orphan, _replicaset()], 1)
    assert len(adopted.create) == 2 and len(passes.pods) == 3
    (rs,) = passes.replicasets.values()
    early = next(p for p in passes.pods if p.name == "early")
    assert early.owner == ("ReplicaSet", "front") and early.owner_uid == rs.uid

    relabelled = _labelled_pod("early", {"tier": "none"})
    released = passes.step([relabelled, _replicaset()], 2)
    early = next(p for p in passes.pods if p.name == "early")
    assert early.owner is None and early.labels == {"tier": "none"}
    assert len(released.create) == 1 and released.delete == []
    assert len([p for p in passes.pods if p.owner_uid == rs.uid]) == 3


def test_a_deleted_replicaset_takes_its_pods_with_it():
    passes = Passes(_topology())
    passes.step([_replicaset()], 0)
    gone = passes.step([], 1)
    assert len(gone.delete) == 3 and gone.replicasets == {}


def test_one_planning_call_creates_every_pod_a_replicaset_wants_in_passes_of_burst_replicas():
    topo = _topology(count=6)                             # 200 pods a node: within each node's /24
    one_pass = controllers.plan([_deployment(replicas=1200)], [], topo, {}, rng=random.Random(7))
    assert len(one_pass.create) == 500                    # BurstReplicas: what one sync creates
    result = controllers.plan_created([_deployment(replicas=1200)], [], topo, {}, rng=random.Random(7))
    assert len(result.create) == 1200
    assert len({p.name for p in result.create}) == len({p.ip for p in result.create}) == 1200
    assert Counter(p.node for p in result.create) == {f"node{k}": 200 for k in range(1, 7)}
    (rs,) = result.replicasets.values()
    assert all(p.owner_uid == rs.uid for p in result.create)
    assert sum(e.reason == "SuccessfulCreate" for e in result.events) == 1200
    again = controllers.plan_created([_deployment(replicas=1200)], result.pods, topo, result.last_reserved,
                                     rng=random.Random(8), replicasets=result.replicasets,
                                     deployments=result.deployments)
    assert again.create == [] and again.delete == []


def test_a_small_deployment_is_planned_in_one_pass():
    topo = _topology()
    assert [p.name for p in controllers.plan_created([_deployment(replicas=3)], [], topo, {},
                                                     rng=random.Random(9)).create] == \
        [p.name for p in controllers.plan([_deployment(replicas=3)], [], topo, {}, rng=random.Random(9)).create]
