"""The ReplicaSet and Deployment controllers' pure decisions, against upstream's behaviour."""

from dataclasses import replace

import pytest

from netlab.cluster import workloads as wl
from netlab.cluster.workloads import DeploymentFacts, PodFacts, ReplicaSetFacts, RSState

NOW = 1_000_000.0
ROLL_SURGE_1 = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def _pod(name, **overrides):
    fields = dict(namespace="default", name=name, uid=f"uid-{name}", labels={"app": "web"}, owner_uid="rs-uid",
                  node="node1", phase="Running", ready=True, ready_since=NOW - 3600, restart_count=0,
                  created=NOW - 7200)
    fields.update(overrides)
    return PodFacts(**fields)


def _rs(replicas, **overrides):
    fields = dict(namespace="default", name="web", uid="rs-uid", selector=lambda labels: labels.get("app") == "web",
                  replicas=replicas)
    fields.update(overrides)
    return ReplicaSetFacts(**fields)


def _deployment(replicas=4, strategy=ROLL_SURGE_1, template_hash="v2", **overrides):
    return DeploymentFacts("default", "web", "d-uid", replicas, strategy, template_hash, **overrides)


def _state(name, template_hash, replicas, revision, created, ready=None, available=None, actual=None):
    ready = replicas if ready is None else ready
    return RSState(name, template_hash, replicas, revision, created, ready,
                   ready if available is None else available, replicas if actual is None else actual)


def _reason(decision, ctype="Progressing"):
    return next(c["reason"] for c in decision.status["conditions"] if c["type"] == ctype)


# ---------------------------------------------------------------- ReplicaSet: ownership and counting


def test_an_orphan_whose_labels_match_is_adopted_and_counted():
    decision = wl.decide_replicaset(_rs(2), [_pod("owned"), _pod("orphan", owner_uid=None)], NOW)
    assert decision.adopt == ["orphan"]
    assert (decision.create, decision.delete, decision.status["replicas"]) == (0, [], 2)


def test_orphans_that_do_not_match_are_terminating_or_live_elsewhere_are_not_adopted():
    pods = [_pod("other-app", owner_uid=None, labels={"app": "db"}),
            _pod("terminating", owner_uid=None, deleting=True),
            _pod("other-namespace", owner_uid=None, namespace="prod"),
            _pod("other-owner", owner_uid="someone-else")]
    decision = wl.decide_replicaset(_rs(1), pods, NOW)
    assert (decision.adopt, decision.release, decision.create) == ([], [], 1)


def test_an_owned_pod_relabelled_out_of_the_selector_is_released_and_replaced():
    decision = wl.decide_replicaset(_rs(2), [_pod("kept"), _pod("debugged", labels={"app": "debug"})], NOW)
    assert decision.release == ["debugged"]
    assert (decision.create, decision.status["replicas"]) == (1, 1)


def test_terminating_and_finished_pods_are_not_counted_so_replacements_are_created():
    pods = [_pod("running"), _pod("terminating", deleting=True), _pod("failed", phase="Failed", ready=False),
            _pod("done", phase="Succeeded", ready=False)]
    decision = wl.decide_replicaset(_rs(3), pods, NOW)
    assert (decision.create, decision.delete, decision.status["replicas"]) == (2, [], 1)


def test_creates_per_pass_stop_at_the_burst_limit():
    assert wl.decide_replicaset(_rs(1200), [], NOW).create == wl.BURST_REPLICAS == 500


def test_a_pod_is_available_once_ready_for_longer_than_min_ready_seconds():
    pods = [_pod("long", ready_since=NOW - 11), _pod("short", ready_since=NOW - 5),
            _pod("exact", ready_since=NOW - 10), _pod("not-ready", ready=False, ready_since=None)]
    status = wl.decide_replicaset(_rs(4, min_ready_seconds=10), pods, NOW).status
    assert status == {"replicas": 4, "fullyLabeledReplicas": 4, "readyReplicas": 3, "availableReplicas": 1}


def test_fully_labeled_counts_only_pods_carrying_the_template_hash():
    pods = [_pod("a", labels={"app": "web", "pod-template-hash": "h1"}), _pod("b")]
    assert wl.decide_replicaset(_rs(2, template_hash="h1"), pods, NOW).status["fullyLabeledReplicas"] == 1


# ---------------------------------------------------------------- ReplicaSet: which pods go first


@pytest.mark.parametrize("first, second", [
    pytest.param(_pod("unassigned", node=None, phase="Pending", ready=False, ready_since=None),
                 _pod("assigned", node="node2", phase="Pending", ready=False, ready_since=None), id="unassigned"),
    pytest.param(_pod("pending", phase="Pending", ready=False, ready_since=None),
                 _pod("running", node="node2", ready=False, ready_since=None), id="pending-before-running"),
    pytest.param(_pod("unknown", phase="Unknown", ready=False, ready_since=None),
                 _pod("running", node="node2", ready=False, ready_since=None), id="unknown-before-running"),
    pytest.param(_pod("not-ready", ready=False, ready_since=None), _pod("ready", node="node2"), id="not-ready"),
    pytest.param(_pod("ready-briefly", ready_since=NOW - 10), _pod("ready-long", node="node2"), id="ready-shorter"),
    pytest.param(_pod("restarted", restart_count=5), _pod("steady", node="node2"), id="more-restarts"),
    pytest.param(_pod("newer", created=NOW - 10), _pod("older", node="node2"), id="newer"),
])
def test_scale_down_deletes_the_pod_upstream_ranks_first(first, second):
    for pods in ([first, second], [second, first]):
        assert wl.decide_replicaset(_rs(1), pods, NOW).delete == [first.name]


def test_phases_rank_pending_then_unknown_then_running():
    pods = [_pod("running", node="n1"), _pod("unknown", node="n2", phase="Unknown", ready=False),
            _pod("pending", node="n3", phase="Pending", ready=False)]
    assert wl.decide_replicaset(_rs(1), pods, NOW).delete == ["pending", "unknown"]


def test_a_pod_doubled_up_on_a_node_with_its_siblings_goes_before_a_newer_pod_alone():
    pods = [_pod("alone", node="node2", created=NOW - 10), _pod("double-a", created=NOW - 5000),
            _pod("double-b", created=NOW - 6000)]
    assert wl.decide_replicaset(_rs(2), pods, NOW).delete == ["double-a"]


def test_pods_of_the_same_power_of_two_age_are_ordered_by_uid_as_logarithmic_scale_down_does():
    pods = [_pod("b", uid="uid-b", created=NOW - 100), _pod("a", uid="uid-z", node="node2", created=NOW - 101)]
    # 100 s and 101 s share a log2 bucket: the UID decides, not the creation time
    assert wl.decide_replicaset(_rs(1), pods, NOW).delete == ["b"]


# ---------------------------------------------------------------- Deployment: strategy parameters


@pytest.mark.parametrize("surge, unavailable, replicas, expected", [
    ("25%", "25%", 4, (1, 1)),
    ("25%", "25%", 10, (3, 2)),
    ("30%", "30%", 1, (1, 0)),
    (1, 0, 4, (1, 0)),
    ("0%", "1%", 2, (0, 1)),
    (0, 0, 5, (0, 1)),
])
def test_resolve_fenceposts_rounds_surge_up_and_unavailable_down_never_both_zero(surge, unavailable, replicas,
                                                                                  expected):
    assert wl.resolve_fenceposts(surge, unavailable, replicas) == expected


def test_a_string_that_is_not_a_percentage_is_rejected():
    with pytest.raises(ValueError, match="not a percentage"):
        wl.resolve_fenceposts("3", 0, 4)


def test_an_empty_strategy_defaults_to_rolling_update_with_25_percent_each_way():
    assert wl.strategy_limits(_deployment(strategy={})) == ("RollingUpdate", 1, 1)
    assert wl.strategy_limits(_deployment(strategy={"type": "Recreate"})) == ("Recreate", 0, 0)


# ---------------------------------------------------------------- Deployment: rolling update


class _Cluster:
    """A tiny API server and kubelet: ReplicaSets and pods, with both controllers' decisions applied."""

    def __init__(self, now):
        self.now, self.rses, self.pods, self.serial = now, {}, {}, 0

    def add_rs(self, name, template_hash, replicas, revision):
        self.rses[name] = ReplicaSetFacts(
            "default", name, f"uid-{name}", lambda labels, h=template_hash: labels.get("pod-template-hash") == h,
            replicas, owner_uid="d-uid", created=self.now, revision=revision, template_hash=template_hash)

    def rs_states(self):
        states = []
        for rs in self.rses.values():
            status = wl.decide_replicaset(rs, list(self.pods.values()), self.now).status
            states.append(RSState(rs.name, rs.template_hash, rs.replicas, rs.revision, rs.created,
                                  status["readyReplicas"], status["availableReplicas"], status["replicas"]))
        return states

    def apply(self, d, decision):
        if decision.create_new_rs:
            self.add_rs(f"{d.name}-{d.template_hash}", d.template_hash, decision.new_rs_replicas,
                        decision.new_revision)
        for name, replicas in decision.scale.items():
            self.rses[name] = replace(self.rses[name], replicas=replicas)
        for name in decision.delete_rs:
            del self.rses[name]

    def run_replicasets(self):
        for rs in list(self.rses.values()):
            decision = wl.decide_replicaset(rs, list(self.pods.values()), self.now)
            for name in decision.delete:
                del self.pods[name]             # no grace period in this model
            for _ in range(decision.create):
                self.serial += 1
                name = f"{rs.name}-{self.serial}"
                self.pods[name] = PodFacts("default", name, f"uid-{name}",
                                           {"app": "web", "pod-template-hash": rs.template_hash}, rs.uid,
                                           f"node{self.serial % 2}", "Running", False, None, 0, self.now)

    def kubelet(self):
        for name, pod in self.pods.items():
            if not pod.ready:
                self.pods[name] = replace(pod, ready=True, ready_since=self.now)

    def available(self):
        return sum(p.ready for p in self.pods.values())


def _settled_v1(d):
    """A cluster running revision 1 of D to completion, and the status its last pass left."""
    cluster = _Cluster(NOW)
    cluster.add_rs("web-v1", "v1", d.replicas, 1)
    cluster.run_replicasets()
    cluster.kubelet()
    decision = wl.decide_deployment(replace(d, template_hash="v1"), cluster.rs_states(), cluster.now)
    assert decision.complete and _reason(decision) == "NewReplicaSetAvailable"
    return cluster, decision.status


def test_rolling_update_with_max_surge_1_keeps_4_available_never_exceeds_5_and_empties_the_old_rs():
    d = _deployment(replicas=4, strategy=ROLL_SURGE_1)
    cluster, status = _settled_v1(d)
    reasons = []
    for _ in range(40):
        cluster.now += 10
        cluster.kubelet()                       # pods created last step have become ready
        decision = wl.decide_deployment(d, cluster.rs_states(), cluster.now, previous_status=status)
        status = decision.status
        reasons.append(_reason(decision))
        assert _reason(decision, "Available") == "MinimumReplicasAvailable"
        cluster.apply(d, decision)
        cluster.run_replicasets()
        assert len(cluster.pods) <= 5
        assert cluster.available() >= 4
        if decision.complete:
            break
    else:
        pytest.fail(f"rollout did not converge: {cluster.rs_states()}")
    assert {rs.name: (rs.replicas, rs.revision) for rs in cluster.rses.values()} == {"web-v1": (0, 1),
                                                                                     "web-v2": (4, 2)}
    assert {p.labels["pod-template-hash"] for p in cluster.pods.values()} == {"v2"}
    assert reasons[0] == "NewReplicaSetCreated" and reasons[-1] == "NewReplicaSetAvailable"
    assert "ReplicaSetUpdated" in reasons


def test_the_25_percent_default_on_4_replicas_surges_one_and_drops_one_in_the_first_pass():
    d = _deployment(replicas=4, strategy={"type": "RollingUpdate"})
    decision = wl.decide_deployment(d, [_state("web-v1", "v1", 4, 1, NOW - 100)], NOW)
    assert (decision.create_new_rs, decision.new_rs_replicas, decision.new_revision) == (True, 1, 2)
    assert decision.scale == {"web-v1": 3}


def test_old_pods_are_not_scaled_down_while_new_ones_are_unavailable_with_max_unavailable_0():
    rses = [_state("web-v1", "v1", 4, 1, NOW - 100), _state("web-v2", "v2", 1, 2, NOW - 10, ready=0)]
    decision = wl.decide_deployment(_deployment(), rses, NOW)
    assert (decision.create_new_rs, decision.scale, decision.complete) == (False, {}, False)


def test_scaling_a_finished_rollout_only_resizes_the_new_rs():
    rses = [_state("web-v1", "v1", 0, 1, NOW - 100), _state("web-v2", "v2", 4, 2, NOW - 10)]
    assert wl.decide_deployment(_deployment(replicas=6), rses, NOW).scale == {"web-v2": 6}
    assert wl.decide_deployment(_deployment(replicas=2), rses, NOW).scale == {"web-v2": 2}


def test_a_paused_deployment_creates_no_new_rs_but_still_scales():
    d = _deployment(replicas=5, paused=True)
    decision = wl.decide_deployment(d, [_state("web-v1", "v1", 4, 1, NOW - 100)], NOW)
    assert (decision.create_new_rs, decision.scale) == (False, {"web-v1": 5})
    assert _reason(decision) == "DeploymentPaused"


def test_progress_deadline_is_exceeded_only_after_the_deadline_without_progress():
    rses = [_state("web-v1", "v1", 4, 1, NOW - 1000), _state("web-v2", "v2", 1, 2, NOW - 900, ready=0)]
    stuck = wl.decide_deployment(_deployment(), rses, NOW).status
    late = wl.decide_deployment(_deployment(), rses, NOW, progressing_since=NOW - 601, previous_status=stuck)
    assert _reason(late) == "ProgressDeadlineExceeded"
    assert [c["status"] for c in late.status["conditions"]] == ["True", "False"]
    early = wl.decide_deployment(_deployment(), rses, NOW, progressing_since=NOW - 599, previous_status=stuck)
    assert _reason(early) == "ReplicaSetUpdated"


def test_without_a_progress_deadline_there_is_no_progressing_condition():
    decision = wl.decide_deployment(_deployment(progress_deadline_seconds=None),
                                    [_state("web-v1", "v1", 4, 1, NOW - 100)], NOW)
    assert [c["type"] for c in decision.status["conditions"]] == ["Available"]


# ---------------------------------------------------------------- Deployment: recreate, rollback, history


def test_recreate_scales_old_to_zero_then_waits_for_its_pods_before_creating_the_new_rs():
    d = _deployment(replicas=3, strategy={"type": "Recreate"})
    first = wl.decide_deployment(d, [_state("web-v1", "v1", 3, 1, NOW - 100)], NOW)
    assert (first.scale, first.create_new_rs) == ({"web-v1": 0}, False)
    draining = wl.decide_deployment(d, [_state("web-v1", "v1", 0, 1, NOW - 100, actual=2)], NOW)
    assert (draining.scale, draining.create_new_rs) == ({}, False)
    drained = wl.decide_deployment(d, [_state("web-v1", "v1", 0, 1, NOW - 100, actual=0)], NOW)
    assert (drained.create_new_rs, drained.new_rs_replicas, drained.new_revision) == (True, 3, 2)
    assert _reason(drained) == "NewReplicaSetCreated"


def test_undo_to_an_old_template_revives_its_rs_with_the_next_revision():
    rses = [_state("web-v1", "v1", 0, 1, NOW - 200), _state("web-v2", "v2", 4, 2, NOW - 100)]
    decision = wl.decide_deployment(_deployment(template_hash="v1", strategy={}), rses, NOW)
    assert (decision.create_new_rs, decision.new_revision) == (False, 3)
    assert decision.scale == {"web-v1": 1}      # the revived RS grows by maxSurge, like a new one


def _history(pods_in_r2=0):
    old = [_state(f"web-r{rev}", f"r{rev}", 0, rev, NOW - 1000 + rev, actual=pods_in_r2 if rev == 2 else 0)
           for rev in (1, 2, 3, 4)]
    return old + [_state("web-v5", "v2", 4, 5, NOW - 10)]


def test_history_beyond_the_limit_loses_its_lowest_revisions_once_the_rollout_is_complete():
    assert wl.decide_deployment(_deployment(revision_history_limit=2), _history(), NOW).delete_rs == ["web-r1",
                                                                                                     "web-r2"]
    unfinished = _history()[:-1] + [_state("web-v5", "v2", 4, 5, NOW - 10, available=3)]
    assert wl.decide_deployment(_deployment(revision_history_limit=2), unfinished, NOW).delete_rs == []


def test_history_cleanup_spares_an_old_revision_that_still_has_pods():
    # a paused Deployment cleans up on every pass, finished or not; r2's pod keeps it
    d = _deployment(revision_history_limit=2, paused=True)
    assert wl.decide_deployment(d, _history(pods_in_r2=1), NOW).delete_rs == ["web-r1"]


# ---------------------------------------------------------------- kubectl rollout status


@pytest.mark.parametrize("status, line", [
    ({"replicas": 5, "updatedReplicas": 1, "availableReplicas": 4},
     'Waiting for deployment "web" rollout to finish: 1 out of 4 new replicas have been updated...'),
    ({"replicas": 6, "updatedReplicas": 4, "availableReplicas": 4},
     'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...'),
    ({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 3},
     'Waiting for deployment "web" rollout to finish: 3 of 4 updated replicas are available...'),
    ({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 4}, 'deployment "web" successfully rolled out'),
    ({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 4, "observedGeneration": 1},
     "Waiting for deployment spec update to be observed..."),
])
def test_rollout_status_prints_kubectls_lines(status, line):
    assert wl.rollout_status_message("web", 4, status, generation=2 if "observedGeneration" in status else 0) == line


def test_rollout_status_fails_once_the_progress_deadline_is_exceeded():
    status = {"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}
    with pytest.raises(wl.ProgressDeadlineExceeded, match='deployment "web" exceeded its progress deadline'):
        wl.rollout_status_message("web", 4, status)
