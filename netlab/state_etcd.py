"""A lab's state kept in etcd instead of its file: the store of a lab that spans machines.

Why etcd: it is the store Kubernetes itself keeps its objects in, made for exactly this (one
consistent copy that every machine reads and writes, a lease-based lock, and watches), so a lab
across machines needs no replication of its own. Debian packages it (`etcd-server`); netlab talks
to it with etcd3gw, OpenStack's client for etcd's v3 JSON gateway (served at /v3/ from etcd 3.4).

netlab/state.py sends an etcd-backed lab here (its machine's pointer /run/netlab/LAB/store.json
names the endpoint), behind the same functions as the file. The keys, under /netlab/labs/LAB/:

    state               the LabState JSON, the very text the file backend writes to state.json
    saved               {"writer", "notify"} of the last save, put in the same transaction: what
                        watchers watch (a watch on `state` would stream the whole state, megabytes
                        for a big lab, to every watcher on every save)
    lock                while a command holds the lab, who it is ({"pid", "start", "boot",
                        "host", "since"}), attached to the holder's lease, kept alive while held
    state.corrupt-TIME  a damaged state, moved aside by the load that found it

A lab is gone, for a supervisor's lock, when its `state` key is: `forget` deletes every key.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from typing import Callable
from urllib.parse import urlsplit

import requests
from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception
from etcd3gw.lease import Lease

from netlab.state import LabBusy, LabGone, LabState, StoreError, damaged_state, parse_state

API_PATH = "/v3/"           # etcd 3.4's gateway (3.3 had /v3beta/); set, not discovered with a request
REQUEST_TIMEOUT = 10.0      # seconds for one request: an etcd that does not answer is an error, not a hang
LOCK_TTL = 60               # seconds a lock outlives a holder that died without letting go
KEEPALIVE_EVERY = 5.0       # seconds between a holder's lease refreshes: many tries before LOCK_TTL runs out
LOCK_RETRY = 0.05           # seconds between a waiter's tries, as the file lock's
WATCH_RETRY = (0.2, 2.0)    # seconds before a broken watch is opened again: first, at most


class LockLost(LabBusy):
    """A save by a command whose lock on the lab ran out (its lease expired): nothing was written."""


def prefix(lab: str) -> str:
    """Where every key of the lab is (the slash keeps lab "ab" out of lab "abc")."""
    return f"/netlab/labs/{lab}/"


def state_key(lab: str) -> str:
    """The key of the lab's state."""
    return prefix(lab) + "state"


def saved_key(lab: str) -> str:
    """The key each save also writes, and watches watch."""
    return prefix(lab) + "saved"


def lock_key(lab: str) -> str:
    """The key of the lab's lock."""
    return prefix(lab) + "lock"


# -- talking to etcd ----------------------------------------------------------------------------

_clients = threading.local()         # a client (its own HTTP session) per thread and endpoint


def new_client(endpoint: str) -> Etcd3Client:
    """An etcd3gw client for ENDPOINT ("http://ADDR:PORT")."""
    parts = urlsplit(endpoint)
    return Etcd3Client(host=parts.hostname, port=parts.port, protocol=parts.scheme, api_path=API_PATH,
                       timeout=REQUEST_TIMEOUT)


def client(endpoint: str) -> Etcd3Client:
    """This thread's client for ENDPOINT (kept: each opens its own connections)."""
    cache = getattr(_clients, "by_endpoint", None)
    if cache is None:
        cache = _clients.by_endpoint = {}
    if endpoint not in cache:
        cache[endpoint] = new_client(endpoint)
    return cache[endpoint]


@contextmanager
def talking(lab: str, endpoint: str):
    """Turn what etcd3gw and requests raise into StoreError, naming the lab and the etcd."""
    try:
        yield
    except (ConnectionFailedError, ConnectionTimeoutError) as err:
        raise StoreError(f"lab {lab!r}: etcd at {endpoint} is unreachable: {_short(_detail(err))}") from None
    except Etcd3Exception as err:
        detail = _detail(err)
        hint = ""
        if "request is too large" in detail:
            # etcd refuses a request over --max-request-bytes (1.5 MiB by default)
            hint = "; start etcd with a larger --max-request-bytes"
        raise StoreError(f"lab {lab!r}: etcd at {endpoint}: {_short(detail)}{hint}") from None
    except requests.RequestException as err:
        raise StoreError(f"lab {lab!r}: etcd at {endpoint}: {_short(str(err))}") from None


def _detail(err: Etcd3Exception) -> str:
    """What etcd said: the gateway's JSON error's message, else whatever etcd3gw kept."""
    text = err.detail_text or " ".join(str(a) for a in err.args) or type(err).__name__
    try:
        return str(json.loads(text)["message"])
    except (ValueError, KeyError, TypeError):
        return text


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _compare(key: str, target: str, result: str, value) -> dict:
    field = {"CREATE": "create_revision", "MOD": "mod_revision", "VALUE": "value"}[target]
    return {"key": _encode(key), "target": target, "result": result,
            field: _encode(value) if target == "VALUE" else value}


def _put(key: str, value: str | bytes, lease: int | None = None) -> dict:
    request = {"key": _encode(key), "value": _encode(value)}
    if lease is not None:
        request["lease"] = lease
    return {"request_put": request}


def _range(key: str, keys_only: bool = False) -> dict:
    return {"request_range": {"key": _encode(key), "keys_only": keys_only}}


def _found(response: dict) -> dict | None:
    """The one key-value a request_range in a transaction found (its value decoded), or None."""
    kvs = response.get("response_range", {}).get("kvs") or []
    if not kvs:
        return None
    found = dict(kvs[0])
    found["value"] = _decode(found.get("value", ""))
    return found


def _encode(value: str | bytes) -> str:
    """A key or value as the JSON gateway carries it: base64."""
    return base64.b64encode(value.encode("utf-8") if isinstance(value, str) else value).decode("ascii")


def _decode(text: str) -> str:
    return base64.b64decode(text).decode("utf-8", "replace")


# -- who is asking ------------------------------------------------------------------------------

_identity: dict = {}


def me() -> dict:
    """This process, as the lock and the saved key record it: pid and start time in its pid
    namespace on this boot of this host (together they name one process for ever; the boot id
    tells machines, and boots, apart)."""
    pid = os.getpid()
    if _identity.get("pid") != pid:          # computed once a process (a fork is another one)
        from netlab.runtime import linux
        try:
            with open("/proc/sys/kernel/random/boot_id") as handle:
                boot = handle.read().strip()
            pidns = os.stat("/proc/self/ns/pid").st_ino
        except OSError:
            boot = pidns = None
        _identity.clear()
        _identity.update(pid=pid, start=linux.starttime(pid), boot=boot, pidns=pidns, host=socket.gethostname())
    return dict(_identity)


def _here(record: dict) -> bool:
    """Whether RECORD (a me() of some process) is of this boot and pid namespace: its pid is one we can look up."""
    mine = me()
    return mine["boot"] is not None and all(record.get(name) == mine[name] for name in ("boot", "pidns"))


def _same_process(record: dict) -> bool:
    return _here(record) and all(record.get(name) == me()[name] for name in ("pid", "start"))


# What this process holds and last read, per (endpoint, lab): the token its lock key holds, and the
# state text it last loaded or saved while holding it.
_held: dict = {}
_seen: dict = {}


# -- the state ----------------------------------------------------------------------------------

def load(lab: str, endpoint: str) -> LabState | None:
    """The lab's state from etcd, or None when it has none; a damaged one is moved aside to
    state.corrupt-TIME and StateDamaged raised, as the file backend does."""
    etcd = client(endpoint)
    with talking(lab, endpoint):
        found = etcd.get(state_key(lab), metadata=True)
    if not found:
        return None
    value, meta = found[0]
    try:
        text = value.decode("utf-8")
        st = parse_state(lab, text)
    except ValueError as err:
        raise damaged_state(lab, f"its state in etcd at {endpoint}", str(err),
                            _move_aside(lab, endpoint, value, meta["mod_revision"])) from None
    if (endpoint, lab) in _held:
        _seen[(endpoint, lab)] = text
    return st


def _move_aside(lab: str, endpoint: str, value: bytes, revision) -> str:
    """Move the damaged VALUE of the lab's state key (if it is still the one at REVISION) to a key
    of its own; which key now holds it."""
    aside = f"{state_key(lab)}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
    txn = {"compare": [_compare(state_key(lab), "MOD", "EQUAL", int(revision))],
           "success": [_put(aside, value),
                       {"request_delete_range": {"key": _encode(state_key(lab))}}],
           "failure": []}
    try:
        with talking(lab, endpoint):
            moved = client(endpoint).transaction(txn).get("succeeded", False)
    except StoreError:
        moved = False
    return f"key {aside}" if moved else f"key {state_key(lab)}"


def save(st: LabState, endpoint: str, notify: bool = True) -> None:
    """Put the state to etcd with the saved key, in one transaction. Under this process's lock,
    the put is made only while the lock is still ours (else LockLost), and a state that is what
    etcd already holds is not put again: a write that changes nothing wakes no one, as the API
    server writes no unchanged object. NOTIFY False marks the write as no news to this process's
    own watch (the supervisor's own writes, as notify_watcher says)."""
    lab, text = st.lab, st.to_json()
    token = _held.get((endpoint, lab))
    if token is not None and _seen.get((endpoint, lab)) == text:
        return
    saved = json.dumps({"writer": me(), "notify": notify}, sort_keys=True)
    txn = {"compare": [_compare(lock_key(lab), "VALUE", "EQUAL", token)] if token is not None else [],
           "success": [_put(state_key(lab), text), _put(saved_key(lab), saved)],
           "failure": [_range(lock_key(lab))]}
    with talking(lab, endpoint):
        result = client(endpoint).transaction(txn)
    if not result.get("succeeded"):
        now = _found(result["responses"][0])
        raise LockLost(f"lab {lab!r}: this command's lock on it ran out in etcd at {endpoint} "
                       f"({describe_holder(now['value']) + ' holds it now' if now else 'no one holds it now'}); "
                       f"its last change was not saved")
    if token is not None:
        _seen[(endpoint, lab)] = text


def has_state(lab: str, endpoint: str) -> bool:
    """Whether the lab's state key is in etcd."""
    with talking(lab, endpoint):
        return bool(client(endpoint).get(state_key(lab), keys_only=True))


def forget(lab: str, endpoint: str) -> None:
    """Delete every key of the lab (its state, lock and copies moved aside) from etcd."""
    with talking(lab, endpoint):
        client(endpoint).delete_prefix(prefix(lab))
    _seen.pop((endpoint, lab), None)


# -- the lock -----------------------------------------------------------------------------------

@contextmanager
def locked(lab: str, endpoint: str, wait: float = 30.0, create: bool = True):
    """Hold the lab's lock in etcd (its lock key, created only while absent, on a lease of this
    command's), for every machine of the lab at once. The lease is kept alive while waited for
    and held, so a long wait or a long `up` keeps it, and revoked on the way out; a holder that
    died lets go when its lease runs out (at once when it ran on this machine: its lease is
    revoked for it). Without CREATE, LabGone once the lab's state is gone; LabBusy naming the
    holder after WAIT seconds."""
    etcd = client(endpoint)
    token = json.dumps(dict(me(), since=time.time()), sort_keys=True)
    with talking(lab, endpoint):
        lease = etcd.lease(LOCK_TTL)
    keeper = _LeaseKeeper(lab, endpoint, lease.id)
    try:
        _acquire(lab, endpoint, lease.id, token, wait, create)
        _held[(endpoint, lab)] = token
        _seen.pop((endpoint, lab), None)        # what was read before the lock is no one's to trust
        try:
            yield
        finally:
            _held.pop((endpoint, lab), None)
            _seen.pop((endpoint, lab), None)
    finally:
        keeper.stop()
        try:
            with talking(lab, endpoint):
                lease.revoke()                  # the lock key goes with it
        except StoreError:
            pass                                # unreachable now: the lease runs out by itself


def _acquire(lab: str, endpoint: str, lease: int, token: str, wait: float, create: bool) -> None:
    etcd = client(endpoint)
    compare = [_compare(lock_key(lab), "CREATE", "EQUAL", 0)]
    if not create:
        compare.append(_compare(state_key(lab), "CREATE", "GREATER", 0))
    txn = {"compare": compare, "success": [_put(lock_key(lab), token, lease)],
           "failure": [_range(lock_key(lab)), _range(state_key(lab), keys_only=True)]}
    deadline = time.monotonic() + wait
    while True:
        with talking(lab, endpoint):
            result = etcd.transaction(txn)
        if result.get("succeeded"):
            return
        holding, state = (_found(response) for response in result["responses"])
        if not create and state is None:
            raise LabGone(f"lab {lab!r} is gone")
        if holding is not None and _died_here(holding["value"]):
            with talking(lab, endpoint):       # its lease would keep the lab for LOCK_TTL seconds more
                Lease(int(holding["lease"]), client=etcd).revoke()
            continue
        if time.monotonic() > deadline:
            who = describe_holder(holding["value"]) if holding else "another netlab command"
            raise LabBusy(f"lab {lab!r} is busy: {who} holds its lock in etcd at {endpoint}") from None
        time.sleep(LOCK_RETRY)


def _died_here(value: str) -> bool:
    """Whether the holder VALUE names a process of this machine (this boot, this pid namespace) that has ended."""
    from netlab.runtime import linux
    try:
        record = json.loads(value)
        return _here(record) and not linux.is_alive(record.get("pid"), record.get("start"))
    except (ValueError, AttributeError):
        return False


def describe_holder(value: str) -> str:
    """A lock holder as the busy message names it: "pid N on HOST, since T,"."""
    try:
        record = json.loads(value)
        since = time.strftime("%H:%M:%S", time.localtime(record["since"]))
        return f"pid {record['pid']} on {record['host']}, since {since},"
    except (ValueError, KeyError, TypeError):
        return "another netlab command"


def holder(lab: str, endpoint: str) -> str:
    """Who holds the lab's lock in etcd, as its lock key says (or "another netlab command")."""
    with talking(lab, endpoint):
        found = client(endpoint).get(lock_key(lab))
    return describe_holder(found[0].decode("utf-8", "replace")) if found else "another netlab command"


class _LeaseKeeper:
    """Refreshes a lock's lease every KEEPALIVE_EVERY seconds, on a daemon thread of its own (with
    its own client: an `up` holding the lock may be busy in a request of its own)."""

    def __init__(self, lab: str, endpoint: str, lease: int):
        self.lab, self.endpoint, self.lease = lab, endpoint, lease
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"etcd lease {lab}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        etcd = new_client(self.endpoint)
        lease = Lease(self.lease, client=etcd)
        while not self.stopped.wait(KEEPALIVE_EVERY):
            try:
                lease.refresh()
            except (Etcd3Exception, requests.RequestException):
                pass            # tried again in KEEPALIVE_EVERY; a lease that ran out fails the next save
        etcd.session.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(REQUEST_TIMEOUT + 1.0)


# -- the watch ----------------------------------------------------------------------------------

def watch(lab: str, endpoint: str, wake: Callable[[], None]) -> Callable[[], None]:
    """Call WAKE() after each save of the lab (and when its keys are deleted) by any process on any
    machine, but this process's own saves with notify off; from a daemon thread that opens the watch
    again whenever it breaks. Returns stop(), which ends the thread at once."""
    watcher = _Watcher(lab, endpoint, wake)
    return watcher.stop


class _Watcher:
    """A watch on the lab's saved key, as one long-lived streamed request to etcd's gateway.

    etcd3gw's own Watcher gives no sign when its stream ends, so one that broke (etcd restarted,
    the network dropped) would wait for ever: this reads the stream itself, and opens it again from
    the revision after the last one it saw, so no save made meanwhile is missed."""

    def __init__(self, lab: str, endpoint: str, wake: Callable[[], None]):
        self.lab, self.endpoint, self.wake = lab, endpoint, wake
        self.stopped = threading.Event()
        self.response = None
        self.guard = threading.Lock()
        self.etcd = new_client(endpoint)
        # read now, so that a save made once watch() has returned is seen whatever the thread's pace
        try:
            with talking(lab, endpoint):
                self.revision = self._current_revision() + 1
        except StoreError:
            self.revision = None            # the thread starts from whatever is current, and wakes once
        self.thread = threading.Thread(target=self._run, name=f"etcd watch {lab}", daemon=True)
        self.thread.start()

    def _current_revision(self) -> int:
        answer = self.etcd.post(self.etcd.get_url("/kv/range"), json={"key": _encode(saved_key(self.lab)),
                                                                      "count_only": True})
        return int(answer["header"]["revision"])

    def _run(self) -> None:
        delay = WATCH_RETRY[0]
        while not self.stopped.is_set():
            try:
                if self._follow():
                    delay = WATCH_RETRY[0]          # it had been open: the next break is news
            except (Etcd3Exception, requests.RequestException, ValueError, KeyError, OSError):
                pass
            if self.stopped.wait(delay):
                break
            delay = min(delay * 2, WATCH_RETRY[1])
        self.etcd.session.close()

    def _follow(self) -> bool:
        """Read one watch stream until it ends; whether it was opened."""
        unknown = self.revision is None
        if unknown:
            self.revision = self._current_revision() + 1
        request = {"key": _encode(saved_key(self.lab)), "start_revision": self.revision}
        response = self.etcd.session.post(self.etcd.get_url("/watch"), json={"create_request": request},
                                          stream=True, timeout=(REQUEST_TIMEOUT, None))
        with self.guard:
            self.response = response
        if self.stopped.is_set() or response.status_code != 200:
            response.close()
            return False
        if unknown:
            self.wake()             # what was saved while no watch was open cannot be told: look
        try:
            for line in response.iter_lines(chunk_size=None):
                if not line.strip():
                    continue
                result = json.loads(line).get("result") or {}
                if int(result.get("compact_revision") or 0):
                    # the revisions it missed are compacted away: start from now (and look once)
                    self.revision = None
                    return True
                if result.get("canceled"):
                    return True
                for event in result.get("events") or ():
                    self.revision = int(event["kv"]["mod_revision"]) + 1
                    if not self._own_quiet_write(event):
                        self.wake()
        finally:
            with self.guard:
                self.response = None
            response.close()
        return True

    def _own_quiet_write(self, event: dict) -> bool:
        """Whether EVENT is a save by this very process with notify off (the supervisor's own)."""
        if event.get("type") == "DELETE":
            return False
        try:
            saved = json.loads(_decode(event["kv"].get("value", "")))
            return saved.get("notify") is False and _same_process(saved.get("writer") or {})
        except (ValueError, AttributeError):
            return False

    def stop(self) -> None:
        self.stopped.set()
        with self.guard:
            response = self.response
            if response is not None:
                # the thread is blocked reading the stream: shutting the socket down ends that read
                try:
                    with socket.socket(fileno=os.dup(response.raw.fileno())) as sock:
                        sock.shutdown(socket.SHUT_RDWR)
                except (OSError, ValueError, AttributeError):
                    pass
        self.thread.join(2.0)
