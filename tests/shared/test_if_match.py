"""`check_if_match`: what a precondition header matches (shared by every service's writes)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from shared.errors import PreconditionFailed, PreconditionRequired
from shared.http import check_if_match

CURRENT = '"v2"'


def request_with(if_match: str | None) -> Request:
    headers = [] if if_match is None else [(b"if-match", if_match.encode())]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    "header",
    [
        '"v2"',
        '"v1", "v2"',
        'W/"v2"',  # a proxy that compresses marks ETags weak; the version is the same
        "*",
    ],
)
def test_a_header_naming_the_current_version_or_any_matches(header: str) -> None:
    check_if_match(request_with(header), CURRENT)


@pytest.mark.parametrize("header", ['"v1"', 'W/"v1"', '"v2', "v2"])
def test_any_other_version_is_412(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        check_if_match(request_with(header), CURRENT)


def test_a_missing_header_passes_unless_required() -> None:
    check_if_match(request_with(None), CURRENT)
    with pytest.raises(PreconditionRequired):
        check_if_match(request_with(None), CURRENT, required=True)


def test_any_does_not_match_what_does_not_exist_yet() -> None:
    with pytest.raises(PreconditionFailed):
        check_if_match(request_with("*"), CURRENT, exists=False)
    check_if_match(request_with(CURRENT), CURRENT, exists=False)  # the ETag that names its absence
