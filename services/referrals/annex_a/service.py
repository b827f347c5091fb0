"""The rows of Annex A Lists 1 and 3 for a window of London dates, each read in one query whatever the
window holds (no query per row)."""

from __future__ import annotations

import bisect
import itertools
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.annex_a.models import REFERRAL_NFA_NO, AnnexAContact, AnnexAReferral
from services.referrals.children.models import Child
from services.referrals.contacts.models import Contact
from services.referrals.decisions.models import Decision, referral_in_force
from services.referrals.journeys.models import Allocation
from services.referrals.teams.models import Team
from shared.codes import ANNEX_A_LABELS, Ethnicity, ReferralSource, Sex
from shared.dates import london_window, one_year_before
from shared.working_days import london_date

# Code -> Annex A label, looked up per row (the stored values are the codes themselves).
_SEX, _ETHNICITY, _SOURCE = (ANNEX_A_LABELS[Sex], ANNEX_A_LABELS[Ethnicity], ANNEX_A_LABELS[ReferralSource])

# The child's columns each list reads with its contacts (with Contact.child_id): `_child_columns`.
_CHILD_COLUMNS = (
    col(Child.sex),
    col(Child.ethnicity),
    col(Child.date_of_birth),
)


def age_on(born: date | None, on: date) -> int | None:
    """Whole years from `born` to `on`; None when not yet born (or unborn: no date of birth)."""
    if born is None or born > on:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _child_columns(row: Any, on: date) -> dict[str, Any]:
    """The common columns (`_ChildRow`'s fields) of a row read with `_CHILD_COLUMNS`, for a row of
    London date `on`: labels looked up by code, values read from the database not validated again."""
    return {
        "child_id": row.child_id,
        "gender": _SEX[row.sex],
        "ethnicity": _ETHNICITY[row.ethnicity],
        "date_of_birth": row.date_of_birth,
        "age": age_on(row.date_of_birth, on),
    }


async def contacts(session: AsyncSession, from_date: date, to_date: date) -> list[AnnexAContact]:
    """List 1: every contact received in the window, one row per child (a contact naming several
    children is one contact per child already), by receipt then contact id."""
    start, end = london_window(from_date, to_date)
    query = (
        select(
            col(Contact.id),
            col(Contact.child_id),
            col(Contact.received_at),
            col(Contact.source),
            *_CHILD_COLUMNS,
        )
        .join(Child, col(Child.id) == col(Contact.child_id))
        .where(col(Contact.received_at) >= start, col(Contact.received_at) < end)
        .order_by(col(Contact.received_at), col(Contact.id))
    )
    rows = []
    for row in await session.execute(query):
        on = london_date(row.received_at)
        rows.append(
            # Values read from the database, checked when written: built without validating again.
            AnnexAContact.model_construct(
                **_child_columns(row, on),
                date_of_contact=on,
                contact_source=_SOURCE[row.source],
                contact_id=row.id,
            )
        )
    return rows


@dataclass(frozen=True)
class _Held:
    team: str
    worker: str | None
    started_at: datetime
    ended_at: datetime | None


def _allocation_at(history: Sequence[_Held], at: datetime) -> _Held | None:
    """The allocation holding the journey at `at`, else the first one after it (a journey not yet
    allocated when the referral was decided); `history` is in order of start."""
    holding = [a for a in history if a.started_at <= at and (a.ended_at is None or a.ended_at > at)]
    if holding:
        return holding[-1]
    return next((a for a in history if a.started_at > at), None)


def _earlier_in_year(earlier: Sequence[tuple[datetime, uuid.UUID]], key: tuple[datetime, uuid.UUID]) -> int:
    """How many of a child's referrals (sorted `earlier`) came before `key` (receipt, contact id)
    from the same London date a year earlier: the re-referral rule reporting applies, as a count."""
    before = bisect.bisect_left(earlier, key)
    since = one_year_before(london_date(key[0]))
    return sum(1 for received_at, _ in earlier[:before] if london_date(received_at) >= since)


async def referrals(session: AsyncSession, from_date: date, to_date: date) -> list[AnnexAReferral]:
    """List 3: every referral received in the window, by receipt then contact id.

    One statement, so on PostgreSQL (read committed) the referrals and their journeys' allocations
    come from one snapshot: a decision superseded in between cannot leave a row without its history.
    It also reads the year before the window (the referrals counted as earlier ones); only the rows
    in the window are joined to their journey's allocations, one row per allocation.
    """
    start, end = london_window(from_date, to_date)
    lookback, _ = london_window(one_year_before(from_date), to_date)
    query: Any = (  # too many columns for select()'s typed overloads
        select(
            col(Contact.id),
            col(Contact.child_id),
            col(Contact.received_at),
            col(Contact.source),
            col(Decision.id).label("decision_id"),
            col(Decision.decided_at),
            *_CHILD_COLUMNS,
            col(Team.name).label("team"),
            col(Allocation.worker_id),
            col(Allocation.started_at),
            col(Allocation.ended_at),
        )
        .join(Decision, col(Decision.contact_id) == col(Contact.id))
        .join(Child, col(Child.id) == col(Contact.child_id))
        .outerjoin(
            Allocation,
            and_(col(Allocation.journey_id) == col(Contact.journey_id), col(Contact.received_at) >= start),
        )
        .outerjoin(Team, col(Team.id) == col(Allocation.team_id))
        .where(col(Contact.received_at) >= lookback, col(Contact.received_at) < end, *referral_in_force())
        .order_by(
            col(Contact.received_at),
            col(Contact.id),
            col(Allocation.started_at),
            col(Allocation.recorded_at),
            col(Allocation.id),
        )
    )
    found = [list(group) for _, group in itertools.groupby(await session.execute(query), key=lambda r: r.id)]
    by_child: defaultdict[uuid.UUID, list[tuple[datetime, uuid.UUID]]] = defaultdict(list)
    for first, *_ in found:
        by_child[first.child_id].append((first.received_at, first.id))
    for earlier in by_child.values():  # as `_earlier_in_year` bisects them; the query's order, too
        earlier.sort()

    rows = []
    for group in found:
        row = group[0]
        if row.received_at < start:
            continue
        on = london_date(row.received_at)
        history = [
            _Held(a.team, a.worker_id, a.started_at, a.ended_at) for a in group if a.started_at is not None
        ]
        held = _allocation_at(history, row.decided_at)
        rows.append(
            AnnexAReferral.model_construct(
                **_child_columns(row, on),
                date_of_referral=on,
                referral_source=_SOURCE[row.source],
                referral_nfa=REFERRAL_NFA_NO,
                referrals_in_last_12_months=_earlier_in_year(
                    by_child[row.child_id], (row.received_at, row.id)
                ),
                allocated_team=held.team if held else None,
                allocated_worker=held.worker if held else None,
                contact_id=row.id,
                decision_id=row.decision_id,
            )
        )
    return rows
