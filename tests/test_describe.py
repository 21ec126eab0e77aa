"""`netlab describe`'s text: kubectl v1.35's describers over objects shaped like netlab's."""

import copy
import datetime
import textwrap

import pytest

from netlab import describe

NOW = datetime.datetime(2026, 12, 1, 22, 50, tzinfo=datetime.timezone.utc).timestamp()


def text(block: str) -> str:
    """Expected output: dedented, a `|` ending a line whose trailing spaces kubectl prints too."""
    lines = textwrap.dedent(block).lstrip("\n").split("\n")
    return "\n".join(line[:-1] if line.endswith("|") else line for line in lines)


def event(kind, name, reason, message, first, last=None, count=1, type_="Normal", component="kubelet",
          namespace="default"):
    """A core/v1 Event as views.event_objects makes it."""
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.1", "namespace": namespace, "creationTimestamp": first},
            "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
            "type": type_, "reason": reason, "message": message, "source": {"component": component},
            "count": count, "firstTimestamp": first, "lastTimestamp": last or first}


def conditions(ready: bool) -> list:
    status = "True" if ready else "False"
    result = [{"type": "PodReadyToStartContainers", "status": "True"}, {"type": "Initialized", "status": "True"},
              {"type": "Ready", "status": status}, {"type": "ContainersReady", "status": status},
              {"type": "PodScheduled", "status": "True"}]
    for condition in result:
        condition["lastTransitionTime"] = "2026-12-01T22:40:00Z"
    return result


def bare_pod() -> dict:
    """A bare Pod running one container, as views.pod_object shows it."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "client", "namespace": "default", "uid": "p-1", "labels": {"run": "client"},
                     "annotations": {"netlab.io/netns": "nl-demo-default-client"},
                     "creationTimestamp": "2026-12-01T22:40:00Z"},
        "spec": {"containers": [{"name": "client", "image": "busybox:1.36", "command": ["sleep", "infinity"]}],
                 "nodeName": "worker"},
        "status": {"phase": "Running", "conditions": conditions(True),
                   "hostIP": "172.18.0.3", "hostIPs": [{"ip": "172.18.0.3"}],
                   "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}], "startTime": "2026-12-01T22:40:00Z",
                   "containerStatuses": [{"name": "client", "image": "busybox:1.36", "restartCount": 0,
                                          "ready": True, "started": True,
                                          "state": {"running": {"startedAt": "2026-12-01T22:40:01Z"}}}]},
    }


def crashing_pod() -> dict:
    """A ReplicaSet's pod whose container was restarted twice and now waits in CrashLoopBackOff."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-589ccc5944-x7k2p", "namespace": "default", "uid": "p-2",
                     "labels": {"app": "web", "pod-template-hash": "589ccc5944"},
                     "annotations": {"netlab.io/netns": "nl-demo-default-web-589ccc5944-x7k2p"},
                     "creationTimestamp": "2026-12-01T22:40:00Z",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-589ccc5944",
                                          "uid": "rs-1", "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"containers": [{
            "name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MODE", "value": "prod"}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 5},
            "startupProbe": {"tcpSocket": {"port": "http"}, "failureThreshold": 30}}],
            "nodeName": "worker"},
        "status": {"phase": "Running", "conditions": conditions(False),
                   "hostIP": "172.18.0.3", "hostIPs": [{"ip": "172.18.0.3"}],
                   "podIP": "10.244.1.3", "podIPs": [{"ip": "10.244.1.3"}], "startTime": "2026-12-01T22:40:00Z",
                   "containerStatuses": [{
                       "name": "web", "image": "nginx:1.25", "restartCount": 2, "ready": False, "started": False,
                       "state": {"waiting": {"reason": "CrashLoopBackOff",
                                             "message": "back-off 20s restarting failed container=web_default(p-2)"}},
                       "lastState": {"terminated": {"exitCode": 137, "reason": "Error",
                                                    "startedAt": "2026-12-01T22:45:00Z",
                                                    "finishedAt": "2026-12-01T22:46:00Z"}}}]},
    }


# -- pods ---------------------------------------------------------------------------------------

def test_a_running_pod_reads_as_kubectl_prints_it():
    assert describe.describe_pod(bare_pod(), [], NOW) == text("""
        Name:             client
        Namespace:        default
        Priority:         0
        Service Account:  default
        Node:             worker/172.18.0.3
        Start Time:       Tue, 01 Dec 2026 22:40:00 +0000
        Labels:           run=client
        Annotations:      netlab.io/netns: nl-demo-default-client
        Status:           Running
        IP:               10.244.1.5
        IPs:
          IP:  10.244.1.5
        Containers:
          client:
            Container ID:  |
            Image:         busybox:1.36
            Image ID:      |
            Port:          <none>
            Host Port:     <none>
            Command:
              sleep
              infinity
            State:          Running
              Started:      Tue, 01 Dec 2026 22:40:01 +0000
            Ready:          True
            Restart Count:  0
            Environment:    <none>
            Mounts:         <none>
        Conditions:
          Type                        Status
          PodReadyToStartContainers   True |
          Initialized                 True |
          Ready                       True |
          ContainersReady             True |
          PodScheduled                True |
        Volumes:                      <none>
        QoS Class:                    BestEffort
        Node-Selectors:               <none>
        Tolerations:                  node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                                      node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
        Events:                       <none>
        """)


def test_a_restarted_container_shows_its_last_state_probes_and_environment():
    events = [event("Pod", "web-589ccc5944-x7k2p", "Scheduled",
                    "Successfully assigned default/web-589ccc5944-x7k2p to worker", "2026-12-01T22:40:00Z",
                    component="default-scheduler"),
              event("Pod", "web-589ccc5944-x7k2p", "BackOff", "Back-off restarting failed container web",
                    "2026-12-01T22:40:30Z", "2026-12-01T22:47:00Z", count=4, type_="Warning")]
    assert describe.describe_pod(crashing_pod(), events, NOW) == text("""
        Name:             web-589ccc5944-x7k2p
        Namespace:        default
        Priority:         0
        Service Account:  default
        Node:             worker/172.18.0.3
        Start Time:       Tue, 01 Dec 2026 22:40:00 +0000
        Labels:           app=web
                          pod-template-hash=589ccc5944
        Annotations:      netlab.io/netns: nl-demo-default-web-589ccc5944-x7k2p
        Status:           Running
        IP:               10.244.1.3
        IPs:
          IP:           10.244.1.3
        Controlled By:  ReplicaSet/web-589ccc5944
        Containers:
          web:
            Container ID:   |
            Image:          nginx:1.25
            Image ID:       |
            Port:           8080/TCP (http)
            Host Port:      0/TCP (http)
            State:          Waiting
              Reason:       CrashLoopBackOff
            Last State:     Terminated
              Reason:       Error
              Exit Code:    137
              Started:      Tue, 01 Dec 2026 22:45:00 +0000
              Finished:     Tue, 01 Dec 2026 22:46:00 +0000
            Ready:          False
            Restart Count:  2
            Liveness:       http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3
            Readiness:      exec [cat /tmp/ready] delay=0s timeout=1s period=5s #success=1 #failure=3
            Startup:        tcp-socket :http delay=0s timeout=1s period=10s #success=1 #failure=30
            Environment:
              POD_IP:     (v1:status.podIP)
              POD_NAME:  web-589ccc5944-x7k2p (v1:metadata.name)
              MODE:      prod
            Mounts:      <none>
        Conditions:
          Type                        Status
          PodReadyToStartContainers   True |
          Initialized                 True |
          Ready                       False |
          ContainersReady             False |
          PodScheduled                True |
        Volumes:                      <none>
        QoS Class:                    BestEffort
        Node-Selectors:               <none>
        Tolerations:                  node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                                      node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
        Events:
          Type     Reason     Age                 From               Message
          ----     ------     ----                ----               -------
          Normal   Scheduled  10m                 default-scheduler  Successfully assigned default/web-589ccc5944-x7k2p to worker
          Warning  BackOff    3m (x4 over 9m30s)  kubelet            Back-off restarting failed container web
        """)


def test_a_terminating_pod_says_how_long_it_has_been_terminating_and_its_grace_period():
    pod = bare_pod()
    pod["metadata"]["deletionTimestamp"] = "2026-12-01T22:49:55Z"
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    pod["metadata"]["annotations"] = {}
    pod["spec"]["containers"][0].pop("command")
    pod["spec"]["tolerations"] = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                   "effect": "NoExecute", "tolerationSeconds": 60}]
    killing = event("Pod", "client", "Killing", "Stopping container client", "2026-12-01T22:49:55Z")
    assert describe.describe_pod(pod, [killing], NOW) == text("""
        Name:                      client
        Namespace:                 default
        Priority:                  0
        Service Account:           default
        Node:                      worker/172.18.0.3
        Start Time:                Tue, 01 Dec 2026 22:40:00 +0000
        Labels:                    run=client
        Annotations:               <none>
        Status:                    Terminating (lasts 5s)
        Termination Grace Period:  30s
        IP:                        10.244.1.5
        IPs:
          IP:  10.244.1.5
        Containers:
          client:
            Container ID:   |
            Image:          busybox:1.36
            Image ID:       |
            Port:           <none>
            Host Port:      <none>
            State:          Running
              Started:      Tue, 01 Dec 2026 22:40:01 +0000
            Ready:          True
            Restart Count:  0
            Environment:    <none>
            Mounts:         <none>
        Conditions:
          Type                        Status
          PodReadyToStartContainers   True |
          Initialized                 True |
          Ready                       True |
          ContainersReady             True |
          PodScheduled                True |
        Volumes:                      <none>
        QoS Class:                    BestEffort
        Node-Selectors:               <none>
        Tolerations:                  node.kubernetes.io/not-ready:NoExecute op=Exists for 60s
                                      node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
        Events:
          Type    Reason   Age   From     Message
          ----    ------   ----  ----     -------
          Normal  Killing  5s    kubelet  Stopping container client
        """)


def test_a_deletion_timestamp_still_ahead_reads_invalid_as_in_kubectl():
    pod = bare_pod()
    pod["metadata"]["deletionTimestamp"] = "2026-12-01T22:50:30Z"    # the API server's now + grace
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    assert "Terminating (lasts <invalid>)\n" in describe.describe_pod(pod, [], NOW)


def test_a_finished_pod_being_deleted_shows_its_phase_not_terminating():
    pod = bare_pod()
    pod["metadata"]["deletionTimestamp"] = "2026-12-01T22:49:55Z"
    pod["status"]["phase"] = "Succeeded"
    out = describe.describe_pod(pod, [], NOW)
    assert "Status:           Succeeded\n" in out and "Terminating" not in out


def test_a_pending_pod_has_no_node_address_or_container_state():
    pod = bare_pod()
    del pod["spec"]["nodeName"]
    pod["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available"}]}
    out = describe.describe_pod(pod, [], NOW)
    assert out.startswith(text("""
        Name:             client
        Namespace:        default
        Priority:         0
        Service Account:  default
        Node:             <none>
        Labels:           run=client
        Annotations:      netlab.io/netns: nl-demo-default-client
        Status:           Pending
        IP:               |
        IPs:              <none>
        Containers:
          client:
            Image:      busybox:1.36
            Port:       <none>
            Host Port:  <none>
            Command:
        """))
    assert "State:" not in out and "Restart Count" not in out


def test_probes_print_their_handler_as_kubectl_describe_probe_does():
    probe = describe.describe_probe
    assert probe({"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTPS", "host": "10.0.0.1"},
                  "initialDelaySeconds": 3, "timeoutSeconds": 2}) == \
        "http-get https://10.0.0.1:http/ready delay=3s timeout=2s period=10s #success=1 #failure=3"
    assert probe({"httpGet": {"path": "/a b?x=1", "port": 80}}).startswith("http-get http://:80/a%20b%3Fx=1 ")
    assert probe({"grpc": {"port": 9000}}) == \
        "grpc <pod>:9000  delay=0s timeout=1s period=10s #success=1 #failure=3"
    assert probe({"periodSeconds": 1}) == "unknown delay=0s timeout=1s period=1s #success=1 #failure=3"


def test_tolerations_print_as_kubectl_prints_them_in_key_order():
    pod = bare_pod()
    pod["spec"]["tolerations"] = [
        {"key": "key2", "operator": "Equal", "value": "value2", "effect": "NoSchedule"},
        {"operator": "Exists"},
        {"key": "key0", "operator": "Exists"},
        {"key": "key1", "value": "value1"},
        {"effect": "NoSchedule", "operator": "Exists"},
        {"key": "key4", "effect": "NoExecute", "tolerationSeconds": 60},
    ]
    out = describe.describe_pod(pod, [], NOW)
    tolerations = out[out.index("Tolerations:"):out.index("Events:")].split("\n")
    # a toleration of every key and NoExecute stands in for the two defaults
    assert [line.strip() for line in tolerations] == [
        "Tolerations:                  op=Exists", ":NoSchedule op=Exists", "key0 op=Exists", "key1=value1",
        "key2=value2:NoSchedule", "key4:NoExecute for 60s", ""]


def test_a_fieldref_in_a_pod_template_has_no_value_but_the_space_before_its_path():
    deploy = deployment("nginx:1.26")
    deploy["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}]
    assert "    Environment:\n      POD_NAME:     (v1:metadata.name)\n" in \
        describe.describe_deployment(deploy, [], [], NOW)


def test_mounts_and_volumes_print_in_kubectls_order_and_words():
    pod = bare_pod()
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/var/data"}, {"name": "conf", "mountPath": "/etc/app", "readOnly": True}]
    pod["spec"]["volumes"] = [{"name": "data", "emptyDir": {}},
                              {"name": "conf", "configMap": {"name": "app-config"}}]
    out = describe.describe_pod(pod, [], NOW)
    assert "    Mounts:\n      /etc/app from conf (ro)\n      /var/data from data (rw)\n" in out
    assert text("""
        Volumes:
          data:
            Type:       EmptyDir (a temporary directory that shares a pod's lifetime)
            Medium:     |
            SizeLimit:  <unset>
          conf:
            Type:        ConfigMap (a volume populated by a ConfigMap)
            Name:        app-config
            Optional:    false
        QoS Class:       BestEffort
        Node-Selectors:  <none>
        """) in out


def test_requests_and_limits_decide_the_qos_class():
    def qos(*resources):
        return describe.qos_class({"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]})
    assert qos({}) == "BestEffort"
    assert qos({"requests": {"cpu": "100m"}}) == "Burstable"
    assert qos({"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "1000m", "memory": "128Mi"}}) == \
        "Guaranteed"
    assert qos({"limits": {"cpu": "1", "memory": "128Mi"}}, {}) == "Burstable"


def test_annotations_too_long_for_one_line_get_lines_of_their_own():
    pod = bare_pod()
    pod["metadata"]["annotations"] = {"a": "x" * 150, "b": "one\ntwo",
                                      "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    out = describe.describe_pod(pod, [], NOW)
    assert ("Annotations:      a:\n"
            "                    " + "x" * 138 + "...\n"
            "                  b:\n"
            "                    one\n"
            "                    two\n"
            "Status:") in out


def test_terminal_escapes_in_object_fields_are_defused():
    pod = bare_pod()
    pod["metadata"]["labels"] = {"evil": "\x1b[2J"}
    out = describe.describe_pod(pod, [], NOW)
    assert "\x1b" not in out and "evil=^[[2J" in out


# -- events -------------------------------------------------------------------------------------

def test_only_the_objects_own_events_show_oldest_last_seen_first():
    events = [
        event("Pod", "client", "Pulled", "Container image already present", "2026-12-01T22:40:00Z",
              "2026-12-01T22:47:00Z", count=4),
        event("Pod", "client", "Scheduled", "Successfully assigned default/client to worker",
              "2026-12-01T22:40:00Z", component="default-scheduler"),
        event("Service", "client", "Type", "ClusterIP -> NodePort", "2026-12-01T22:41:00Z"),   # same name
        event("Pod", "client", "Started", "Started container client", "2026-12-01T22:41:00Z",
              namespace="other"),                                                             # other namespace
        event("Pod", "server", "Started", "Started container server", "2026-12-01T22:41:00Z"),
    ]
    out = describe.describe_pod(bare_pod(), events, NOW)
    assert out.endswith(text("""
        Events:
          Type    Reason     Age               From               Message
          ----    ------     ----              ----               -------
          Normal  Scheduled  10m               default-scheduler  Successfully assigned default/client to worker
          Normal  Pulled     3m (x4 over 10m)  kubelet            Container image already present
        """))


def test_an_event_age_follows_kubectl_for_single_repeated_and_unset_times():
    assert describe.event_age(event("Pod", "p", "R", "m", "2026-12-01T22:49:30Z"), NOW) == "30s"
    assert describe.event_age(event("Pod", "p", "R", "m", "2026-12-01T22:40:00Z", "2026-12-01T22:47:00Z",
                                    count=4), NOW) == "3m (x4 over 10m)"
    assert describe.event_age({"count": 1}, NOW) == "<unknown>"


# -- workloads ----------------------------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.26", "ports": [{"containerPort": 80}]}]}}


def deployment(image: str, replicas: int = 4) -> dict:
    """A Deployment as views.deployment_object shows it, mid-rollout."""
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = image
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-1", "generation": 2,
                         "labels": {"app": "web"}, "creationTimestamp": "2026-12-01T22:40:00Z"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template},
            "status": {"replicas": 5, "updatedReplicas": 2, "readyReplicas": 4, "availableReplicas": 3,
                       "unavailableReplicas": 2, "observedGeneration": 2, "conditions": [
                           {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                            "message": "Deployment has minimum availability.", "lastUpdateTime": 1.0e9,
                            "lastTransitionTime": 1.0e9},
                           {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                            "message": 'ReplicaSet "web-6d4b8f7c9" is progressing.'}]}}


def replicaset(name: str, image: str, replicas: int, current: int, revision: int, created: str,
               owner_uid: str = "d-1") -> dict:
    """A Deployment's ReplicaSet as ReplicaSetRecord.document shows it."""
    template_hash = name.rsplit("-", 1)[1]
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["labels"]["pod-template-hash"] = template_hash
    template["spec"]["containers"][0]["image"] = image
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default", "uid": f"rs-{name}",
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}],
                         "creationTimestamp": created},
            "spec": {"replicas": replicas, "minReadySeconds": 0,
                     "selector": {"matchLabels": {"app": "web", "pod-template-hash": template_hash}},
                     "template": template},
            "status": {"replicas": current, "readyReplicas": current, "availableReplicas": current}}


OLD_RS = replicaset("web-589ccc5944", "nginx:1.25", 3, 3, 1, "2026-12-01T22:40:00Z")
NEW_RS = replicaset("web-6d4b8f7c9", "nginx:1.26", 2, 2, 2, "2026-12-01T22:48:00Z")


def test_a_deployment_mid_rollout_names_its_old_and_new_replicasets():
    scaled = event("Deployment", "web", "ScalingReplicaSet", "Scaled up replica set web-6d4b8f7c9 from 1 to 2",
                   "2026-12-01T22:48:00Z", component="deployment-controller")
    other = event("ReplicaSet", "web-6d4b8f7c9", "SuccessfulCreate", "Created pod: web-6d4b8f7c9-abcde",
                  "2026-12-01T22:48:00Z", component="replicaset-controller")
    out = describe.describe_deployment(deployment("nginx:1.26"), [NEW_RS, OLD_RS], [scaled, other], NOW)
    assert out == text("""
        Name:                   web
        Namespace:              default
        CreationTimestamp:      Tue, 01 Dec 2026 22:40:00 +0000
        Labels:                 app=web
        Annotations:            deployment.kubernetes.io/revision: 2
        Selector:               app=web
        Replicas:               4 desired | 2 updated | 5 total | 3 available | 2 unavailable
        StrategyType:           RollingUpdate
        MinReadySeconds:        0
        RollingUpdateStrategy:  25% max unavailable, 25% max surge
        Pod Template:
          Labels:  app=web
          Containers:
           web:
            Image:         nginx:1.26
            Port:          80/TCP
            Host Port:     0/TCP
            Environment:   <none>
            Mounts:        <none>
          Volumes:         <none>
          Node-Selectors:  <none>
          Tolerations:     <none>
        Conditions:
          Type           Status  Reason
          ----           ------  ------
          Available      True    MinimumReplicasAvailable
          Progressing    True    ReplicaSetUpdated
        OldReplicaSets:  web-589ccc5944 (3/3 replicas created)
        NewReplicaSet:   web-6d4b8f7c9 (2/2 replicas created)
        Events:
          Type    Reason             Age   From                   Message
          ----    ------             ----  ----                   -------
          Normal  ScalingReplicaSet  2m    deployment-controller  Scaled up replica set web-6d4b8f7c9 from 1 to 2
        """)


def test_a_scaled_down_old_replicaset_is_still_listed_as_kubectl_1_35_does():
    old = replicaset("web-589ccc5944", "nginx:1.25", 0, 0, 1, "2026-12-01T22:40:00Z")
    out = describe.describe_deployment(deployment("nginx:1.26"), [old, NEW_RS], [], NOW)
    assert "OldReplicaSets:  web-589ccc5944 (0/0 replicas created)\n" in out


def test_the_new_replicaset_is_the_one_whose_template_matches_and_others_are_not_the_deployments():
    stranger = replicaset("web-7f9c8d6b5", "nginx:1.26", 1, 1, 1, "2026-12-01T22:30:00Z", owner_uid="d-other")
    # after an edit the controller has not acted on yet (paused), no ReplicaSet has the new template
    out = describe.describe_deployment(deployment("nginx:1.27"), [OLD_RS, NEW_RS, stranger], [], NOW)
    assert ("OldReplicaSets:  web-589ccc5944 (3/3 replicas created), web-6d4b8f7c9 (2/2 replicas created)\n"
            "NewReplicaSet:   <none>\n") in out


def test_a_recreate_deployment_has_no_rolling_update_line():
    deploy = deployment("nginx:1.26")
    deploy["spec"]["strategy"] = {"type": "Recreate"}
    out = describe.describe_deployment(deploy, [], [], NOW)
    assert "StrategyType:       Recreate\nMinReadySeconds:    0\nPod Template:\n" in out
    assert "OldReplicaSets" not in out


def test_a_replicaset_counts_the_phases_of_only_the_pods_it_controls():
    def pod(name, phase, owner_uid="rs-web-6d4b8f7c9", hash_="6d4b8f7c9"):
        return {"metadata": {"name": name, "namespace": "default",
                             "labels": {"app": "web", "pod-template-hash": hash_},
                             "ownerReferences": [{"kind": "ReplicaSet", "name": "web-6d4b8f7c9",
                                                  "uid": owner_uid, "controller": True}]},
                "status": {"phase": phase}}
    pods = [pod("web-6d4b8f7c9-a", "Running"), pod("web-6d4b8f7c9-b", "Pending"), pod("web-6d4b8f7c9-c", "Failed"),
            pod("x", "Running", owner_uid="rs-someone-else"), pod("y", "Running", hash_="589ccc5944")]
    created = event("ReplicaSet", "web-6d4b8f7c9", "SuccessfulCreate", "Created pod: web-6d4b8f7c9-a",
                    "2026-12-01T22:48:00Z", component="replicaset-controller")
    assert describe.describe_replicaset(NEW_RS, pods, [created], NOW) == text("""
        Name:           web-6d4b8f7c9
        Namespace:      default
        Selector:       app=web,pod-template-hash=6d4b8f7c9
        Labels:         app=web
                        pod-template-hash=6d4b8f7c9
        Annotations:    deployment.kubernetes.io/revision: 2
        Controlled By:  Deployment/web
        Replicas:       2 current / 2 desired
        Pods Status:    1 Running / 1 Waiting / 0 Succeeded / 1 Failed
        Pod Template:
          Labels:  app=web
                   pod-template-hash=6d4b8f7c9
          Containers:
           web:
            Image:         nginx:1.26
            Port:          80/TCP
            Host Port:     0/TCP
            Environment:   <none>
            Mounts:        <none>
          Volumes:         <none>
          Node-Selectors:  <none>
          Tolerations:     <none>
        Events:
          Type    Reason            Age   From                   Message
          ----    ------            ----  ----                   -------
          Normal  SuccessfulCreate  2m    replicaset-controller  Created pod: web-6d4b8f7c9-a
        """)


def test_selectors_print_requirements_in_key_order():
    selector = {"matchLabels": {"tier": "front", "app": "web"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert describe.selector_text(selector) == "app=web,!canary,env in (dev,prod),tier=front"


# -- services -----------------------------------------------------------------------------------

def service(name: str, type_: str, ports: list, **spec) -> dict:
    """A Service as services.allocate leaves it: defaults, addresses and node ports filled in."""
    full = {"selector": {"app": "web"}, "ports": ports, "type": type_, "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"], **spec}
    if type_ != "ClusterIP":
        full.setdefault("externalTrafficPolicy", "Cluster")
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": full}


def endpoint_slice(service_name: str, suffix: str, port_name: str, port: int, addresses: list) -> dict:
    """An EndpointSlice as services.endpoint_slices builds it; a `!` before an address: not ready."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-{suffix}", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [a.lstrip("!")],
                           "conditions": {"ready": not a.startswith("!"), "serving": not a.startswith("!"),
                                          "terminating": False},
                           "nodeName": "worker", "targetRef": {"kind": "Pod", "namespace": "default", "name": a}}
                          for a in addresses],
            "ports": [{"port": port, "protocol": "TCP", "name": port_name}]}


def test_a_cluster_ip_service_lists_the_ready_endpoints_of_its_named_port():
    svc = service("web", "ClusterIP", [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                                       {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}])
    slices = [endpoint_slice("web", "5v8ww", "http", 8080, ["10.244.1.3", "!10.244.2.3", "10.244.2.4"]),
              endpoint_slice("web-canary", "b2c4d", "http", 8080, ["10.244.9.9"])]
    assert describe.describe_service(svc, slices, [], NOW) == text("""
        Name:                     web
        Namespace:                default
        Labels:                   <none>
        Annotations:              <none>
        Selector:                 app=web
        Type:                     ClusterIP
        IP Family Policy:         SingleStack
        IP Families:              IPv4
        IP:                       10.96.0.20
        IPs:                      10.96.0.20
        Port:                     http  80/TCP
        TargetPort:               http/TCP
        Endpoints:                10.244.1.3:8080,10.244.2.4:8080
        Port:                     metrics  9090/TCP
        TargetPort:               9090/TCP
        Endpoints:                |
        Session Affinity:         None
        Internal Traffic Policy:  Cluster
        Events:                   <none>
        """)


def test_a_node_port_service_shows_its_node_port_and_external_traffic_policy():
    svc = service("web-np", "NodePort", [{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}])
    slices = [endpoint_slice("web-np", "k9x2q", "", 8080, ["10.244.1.3", "10.244.2.3", "10.244.2.4",
                                                          "10.244.3.3", "10.244.3.4"])]
    assert describe.describe_service(svc, slices, [], NOW) == text("""
        Name:                     web-np
        Namespace:                default
        Labels:                   <none>
        Annotations:              <none>
        Selector:                 app=web
        Type:                     NodePort
        IP Family Policy:         SingleStack
        IP Families:              IPv4
        IP:                       10.96.0.20
        IPs:                      10.96.0.20
        Port:                     <unset>  80/TCP
        TargetPort:               8080/TCP
        NodePort:                 <unset>  30080/TCP
        Endpoints:                10.244.1.3:8080,10.244.2.3:8080,10.244.2.4:8080 + 2 more...
        Session Affinity:         None
        External Traffic Policy:  Cluster
        Internal Traffic Policy:  Cluster
        Events:                   <none>
        """)


def test_a_load_balancer_shows_its_ingress_and_health_check_node_port():
    svc = service("web-lb", "LoadBalancer", [{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31507}],
                  externalTrafficPolicy="Local", healthCheckNodePort=32730)
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "172.18.255.200", "ipMode": "VIP"}]}}
    out = describe.describe_service(svc, [], [], NOW)
    assert "IPs:                      10.96.0.20\nLoadBalancer Ingress:     172.18.255.200 (VIP)\n" in out
    assert "Endpoints:                <none>\n" in out
    assert ("External Traffic Policy:  Local\nInternal Traffic Policy:  Cluster\n"
            "HealthCheck NodePort:     32730\n") in out


def test_a_port_with_an_app_protocol_shows_it_after_its_target_port():
    # describeService: "AppProtocol:" follows TargetPort when spec.ports[].appProtocol is set
    svc = service("grpc", "ClusterIP", [{"name": "grpc", "port": 50051, "targetPort": 50051, "protocol": "TCP",
                                         "appProtocol": "kubernetes.io/h2c"}])
    slices = [endpoint_slice("grpc", "q7w2e", "grpc", 50051, ["10.244.1.8"])]
    assert describe.describe_service(svc, slices, [], NOW) == text("""
        Name:                     grpc
        Namespace:                default
        Labels:                   <none>
        Annotations:              <none>
        Selector:                 app=web
        Type:                     ClusterIP
        IP Family Policy:         SingleStack
        IP Families:              IPv4
        IP:                       10.96.0.20
        IPs:                      10.96.0.20
        Port:                     grpc  50051/TCP
        TargetPort:               50051/TCP
        AppProtocol:              kubernetes.io/h2c
        Endpoints:                10.244.1.8:50051
        Session Affinity:         None
        Internal Traffic Policy:  Cluster
        Events:                   <none>
        """)


def test_an_external_name_service_has_no_addresses_families_or_internal_policy():
    # describeService over what the API server stores for ExternalName: no cluster IP, no families,
    # no ipFamilyPolicy or internalTrafficPolicy
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
           "spec": {"type": "ExternalName", "externalName": "db.example.com", "sessionAffinity": "None"}}
    assert describe.describe_service(svc, [], [], NOW) == text("""
        Name:              db
        Namespace:         default
        Labels:            <none>
        Annotations:       <none>
        Selector:          <none>
        Type:              ExternalName
        IP Families:       <none>
        IP:                |
        IPs:               <none>
        External Name:     db.example.com
        Session Affinity:  None
        Events:            <none>
        """)


def test_endpoints_count_more_as_upstream_even_past_an_unready_fourth():
    # kubectl's TestDescribeService "test2": the unready 10.244.0.3 is skipped, 10.244.0.5 is the "1 more"
    slices = [endpoint_slice("bar", "12345", "port-tcp", 9527, ["10.244.0.1", "10.244.0.2"]),
              endpoint_slice("bar", "54321", "port-tcp", 9527, ["!10.244.0.3", "10.244.0.4", "10.244.0.5"])]
    assert describe.format_endpoint_slices(slices, "port-tcp") == \
        "10.244.0.1:9527,10.244.0.2:9527,10.244.0.4:9527 + 1 more..."
    # and on reaching a fourth endpoint it says "more" before seeing the fourth is not ready
    slices = [endpoint_slice("bar", "1", "p", 80, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "!10.0.0.4"])]
    assert describe.format_endpoint_slices(slices, "p") == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 0 more..."


# -- layout and dispatch ------------------------------------------------------------------------

def test_columns_align_per_block_of_lines_that_have_the_column_as_go_tabwriter_does():
    assert describe.tabwrite("a:\tx\nlonger:\ty\nbreak\nb:\tz\n") == "a:       x\nlonger:  y\nbreak\nb:  z\n"
    # a column's blocks nest in the blocks of the column to its left; a line's last cell is in none
    assert describe.tabwrite("k\tv\tlong tail\nkk\tvv\n") == "k   v  long tail\nkk  vv\n"
    assert describe.tabwrite("a\tb\nccc\t") == "a  b\nccc"


@pytest.mark.parametrize("kind", ["Pod", "pods", "po"])
def test_describe_dispatches_on_kind_and_its_short_names(kind):
    assert describe.describe(kind, bare_pod(), {}, [], NOW) == describe.describe_pod(bare_pod(), [], NOW)


def test_describe_hands_each_kind_its_related_objects():
    related = {"replicasets": [OLD_RS, NEW_RS], "pods": [], "endpointslices": []}
    assert "NewReplicaSet:   web-6d4b8f7c9" in describe.describe("deploy", deployment("nginx:1.26"), related, [], NOW)
    assert "Pods Status:" in describe.describe("rs", NEW_RS, related, [], NOW)
    svc = service("web", "ClusterIP", [{"port": 80, "targetPort": 80, "protocol": "TCP"}])
    assert "Endpoints:                <none>" in describe.describe("svc", svc, related, [], NOW)


def test_describe_refuses_a_kind_it_cannot_describe():
    with pytest.raises(ValueError, match="no description has been implemented for 'Ingress'"):
        describe.describe("Ingress", {}, {}, [], NOW)
