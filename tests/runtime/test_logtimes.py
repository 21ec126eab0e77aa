"""When each log line was written (netlab/runtime/logtimes.py): the index, the lines' times, and
`kubectl logs`' selection in kubelet's order (pkg/kubelet/kuberuntime/logs/logs.go ReadLogs)."""

import os

from netlab.runtime import logtimes
from netlab.runtime.logtimes import TimedLine

S = 1_000_000_000


def _lines(*pairs):
    return [TimedLine(t, text, len(text.encode())) for t, text in pairs]


def test_each_line_has_the_time_of_the_chunk_holding_its_first_byte():
    data = b"one\ntwo\nthree\nfour"
    # chunk 1 at 0: "one\ntw"; chunk 2 at 6: "o\nthree\n"; chunk 3 at 14: "four"
    lines = logtimes.timed_lines(data, [(0, 10), (6, 20), (14, 30)])
    assert [(line.time_ns, line.text) for line in lines] == [(10, "one\n"), (10, "two\n"), (20, "three\n"),
                                                           (30, "four")]
    assert sum(line.length for line in lines) == len(data)


def test_output_before_any_index_entry_gets_the_default_time():
    lines = logtimes.timed_lines(b"early\nlate\n", [(6, 50)], default_ns=5)
    assert [line.time_ns for line in lines] == [5, 50]


def test_a_torn_last_index_line_is_left_out():
    assert logtimes.parse_times("0 10\n6 20\n14 3") == [(0, 10), (6, 20), (14, 3)]
    assert logtimes.parse_times("0 10\n6 2x\n14") == [(0, 10)]


def test_timestamps_are_kubelets_fixed_nanosecond_rfc3339():
    assert logtimes.rfc3339_nano(1_764_000_000 * S + 5) == "2025-11-24T16:00:00.000000005Z"
    assert logtimes.rfc3339_nano(0) == "1970-01-01T00:00:00.000000000Z"


def test_tail_is_taken_before_since_as_kubelet_reads_logs():
    lines = _lines((1 * S, "a\n"), (2 * S, "b\n"), (3 * S, "c\n"), (4 * S, "d\n"))
    assert logtimes.select_lines(lines, since_ns=3 * S) == "c\nd\n"
    assert logtimes.select_lines(lines, tail=3, since_ns=2 * S) == "b\nc\nd\n"
    assert logtimes.select_lines(lines, tail=1, since_ns=2 * S) == "d\n"
    assert logtimes.select_lines(lines, tail=0) == ""
    assert logtimes.select_lines(lines, tail=2, timestamps=True) == \
        "1970-01-01T00:00:03.000000000Z c\n1970-01-01T00:00:04.000000000Z d\n"


def test_limit_bytes_cuts_the_stamped_output():
    lines = _lines((1 * S, "abc\n"), (2 * S, "def\n"))
    assert logtimes.select_lines(lines, limit_bytes=6) == "abc\nde"
    assert logtimes.select_lines(lines, timestamps=True, limit_bytes=31) == "1970-01-01T00:00:01.000000000Z "


def test_a_timed_log_indexes_each_write_at_its_offset(tmp_path):
    log_fd = os.open(tmp_path / "c.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(log_fd, b"before\n")                 # written by no TimedLog: unstamped
    dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        log = logtimes.open_timed(log_fd, dir_fd, "c.log")
        log.write(b"first\nsec")
        log.write(b"ond\n")
        log.write(b"")
    finally:
        os.close(dir_fd)
        os.close(log_fd)
    entries = logtimes.parse_times((tmp_path / "c.log.times").read_text())
    assert [offset for offset, _ in entries] == [7, 16]
    lines = logtimes.read_timed(tmp_path / "c.log", default_ns=1)
    assert [line.text for line in lines] == ["before\n", "first\n", "second\n"]
    assert [line.time_ns for line in lines] == [1, entries[0][1], entries[0][1]]


def test_a_log_relay_copies_the_pipe_until_finished_with_its_last_output(tmp_path):
    log_fd = os.open(tmp_path / "c.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    read_end, write_end = os.pipe()
    try:
        relay = logtimes.LogRelay(read_end, logtimes.open_timed(log_fd, dir_fd, "c.log")).start()
        os.write(write_end, b"hello\n")
        os.write(write_end, b"last words, no newline")
        relay.finish()          # the writer is still open (a leftover child): finish does not wait for it
    finally:
        for fd in (dir_fd, log_fd, read_end, write_end):
            os.close(fd)
    assert (tmp_path / "c.log").read_bytes() == b"hello\nlast words, no newline"


def test_a_follower_stamps_whole_lines_and_the_last_partial_one_at_the_end(tmp_path):
    (tmp_path / "c.log.times").write_text("0 1000000000\n4 2000000000\n")
    follower = logtimes.Follower(tmp_path / "c.log", 0, timestamps=True)
    assert follower.feed(b"abc\nde") == "1970-01-01T00:00:01.000000000Z abc\n"
    assert follower.feed(b"f") == ""
    assert follower.feed(b"", final=True) == "1970-01-01T00:00:02.000000000Z def"
    plain = logtimes.Follower(tmp_path / "c.log", 0, timestamps=False)
    assert plain.feed(b"abc\nde") == "abc\nde"
