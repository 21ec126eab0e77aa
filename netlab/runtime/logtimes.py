"""When each line of a container's log was written: the index beside the log that kubelet's CRI log
format keeps inline, for `logs --timestamps`, `--since` and `--since-time`.

The log itself (containers/NAME.log) stays exactly what the container wrote. Beside it,
containers/NAME.log.times has one line per chunk its writer received, `OFFSET NANOSECONDS`: the
chunk began at byte OFFSET of the log and was read at that time (Unix time in ns). A line's time is
that of the chunk holding its first byte, as kubelet stamps a line when the runtime reads it
(pkg/kubelet/kuberuntime/logs: each CRI log line begins with the time the runtime wrote it).

Writers: the container's init relays its main process's stdout and stderr through a pipe
(LogRelay); netlab's own servers, when they are PID 1 with no init above them, write through a
TimedLog themselves; a terminal's output is logged by the attach relay through a TimedLog too.
"""

from __future__ import annotations

import bisect
import datetime
import os
import select
import time
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

TIMES_SUFFIX = ".times"


def times_name(log_name: str) -> str:
    """The index file's name beside the log LOG_NAME (NAME.log -> NAME.log.times)."""
    return log_name + TIMES_SUFFIX


class TimedLog:
    """Appends to a log and its time index; the only writer of both (so offsets are exact)."""

    def __init__(self, log_fd: int, times_fd: int):
        self.log_fd = log_fd
        self.times_fd = times_fd
        self.offset = os.lseek(log_fd, 0, os.SEEK_END)

    def write(self, data: bytes) -> None:
        if not data:
            return
        os.write(self.times_fd, f"{self.offset} {time.time_ns()}\n".encode())
        view = memoryview(data)
        while view:
            view = view[os.write(self.log_fd, view):]
        self.offset += len(data)


def open_timed(log_fd: int, dir_fd: int, log_name: str) -> TimedLog:
    """A TimedLog over LOG_FD, its index opened (made) beside LOG_NAME in the directory DIR_FD."""
    times_fd = os.open(times_name(log_name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644,
                       dir_fd=dir_fd)
    return TimedLog(log_fd, times_fd)


class LogRelay:
    """A thread copying what the container writes to a pipe into its TimedLog, until finish()."""

    def __init__(self, pipe_r: int, log: TimedLog):
        self.pipe_r = pipe_r
        self.log = log
        self._stop_r, self._stop_w = os.pipe()
        import threading        # in the container's init, not in the forker (runtime/forker.py)
        self._thread = threading.Thread(target=self._run, name="log-relay", daemon=True)

    def start(self) -> "LogRelay":
        self._thread.start()
        return self

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.pipe_r, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self.pipe_r in ready and not self._copy(block=True):
                return                       # every writer has closed it
            if self._stop_r in ready:
                # the main process has ended: what is in the pipe now is its last output; what its
                # leftover children write later is not waited for
                os.set_blocking(self.pipe_r, False)
                while self._copy(block=False):
                    pass
                return

    def _copy(self, block: bool) -> bool:
        try:
            data = os.read(self.pipe_r, 65536)
        except BlockingIOError:
            return False
        if data:
            self.log.write(data)
        return bool(data)

    def finish(self) -> None:
        """Write what the pipe holds now, then stop (before the container's end is recorded)."""
        os.write(self._stop_w, b"x")
        self._thread.join()


# -- reading


@dataclass(frozen=True)
class TimedLine:
    """One line of a log (with its newline, if it has one), when it was written (ns), and its
    length in the log (bytes)."""

    time_ns: int
    text: str
    length: int


def parse_times(text: str) -> List[Tuple[int, int]]:
    """The index's (offset, ns) entries in order; a torn last line (a writer killed mid-write) is left out."""
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            entries.append((int(parts[0]), int(parts[1])))
    entries.sort()
    return entries


def timed_lines(data: bytes, entries: Sequence[Tuple[int, int]], start: int = 0,
                default_ns: int = 0) -> List[TimedLine]:
    """DATA (the log from byte START on) split into lines, each with the time of the index entry at
    or before its first byte (DEFAULT_NS before the first entry: output no writer stamped)."""
    offsets = [offset for offset, _ in entries]
    out = []
    position = 0
    for raw in data.splitlines(keepends=True):
        at = bisect.bisect_right(offsets, start + position) - 1
        out.append(TimedLine(entries[at][1] if at >= 0 else default_ns, raw.decode(errors="replace"), len(raw)))
        position += len(raw)
    return out


def read_timed(log_path: str | os.PathLike, default_ns: int = 0) -> List[TimedLine]:
    """A log file's lines with their times (DEFAULT_NS for lines written without an index)."""
    with open(log_path, "rb") as f:
        data = f.read()
    try:
        with open(f"{log_path}{TIMES_SUFFIX}") as f:
            entries = parse_times(f.read())
    except FileNotFoundError:
        entries = []
    return timed_lines(data, entries, default_ns=default_ns)


def since(lines: Iterable[TimedLine], cutoff_ns: Optional[int]) -> List[TimedLine]:
    """The lines written at or after CUTOFF_NS (all of them when None)."""
    return [line for line in lines if cutoff_ns is None or line.time_ns >= cutoff_ns]


def rfc3339_nano(time_ns: int) -> str:
    """kubectl logs --timestamps' stamp: kubelet's RFC3339NanoFixed (pkg/kubelet/types), UTC with
    all nine digits of nanoseconds."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def render(lines: Iterable[TimedLine], timestamps: bool) -> str:
    """The lines as `kubectl logs` prints them (each after its time and a space with TIMESTAMPS)."""
    if not timestamps:
        return "".join(line.text for line in lines)
    return "".join(f"{rfc3339_nano(line.time_ns)} {line.text}" for line in lines)


def select_lines(lines: Sequence[TimedLine], tail: int = -1, since_ns: Optional[int] = None,
                 timestamps: bool = False, limit_bytes: Optional[int] = None) -> str:
    """What `kubectl logs` prints of LINES, in kubelet's order (ReadLogs): the last TAIL lines
    (all when negative), of those the ones written at or after SINCE_NS, each stamped with
    TIMESTAMPS, cut after LIMIT_BYTES."""
    chosen = list(lines) if tail < 0 else (list(lines)[-tail:] if tail else [])
    text = render(since(chosen, since_ns), timestamps)
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text


class Follower:
    """Stamps what a followed log gains (`logs -f --timestamps`): complete lines as they come,
    a last unterminated line at the end."""

    def __init__(self, log_path: str | os.PathLike, offset: int, timestamps: bool, default_ns: int = 0):
        self.times_path = f"{log_path}{TIMES_SUFFIX}"
        self.offset = offset            # of the first byte not printed yet
        self.pending = b""
        self.timestamps = timestamps
        self.default_ns = default_ns

    def feed(self, data: bytes, final: bool = False) -> str:
        """The text to print for DATA (the log's next bytes); FINAL: the log has ended."""
        if not self.timestamps:
            return data.decode(errors="replace")
        data = self.pending + data
        cut = len(data) if final else data.rfind(b"\n") + 1
        whole, self.pending = data[:cut], data[cut:]
        if not whole:
            return ""
        try:
            with open(self.times_path) as f:
                entries = parse_times(f.read())
        except FileNotFoundError:
            entries = []
        text = render(timed_lines(whole, entries, start=self.offset, default_ns=self.default_ns), True)
        self.offset += len(whole)
        return text
