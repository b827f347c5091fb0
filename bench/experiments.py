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
    import shared.events.log as log_module

    original = log_module.text

    def text(sql: str, *args: Any, **kwargs: Any) -> Any:
        if "pg_advisory_xact_lock" in sql:
            return original("SELECT CAST(:k AS bigint)")
        return original(sql, *args, **kwargs)

    log_module.text = text  # type: ignore[assignment]
    from services.referrals.main import create

    return create()
