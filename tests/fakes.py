"""In-memory stand-ins for what touches the machine, so the control loops run without root."""

from netlab import lab as lab_mod
from netlab import names, proxier
from netlab.runtime.spec import ContainerStatus, PodStatus


class FakeDataplane(proxier.NodeDataplane):
    """Records restores; every pod runs unless told otherwise."""

    def __init__(self):
        self.restores = []            # [(namespace, text, noflush)] per sync that wrote something
        self.nft_jobs = []            # [(namespace, cleanup, transaction)] per nftables-mode sync
        self.stopped = set()          # pod state dirs whose container has exited

    def netns_id(self, node):
        return hash(node.netns) & 0xFFFF

    def prepare(self, node):
        return False

    def restore(self, backend, jobs, family="IPv4"):
        self.restores.append(list(jobs))

    def nft_apply(self, jobs):
        self.nft_jobs.append(list(jobs))
        return []

    def nft_read(self, node, family="IPv4"):
        return None                   # no table yet: the first sync is a full one

    def delete_udp_conntrack(self, node, filters):
        pass

    def route_client(self, client, routes):
        pass

    def serve_health(self, lab, node, table):
        pass

    def pod_status(self, state_dir):
        if str(state_dir) in self.stopped:
            return PodStatus(1, True, [ContainerStatus("web", "terminated", exit_code=1, finished_at=5.0)])
        return PodStatus(1, True, [ContainerStatus("web", "running", pid=10, started_at=1.0)])


class FakeMachine(lab_mod.Machine):
    """Namespaces that always exist, pods that start at once and run until told otherwise."""

    def __init__(self, lab: str):
        self.lab = lab
        self.proxy = FakeDataplane()
        self.network_built = 0
        self.wired, self.started, self.torn_down = [], [], []
        self.dead = set()                     # pod names whose sandbox has died
        self.resolv_conf = {}                 # pod name -> the resolv.conf it was wired with
        self.dns_records = {}                 # DNS pod's state dir -> the records written for it

    def namespaces_exist(self, spaces):
        return self.network_built > 0

    def ensure_network(self, topology):
        self.network_built += 1

    def pod_alive(self, lab, pod):
        return pod.name not in self.dead

    def teardown_pod(self, lab, topology, pod):
        self.torn_down.append(pod.name)
        self.dead.discard(pod.name)

    def wire_pod(self, lab, topology, pod, resolv_conf=None, hostname=None, domain=None):
        self.wired.append((pod.name, pod.node, pod.ip))
        self.resolv_conf[pod.name] = resolv_conf

    def wiring_batch(self):
        import contextlib
        return contextlib.nullcontext()

    def pod_starter(self):
        machine = self

        class Starter:
            def launch(self, spec):
                machine.started.append(spec.name)

            def abandon(self):
                pass

            def finish(self):
                pass
        return Starter()

    def pod_status(self, state_dir):
        return self.proxy.pod_status(state_dir)

    def wait_answering(self, specs, timeout):
        return []

    def write_dns_records(self, state_dir, text):
        self.dns_records[str(state_dir)] = text


def pod_dir_of(lab: str, record: dict) -> str:
    return str(names.pod_dir(lab, record["namespace"], record["name"], record["uid"]))
