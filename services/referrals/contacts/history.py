"""What whoever decides on a contact should see of the child's earlier contacts: whether a referral
now would be a re-referral, and whether worries keep arriving without a referral. Never commits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import Field
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.common import Schema
from services.referrals.contacts.models import Contact
from services.referrals.decisions.models import Decision, referral_in_force
from shared.dates import london_window, one_year_before, within_twelve_months
from shared.db import on_postgresql
from shared.working_days import london_date

# "3+ contacts without referral" (the domain reference's repeat-contact pattern).
REPEATED_CONTACTS = 3


class ChildHistory(Schema):
    """The child's contacts in the 12 months before one contact, counted as reporting counts them."""

    since: date = Field(
        description="First London date of the 12 months: the contact's London date a year earlier "
        "(28 February for 29 February)."
    )
    earlier_contacts: int = Field(
        description="The child's contacts received from `since` up to this one (at the same instant: "
        "those with a lower id), in any journey."
    )
    earlier_referrals: int = Field(
        description="Of those, the ones whose current decision (authorised or awaiting authorisation) "
        "is a referral: CIN_ASSESSMENT or STRATEGY_S47."
    )
    last_referral_received_at: datetime | None = Field(
        description="When the latest of those referrals was received; null when none."
    )
    re_referral_if_referred: bool = Field(
        description="A referral on this contact would be a re-referral (another referral within 12 "
        "months, as DfE counts them)."
    )
    contacts_since_last_referral: int = Field(
        description="This contact and the child's earlier ones since the last of those referrals, or "
        "in all 12 months when there was none."
    )
    repeated_contacts_without_referral: bool = Field(
        description=f"{REPEATED_CONTACTS} or more contacts in the 12 months, this one included, and "
        "none of the earlier ones a referral: worries that keep arriving without one. A child referred "
        "in the 12 months (whose later contacts may be about that referral) is not flagged."
    )


@dataclass(frozen=True)
class _Earlier:
    key: tuple[datetime, uuid.UUID]
    referral: bool


def _history(contact: Contact, earlier: Sequence[_Earlier]) -> ChildHistory:
    """`earlier`: the child's contacts before this one within its 12 months, oldest first."""
    referrals = [e for e in earlier if e.referral]
    last = referrals[-1] if referrals else None
    since_last = sum(1 for e in earlier if last is None or e.key > last.key)
    return ChildHistory(
        since=one_year_before(london_date(contact.received_at)),
        earlier_contacts=len(earlier),
        earlier_referrals=len(referrals),
        last_referral_received_at=last.key[0] if last else None,
        re_referral_if_referred=last is not None,
        contacts_since_last_referral=since_last + 1,
        repeated_contacts_without_referral=last is None and len(earlier) + 1 >= REPEATED_CONTACTS,
    )


async def histories(session: AsyncSession, contacts: Sequence[Contact]) -> dict[uuid.UUID, ChildHistory]:
    """Each contact's ChildHistory by contact id, from one statement however many contacts."""
    if not contacts:
        return {}
    days = [one_year_before(london_date(c.received_at)) for c in contacts]
    start = london_window(min(days), min(days))[0]
    is_referral = select(col(Decision.id)).where(
        col(Decision.contact_id) == col(Contact.id), *referral_in_force()
    )
    if on_postgresql(session):
        # The driver prepares the statement once per connection, and from its sixth run PostgreSQL may
        # plan it without its values: a plan that read every contact of the page's year by the
        # received_at index instead of the children's few by theirs (over 100x slower on a year of a
        # large county's contacts). Planned with its values, each run (this transaction only).
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows = await session.execute(
        select(col(Contact.id), col(Contact.child_id), col(Contact.received_at), is_referral.exists())
        .where(
            col(Contact.child_id).in_({c.child_id for c in contacts}),
            col(Contact.received_at) >= start,
            col(Contact.received_at) <= max(c.received_at for c in contacts),
        )
        .order_by(col(Contact.received_at), col(Contact.id))
    )
    by_child: dict[uuid.UUID, list[_Earlier]] = defaultdict(list)
    for contact_id, child_id, received_at, referral in rows:
        by_child[child_id].append(_Earlier((received_at, contact_id), bool(referral)))
    return {
        c.id: _history(
            c,
            [
                e
                for e in by_child[c.child_id]
                if e.key < (c.received_at, c.id) and within_twelve_months(e.key[0], c.received_at)
            ],
        )
        for c in contacts
    }
