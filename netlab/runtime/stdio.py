"""A container's stdin and terminal (`stdin`, `stdinOnce`, `tty` in its manifest) and attaching to
them: the attach socket, the init's relay behind it, and the client `kubectl attach` would be.

Only a container that runs a command (mode "exec") has them; netlab's own servers have neither.
Its init (runtime/container.py) holds:
  - tty: the master of a pseudo-terminal whose slave is the main process's fd 0, 1 and 2 and its
    controlling terminal (the process leads a session of its own). What the process writes goes to
    the container's log (as kubelet logs a tty container) and to every attached client; what a
    client sends is written to the master (input only with `stdin: true` too);
  - stdin without tty: the write end of a pipe whose read end is the process's fd 0; its stdout
    and stderr are the log file, as without stdin.

The attach socket, containers/NAME.attach next to NAME.log (AF_UNIX stream, 0600, bound before the
init pivots into the container's root; removed when the main process has ended). Its protocol:

    client -> init   one JSON line: {"rows": R, "cols": C} (both optional: the window size, set on
                     the terminal with TIOCSWINSZ), then raw bytes: the container's stdin.
                     A line {"resize": true, "rows": R, "cols": C} on a connection of its own only
                     resizes the terminal (SIGWINCH), and the init closes it.
    init -> client   one JSON line: {"tty": bool, "stdin": bool, "stdin_once": bool}, then raw
                     bytes: the container's output from now on (the terminal's; without a tty,
                     what its stdout and stderr add to its log).
    detach           the client shuts down its write side. With stdinOnce, the first client's
                     detach closes the container's stdin, as kubelet does (the pipe: the process
                     reads EOF; a terminal: its master is closed, a hangup, as containerd's shim
                     closes the console) and the client keeps receiving output until the end;
                     any other detach ends the connection at once.
    the end          the init closes every connection once the main process has ended and its
                     last output is sent (and its exit recorded in NAME.json).

    attach(state_dir, container, stdin=None, stdout=None, send_stdin=True) -> int
    attachable(state_dir, container) -> bool
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import json
import os
import pathlib
import select
import signal
import socket
import stat
import struct
import sys
import termios
import tty

from netlab.runtime import linux
from netlab.runtime.records import CONTAINERS_DIR, POD_FILE, read

SUFFIX = ".attach"
HELLO_MAX = 4096                  # bytes of a client's first line
OUTPUT_MAX = 8 << 20              # output queued for one client before it is dropped as too slow
INPUT_MAX = 1 << 20               # input queued for the container before clients are not read
CLOSE_TIMEOUT = 2.0               # seconds the init gives a client to take its last output


def socket_name(container: str) -> str:
    """The attach socket's name in the pod's containers/ folder."""
    return container + SUFFIX


def _at(dir_fd: int, name: str) -> str:
    # through the folder's descriptor: a socket's path may not be longer than 107 bytes
    return f"/proc/self/fd/{dir_fd}/{name}"


def _set_window(fd: int, rows, cols) -> None:
    if isinstance(rows, int) and isinstance(cols, int) and 0 < rows < 65536 and 0 < cols < 65536:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


# ---- the init's side ------------------------------------------------------------------------------


def listen(cdir_fd: int, container: str) -> socket.socket:
    """Bind CONTAINER's attach socket in the containers/ folder CDIR_FD (a stale one replaced), root only."""
    name = socket_name(container)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=cdir_fd)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(_at(cdir_fd, name))
    finally:
        os.umask(old_umask)
    listener.listen(16)
    listener.setblocking(False)
    return listener


class _Client:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.hello = bytearray()
        self.attached = False        # its first line has come
        self.reading = True          # its input has not ended
        self.out = bytearray()


class Relay:
    """The init's end: the terminal's master or the stdin pipe, the attach socket and its clients.

    The init calls poll() between its checks for signals, finish() once the main process ended."""

    def __init__(self, listener: socket.socket, *, tty: bool, stdin: bool, stdin_once: bool,
                 master: int | None = None, stdin_w: int | None = None, log_w=None,
                 log_r: int | None = None):
        self.listener = listener
        self.tty, self.stdin, self.stdin_once = tty, stdin, stdin_once
        self.master = master          # tty: output comes from it, input goes to it
        self.log_w = log_w            # tty: the output is logged here too (a logtimes.TimedLog, the init's)
        self.log_r = log_r            # no tty: the log, followed for the clients
        self.input = (master if tty else stdin_w) if stdin else None   # None: input is dropped
        self.stdin_w = stdin_w
        self.pending = bytearray()    # input not yet taken by the container
        self.ending = False           # stdinOnce: close the container's stdin once PENDING is written
        self.clients: list[_Client] = []
        self.once: _Client | None = None          # stdinOnce: the first client
        for fd in (master, stdin_w):
            if fd is not None:
                os.set_blocking(fd, False)

    # -- the loop

    def poll(self, timeout: float) -> None:
        """Wait up to TIMEOUT for anything to relay, and relay it."""
        rlist: list = [self.listener]
        wlist: list = []
        if self.master is not None:
            rlist.append(self.master)
        if self.pending and self.input is not None:
            wlist.append(self.input)
        for cl in self.clients:
            if cl.reading and len(self.pending) < INPUT_MAX:
                rlist.append(cl.sock)
            if cl.out:
                wlist.append(cl.sock)
        ready_r, ready_w, _ = select.select(rlist, wlist, [], timeout)
        if self.listener in ready_r:
            self._accept()
        if self.master is not None and self.master in ready_r:
            self._read_master()
        if self.input is not None and self.input in ready_w:
            self._write_input()
        for cl in list(self.clients):
            if cl.sock in ready_r and cl in self.clients:
                self._read_client(cl)
            if cl.sock in ready_w and cl in self.clients:
                self._flush(cl)
        self._follow_log()

    def finish(self, cdir_fd: int, container: str) -> None:
        """The main process ended: send its last output, and take no new client."""
        if self.master is not None:
            while self.master is not None and self._read_master():
                pass
        self._follow_log()
        with contextlib.suppress(OSError):
            os.unlink(socket_name(container), dir_fd=cdir_fd)
        self.listener.close()

    def close(self) -> None:
        """Give each client its last output, then close everything: the clients see the end."""
        for cl in self.clients:
            try:
                cl.sock.settimeout(CLOSE_TIMEOUT)
                cl.sock.sendall(cl.out, socket.MSG_NOSIGNAL)
            except OSError:
                pass
            cl.sock.close()
        self.clients = []
        self.listener.close()
        for fd in (self.master, self.stdin_w, self.log_r):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.stdin_w = self.log_w = self.log_r = self.input = None

    # -- the container's side

    def _read_master(self) -> bool:
        """Relay what the terminal has; False once it has nothing more for now."""
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno != errno.EIO:   # EIO: no process has the slave open any more
                raise
            data = b""
        if not data:
            self.pending.clear()
            self.ending = False
            self.input = None
            os.close(self.master)
            self.master = None
            return False
        if self.log_w is not None:
            self.log_w.write(data)
        self._broadcast(data)
        return True

    def _follow_log(self) -> None:
        if self.log_r is None or not any(cl.attached for cl in self.clients):
            return
        while data := os.read(self.log_r, 65536):
            self._broadcast(data)

    def _write_input(self) -> None:
        if self.input is not None and self.pending:
            try:
                del self.pending[:os.write(self.input, self.pending)]
            except BlockingIOError:
                pass
            except OSError:          # EPIPE, EIO: nobody reads the container's stdin any more
                self.pending.clear()
        if self.ending and not self.pending:
            self._close_input()

    def _end_input(self) -> None:
        """stdinOnce: the container's stdin ends once what was sent before is written."""
        if self.input is not None:
            self.ending = True
            self._write_input()

    def _close_input(self) -> None:
        """Close the container's stdin: the pipe's write end, or a terminal's master (a hangup:
        SIGHUP to the terminal's session, as containerd's shim closes the console)."""
        self.pending.clear()
        self.ending = False
        self.input = None
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None
        if self.tty and self.master is not None:
            os.close(self.master)
            self.master = None

    # -- the clients' side

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sock.setblocking(False)
            self.clients.append(_Client(sock))

    def _read_client(self, cl: _Client) -> None:
        try:
            data = cl.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._drop(cl)
            return
        if not data:
            self._detached(cl)
            return
        if not cl.attached:
            cl.hello += data
            line, newline, rest = bytes(cl.hello).partition(b"\n")
            if not newline:
                if len(cl.hello) > HELLO_MAX:
                    self._drop(cl)
                return
            try:
                hello = json.loads(line)
                if not isinstance(hello, dict):
                    raise ValueError("not a JSON object")
            except ValueError:
                self._drop(cl)
                return
            if self.master is not None:
                with contextlib.suppress(OSError):
                    _set_window(self.master, hello.get("rows"), hello.get("cols"))
            if hello.get("resize"):
                self._drop(cl)
                return
            if self.log_r is not None and not any(other.attached for other in self.clients):
                os.lseek(self.log_r, 0, os.SEEK_END)     # output from now on
            cl.attached = True
            cl.hello = bytearray()
            if self.stdin_once and self.once is None:
                self.once = cl
            cl.out += json.dumps({"tty": self.tty, "stdin": self.stdin, "stdin_once": self.stdin_once}).encode() + b"\n"
            data = rest
        if data and self.input is not None:
            self.pending += data
            self._write_input()

    def _detached(self, cl: _Client) -> None:
        """CL's input ended: with stdinOnce the container's stdin ends too, and CL waits for the end."""
        cl.reading = False
        if cl.attached and cl is self.once:
            self._end_input()
        else:
            self._drop(cl)

    def _drop(self, cl: _Client) -> None:
        if cl in self.clients:
            self.clients.remove(cl)
        cl.sock.close()
        if cl is self.once and cl.reading:
            self._end_input()               # the first client went away: as a detach
        cl.reading = False

    def _broadcast(self, data: bytes) -> None:
        for cl in list(self.clients):
            if not cl.attached:
                continue
            cl.out += data
            if len(cl.out) > OUTPUT_MAX:
                self._drop(cl)
            else:
                self._flush(cl)

    def _flush(self, cl: _Client) -> None:
        try:
            del cl.out[:cl.sock.send(cl.out, socket.MSG_NOSIGNAL)]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(cl)


# ---- the client's side ----------------------------------------------------------------------------


def _containers_fd(state_dir: str | os.PathLike) -> int:
    return os.open(os.path.join(state_dir, CONTAINERS_DIR), os.O_RDONLY | os.O_DIRECTORY)


def attachable(state_dir: str | os.PathLike, container: str) -> bool:
    """Whether CONTAINER of the pod in STATE_DIR is running with stdin or a terminal to attach to."""
    folder = pathlib.Path(state_dir) / CONTAINERS_DIR
    try:
        if not stat.S_ISSOCK(os.stat(folder / socket_name(container)).st_mode):
            return False
    except OSError:
        return False
    rec = read(folder / f"{container}.json") or {}
    return rec.get("state") == "running" and linux.is_alive(rec.get("pid"), rec.get("pid_start"))


def _not_attachable(state_dir: str | os.PathLike, container: str) -> LookupError:
    """Why CONTAINER cannot be attached to, as an error."""
    pod = read(pathlib.Path(state_dir) / POD_FILE) or {}
    names = [c["name"] for c in pod.get("containers", [])]
    where = f"pod {pod.get('namespace')}/{pod.get('name')}"
    if container not in names:
        return LookupError(f"container {container!r} is not in {where} ({', '.join(names) or 'no containers'})")
    rec = read(pathlib.Path(state_dir) / CONTAINERS_DIR / f"{container}.json") or {}
    if rec.get("state") != "running" or not linux.is_alive(rec.get("pid"), rec.get("pid_start")):
        return LookupError(f"container {container} of {where} is not running")
    return LookupError(f"container {container} of {where} has neither stdin nor a tty to attach to "
                       "(stdin: true or tty: true in its manifest, and a command to run)")


def _connect(state_dir: str | os.PathLike, container: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        dir_fd = _containers_fd(state_dir)
        try:
            sock.connect(_at(dir_fd, socket_name(container)))
        finally:
            os.close(dir_fd)
    except OSError:              # no socket, or one its ended init left behind
        sock.close()
        raise _not_attachable(state_dir, container) from None
    return sock


def _fileno(stream) -> int | None:
    if stream is None or isinstance(stream, int):
        return stream
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _window(*fds: int | None) -> dict:
    """The window size of the first of FDS that is a terminal, as the first line's fields."""
    for fd in fds:
        if fd is not None and os.isatty(fd):
            try:
                size = os.get_terminal_size(fd)
            except OSError:
                continue
            if size.lines and size.columns:
                return {"rows": size.lines, "cols": size.columns}
    return {}


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _writer(sink):
    """How to write bytes to SINK: its descriptor, else its binary buffer, else as UTF-8 text
    (a test's or click's captured stdout has no descriptor)."""
    fd = _fileno(sink)
    if fd is not None:
        if hasattr(sink, "flush"):
            sink.flush()                    # what was printed before comes first
        return lambda data: _write(fd, data)
    binary = getattr(sink, "buffer", None)
    if binary is not None:
        return lambda data: (binary.write(data), binary.flush())
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return lambda data: (sink.write(decoder.decode(data)), sink.flush())


def _read_all(source) -> bytes:
    """All of a file object without a descriptor (its binary buffer if it has one)."""
    data = getattr(source, "buffer", source).read()
    return data.encode() if isinstance(data, str) else data


def _send(sock: socket.socket, data: bytes) -> bool:
    """Send all of DATA; False if the init has closed the connection."""
    try:
        view = memoryview(data)
        while view:
            view = view[sock.send(view, socket.MSG_NOSIGNAL):]
        return True
    except OSError:
        return False


def _read_hello(sock: socket.socket) -> tuple[dict | None, bytes]:
    """The init's first line and what followed it; (None, b"") if it closed first (the container
    ended while we connected)."""
    got = b""
    sock.settimeout(10.0)
    try:
        while b"\n" not in got:
            chunk = sock.recv(65536)
            if not chunk:
                return None, b""
            got += chunk
            if len(got) > HELLO_MAX:
                raise OSError(errno.EPROTO, "the container's init sent no greeting")
    except ConnectionResetError:
        return None, b""
    finally:
        sock.settimeout(None)
    line, _, rest = got.partition(b"\n")
    return json.loads(line), rest


def _resize(state_dir: str | os.PathLike, container: str, fds: tuple) -> None:
    """Send the terminal's new size (SIGWINCH) on a connection of its own."""
    size = _window(*fds)
    if not size:
        return
    try:
        sock = _connect(state_dir, container)
    except LookupError:
        return
    with sock:
        _send(sock, json.dumps(dict(size, resize=True)).encode() + b"\n")


def attach(state_dir: str | os.PathLike, container: str, stdin=None, stdout=None, send_stdin: bool = True) -> int:
    """`kubectl attach -i [-t]`: relay STDIN (default sys.stdin; not read without SEND_STDIN or
    when the container takes no stdin) to CONTAINER and its output to STDOUT (default sys.stdout)
    until the container ends, or until STDIN ends and the container's stdin stays open (not
    stdinOnce); 0. A terminal STDIN is put in raw mode while attached to a tty container.

    STDIN and STDOUT are descriptors or file objects (one without a descriptor: STDIN is read to
    its end first). Raises LookupError when the container is not in the pod, is not running, or
    has neither stdin nor a tty."""
    source = (sys.stdin if stdin is None else stdin) if send_stdin else None
    in_fd = _fileno(source)
    sink = sys.stdout if stdout is None else stdout
    out_fd, write = _fileno(sink), _writer(sink)
    sock = _connect(state_dir, container)
    saved = raw_fd = previous = None
    winch = False
    try:
        _send(sock, json.dumps(_window(out_fd, in_fd)).encode() + b"\n")
        hello, rest = _read_hello(sock)
        if hello is None:
            return 0
        if rest:
            write(rest)
        if not hello.get("stdin"):
            source = in_fd = None
        if in_fd is not None and hello.get("tty") and os.isatty(in_fd):
            import threading        # a client's: not in the container forker (runtime/forker.py)
            if threading.current_thread() is threading.main_thread():     # where Python runs handlers
                fds = (out_fd, in_fd)
                previous = signal.signal(signal.SIGWINCH, lambda *_: _resize(state_dir, container, fds))
                winch = True
            raw_fd, saved = in_fd, termios.tcgetattr(in_fd)
            tty.setraw(in_fd, termios.TCSANOW)
        if in_fd is None and source is not None:
            _send(sock, _read_all(source))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)       # detach
        while True:
            ready = select.select([sock] + ([in_fd] if in_fd is not None else []), [], [])[0]
            if sock in ready:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    return 0
                write(data)
            if in_fd is not None and in_fd in ready:
                try:
                    data = os.read(in_fd, 65536)
                except OSError:          # EIO: a terminal whose other side is gone
                    data = b""
                if not data or not _send(sock, data):
                    in_fd = None
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)       # detach
    finally:
        if winch:
            signal.signal(signal.SIGWINCH, previous if previous is not None else signal.SIG_DFL)
        if saved is not None:
            with contextlib.suppress(termios.error):        # unless the terminal is gone
                termios.tcsetattr(raw_fd, termios.TCSADRAIN, saved)
        sock.close()
