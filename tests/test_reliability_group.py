"""Group membership against the real embedded broker: the wedged group and how members avoid it.

On Tansu 0.6.0 a LeaveGroup from the group's leader while the group is rebalancing removes the
member but keeps naming it as leader; every member that joins later is a follower waiting for that
departed leader's assignment (SyncGroup error 27) for as long as the broker runs
(docs/RELIABILITY.md). Two members stopped together hit it: the first to leave starts a rebalance,
the leader leaves during it.

1. The wedge reproduced with plain close(): a new member gets no partition.
2. close_member (what `score` does on exit): the leader goes without a LeaveGroup, is evicted after
   the session timeout, and a new member gets every partition.
3. A ScoringConsumer in a wedged group does not print '0 frames' forever: it rejoins as a fresh
   member and then exits with one line naming the cause.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from kafka import KafkaConsumer

import monitor
from pipelines.broker import BrokerError
from pipelines.consumer import ScoringConsumer
from pipelines.kafka_clients import close_member, consumer_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


class _Polling:
    """A group member polling on its own thread (a KafkaConsumer is used by one thread only)."""

    def __init__(self, cfg) -> None:
        self.client = KafkaConsumer(**consumer_settings(cfg, cfg.kafka.bootstrap_servers))
        self.client.subscribe([cfg.kafka.frames_topic])
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._halt.is_set():
            self.client.poll(timeout_ms=100)

    def halt(self) -> None:
        self._halt.set()
        self._thread.join(10)

    @property
    def partitions(self) -> set:
        return set(self.client.assignment())

    @property
    def leads(self) -> bool:
        return bool(getattr(self.client._coordinator, "_is_leader", False))


def _wait(cond, timeout_s: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


def _two_members_then_both_stop(cfg, close) -> None:
    """Two members share the 4 partitions; the follower leaves, then (while the group rebalances) the leader."""
    a, b = _Polling(cfg), _Polling(cfg)
    assert _wait(lambda: len(a.partitions) + len(b.partitions) == 4 and a.partitions and b.partitions, 60)
    leader, follower = (a, b) if a.leads else (b, a)
    assert leader.leads and not follower.leads
    for m in (follower, leader):
        m.halt()
    close(follower.client)  # LeaveGroup: the group starts rebalancing, still led by `leader`
    close(leader.client)


def _newcomer_gets_partitions(cfg, within_s: float) -> float | None:
    new = _Polling(cfg)
    try:
        return _wait(lambda: len(new.partitions) == 4, within_s)
    finally:
        new.halt()
        close_member(new.client)


def test_a_leader_that_leaves_during_a_rebalance_wedges_the_group_on_the_embedded_broker(kafka_cfg):
    _two_members_then_both_stop(kafka_cfg, lambda c: c.close(autocommit=False))
    # Far longer than a rebalance takes (session timeout 2 s by default): the broker's bug, reproduced.
    assert _newcomer_gets_partitions(kafka_cfg, 20) is None


def test_members_closed_as_score_closes_them_leave_a_group_a_newcomer_can_join(kafka_cfg):
    _two_members_then_both_stop(kafka_cfg, close_member)
    waited = _newcomer_gets_partitions(kafka_cfg, 30)
    assert waited is not None, "the group wedged although the leader sent no LeaveGroup"
    print(f"\nnewcomer held every partition {waited:.1f} s after both members closed (leader without LeaveGroup)")


def test_a_member_of_a_wedged_group_rejoins_then_exits_with_one_line(kafka_cfg, untrained_checkpoint):
    _two_members_then_both_stop(kafka_cfg, lambda c: c.close(autocommit=False))
    cfg = dataclasses.replace(
        kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, rejoin_after_s=4.0, max_rejoins=1)
    )
    member = ScoringConsumer(
        cfg, cfg.kafka.bootstrap_servers, monitor.load_model(untrained_checkpoint, device="cpu"), name="wedged"
    )
    t0 = time.monotonic()
    with pytest.raises(BrokerError) as e:
        member.run(idle_exit_s=60)
    msg = str(e.value)
    assert "\n" not in msg and "wedged" in msg and cfg.kafka.frames_topic in msg
    assert member.membership.rejoins == 1
    assert time.monotonic() - t0 < 40
