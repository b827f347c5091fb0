"""A deterministic generator of synthetic journey events, and a bulk loader that writes them straight
into the producers' `journey_events` tables (with correct stream versions and hash chains), so the
reporting service can then project them through its normal consumer (a rebuild from position 0).

Synthetic only: random UUIDs, national/local codes, times. Every payload is built with the producer's
catalogue model, so it is exactly what the services themselves would publish.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import db_name, log, pg_connect
from services.referrals import events as rev
from services.supervision import events as sev
from shared.codes import (
    REFERRAL_OUTCOMES,
    ClosureReason,
    ConsentStatus,
    ContactChannel,
    DecisionOutcome,
    FeedbackKind,
    FrontDoorClosure,
    PrimaryNeed,
    ReferralSource,
    ServiceType,
    SupervisionKind,
    Urgency,
    WorkerChangeReason,
)
from shared.events.contract import EventPayload
from shared.events.log import envelope_hash

TEAMS = [("FD-WEST", "west"), ("FD-EAST", "east"), ("FD-NORTH", "north"), ("FD-SOUTH", "south")]
ONWARD = [("AS-WEST", "west"), ("AS-EAST", "east"), ("FS-NORTH", "north"), ("EH-SOUTH", "south")]
EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
# The journeys' first contacts are spread over this many minutes from EPOCH (about 347 days),
# whatever the number of events: `frontdoor seed` scripts a year at any volume, and a report over
# the year then reads the same months and weeks at 10 k events as at 10 M, only fewer contacts on
# each day (see `batches`).
SPAN_MINUTES = 500_000
# Referrals events per generated journey, on average (1 M events gave 192,726 journeys).
EVENTS_PER_JOURNEY = 5.19
COLUMNS = [
    "event_id",
    "type",
    "schema_version",
    "journey_id",
    "stream_version",
    "occurred_at",
    "recorded_at",
    "producer",
    "actor",
    "correlation_id",
    "payload",
    "prev_hash",
    "hash",
]


@dataclass
class Stream:
    producer: str
    journey_id: uuid.UUID
    version: int = 0
    prev_hash: str | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, payload: EventPayload, occurred_at: datetime, actor: str) -> None:
        self.version += 1
        fields: dict[str, Any] = {
            "event_id": uuid.uuid4(),
            "type": payload.event_type,
            "schema_version": payload.schema_version,
            "journey_id": self.journey_id,
            "stream_version": self.version,
            "occurred_at": occurred_at,
            "recorded_at": occurred_at + timedelta(seconds=1),
            "producer": self.producer,
            "actor": actor,
            "correlation_id": None,
            "payload": payload.model_dump(mode="json"),
        }
        fields["prev_hash"] = self.prev_hash
        fields["hash"] = self.prev_hash = envelope_hash(fields, self.prev_hash)
        self.rows.append(tuple(fields[c] for c in COLUMNS))


def _pick(rng: random.Random, enum: Any) -> Any:
    return rng.choice(list(enum))


def journey(
    rng: random.Random, index: int, minute: float | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One child's journey: referrals events and (sometimes) supervision events. Its first contact
    comes `minute` minutes after EPOCH (default: `index` minutes, wrapping after `SPAN_MINUTES`)."""
    journey_id, child_id = uuid.UUID(int=rng.getrandbits(128)), uuid.UUID(int=rng.getrandbits(128))
    team, area = TEAMS[index % len(TEAMS)]
    ref = Stream("referrals", journey_id)
    sup = Stream("supervision", journey_id)
    start = index % SPAN_MINUTES if minute is None else minute
    t = EPOCH + timedelta(minutes=start, seconds=rng.randrange(60))
    contacts = 1 + (rng.random() < 0.2)
    allocated_team: tuple[str, str] | None = None
    for n in range(contacts):
        contact_id = uuid.UUID(int=rng.getrandbits(128))
        received = t
        ref.add(
            rev.ContactReceived(
                contact_id=contact_id,
                child_id=child_id,
                received_at=received,
                source=_pick(rng, ReferralSource),
                channel=_pick(rng, ContactChannel),
                urgency=_pick(rng, Urgency),
                consent=_pick(rng, ConsentStatus),
                opens_journey=n == 0,
                repeat_contact=n > 0,
                partner_system=rng.random() < 0.3,
                team_id=team,
                area=area,
            ),
            received,
            "bench-practitioner",
        )
        t += timedelta(hours=rng.randrange(1, 20))
        if rng.random() < 0.7:
            ref.add(
                rev.ReferrerFeedbackSent(contact_id=contact_id, kind=FeedbackKind.acknowledgement, sent_at=t),
                t,
                "bench-practitioner",
            )
        if rng.random() < 0.05:
            continue  # still awaiting a decision
        t += timedelta(hours=rng.randrange(1, 40))
        outcome = _pick(rng, DecisionOutcome)
        needs_auth = outcome in REFERRAL_OUTCOMES
        decision_id = uuid.UUID(int=rng.getrandbits(128))
        ref.add(
            rev.ThresholdDecisionRecorded(
                decision_id=decision_id,
                contact_id=contact_id,
                child_id=child_id,
                outcome=outcome,
                threshold_level=rng.randrange(1, 5),
                primary_need=_pick(rng, PrimaryNeed) if needs_auth else None,
                decided_at=t,
                requires_authorisation=needs_auth,
                decided_by_team=team,
                decided_by_area=area,
            ),
            t,
            "bench-practitioner",
        )
        if needs_auth:
            t += timedelta(hours=rng.randrange(1, 8))
            ref.add(
                rev.ThresholdDecisionAuthorised(
                    decision_id=decision_id, contact_id=contact_id, authorised_at=t
                ),
                t,
                "bench-manager",
            )
            if allocated_team is None:
                allocated_team = rng.choice(ONWARD)
                t += timedelta(hours=rng.randrange(1, 24))
                ref.add(
                    rev.JourneyAllocated(
                        allocation_id=uuid.UUID(int=rng.getrandbits(128)),
                        child_id=child_id,
                        team_id=allocated_team[0],
                        area=allocated_team[1],
                        service_type=ServiceType.assessment,
                        worker_id=f"worker-{rng.randrange(200)}",
                        effective_at=t,
                    ),
                    t,
                    "bench-manager",
                )
        if rng.random() < 0.6:
            ref.add(
                rev.ReferrerFeedbackSent(contact_id=contact_id, kind=FeedbackKind.feedback, sent_at=t),
                t,
                "bench",
            )
    if allocated_team is not None:
        if rng.random() < 0.3:
            to_team = rng.choice(ONWARD)
            t += timedelta(days=rng.randrange(1, 30))
            ref.add(
                rev.JourneyTransferred(
                    allocation_id=uuid.UUID(int=rng.getrandbits(128)),
                    child_id=child_id,
                    from_team_id=allocated_team[0],
                    to_team_id=to_team[0],
                    from_area=allocated_team[1],
                    to_area=to_team[1],
                    to_service_type=_pick(rng, ServiceType),
                    from_worker_id="worker-1",
                    to_worker_id="worker-2",
                    team_changed=to_team != allocated_team,
                    worker_changed=True,
                    reason=_pick(rng, WorkerChangeReason),
                    effective_at=t,
                ),
                t,
                "bench-manager",
            )
            allocated_team = to_team
        supervision_id = uuid.UUID(int=rng.getrandbits(128))
        held = t + timedelta(days=rng.randrange(1, 20))
        actions = rng.randrange(0, 3)
        sup.add(
            sev.SupervisionRecorded(
                supervision_id=supervision_id,
                child_id=child_id,
                team_id=allocated_team[0],
                supervisee_id=f"worker-{rng.randrange(200)}",
                held_at=held,
                kind=_pick(rng, SupervisionKind),
                next_due_on=(held + timedelta(days=28)).date(),
                actions=actions,
            ),
            held,
            "bench-manager",
        )
        for _ in range(actions):
            action_id = uuid.UUID(int=rng.getrandbits(128))
            sup.add(
                sev.SupervisionActionSet(
                    action_id=action_id,
                    supervision_id=supervision_id,
                    owner_id="worker-1",
                    due_on=(held + timedelta(days=10)).date(),
                ),
                held,
                "bench-manager",
            )
            if rng.random() < 0.6:
                done = held + timedelta(days=rng.randrange(1, 10))
                sup.add(
                    sev.SupervisionActionCompleted(
                        action_id=action_id, supervision_id=supervision_id, completed_at=done
                    ),
                    done,
                    "bench-practitioner",
                )
    if rng.random() < 0.6:
        t += timedelta(days=rng.randrange(1, 60))
        reason: ClosureReason | FrontDoorClosure = (
            _pick(rng, ClosureReason) if allocated_team else _pick(rng, FrontDoorClosure)
        )
        ref.add(rev.JourneyClosed(child_id=child_id, closure_reason=reason, closed_at=t), t, "bench-manager")
    return ref.rows, sup.rows


def register_entries(rng: random.Random, workers: int = 200) -> list[tuple[Any, ...]]:
    """The supervision service's newly-qualified register, set for a third of the journeys' workers
    (`worker-N`) and changed or ended for some: each entry on its own stream, as the service writes it.
    Not part of `batches` (the benchmark's volumes and timings stay as they were)."""
    rows: list[tuple[Any, ...]] = []
    for n in range(0, workers, 3):
        worker = f"worker-{n}"
        entry = Stream("supervision", sev.register_stream(worker))
        t = EPOCH + timedelta(days=rng.randrange(-30, 30))
        for _ in range(1 + (rng.random() < 0.4)):
            until = None if rng.random() < 0.2 else (t + timedelta(days=rng.randrange(1, 60))).date()
            entry.add(
                sev.NewlyQualifiedRegisterSet(worker_id=worker, newly_qualified_until=until),
                t,
                "bench-manager",
            )
            t += timedelta(days=rng.randrange(1, 30))
        rows.extend(entry.rows)
    return rows


def batches(
    referrals_events: int, seed: int = 8, batch: int = 20_000
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]]:
    """Yield (referrals rows, supervision rows, journeys) until about `referrals_events` are produced.
    The journeys start evenly over `SPAN_MINUTES`, in order, however many there are: 10 k events
    put about six contacts on a day of the year, 10 M about 6,300. (Before 2026-12-05 a journey
    started `index` minutes after EPOCH, so 10 k events fell within about a day and a half, and the
    reports' growth from 10 k to 10 M events mixed more contacts a day with more days holding any.)"""
    rng = random.Random(seed)
    produced = 0
    index = 0
    spacing = SPAN_MINUTES / max(1.0, referrals_events / EVENTS_PER_JOURNEY)
    while produced < referrals_events:
        ref_rows: list[tuple[Any, ...]] = []
        sup_rows: list[tuple[Any, ...]] = []
        journeys = 0
        while len(ref_rows) < batch and produced + len(ref_rows) < referrals_events:
            r, s = journey(rng, index, index * spacing)
            index += 1
            journeys += 1
            ref_rows.extend(r)
            sup_rows.extend(s)
        produced += len(ref_rows)
        yield ref_rows, sup_rows, journeys


async def load(urls: dict[str, str], referrals_events: int, seed: int = 8) -> dict[str, Any]:
    """COPY generated events into the referrals and supervision logs; returns counts and timing."""
    ref = await pg_connect(db_name(urls["referrals"]))
    sup = await pg_connect(db_name(urls["supervision"]))
    for conn in (ref, sup):
        # COPY speaks the binary protocol; json's binary form is its UTF-8 text.
        await conn.set_type_codec(
            "json",
            encoder=lambda v: json.dumps(v).encode(),
            decoder=lambda b: json.loads(b),
            schema="pg_catalog",
            format="binary",
        )
    started = time.perf_counter()
    counts = {"referrals": 0, "supervision": 0, "journeys": 0, "contacts": 0}
    try:
        for ref_rows, sup_rows, journeys in batches(referrals_events, seed):
            await ref.copy_records_to_table("journey_events", records=ref_rows, columns=COLUMNS)
            if sup_rows:
                await sup.copy_records_to_table("journey_events", records=sup_rows, columns=COLUMNS)
            counts["referrals"] += len(ref_rows)
            counts["supervision"] += len(sup_rows)
            counts["journeys"] += journeys
            counts["contacts"] += sum(1 for r in ref_rows if r[1] == "ContactReceived")
            if counts["referrals"] % 200_000 < len(ref_rows):
                log(f"  loaded {counts['referrals']:,} referrals events")
        for conn in (ref, sup):
            await conn.execute("ANALYZE journey_events")
    finally:
        await ref.close()
        await sup.close()
    return {**counts, "seconds": time.perf_counter() - started}


if __name__ == "__main__":  # a quick look at the generator's output rate
    t0 = time.perf_counter()
    n = sum(len(r) + len(s) for r, s, _ in batches(50_000))
    print(f"{n} events in {time.perf_counter() - t0:.1f}s")
    asyncio.run(asyncio.sleep(0))
