"""Drill: property-based requests against every operation of every service's OpenAPI (schemathesis),
with a valid token holding every role. No response may be a 500, and every response must match the
schema the service publishes for that status. Example counts are small by default (CI); the slow
variant runs more.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
import schemathesis
from drillkit import bearer
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from frontdoor.registry import SERVICES

EXAMPLES = int(os.environ.get("FRONTDOOR_SCHEMATHESIS_EXAMPLES", "6"))
ALL_ROLES = ("practitioner", "manager", "analyst", "partner", "service", "admin")


def _schema(name: str) -> Any:
    # Only the OpenAPI document is needed to enumerate operations; no database is touched.
    app = (
        SERVICES[name]
        .main()
        .create(
            SERVICES[name].settings(database_url="sqlite+aiosqlite:///:memory:", environment="test"),
            run_consumers=False,
        )
    )
    return schemathesis.openapi.from_dict(app.openapi())


def _operations() -> list[Any]:
    params = []
    for name in SERVICES:
        for result in _schema(name).get_all_operations():
            op = result.ok()
            params.append(
                pytest.param(name, op.method.upper(), op.path, id=f"{name}:{op.method.upper()} {op.path}")
            )
    return params


async def _send(client: httpx.AsyncClient, case: Any, headers: dict[str, str]) -> httpx.Response:
    kw = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    params = dict(kw.get("params") or {})
    if "wait" in params:
        params["wait"] = 0  # the feed's long-poll would only make the drill slow
    return await client.request(
        kw["method"],
        kw["url"],
        params=params,
        headers=kw.get("headers"),
        json=kw.get("json"),
        content=kw.get("data") if isinstance(kw.get("data"), (bytes, str)) else None,
    )


def _run(service: str, method: str, path: str, settings_for: Any, examples: int) -> None:
    app = SERVICES[service].main().create(settings_for(service), run_consumers=False)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operation = schema[path][method].ok() if hasattr(schema[path][method], "ok") else schema[path][method]
    headers = bearer(*ALL_ROLES, sub="drill-schemathesis", team="FD-WEST")
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://drill.test", timeout=30
    )

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        response = loop.run_until_complete(_send(client, case, headers))
        assert response.status_code < 500 or response.status_code == 503, (
            response.status_code,
            str(response.request.url),
            response.text,
        )
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    try:
        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(app.state.service.db.dispose())
        loop.close()


@pytest.mark.parametrize(("service", "method", "path"), _operations())
def test_operation_never_500_and_matches_schema(
    service: str, method: str, path: str, settings_for: Any, clean_db: None
) -> None:
    _run(service, method, path, settings_for, EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize(("service", "method", "path"), _operations())
def test_operation_never_500_and_matches_schema_long(
    service: str, method: str, path: str, settings_for: Any, clean_db: None
) -> None:
    _run(service, method, path, settings_for, 100)
