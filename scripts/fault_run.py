"""Fault-injection run of the scoring tier (issue 12), through the CLI only.

One `run_monitor.py broker` process, two `run_monitor.py score` members, and a plain kafka-python
client writing frames as docs/WIRE.md says (several streams, JPEG q90) plus bad records of several
kinds. Then, while frames flow:
  1. failover: one of the two members is killed with SIGKILL; the time until the victim's partitions
     are scored again and the survivor's longest gap are read from the scores topic's timestamps;
     a new member replaces the victim (repeated --failovers times);
  2. a member is stopped with SIGTERM and replaced (--sigterms times);
  3. the whole scoring tier is restarted --restarts times, alternately with SIGTERM and SIGKILL to
     both members at once; a group whose new members hold no partitions within --wedge-after-s is
     counted as wedged.
At the end the feeder stops, the last members drain, and everything is accounted for from the
topics: frames acknowledged by the broker, scored (distinct), duplicates, lost (neither scored nor
dead-lettered; the members' MISSING reports are listed apart), bad records dead-lettered, dead
letters by stage, crashes (a member that died on its own, exited non-zero after SIGTERM, or printed
a traceback) and wedges. Prints the tallies and writes them as JSON (--out).

    python scripts/fault_run.py --out /tmp/fault-run.json

Every process gets XDG_RUNTIME_DIR set to the run's own folder, so `score` finds this run's broker
(the address `broker` records) and not one somebody else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cli.monitor_process import MonitorProcess  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "belgiumtsc"


# ---- processes ---------------------------------------------------------------------------------


class Proc(MonitorProcess):
    """A run_monitor.py command as a process (cli.monitor_process), with the signal that stopped it."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        super().__init__(args, env)
        self.name = name
        self.signalled: str | None = None  # SIGKILL / SIGTERM when we stopped it

    def send(self, sig: signal.Signals) -> None:
        self.signalled = sig.name
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def wait(self, timeout_s: float = 60.0) -> int:
        try:
            rc = self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.lines.append(f"[fault_run: no exit {timeout_s:.0f} s after {self.signalled}; killed]\n")
            self.p.kill()
            rc = self.p.wait()
        self.reader.join(5)
        return rc


def child_env(run_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_RUNTIME_DIR": str(run_dir),  # this run's broker address file, nobody else's
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "OPENCV_LOG_LEVEL": "ERROR",
    }


def wait_until(condition, timeout_s: float, step_s: float = 0.1) -> float | None:
    """Seconds until condition() held, or None after timeout_s."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if condition():
            return time.monotonic() - t0
        time.sleep(step_s)
    return None


# ---- records written as docs/WIRE.md says -----------------------------------------------------


def frame_images(count: int) -> list[bytes]:
    """`count` real sign crops from the shared BelgiumTSC folder, encoded as the producers do (JPEG q90)."""
    import cv2

    from pipelines.wire import encode_frame

    paths = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in (".png", ".ppm", ".jpg", ".jpeg"))
    if not paths:
        raise SystemExit(f"fault_run: no images under {DATA}")
    step = max(1, len(paths) // count)
    return [encode_frame(cv2.imread(str(p), cv2.IMREAD_COLOR)) for p in paths[::step][:count]]


def bad_records(jpeg: bytes) -> list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """(kind, key, value, headers) of records every member must dead-letter (docs/WIRE.md)."""
    from pipelines.wire import FrameMeta, frame_headers

    def headers(stream: str, **drop_or_set) -> list[tuple[str, bytes]]:
        h = dict(frame_headers(FrameMeta(stream, 0, time.time_ns(), "fault_run")))
        for k, v in drop_or_set.items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
        return list(h.items())

    pgm = b"P5\n4 4\n255\n" + bytes(16)
    partial = [*headers("bad-truth"), ("challenge", b"rain"), ("level", b"3")]
    return [
        ("empty value", b"bad-empty", b"", headers("bad-empty")),
        ("not an image", b"bad-text", b"this is not an image" * 10, headers("bad-text")),
        ("truncated JPEG", b"bad-trunc", jpeg[: len(jpeg) // 2], headers("bad-trunc")),
        ("no key", None, jpeg, headers("bad-nokey")),
        ("key differs from stream", b"bad-key", jpeg, headers("bad-other")),
        ("no seq header", b"bad-noseq", jpeg, headers("bad-noseq", seq=None)),
        ("seq not an integer", b"bad-seq", jpeg, headers("bad-seq", seq=b"x1")),
        ("non-UTF-8 header value", b"bad-utf8", jpeg, headers("bad-utf8", source=b"\xff\xfe")),
        ("partial ground truth", b"bad-truth", jpeg, partial),
        ("PGM image", b"bad-pgm", pgm, headers("bad-pgm")),
    ]


@dataclass
class Fed:
    """What the feeder sent and the broker acknowledged."""

    valid: dict = field(default_factory=dict)  # (stream, seq) -> (partition, offset), acknowledged
    bad: dict = field(default_factory=dict)  # (partition, offset) -> kind, acknowledged
    failed: list = field(default_factory=list)  # sends the broker did not acknowledge: (what, error)
    sent_valid: int = 0
    sent_bad: int = 0


class Feeder(threading.Thread):
    """Writes `streams` streams of frames at `fps` each and one bad record every `bad_every_s` seconds."""

    def __init__(self, bootstrap: str, topic: str, streams: int, fps: float, bad_every_s: float) -> None:
        super().__init__(daemon=True)
        from kafka import KafkaProducer

        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=5)
        self.topic, self.streams, self.fps, self.bad_every_s = topic, streams, fps, bad_every_s
        self.images = frame_images(40)
        self.bad = bad_records(self.images[0])
        self.fed = Fed()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def _sent(self, what, fut) -> None:
        def ok(md):
            with self.lock:
                if what[0] == "bad":
                    self.fed.bad[(md.partition, md.offset)] = what[1]
                else:
                    self.fed.valid[what] = (md.partition, md.offset)

        def failed(e):
            with self.lock:
                self.fed.failed.append((what, repr(e)))

        fut.add_callback(ok).add_errback(failed)

    def run(self) -> None:
        from pipelines.wire import FrameMeta, frame_headers

        tick, next_bad = 0, time.monotonic() + self.bad_every_s
        while not self.stop.is_set():
            t0 = time.monotonic()
            for s in range(self.streams):
                stream = f"cam-{s}"
                meta = FrameMeta(stream, tick, time.time_ns(), "fault_run")
                img = self.images[(tick + 7 * s) % len(self.images)]
                fut = self.producer.send(self.topic, key=stream.encode(), value=img, headers=frame_headers(meta))
                self._sent((stream, tick), fut)
                self.fed.sent_valid += 1
            if t0 >= next_bad:
                kind, key, value, headers = self.bad[self.fed.sent_bad % len(self.bad)]
                fut = self.producer.send(self.topic, key=key, value=value, headers=headers)
                self._sent(("bad", kind), fut)
                self.fed.sent_bad += 1
                next_bad += self.bad_every_s
            tick += 1
            self.stop.wait(max(0.0, 1.0 / self.fps - (time.monotonic() - t0)))
        self.producer.flush(30)
        self.producer.close(10)


# ---- the scoring tier --------------------------------------------------------------------------


class Tier:
    """The `score` members of one group; every member ever started is kept for the accounting."""

    def __init__(self, config: Path, env: dict[str, str], partitions: int, t0: float) -> None:
        self.config, self.env, self.partitions, self.t0 = config, env, partitions, t0
        self.members: list[Proc] = []
        self.all: list[Proc] = []
        self.static = False  # members with a group.instance.id each (static membership)
        self.settle_timeout_s = 90.0  # how long to wait for a group to settle before the next fault

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f} s] {text}", file=sys.stderr, flush=True)

    def start(self) -> Proc:
        name = f"m{len(self.all)}"
        static = ["--group-instance-id", name] if self.static else []
        m = Proc(name, ["--config", str(self.config), "score", "--name", name, *static], self.env)
        self.members.append(m)
        self.all.append(m)
        return m

    def stop(self, members: list[Proc], sig: signal.Signals) -> list[int]:
        """Signal them all at once, then wait for each."""
        for m in members:
            m.send(sig)
        codes = [m.wait() for m in members]
        self.members = [m for m in self.members if m not in members]
        return codes

    def settled(self) -> bool:
        """Every partition held, by exactly one live member, and every live member holds some."""
        held = [m.assigned() for m in self.members if m.p.poll() is None]
        union = set().union(*held) if held else set()
        return (
            len(held) == len(self.members)
            and all(held)
            and union == set(range(self.partitions))
            and sum(map(len, held)) == self.partitions
        )


def failover(tier: Tier, i: int, settle_s: float) -> dict:
    """SIGKILL one of the two members; the survivor takes its partitions; a new member replaces it."""
    joined = wait_until(tier.settled, tier.settle_timeout_s)
    time.sleep(settle_s)
    victim, survivor = tier.members[i % 2], tier.members[1 - i % 2]
    lost, kept = victim.assigned(), survivor.assigned()
    tier.stop([victim], signal.SIGKILL)
    killed_ms = time.time() * 1000
    took = wait_until(lambda: survivor.assigned() >= set(range(tier.partitions)), 60)
    tier.say(f"failover {i + 1}: killed {victim.name} (held {sorted(lost)}); {survivor.name} holds all after {took} s")
    time.sleep(settle_s)
    tier.start()
    return {"kind": "failover", "killed_ms": killed_ms, "lost": sorted(lost), "kept": sorted(kept), "joined_s": joined}


def sigterm_one(tier: Tier, i: int, settle_s: float) -> dict:
    """SIGTERM one member (it finishes its batch, commits, leaves) and replace it."""
    joined = wait_until(tier.settled, tier.settle_timeout_s)
    time.sleep(settle_s)
    m = tier.members[i % 2]
    t = time.monotonic()
    [rc] = tier.stop([m], signal.SIGTERM)
    tier.say(f"sigterm {i + 1}: {m.name} exited {rc} after {time.monotonic() - t:.1f} s")
    tier.start()
    return {"kind": "sigterm", "member": m.name, "rc": rc, "exit_s": time.monotonic() - t, "joined_s": joined}


def restart_tier(tier: Tier, i: int, settle_s: float, wedge_after_s: float) -> dict:
    """Stop both members at once (SIGTERM on even rounds, SIGKILL on odd ones), start two new ones."""
    wait_until(tier.settled, tier.settle_timeout_s)
    time.sleep(settle_s)
    sig = signal.SIGTERM if i % 2 == 0 else signal.SIGKILL
    stopped_ms = time.time() * 1000
    codes = tier.stop(list(tier.members), sig)
    exited_ms = time.time() * 1000  # scores after this are the new members' (SIGTERM lets a batch finish)
    new = [tier.start() for _ in range(2)]
    # Starting a member (imports, model) takes seconds on a busy machine; the group's part starts at "ready".
    ready = wait_until(lambda: all(": ready (" in m.text() for m in new), wedge_after_s)
    joined = wait_until(tier.settled, wedge_after_s)
    took = None if ready is None or joined is None else ready + joined
    tier.say(
        f"restart {i + 1} ({sig.name}, exits {codes}): ready after {ready} s, every partition held {joined} s later"
    )
    return {
        "kind": "restart",
        "signal": sig.name,
        "stopped_ms": stopped_ms,
        "exited_ms": exited_ms,
        "codes": codes,
        "settled_s": took,
        "ready_s": ready,
        "settled_after_ready_s": joined,
    }


# ---- reading the topics back and accounting ----------------------------------------------------


@dataclass
class Outcome:
    """What the scores and dead-letter topics hold."""

    scored: dict = field(default_factory=dict)  # (stream, seq) -> score records of it
    scored_origins: set = field(default_factory=set)  # (partition, offset) of frames scored
    times: dict = field(default_factory=dict)  # partition -> publish timestamps (ms) of its scores
    dead: dict = field(default_factory=dict)  # (partition, offset) of the original -> stage
    dead_records: int = 0

    def add_score(self, record) -> None:
        from pipelines.wire import decode_score

        s = decode_score(record.value)
        self.scored[(s.stream, s.seq)] = self.scored.get((s.stream, s.seq), 0) + 1
        self.scored_origins.add((s.origin.partition, s.origin.offset))
        self.times.setdefault(record.partition, []).append(record.timestamp)

    def add_dead(self, record) -> None:
        from pipelines.wire import parse_dead_letter_headers

        info = parse_dead_letter_headers(record.headers)
        self.dead[(info.origin.partition, info.origin.offset)] = info.stage
        self.dead_records += 1


def read_back(bootstrap: str, topics, partitions: int, done, timeout_s: float) -> Outcome:
    """Scores and dead letters from the beginning (no group), until done(outcome) or timeout_s."""
    from kafka import KafkaConsumer, TopicPartition

    out = Outcome()
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    tps = [TopicPartition(t, p) for t in (topics.scores_topic, topics.dead_letter_topic) for p in range(partitions)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    deadline, quiet_since = time.monotonic() + timeout_s, time.monotonic()
    try:
        while time.monotonic() < deadline:
            got = c.poll(timeout_ms=300)
            for tp, records in got.items():
                for r in records:
                    (out.add_score if tp.topic == topics.scores_topic else out.add_dead)(r)
            quiet_since = time.monotonic() if got else quiet_since
            if time.monotonic() - quiet_since > 2.0 and done(out):
                break
    finally:
        c.close()
    return out


def covered(fed: Fed):
    """True once every acknowledged record is scored or dead-lettered."""

    def check(out: Outcome) -> bool:
        valid = {po for key, po in fed.valid.items() if key not in out.scored}
        return not (valid - set(out.dead)) and not (set(fed.bad) - set(out.dead))

    return check


def after(times: list[int], t_ms: float) -> float | None:
    later = [t for t in times if t > t_ms]
    return (min(later) - t_ms) / 1000 if later else None


def failover_figures(event: dict, out: Outcome) -> dict:
    """Seconds from the SIGKILL until each of the victim's partitions was scored again, and the
    survivor's longest gap between scores around it (publish timestamps of the scores topic)."""
    k = event["killed_ms"]
    backs = [after(out.times.get(p, []), k) for p in event["lost"] if out.times.get(p)]
    back = max((b for b in backs if b is not None), default=None) if None not in backs else None
    end = k + ((back or 30) + 2) * 1000
    gaps = []
    for p in event["kept"]:
        ts = sorted(t for t in out.times.get(p, []) if k - 1000 <= t <= end)
        gaps += [(b - a) / 1000 for a, b in zip(ts, ts[1:], strict=False)]
    return {"victim_scored_again_s": back, "survivor_longest_gap_s": max(gaps, default=None)}


def restart_figures(event: dict, out: Outcome) -> dict:
    """Seconds from stopping the whole tier until every partition with streams was scored again by
    the new members (scores published after the old ones exited)."""
    backs = [after(ts, event["exited_ms"]) for ts in out.times.values()]
    lag_s = (event["exited_ms"] - event["stopped_ms"]) / 1000
    return {"all_scored_again_s": None if None in backs else lag_s + max(backs)}


def crashes(members: list[Proc]) -> list[str]:
    """Members that died on their own, failed to stop cleanly on SIGTERM, or printed a traceback."""
    found = []
    for m in members:
        rc = m.p.returncode
        if "Traceback" in m.text():
            found.append(f"{m.name}: traceback")
        elif m.signalled == "SIGKILL":
            continue
        elif m.signalled is None or rc != 0 or "score summary" not in m.text():
            found.append(f"{m.name}: exit {rc} after {m.signalled or 'no signal'}")
    return found


def tally(fed: Fed, out: Outcome, tier: Tier, events: list[dict]) -> dict:
    missing = [ln.strip() for m in tier.all for ln in m.lines if "MISSING" in ln and "summary" in ln]
    scored_records = sum(out.scored.values())
    lost = sorted(k for k, po in fed.valid.items() if k not in out.scored and po not in out.dead)
    bad_unaccounted = sorted(set(fed.bad) - set(out.dead))
    bad_scored = sorted(set(fed.bad) & out.scored_origins)
    measure = {"failover": failover_figures, "restart": restart_figures}
    figures = [{**e, **(measure[e["kind"]](e, out) if e["kind"] in measure else {})} for e in events]
    return {
        "frames_acknowledged": len(fed.valid),
        "frames_not_acknowledged": len(fed.failed),
        "frames_scored_distinct": sum(1 for k in fed.valid if k in out.scored),
        "score_records": scored_records,
        "duplicate_score_records": scored_records - len(out.scored),
        "lost": len(lost),
        "lost_examples": lost[:10],
        "missing_reported": missing,
        "bad_acknowledged": len(fed.bad),
        "bad_by_kind": dict(Counter(fed.bad.values())),
        "bad_dead_lettered": len(set(fed.bad) & set(out.dead)),
        "bad_unaccounted": len(bad_unaccounted),
        "bad_scored": len(bad_scored),
        "dead_letters": out.dead_records,
        "dead_letters_by_stage": dict(Counter(out.dead.values())),
        "members_started": len(tier.all),
        "crashes": crashes(tier.all),
        "wedges": sum(1 for e in events if e["kind"] == "restart" and e["settled_s"] is None),
        "events": figures,
    }


def write_config(path: Path, model: Path, args: argparse.Namespace) -> None:
    import yaml

    kafka = {"partitions": args.partitions}
    if args.session_timeout_ms:
        kafka["session_timeout_ms"] = args.session_timeout_ms
    if args.heartbeat_interval_ms:
        kafka["heartbeat_interval_ms"] = args.heartbeat_interval_ms
    consumer = {"model": str(model), "device": "cpu", "max_batch": 16, "max_wait_ms": 50}
    if args.assignor:
        consumer["assignor"] = args.assignor
    path.write_text(yaml.safe_dump({"kafka": kafka, "consumer": consumer}, sort_keys=False))


def start_broker(config: Path, env: dict[str, str]) -> tuple[Proc, str]:
    broker = Proc("broker", ["--config", str(config), "broker"], env)
    wait_until(lambda: any("bootstrap servers:" in ln for ln in broker.lines) or broker.p.poll() is not None, 60)
    found = [ln.split("bootstrap servers:", 1)[1].strip() for ln in broker.lines if "bootstrap servers:" in ln]
    if not found:
        raise SystemExit(f"fault_run: the broker did not start:\n{broker.text()[-2000:]}")
    return broker, found[0]


def run_phases(tier: Tier, args: argparse.Namespace) -> list[dict]:
    events = [failover(tier, i, args.settle_s) for i in range(args.failovers)]
    events += [sigterm_one(tier, i, args.settle_s) for i in range(args.sigterms)]
    events += [restart_tier(tier, i, args.settle_s, args.wedge_after_s) for i in range(args.restarts)]
    wait_until(tier.settled, tier.settle_timeout_s)
    time.sleep(args.settle_s)
    return events


def run(args: argparse.Namespace) -> dict:
    from pipelines.config import KafkaConfig

    run_dir = Path(tempfile.mkdtemp(prefix="fault-run-"))
    env = child_env(run_dir)
    model = Path(args.model) if args.model else run_dir / "model.pt"
    if not args.model:
        from monitor.checkpoint import make_untrained_checkpoint

        make_untrained_checkpoint(model, seed=0)  # scoring cost does not depend on training
    config = run_dir / "config.yaml"
    write_config(config, model, args)
    topics = KafkaConfig()  # topic names: the defaults, as the config written above keeps them
    broker, bootstrap = start_broker(config, env)
    tier = Tier(config, env, args.partitions, time.monotonic())
    tier.static = args.static
    tier.settle_timeout_s = args.wedge_after_s
    feeder = None
    try:
        for _ in range(2):
            tier.start()
        feeder = Feeder(bootstrap, topics.frames_topic, args.streams, args.fps, args.bad_every_s)
        feeder.start()
        tier.say(f"broker {bootstrap}; 2 members; {args.streams} streams x {args.fps} frames/s; run folder {run_dir}")
        events = run_phases(tier, args)
    except BaseException:
        for p in [*tier.all, broker]:  # leave nothing running behind a failed run
            if p.p.poll() is None:
                p.p.kill()
        raise
    finally:
        if feeder is not None:
            feeder.stop.set()
            feeder.join(60)
    tier.say(f"feeder stopped: {len(feeder.fed.valid)} frames and {len(feeder.fed.bad)} bad records acknowledged")
    out = read_back(bootstrap, topics, args.partitions, covered(feeder.fed), args.drain_timeout_s)
    codes = tier.stop(list(tier.members), signal.SIGTERM)
    tier.say(f"last members stopped with SIGTERM: exits {codes}")
    out = read_back(bootstrap, topics, args.partitions, covered(feeder.fed), 30)
    broker.send(signal.SIGTERM)
    result = tally(feeder.fed, out, tier, events)
    result["broker_exit"] = broker.wait()
    result["settings"] = {k: v for k, v in vars(args).items() if k != "out"}
    (run_dir / "members.log").write_text("".join(f"=== {m.name}\n{m.text()}" for m in [broker, *tier.all]))
    result["logs"] = str(run_dir / "members.log")
    return result


def print_tallies(r: dict) -> None:
    print(
        f"frames acknowledged {r['frames_acknowledged']} (not acknowledged {r['frames_not_acknowledged']}), "
        f"scored {r['frames_scored_distinct']} distinct in {r['score_records']} score records "
        f"(duplicates {r['duplicate_score_records']}), lost without a report {r['lost']}, "
        f"MISSING reports {len(r['missing_reported'])}"
    )
    print(
        f"bad records acknowledged {r['bad_acknowledged']}: dead-lettered {r['bad_dead_lettered']}, "
        f"scored {r['bad_scored']}, unaccounted {r['bad_unaccounted']}; dead letters {r['dead_letters']} "
        f"by stage {r['dead_letters_by_stage']}"
    )
    print(f"members started {r['members_started']}, crashes {len(r['crashes'])} {r['crashes']}, wedges {r['wedges']}")
    for e in r["events"]:
        if e["kind"] == "failover":
            print(
                f"failover: victim's partitions {e['lost']} scored again after {e['victim_scored_again_s']} s; "
                f"survivor's longest gap {e['survivor_longest_gap_s']} s"
            )
        elif e["kind"] == "restart":
            print(
                f"restart ({e['signal']}): new members ready {e['ready_s']} s after starting, every partition held "
                f"{e['settled_after_ready_s']} s later; every partition "
                f"scored again {e['all_scored_again_s']} s after the stop"
            )
        else:
            print(f"sigterm: {e['member']} exit {e['rc']} in {e['exit_s']:.1f} s")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--fps", type=float, default=5.0, help="frames per second per stream")
    ap.add_argument("--bad-every-s", type=float, default=0.5, help="one bad record every this many seconds")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--failovers", type=int, default=3)
    ap.add_argument("--sigterms", type=int, default=2)
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--settle-s", type=float, default=3.0, help="scoring time before each fault")
    ap.add_argument(
        "--wedge-after-s",
        type=float,
        default=60.0,
        help="how long a group may take to settle; a restarted tier not settled by then is wedged",
    )
    ap.add_argument("--drain-timeout-s", type=float, default=120.0)
    ap.add_argument("--session-timeout-ms", type=int, help="kafka.session_timeout_ms (default: the config's)")
    ap.add_argument("--heartbeat-interval-ms", type=int, help="kafka.heartbeat_interval_ms (default: the config's)")
    ap.add_argument("--assignor", choices=("range", "cooperative-sticky"), help="consumer.assignor")
    ap.add_argument("--static", action="store_true", help="static membership: --group-instance-id per member")
    ap.add_argument("--model", help="checkpoint (default: an untrained one made in the run folder)")
    ap.add_argument("--out", help="write the tallies as JSON here")
    args = ap.parse_args()
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so run() stops the processes it started.
    signal.signal(signal.SIGTERM, _interrupt)
    result = run(args)
    print_tallies(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    ok = not result["crashes"] and not result["wedges"] and not result["lost"] and not result["bad_unaccounted"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
