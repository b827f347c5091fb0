"""Issue 2, item 3: each service's migrations build exactly its models' schema, with named constraints.

Services come from `frontdoor.registry.SERVICES` and metadata from `services.<name>.db`, so tables added
later by the service teams are covered without touching this file. The databases were empty and were
upgraded to head by `frontdoor migrate` (fixture `cli_migrated`).
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection

from frontdoor.registry import SERVICES
from shared.db import Database
from shared.migrations import current_revision, head_revision


def service_metadata(name: str) -> MetaData:
    metadata: MetaData = importlib.import_module(f"services.{name}.db").metadata
    return metadata


def _diff(conn: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "target_metadata": metadata})
    return list(compare_metadata(context, metadata))


def _constraint_names(conn: Connection) -> dict[str, dict[str, list[str | None]]]:
    inspector = inspect(conn)
    names: dict[str, dict[str, list[str | None]]] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        names[table] = {
            "pk": [inspector.get_pk_constraint(table).get("name")],
            "uq": [u["name"] for u in inspector.get_unique_constraints(table)],
            "ix": [i["name"] for i in inspector.get_indexes(table) if not i.get("unique")],
            "fk": [f["name"] for f in inspector.get_foreign_keys(table)],
            "ck": [c["name"] for c in inspector.get_check_constraints(table)],
        }
    return names


@pytest.mark.parametrize("name", list(SERVICES))
async def test_empty_database_is_at_head_with_no_autogenerate_diff(name: str, cli_migrated) -> None:
    db = Database(cli_migrated["urls"][name])
    try:
        assert await current_revision(db.engine) == head_revision(name) is not None
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(_diff, service_metadata(name))
    finally:
        await db.dispose()
    assert diff == [], f"{name}: the migrations and the models disagree: {diff}"


@pytest.mark.parametrize("name", list(SERVICES))
async def test_constraints_follow_the_naming_convention(name: str, cli_migrated) -> None:
    db = Database(cli_migrated["urls"][name])
    try:
        async with db.engine.connect() as conn:
            reflected = await conn.run_sync(_constraint_names)
    finally:
        await db.dispose()
    assert set(reflected) == set(service_metadata(name).tables), "tables in the database vs the models"
    for table, kinds in reflected.items():
        assert kinds["pk"] == [f"pk_{table}"], f"{table}: primary key name {kinds['pk']}"
        for kind, found in kinds.items():
            for constraint in found:
                assert constraint is not None, f"{table}: an unnamed {kind} constraint"
                assert constraint.startswith(f"{kind}_{table}"), (
                    f"{table}: {kind} constraint {constraint!r} does not follow the naming convention"
                )
    # Concretely, for the platform tables every service has:
    assert reflected["idempotency_keys"]["pk"] == ["pk_idempotency_keys"]
    assert sorted(reflected["audit_log"]["ix"]) == ["ix_audit_log_actor", "ix_audit_log_child_id"]
    if SERVICES[name].produces_events:
        assert sorted(reflected["journey_events"]["uq"]) == [
            "uq_journey_events_event_id",
            "uq_journey_events_journey_id_stream_version",
        ]


@pytest.mark.parametrize("name", list(SERVICES))
async def test_primary_keys_have_the_models_column_order(name: str, cli_migrated) -> None:
    """A key's column order decides which readings are one range of its index, and the diff above
    does not compare it: each table's primary key lists the model's columns in the model's order."""
    db = Database(cli_migrated["urls"][name])
    try:
        async with db.engine.connect() as conn:
            keys = await conn.run_sync(
                lambda sync: {
                    t: inspect(sync).get_pk_constraint(t)["constrained_columns"]
                    for t in inspect(sync).get_table_names()
                }
            )
    finally:
        await db.dispose()
    for table in service_metadata(name).sorted_tables:
        assert keys[table.name] == [c.name for c in table.primary_key.columns], table.name


def test_the_migration_check_can_see_a_missing_table() -> None:
    """The diff above is not vacuous: a model table with no migration is reported."""
    from sqlalchemy import Column, Integer, Table, create_engine

    metadata = MetaData()
    Table("not_migrated", metadata, Column("id", Integer, primary_key=True))
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        diff = _diff(conn, metadata)
    assert [d[0] for d in diff] == ["add_table"]
