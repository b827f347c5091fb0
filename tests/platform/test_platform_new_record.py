"""`shared.db.new_record`: a table model built without its attribute setters must be the record that
`Model(**values)` builds (same values, same defaults, same fields set), and a usable ORM record."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import JSON, inspect
from sqlmodel import Field

from shared.db import make_base, new_record
from shared.types import utcnow

Base = make_base("NewRecordTestBase")


class Note(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "notes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    text: str
    pinned: bool = False
    due: datetime | None = None
    written_at: datetime = Field(default_factory=utcnow)
    version: int = 1


def test_a_new_record_is_the_record_the_model_builds() -> None:
    given = {"text": "synthetic", "due": utcnow()}
    built, fast = Note(**given), new_record(Note, **given)
    assert fast.__pydantic_fields_set__ == built.__pydantic_fields_set__ == set(given)
    assert fast.written_at >= built.written_at  # its own call of the factory
    drawn = {"id", "written_at"}
    assert (
        fast.model_dump(exclude=drawn)
        == built.model_dump(exclude=drawn)
        == {
            **given,
            "pinned": False,
            "version": 1,
        }
    )
    assert inspect(fast).transient and inspect(fast).mapper is inspect(built).mapper


def test_a_new_record_of_a_model_never_built_before_can_be_read() -> None:
    class Fresh(make_base("FreshBase"), table=True):  # type: ignore[misc,valid-type,call-arg]
        id: int = Field(primary_key=True)
        text: str

    assert new_record(Fresh, id=1, text="first").text == "first"


def test_each_record_gets_its_own_default_from_a_factory() -> None:
    a, b = new_record(Note, text="a"), new_record(Note, text="b")
    assert a.id != b.id and (a.pinned, a.due, a.version) == (False, None, 1)


def test_an_unknown_field_is_refused_not_dropped() -> None:
    with pytest.raises(TypeError, match="no field"):
        new_record(Note, text="a", colour="red")


def test_a_model_with_a_mutable_default_is_refused() -> None:
    class Tagged(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
        __tablename__ = "tagged"
        id: int = Field(primary_key=True)
        tags: list[str] = Field(default=[], sa_type=JSON)

    with pytest.raises(TypeError, match="mutable default"):
        new_record(Tagged, id=1)
