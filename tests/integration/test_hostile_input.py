"""Hostile input to tecg-producer, against the real broker: every malformed case a national system can send, with the exact
reason the user sees written down here.

The invariant checked throughout: every input line is delivered or
rejected with a reason (rejected/NAME.errors, and the line itself in
rejected/NAME.ndjson); a file moves to done/ only when all are accounted
for; a file that cannot be taken now stays in incoming/ (nothing lost), with
one clear log line, without a busy loop, and goes through once the problem
is fixed."""
import json
import os
import random
import re
import subprocess
import time

import pytest

from conftest import BUILD, ROOT, scaled
from tecgpy import events, kafka_util, signing

TOPICS = ("contributions", "training-completions")
MiB = 1024 * 1024
# Held files are tried again quickly, so the tests need not wait 30 s.
RETRY = {"spool.retry.interval.ms": "500"}
# Checked runs (valgrind, sanitizers) are slower and use more memory and
# CPU: the resource checks below only hold for the plain binaries.
WRAPPED = bool(os.environ.get("TECG_WRAPPER"))
PRODUCER = os.path.join(BUILD, "producers", "tecg-producer")


def ev(i, nation="DEU", **fields):
    """A valid training event as one compact line; its fixed layout keeps the
    byte offsets in the expected reasons stable (the id is always 'hNN')."""
    e = {"type": "training", "event_id": f"h{i:02d}", "nation": nation,
         "occurred_at": "2005-02-22T09:00:00Z", "course": "Logistics",
         "level": "SENIOR", "location": "IN_IRAQ", "trainees": 3}
    e.update(fields)
    return json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode()


def delivered_ids(bootstrap, prefix, codec, expected):
    """The event_ids on the topics (each one as often as it was delivered)."""
    msgs = kafka_util.consume_all(bootstrap, [prefix + t for t in TOPICS],
                                  expected=expected, timeout=60, idle=1.0)
    return sorted(codec.decode(m.value())[1]["event_id"] for m in msgs)


def message_count(bootstrap, prefix):
    """Messages on the two input topics (retried: right after the topics
    were created, a partition may still be without its leader)."""
    for attempt in range(20):
        try:
            return sum(kafka_util.end_offsets(bootstrap, prefix + t) for t in TOPICS)
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.5)


def wait_log(p, text, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in p.log_text():
            return
        assert p.proc.poll() is None, f"producer exited:\n{p.log_text()}"
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log after {timeout}s:\n{p.log_text()}")


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_idle(p, seconds=3.0, max_cpu=0.5):
    """The producer stays alive and does not spin while it waits."""
    before = cpu_seconds(p.proc.pid)
    time.sleep(seconds)
    assert p.proc.poll() is None, p.log_text()
    used = cpu_seconds(p.proc.pid) - before
    if not WRAPPED:
        assert used < max_cpu, f"{used:.2f} s of CPU in {seconds} s: a busy loop?"


def log_count(p, text):
    return p.log_text().count(text)


# ---- malformed lines --------------------------------------------------------

# A line exactly at the default limit (1 MiB, the '\r' of CRLF not counted):
# JSON whitespace pads a valid event.
AT_LIMIT = ev(16) + b" " * (MiB - len(ev(16))) + b"\r"
OVER_LIMIT = ev(17) + b" " * (MiB + 1 - len(ev(17)))
SEVERAL_MB = ev(15, course="c" * (5 * MiB))

# (what, line, reason or None when the line must be delivered). The file is
# these lines in this order; the last one has no newline.
LINE_CASES = [
    ("byte order mark at file start", b"\xef\xbb\xbf" + ev(1),
     "line starts with a UTF-8 byte order mark (BOM), which NDJSON does not allow"),
    ("valid", ev(2), None),
    ("byte order mark mid-file", b"\xef\xbb\xbf" + ev(3),
     "line starts with a UTF-8 byte order mark (BOM), which NDJSON does not allow"),
    ("invalid UTF-8: a lone 0xFF", ev(4).replace(b"Logistics", b"Logis\xfftics"),
     "invalid UTF-8 at byte offset 103"),
    ("invalid UTF-8: overlong '/'", ev(5).replace(b"Logistics", b"Logis\xc0\xaftics"),
     "invalid UTF-8 at byte offset 103"),
    ("invalid UTF-8: a UTF-16 surrogate", ev(6).replace(b"Logistics", b"Logis\xed\xa0\x80tics"),
     "invalid UTF-8 at byte offset 103"),
    ("invalid UTF-8: sequence cut by the line end", ev(7)[:-1] + b"\xe2\x82",
     "invalid UTF-8 at byte offset 159"),
    ("NUL byte", ev(8).replace(b"Logistics", b"Logis\x00tics"),
     "NUL byte at byte offset 103"),
    ("empty line", b"", "empty line"),
    ("blank line", b" \t ", "empty line"),
    ("a lone CR", b"\r", "empty line"),
    ("valid, CRLF", ev(12) + b"\r", None),
    ("nesting 17 deep", ev(13).replace(b'"trainees":3', b'"trainees":3,"x":'
                                       + b"[" * 17 + b"]" * 17),
     "JSON nesting deeper than limits.json.depth (16) at byte offset 179"),
    ("string of 5000 bytes", ev(14, course="c" * 5000),
     "string at byte offset 97 is longer than limits.string.bytes (4096 bytes)"),
    ("a line of several megabytes", SEVERAL_MB,
     f"line is {len(SEVERAL_MB)} bytes, longer than limits.line.bytes (1048576 "
     "bytes); rejected/ keeps only its first 4096 bytes"),
    ("valid, exactly limits.line.bytes long (+ CR)", AT_LIMIT, None),
    ("one byte over limits.line.bytes", OVER_LIMIT,
     "line is 1048577 bytes, longer than limits.line.bytes (1048576 bytes); "
     "rejected/ keeps only its first 4096 bytes"),
    ("valid, after the long lines", ev(18), None),
    ("valid, the last line, without newline", ev(19), None),
]


def kept(line):
    """What rejected/NAME.ndjson holds of a rejected line."""
    content = line[:-1] if line.endswith(b"\r") else line
    return line[:4096] if len(content) > MiB else line


def test_every_malformed_line_gets_its_reason_and_the_rest_flows(
        producer_factory, bootstrap, prefix, codec):
    p = producer_factory("DEU").start()
    data = b"\n".join(line for _, line, _ in LINE_CASES)  # no final newline
    p.drop("DEU-hostile", data)
    done = p.wait_done("DEU-hostile")
    assert done.read_bytes() == data, "done/ keeps the file as it came"

    errors, rejected = p.rejected("DEU-hostile")
    bad = [(n, line, why) for n, (_, line, why) in enumerate(LINE_CASES, 1) if why]
    assert errors == [f"DEU-hostile.ndjson:{n}: {why}" for n, _, why in bad]
    assert rejected == b"".join(kept(line) + b"\n" for _, line, _ in bad)

    good = [json.loads(line)["event_id"] for _, line, why in LINE_CASES if not why]
    assert delivered_ids(bootstrap, prefix, codec, len(good)) == sorted(good)
    assert (f"DEU-hostile.ndjson: {len(LINE_CASES)} lines, {len(good)} delivered, "
            f"{len(bad)} rejected") in p.log_text()
    assert p.stop() == 0


@pytest.mark.parametrize("limits,line,reason", [
    # Under a raised line limit, the validator's own string limit applies.
    ({"limits.line.bytes": 8 * MiB}, ev(20, course="c" * 3_000_000),
     "string at byte offset 97 is longer than limits.string.bytes (4096 bytes)"),
    # With that raised too, the contract's rule on texts has the last word.
    ({"limits.line.bytes": 8 * MiB, "limits.string.bytes": 4 * MiB},
     ev(20, course="c" * 3_000_000),
     "field 'course': must be 1-200 characters long (got 3000000)"),
    ({"limits.json.depth": 2}, ev(20).replace(b'"trainees":3', b'"trainees":3,"x":[[1]]'),
     "JSON nesting deeper than limits.json.depth (2) at byte offset 165"),
    ({"limits.string.bytes": 64}, ev(20, course="c" * 65),
     "string at byte offset 97 is longer than limits.string.bytes (64 bytes)"),
    # A lower line limit: rejected/ keeps no more than the limit.
    ({"limits.line.bytes": 1024}, ev(20, course="c" * 1400),
     "line is 1551 bytes, longer than limits.line.bytes (1024 bytes); "
     "rejected/ keeps only its first 1024 bytes"),
], ids=["string-limit", "text-rule", "depth", "string-64", "line-1024"])
def test_configured_limits_name_their_key(producer_factory, bootstrap, prefix, codec,
                                         limits, line, reason):
    p = producer_factory("DEU", extra=limits).start()
    p.drop("DEU-limits", line + b"\n" + ev(21) + b"\n")
    p.wait_done("DEU-limits")
    errors, rejected = p.rejected("DEU-limits")
    assert errors == [f"DEU-limits.ndjson:1: {reason}"]
    limit = int(limits.get("limits.line.bytes", MiB))
    assert rejected == (line if len(line) <= limit else line[:min(4096, limit)]) + b"\n"
    assert delivered_ids(bootstrap, prefix, codec, 1) == ["h21"]


def test_lines_beyond_limits_file_lines_are_rejected_to_be_sent_again(
        producer_factory, bootstrap, prefix, codec):
    p = producer_factory("DEU", extra={"limits.file.lines": "5"}).start()
    lines = [ev(i) for i in range(1, 9)]
    lines[6] = b"not even json"  # beyond the limit: not looked at, kept as is
    p.drop("DEU-big", b"\n".join(lines) + b"\n")
    p.wait_done("DEU-big")
    why = ("not sent: the file has more than limits.file.lines (5) lines; "
           "send this line again in another file")
    errors, rejected = p.rejected("DEU-big")
    assert errors == [f"DEU-big.ndjson:{n}: {why}" for n in (6, 7, 8)]
    assert rejected == b"\n".join(lines[5:]) + b"\n"
    # The producer logs the file's summary just after moving it to done/.
    deadline = time.time() + scaled(10)
    while ("DEU-big.ndjson: 8 lines, 5 delivered, 3 rejected" not in p.log_text()
           and time.time() < deadline):
        time.sleep(0.05)
    assert "DEU-big.ndjson: 8 lines, 5 delivered, 3 rejected" in p.log_text()
    assert ("DEU-big.ndjson: more than limits.file.lines (5) lines: the lines after "
            "line 5 are rejected unsent, to be sent again in another file") in p.log_text()
    assert delivered_ids(bootstrap, prefix, codec, 5) == [f"h0{i}" for i in range(1, 6)]

    # What was rejected is ready to be sent again as it is.
    p.drop("DEU-big-rest", rejected)
    p.wait_done("DEU-big-rest")
    assert p.rejected("DEU-big-rest")[0] == [
        "DEU-big-rest.ndjson:2: invalid JSON near byte offset 2: "
        "invalid token near 'not'"]
    assert delivered_ids(bootstrap, prefix, codec, 7) == sorted(
        [f"h0{i}" for i in range(1, 7)] + ["h08"])


def test_event_larger_than_kafka_message_max_bytes(producer_factory, bootstrap,
                                                   prefix, codec):
    # librdkafka's smallest message.max.bytes is 1000; 200 four-byte
    # characters in both texts make an event of 1634 bytes.
    p = producer_factory("DEU", extra={"kafka.message.max.bytes": "1000"}).start()
    big = ev(30, course="\U0001D11E" * 200, venue="\U0001D11E" * 200)
    p.drop("DEU-size", ev(29) + b"\n" + big + b"\n" + ev(31) + b"\n")
    p.wait_done("DEU-size")
    assert p.rejected("DEU-size") == (
        ["DEU-size.ndjson:2: encoded event is 1634 bytes: with its key and Kafka's "
         "record overhead that is more than kafka.message.max.bytes (1000 bytes) "
         "allows"], big + b"\n")
    assert delivered_ids(bootstrap, prefix, codec, 2) == ["h29", "h31"]


def test_empty_files(producer_factory, bootstrap, prefix):
    p = producer_factory("DEU").start()
    p.drop("DEU-empty", b"")
    p.drop("DEU-newline", b"\n")
    p.wait_done("DEU-empty")
    p.wait_done("DEU-newline")
    log = p.log_text()
    assert "DEU-empty.ndjson: 0 lines, 0 delivered, 0 rejected" in log
    assert p.rejected("DEU-empty") == ([], b"")
    assert "DEU-newline.ndjson: 1 lines, 0 delivered, 1 rejected" in log
    assert p.rejected("DEU-newline") == (["DEU-newline.ndjson:1: empty line"], b"\n")
    assert message_count(bootstrap, prefix) == 0


def test_random_bytes(producer_factory, bootstrap, prefix):
    """Binary garbage: every line rejected with a reason, nothing sent, and
    the file is done."""
    data = random.Random(4).randbytes(256 * 1024)
    p = producer_factory("DEU").start()
    p.drop("DEU-noise", data)
    p.wait_done("DEU-noise", timeout=120)
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    errors, rejected = p.rejected("DEU-noise")
    assert len(errors) == len(lines)
    assert rejected == b"".join(kept(line) + b"\n" for line in lines)
    assert f"DEU-noise.ndjson: {len(lines)} lines, 0 delivered, {len(lines)} rejected" \
        in p.log_text()
    assert message_count(bootstrap, prefix) == 0


# ---- standard input ---------------------------------------------------------

def test_stdin_long_line_and_no_file_limit(producer_factory, bootstrap, prefix, codec):
    p = producer_factory("DEU", extra={"limits.file.lines": "2"})
    p.without_spool()
    data = ev(40) + b"\n" + ev(41, course="c" * (2 * MiB)) + b"\n" + ev(42) + b"\n" + ev(43)
    res = p.run_stdin(data)
    err = res.stderr.decode()
    assert res.returncode == 0, err
    # No spool: the log is the record, and nothing is kept.
    assert ("stdin:2: rejected: line is 2097303 bytes, longer than "
            "limits.line.bytes (1048576 bytes)\n") in err
    assert "stdin: 4 lines, 3 delivered, 1 rejected" in err  # no file limit
    assert delivered_ids(bootstrap, prefix, codec, 3) == ["h40", "h42", "h43"]

    res = p.run_stdin(b"")
    assert res.returncode == 0
    assert "stdin: 0 lines, 0 delivered, 0 rejected" in res.stderr.decode()


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1))


@pytest.mark.skipif(WRAPPED, reason="memory use under a checking wrapper differs")
def test_a_huge_line_is_never_held_in_memory(producer_factory):
    """64 MiB without a newline: getline() would hold all of it (the producer
    before the bounded reader peaked 64 MiB higher); the producer reads it
    through a bounded buffer."""
    p = producer_factory("DEU")
    p.without_spool()
    proc = subprocess.Popen([PRODUCER, "--config", str(p.config), "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        head = b""
        while b"started for DEU" not in head:
            line = proc.stderr.readline()
            assert line, head.decode()
            head += line
        proc.stdin.write(ev(50) + b"\n")
        proc.stdin.flush()
        time.sleep(0.5)
        before = peak_rss_kib(proc.pid)
        chunk = b"x" * MiB
        for _ in range(64):
            proc.stdin.write(chunk)
        proc.stdin.flush()
        time.sleep(0.5)  # all but the pipe's buffer has been read by now
        growth = peak_rss_kib(proc.pid) - before
        proc.stdin.write(b"\n" + ev(51))
        proc.stdin.close()
        err = head.decode() + proc.stderr.read().decode()
        assert proc.wait(60) == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert ("stdin:2: rejected: line is 67108864 bytes, longer than "
            "limits.line.bytes (1048576 bytes)\n") in err
    assert "stdin: 3 lines, 2 delivered, 1 rejected" in err
    assert growth < 16 * 1024, f"peak RSS grew by {growth} KiB"


# ---- files that cannot be read ----------------------------------------------

def test_unreadable_entries_are_held_and_the_others_flow(producer_factory, bootstrap,
                                                        prefix):
    p = producer_factory("DEU", extra=RETRY).start()
    incoming = p.spool / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "DEU-a-dir.ndjson").mkdir()
    os.mkfifo(incoming / "DEU-b-fifo.ndjson")  # opening it must not block
    (incoming / "DEU-c-link.ndjson").symlink_to(incoming / "nowhere")
    (incoming / "DEU-d-\x1b[2J.ndjson").write_bytes(ev(60) + b"\n")
    unreadable = os.geteuid() != 0  # root reads whatever the mode says
    if unreadable:
        (incoming / "DEU-e-mode.ndjson").write_bytes(ev(61) + b"\n")
        os.chmod(incoming / "DEU-e-mode.ndjson", 0)
    p.drop("DEU-f-good", ev(62) + b"\n")
    p.wait_done("DEU-f-good")

    tail = "; the file stays in incoming/ and is tried again in 0.5 s"
    expected = [
        "ERROR ingest: DEU-a-dir.ndjson: not a regular file (a directory): cannot be "
        "read as NDJSON; remove it or replace it with a file" + tail,
        "ERROR ingest: DEU-b-fifo.ndjson: not a regular file (a FIFO): cannot be "
        "read as NDJSON; remove it or replace it with a file" + tail,
        "ERROR ingest: DEU-c-link.ndjson: cannot open: a symbolic link to nothing" + tail,
        "ERROR ingest: DEU-d-\\x1B[2J.ndjson: the file name has control characters, "
        "which would garble logs and rejected/NAME.errors: rename it" + tail,
    ]
    if unreadable:
        expected.append("ERROR ingest: DEU-e-mode.ndjson: cannot open: Permission "
                        "denied" + tail)
    for line in expected:
        wait_log(p, line)
    # Held, tried again every 0.5 s, but said once; no busy loop.
    assert_idle(p, 3.0)
    for line in expected:
        assert log_count(p, line) == 1, p.log_text()
    assert p.proc.poll() is None
    assert message_count(bootstrap, prefix) == 1

    # Fixed: they go through.
    (incoming / "DEU-a-dir.ndjson").rmdir()
    (incoming / "DEU-a-dir.ndjson").write_bytes(ev(63) + b"\n")
    (incoming / "DEU-d-\x1b[2J.ndjson").rename(incoming / "DEU-d.ndjson")
    p.wait_done("DEU-a-dir")
    p.wait_done("DEU-d")
    wait_log(p, "NOTICE ingest: DEU-a-dir.ndjson: goes through now, after ")
    # A file that left incoming/ is forgotten.
    (incoming / "DEU-b-fifo.ndjson").unlink()
    (incoming / "DEU-c-link.ndjson").unlink()
    assert p.stop() == 0
    assert message_count(bootstrap, prefix) == 3


def test_file_still_being_written_is_left_alone(producer_factory, bootstrap, prefix,
                                               codec):
    p = producer_factory("DEU").start()
    incoming = p.spool / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / "DEU-w.tmp"
    with open(tmp, "wb") as f:
        f.write(ev(70) + b"\n" + ev(71)[:30])  # half a line so far
        f.flush()
        time.sleep(1.0)
        assert message_count(bootstrap, prefix) == 0
        assert "DEU-w" not in p.log_text()
        f.write(ev(71)[30:] + b"\n")
    tmp.rename(incoming / "DEU-w.ndjson")
    p.wait_done("DEU-w")
    assert delivered_ids(bootstrap, prefix, codec, 2) == ["h70", "h71"]
    assert p.rejected("DEU-w") == ([], b"")


# ---- the spool itself ---------------------------------------------------------

def test_incoming_disappears_and_comes_back(producer_factory, bootstrap, prefix):
    p = producer_factory("DEU").start()
    p.drop("DEU-1", ev(80) + b"\n")
    p.wait_done("DEU-1")
    incoming = p.spool / "incoming"
    subprocess.run(["rm", "-rf", str(incoming)], check=True)
    gone = (f"ERROR main: {incoming}: cannot list: No such file or directory; no file "
            "is read until it is back (the producer does not create it); looking "
            "again every 100 ms")
    wait_log(p, gone)
    assert_idle(p, 3.0)
    assert log_count(p, gone) == 1
    assert not incoming.exists(), "the producer does not recreate incoming/"

    p.drop("DEU-2", ev(81) + b"\n")  # the national system recreates it
    p.wait_done("DEU-2")
    assert f"NOTICE main: {incoming} can be read again" in p.log_text()
    assert p.stop() == 0
    assert message_count(bootstrap, prefix) == 2


def test_move_to_done_fails_then_only_the_move_is_retried(producer_factory, bootstrap,
                                                         prefix):
    p = producer_factory("DEU", extra=RETRY).start()
    p.drop("DEU-0", ev(89) + b"\n")
    p.wait_done("DEU-0")
    done = p.spool / "done"
    (done / "DEU-0.ndjson").unlink()
    done.rmdir()
    p.drop("DEU-m", ev(90) + b"\n" + b"{}\n" + ev(91) + b"\n")
    src = p.spool / "incoming" / "DEU-m.ndjson"
    msg = (f"ERROR ingest: DEU-m.ndjson: every line was delivered or rejected, but "
           f"cannot move {src} to {done}/DEU-m.ndjson: No such file or directory; "
           "only the move is tried again; the file stays in incoming/ and is tried "
           "again in 0.5 s")
    wait_log(p, msg)
    assert_idle(p, 2.0)
    assert log_count(p, msg) == 1
    assert src.exists(), "nothing lost: the file stays in incoming/"
    assert message_count(bootstrap, prefix) == 3

    done.mkdir()
    p.wait_done("DEU-m")
    wait_log(p, "DEU-m.ndjson: 3 lines, 2 delivered, 1 rejected")
    assert p.rejected("DEU-m")[0] == [
        "DEU-m.ndjson:2: field 'type': is required"]
    assert p.stop() == 0
    # Sent once: the retry only moved the file.
    assert message_count(bootstrap, prefix) == 3


@pytest.mark.parametrize("which,tail", [
    (".errors", ev(101) + b"\n"),
    (".ndjson", ev(101) + b"\n"),
    # Rejections up to the end of the file: found full when they are flushed.
    (".errors", b"[2]\n[3]"),
], ids=["errors", "ndjson", "errors-at-end"])
def test_disk_full_on_rejected_keeps_the_file(producer_factory, bootstrap, prefix,
                                              codec, which, tail):
    """rejected/NAME.errors (or .ndjson) on a full disk (/dev/full: ENOSPC):
    nothing is sent after a rejection that could not be recorded; the file
    stays in incoming/ and goes through once there is room, resuming at that
    line: what was sent before is not sent again."""
    p = producer_factory("DEU", extra=RETRY).start()
    rejected_dir = p.spool / "rejected"
    rejected_dir.mkdir(parents=True, exist_ok=True)
    target = rejected_dir / f"DEU-full{which}"
    target.symlink_to("/dev/full")
    data = ev(100) + b"\n" + b"[1]\n" + tail
    p.drop("DEU-full", data)
    msg = (f"ERROR ingest: DEU-full.ndjson: cannot write {target}: No space left on "
           "device; stopped at line 2 (1 delivered, 0 rejected before it); the next "
           "attempt starts there; the file stays in incoming/ and is tried again in "
           "0.5 s")
    wait_log(p, msg)
    assert_idle(p, 2.0)
    assert log_count(p, msg) == 1, "said once, not at every attempt"
    assert (p.spool / "incoming" / "DEU-full.ndjson").read_bytes() == data
    assert not (p.spool / "done" / "DEU-full.ndjson").exists()
    assert message_count(bootstrap, prefix) == 1, "line 1 sent once, line 3 not yet"

    target.unlink()  # room again
    p.wait_done("DEU-full")
    wait_log(p, "NOTICE ingest: DEU-full.ndjson: goes through now, after ")
    log = p.log_text()
    assert log.count("NOTICE ingest: DEU-full.ndjson:2: rejected:") == 1, \
        "the line is reported once, not at every attempt"
    bad = [line for line in data.split(b"\n") if line.startswith(b"[")]
    good = [json.loads(line)["event_id"] for line in data.split(b"\n")
            if line.startswith(b"{")]
    assert (f"INFO ingest: DEU-full.ndjson: {len(good) + len(bad)} lines, "
            f"{len(good)} delivered, {len(bad)} rejected") in log
    assert p.rejected("DEU-full") == (
        [f"DEU-full.ndjson:{n}: line must be a JSON object (got array)"
         for n in range(2, 2 + len(bad))], b"".join(x + b"\n" for x in bad))
    assert delivered_ids(bootstrap, prefix, codec, len(good)) == good
    assert p.stop() == 0


def test_rejected_dir_missing(producer_factory, bootstrap, prefix):
    p = producer_factory("DEU", extra=RETRY).start()
    p.drop("DEU-0", ev(110) + b"\n")
    p.wait_done("DEU-0")
    rejected_dir = p.spool / "rejected"
    rejected_dir.rmdir()
    p.drop("DEU-r", b"oops\n" + ev(111) + b"\n")
    msg = (f"ERROR ingest: DEU-r.ndjson: cannot write {rejected_dir}/DEU-r.errors: No "
           "such file or directory; stopped at line 1 (0 delivered, 0 rejected before "
           "it); the next attempt starts there; the file stays in incoming/ and is "
           "tried again in 0.5 s")
    wait_log(p, msg)
    assert_idle(p, 1.5)
    assert log_count(p, msg) == 1
    assert message_count(bootstrap, prefix) == 1
    rejected_dir.mkdir()
    p.wait_done("DEU-r")
    assert p.rejected("DEU-r")[0] == [
        "DEU-r.ndjson:1: invalid JSON near byte offset 3: invalid token near 'oops'"]
    assert message_count(bootstrap, prefix) == 2
    assert p.stop() == 0


# ---- configuration --------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("limits.line.bytes = 10\n", ":3: 'limits.line.bytes': 10 is out of range "
     "[1024, 1073741824]"),
    ("limits.line.bytes = 2147483648\n", ":3: 'limits.line.bytes': 2147483648 is "
     "out of range [1024, 1073741824]"),
    ("limits.line.bytes = 1M\n", ":3: 'limits.line.bytes': \"1M\" is not an integer"),
    ("limits.json.depth = 0\n", ":3: 'limits.json.depth': 0 is out of range [1, 1000]"),
    ("limits.json.depth = 1001\n", ":3: 'limits.json.depth': 1001 is out of range "
     "[1, 1000]"),
    ("limits.string.bytes = 63\n", ":3: 'limits.string.bytes': 63 is out of range "
     "[64, 1073741824]"),
    ("limits.file.lines = 0\n", ":3: 'limits.file.lines': 0 is out of range "
     "[1, 1000000000]"),
    ("limits.file.lines = -5\n", ":3: 'limits.file.lines': -5 is out of range "
     "[1, 1000000000]"),
    ("spool.retry.interval.ms = 10\n", ":3: 'spool.retry.interval.ms': 10 is out "
     "of range [100, 86400000]"),
    ("limits.lines.bytes = 1024\n", ":3: unknown key 'limits.lines.bytes'"),
    ("kafka.message.max.bytes = 200\n", ":3: kafka.message.max.bytes: "
     "Configuration property \"message.max.bytes\" value 200 is outside allowed "
     "range 1000..1000000000"),
    ("limits.line.bytes = 2048\nlimits.line.bytes = 4096\n",
     ":4: 'limits.line.bytes' is already set at"),
])
def test_config_errors_for_the_limits(tmp_path, text, want):
    conf = tmp_path / "p.conf"
    conf.write_text(f"nation = FRA\nspool.dir = {tmp_path}/spool\n" + text)
    res = subprocess.run([PRODUCER, "--config", str(conf), "--check-config", "-X",
                          f"nations.file={ROOT}/deploy/nations.csv"],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith(f"tecg-producer: {conf}{want}"), res.stderr
    # One line (librdkafka's own reasons end with a newline of their own).
    assert res.stderr.rstrip("\n").count("\n") == 0, res.stderr


def test_missing_required_key_and_good_limits(tmp_path):
    conf = tmp_path / "p.conf"
    conf.write_text("spool.dir = /tmp/x\nlimits.line.bytes = 1024\n")
    res = subprocess.run([PRODUCER, "--config", str(conf), "--check-config"],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == 2
    assert res.stderr == ("tecg-producer: required key 'nation' is not set (ISO 3166-1 "
                          "alpha-3 code this producer reports for (or --nation))\n")
    conf.write_text("nation = FRA\nspool.dir = /tmp/x\nlimits.line.bytes = 1073741824\n"
                    "limits.json.depth = 1\nlimits.string.bytes = 64\n"
                    "limits.file.lines = 1\nspool.retry.interval.ms = 100\n")
    keys = signing.session_keys()  # events are signed (docs/design.md §9.1)
    res = subprocess.run([PRODUCER, "--config", str(conf), "--check-config", "-X",
                          f"nations.file={ROOT}/deploy/nations.csv",
                          "-X", f"security.signing.key={keys.keys['FRA'].path}",
                          "-X", f"security.keyring={keys.keyring}"],
                         capture_output=True, text=True, timeout=20)
    assert res.returncode == 0, res.stderr
    assert "configuration OK" in res.stdout


def test_help_lists_the_limits():
    res = subprocess.run([PRODUCER, "--help"], capture_output=True, text=True, timeout=20)
    assert res.returncode == 0
    for key, default in [("limits.line.bytes", "1048576"), ("limits.json.depth", "16"),
                         ("limits.string.bytes", "4096"),
                         ("limits.file.lines", "1000000"),
                         ("spool.retry.interval.ms", "30000")]:
        m = re.search(rf"^  {re.escape(key)} +integer \[\d+\.\.\d+\]\n +.*"
                      rf"\(default: {default}\)$", res.stdout, re.M)
        assert m, key
