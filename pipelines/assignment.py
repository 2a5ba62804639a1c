"""The partitions this member holds, and what a rebalance leaves to do (kafka-python's callbacks run inside poll()).

- revoked partitions whose unpublished frames we dropped: where to re-read them if they come back
  to us in the same rebalance (kafka-python keeps their fetch position, past the dropped frames);
- partitions taken over that another member may have processed: their per-stream state (sequence
  watch, the hook's alert state) must be rebuilt;
- a lost membership: the topics are checked again (a broker that forgot them re-creates them with
  its own partition count), and the streams' last frame numbers are kept, so frames that vanished
  meanwhile are reported as missing.
"""

from __future__ import annotations

from collections.abc import Iterable


class Assignment:
    def __init__(self) -> None:
        self.assigned: set = set()
        self.assignments = 0  # how many times partitions were assigned (tests wait on it)
        self._revoked_recently: set = set()  # partitions given up in the current rebalance
        self._rewind_to: dict = {}  # revoked partition -> offset of its first unpublished frame we dropped
        self._lost_recently: set = set()  # partitions whose membership was lost (their seq watch is kept)
        self.check_topics = False  # run ensure_topics again (after a lost membership)
        self._restore: set = set()  # partitions taken over whose per-stream state must be rebuilt

    def revoke(self, revoked: set, held: Iterable) -> None:
        """`held`: the frames in hand (pending or being scored); those of revoked partitions are dropped."""
        for p in held:
            if p.tp in revoked:
                first = self._rewind_to.get(p.tp)
                self._rewind_to[p.tp] = p.record.offset if first is None else min(first, p.record.offset)
        self.assigned -= revoked
        self._revoked_recently |= revoked

    def lose(self, lost: set) -> None:
        for tp in lost:
            self._rewind_to.pop(tp, None)
        self._revoked_recently -= lost
        self._lost_recently |= lost
        self.check_topics = True

    def assign(self, assigned: set) -> dict:
        """Returns {partition: offset} to seek back to: kept through the rebalance, frames of it dropped."""
        # Partitions given up in this rebalance and given back were ours all along (eager rebalancing
        # revokes everything first); any other one may have been processed by another member.
        self._restore |= assigned - self._revoked_recently
        self._revoked_recently = set()
        # Eager rebalancing revoked everything before; cooperative rebalancing hands over only the
        # partitions added (those kept stay assigned without a callback): a union serves both.
        self.assigned |= set(assigned)
        rewind, self._rewind_to = self._rewind_to, {}
        self.assignments += 1
        return {tp: off for tp, off in rewind.items() if tp in self.assigned}

    def pending_restore(self) -> bool:
        return bool(self._restore)

    def take_restore(self) -> tuple[set, set]:
        """(partitions taken over and still ours, those of them whose membership was lost)."""
        taken, self._restore = self._restore & self.assigned, set()
        lost, self._lost_recently = self._lost_recently, set()
        return taken, lost


class Membership:
    """How long this member has been without partitions while its group is not stable.

    A stable member with no partitions is fine (more members than partitions). One that stays
    unassigned and unstable for longer than any rebalance takes is wedged: on the embedded broker a
    group whose leader left during a rebalance names the departed leader forever (docs/RELIABILITY.md),
    and only a fresh member (or a broker restart) may get out of it. `overdue` says when to rejoin;
    after `max_rejoins` rejoins without an assignment the member gives up (the caller exits non-zero).
    """

    def __init__(self, rejoin_after_s: float, max_rejoins: int, now: float) -> None:
        self.rejoin_after_s = rejoin_after_s
        self.max_rejoins = max_rejoins
        self.waiting_since: float | None = now
        self.rejoins = 0

    def note(self, assigned: bool, stable: bool, now: float) -> None:
        if assigned or stable:
            self.waiting_since = None
            if assigned:
                self.rejoins = 0
        elif self.waiting_since is None:
            self.waiting_since = now

    def overdue(self, now: float) -> bool:
        return self.waiting_since is not None and now - self.waiting_since > self.rejoin_after_s

    def waited(self, now: float) -> float:
        return 0.0 if self.waiting_since is None else now - self.waiting_since

    def rejoined(self, now: float) -> None:
        self.rejoins += 1
        self.waiting_since = now

    @property
    def exhausted(self) -> bool:
        return self.rejoins >= self.max_rejoins
