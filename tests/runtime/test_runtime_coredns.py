"""The CoreDNS image's stand-in (netlab/runtime/coredns.py): when it runs, and how it keeps unbound's
local data following the records file, without unbound (its control calls recorded)."""

import os

from netlab.runtime import command, coredns
from netlab.runtime.spec import ContainerSpec


def _mode(**container):
    spec = ContainerSpec(name="coredns", image=container.pop("image", "registry.k8s.io/coredns/coredns:v1.13.1"),
                         ports=[(53, "UDP"), (53, "TCP")], **container)
    return command.plan_container(spec, {"PATH": command.DEFAULT_PATH}).mode


def test_the_coredns_image_runs_the_cluster_dns_with_no_command_or_with_its_entrypoints_flags():
    assert _mode() == "dns"
    assert _mode(args=["-conf", "/etc/coredns/Corefile"]) == "dns"       # kubeadm's manifest as written
    assert _mode(image="coredns/coredns") == "dns"
    assert _mode(command=["sleep", "infinity"]) == "exec"                # a command of its own runs
    assert _mode(image="example.com/udp-echo") == "builtin"


class Control:
    """unbound-control as recorded calls; REFUSE makes the next call fail."""

    def __init__(self):
        self.calls, self.refuse = [], False

    def __call__(self, *args, lines=None, timeout=10.0):
        self.calls.append((args[0], list(lines or ())))
        if self.refuse:
            self.refuse = False
            return False, "error could not add"
        return True, "ok"


def _write(path, lines):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


def test_records_load_once_then_only_what_changed_and_a_refusal_is_tried_again(tmp_path, monkeypatch):
    control = Control()
    monkeypatch.setattr(coredns, "control", control)
    path = tmp_path / "records"
    records = coredns.Records(str(path), lambda message: None)
    records.follow()
    assert control.calls == [] and not records.ready            # no file yet: not ready
    a, b = "a.cluster.local. 30 IN A 10.96.0.1", "b.cluster.local. 30 IN A 10.96.0.2"
    _write(path, [a, b])
    records.follow()
    assert control.calls == [("local_datas", [a, b])] and records.ready
    records.follow()
    assert len(control.calls) == 1                              # the same file: nothing to do
    b2 = "b.cluster.local. 30 IN A 10.96.0.3"
    _write(path, [a, b2])
    control.refuse = True
    records.follow()                                            # removal refused: nothing counted as done
    records.follow()
    assert control.calls[1:] == [("local_datas_remove", ["b.cluster.local."]),
                                 ("local_datas_remove", ["b.cluster.local."]), ("local_datas", [b2])]
    assert records.loaded == [a, b2]


def test_metrics_are_unbounds_counters_in_prometheus_text():
    text = coredns.metrics_text("total.num.queries=12\nnum.query.type.A=9\nnum.answer.rcode.NXDOMAIN=3\n")
    assert text == ("unbound_total_num_queries 12\nunbound_num_query_type_A 9\n"
                    "unbound_num_answer_rcode_NXDOMAIN 3\n")


def test_the_unbound_configuration_answers_the_cluster_zone_and_nothing_else_from_its_own_data():
    config = coredns.unbound_config()
    assert 'local-zone: "." static' in config and 'local-zone: "cluster.local." static' in config
    assert f"control-interface: {coredns.CONTROL_SOCKET}" in config and "port: 53" in config
