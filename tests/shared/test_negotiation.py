"""Choosing between an endpoint's media types from `Accept`."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from shared.negotiation import CSV, JSON, csv_text, preferred, spreadsheet_cell


def _request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    ("accept", "json_first", "csv_first"),
    [
        (None, JSON, CSV),  # no Accept: the endpoint's default
        ("*/*", JSON, CSV),  # a tie: the default
        ("text/html", JSON, CSV),  # neither accepted: the default, not a 406
        ("text/csv", CSV, CSV),
        ("application/json", JSON, JSON),
        ("text/csv;q=0.5, application/json", JSON, JSON),
        ("text/csv, application/json", CSV, CSV),  # equal q: the earlier listed
        ("application/json, text/csv", JSON, JSON),
        ("text/*", CSV, CSV),
        ("application/json;q=0, */*", CSV, CSV),
        ("text/csv;q=0, */*", JSON, JSON),
    ],
)
def test_the_preferred_type_or_the_default(accept: str | None, json_first: str, csv_first: str) -> None:
    assert preferred(_request(accept), (JSON, CSV)) == json_first
    assert preferred(_request(accept), (CSV, JSON)) == csv_first


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+44", "'+44"),
        ("-A1", "'-A1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("FD-WEST", "FD-WEST"),  # a hyphen inside is no formula
        ("", ""),
        (-1.5, -1.5),  # numbers stay numbers
        (-3, -3),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(value: object, cell: object) -> None:
    assert spreadsheet_cell(value) == cell


def test_csv_text_makes_every_text_cell_safe_and_leaves_numbers() -> None:
    text = csv_text([["group", "difference"], ["=cmd", -1.5], ["ALL", 0]])
    assert text == "group,difference\n'=cmd,-1.5\nALL,0\n"
