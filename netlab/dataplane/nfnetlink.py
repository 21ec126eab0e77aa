"""Raw nfnetlink requests: enough to create nfacct counters (linux/netfilter/nfnetlink*.h).

kube-proxy creates the counters `ct_state_invalid_dropped_pkts` and `localhost_nps_accepted_pkts`
over netlink before it writes rules that match them (`-m nfacct --nfacct-name ...`); without the
counters such a restore fails. There is no `nfacct` tool on the target VMs, hence these few bytes.
"""

from __future__ import annotations

import errno
import socket
import struct

from netlab.dataplane import netns

NETLINK_NETFILTER = 12
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_CREATE = 0x1, 0x4, 0x300, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
NFNL_SUBSYS_ACCT, NFNL_MSG_ACCT_NEW, NFACCT_NAME = 7, 0, 1
EEXIST = errno.EEXIST

KUBE_PROXY_COUNTERS = ("ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts")


def nla(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def request(subsys: int, msg: int, flags: int, family: int, attrs: bytes = b"") -> int:
    """Send one nfnetlink request from the calling thread's namespace; return 0 or the errno."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.settimeout(2.0)
        sock.bind((0, 0))
        body = struct.pack("=BBH", family, 0, 0) + attrs  # struct nfgenmsg, NFNETLINK_V0
        sock.send(struct.pack("=IHHII", 16 + len(body), (subsys << 8) | msg, flags, 1, 0) + body)
        while True:
            data = sock.recv(65536)
            if not data:
                return errno.EPROTO
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if kind == NLMSG_DONE:
                    return 0
                if kind == NLMSG_ERROR:
                    return -struct.unpack_from("=i", data, off + 16)[0]
                if length < 16:
                    return errno.EPROTO
                off += (length + 3) & ~3
    except OSError as err:
        return err.errno or errno.EIO
    finally:
        sock.close()


def create_counter(name: str) -> int:
    """Create nfacct counter NAME in the calling thread's namespace; 0, or the errno."""
    return request(NFNL_SUBSYS_ACCT, NFNL_MSG_ACCT_NEW, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
                   socket.AF_UNSPEC, nla(NFACCT_NAME, name.encode() + b"\0"))


def ensure_counters(namespace: str, counters=KUBE_PROXY_COUNTERS) -> bool:
    """Create kube-proxy's nfacct counters in NAMESPACE; False when the kernel has no nfacct."""
    with netns.entered(namespace):
        for name in counters:
            # a socket is bound to the namespace it is created in, so create it while inside
            code = create_counter(name)
            if code not in (0, EEXIST):
                return False
    return True
