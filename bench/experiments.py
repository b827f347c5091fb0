"""Diagnostic variants of the services for the benchmarks (never for production).

`referrals_without_append_lock`: the referrals app with the journey log's global append lock
(`pg_advisory_xact_lock` held from the append to the commit, which serialises every write's
commit on PostgreSQL) replaced by a no-op. This gives up the feed's gap safety, so it is only a
measurement of what that one lock costs the intake benchmark:

    python -m bench.intake --name intake-no-append-lock \\
        --factory bench.experiments:referrals_without_append_lock
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def referrals_without_append_lock() -> FastAPI:
    import sqlalchemy

    import shared.events.log as log_module

    class _FuncWithoutLock:
        """`sqlalchemy.func`, except that the append lock becomes a plain value."""

        def __getattr__(self, name: str) -> Any:
            if name == "pg_advisory_xact_lock":
                return lambda key: sqlalchemy.cast(sqlalchemy.literal(key), sqlalchemy.BigInteger)
            return getattr(sqlalchemy.func, name)

    # The lock is taken inside the event INSERT (a CTE calling pg_advisory_xact_lock).
    log_module.func = _FuncWithoutLock()  # type: ignore[assignment]
    from services.referrals.main import create

    return create()
