"""Choosing between an endpoint's media types from `Accept`."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from shared.errors import NotAcceptable
from shared.negotiation import CSV, JSON, csv_cell, csv_text, negotiate, preferred


def _request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    ("accept", "json_first", "csv_first"),
    [
        (None, JSON, CSV),  # no Accept: the endpoint's default
        ("*/*", JSON, CSV),  # a tie: the default
        ("text/html", JSON, CSV),  # neither accepted: the default (`negotiate` refuses it)
        ("text/csv", CSV, CSV),
        ("application/json", JSON, JSON),
        ("text/csv;q=0.5, application/json", JSON, JSON),
        ("text/csv, application/json", CSV, CSV),  # equal q: the earlier listed
        ("application/json, text/csv", JSON, JSON),
        ("text/*", CSV, CSV),
        ("application/json;q=0, */*", CSV, CSV),
        ("text/csv;q=0, */*", JSON, JSON),
        ("text/csv;q=0.5, application/json;q=nan", CSV, CSV),  # a q not a number counts as 0
    ],
)
def test_the_preferred_type_or_the_default(accept: str | None, json_first: str, csv_first: str) -> None:
    assert preferred(_request(accept), (JSON, CSV)) == json_first
    assert preferred(_request(accept), (CSV, JSON)) == csv_first


@pytest.mark.parametrize(
    ("accept", "offered", "chosen"),
    [
        (None, (CSV, JSON), CSV),  # no Accept accepts anything: the default
        ("", (JSON, CSV), JSON),
        ("*/*", (JSON,), JSON),
        ("text/csv", (CSV, JSON), CSV),
        ("application/json;q=0.1, text/csv", (JSON,), JSON),  # accepted, if not preferred
        ("application/xml", (CSV, JSON), None),
        ("text/html", (JSON, CSV), None),
        ("*/*;q=0", (CSV, JSON), None),
        ("application/json;q=0", (JSON, CSV), None),  # JSON refused, CSV not asked for
        ("text/csv", (JSON,), None),
        ("application/json;q=nan", (JSON,), None),
    ],
)
def test_an_accept_allowing_none_of_the_offered_types_is_406(
    accept: str | None, offered: tuple[str, ...], chosen: str | None
) -> None:
    if chosen is not None:
        assert negotiate(_request(accept), offered) == chosen
        return
    with pytest.raises(NotAcceptable) as refused:
        negotiate(_request(accept), offered)
    assert refused.value.status == 406
    assert [(p.name, p.location) for p in refused.value.invalid_params or []] == [("Accept", "header")]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+44", "'+44"),
        ("-A1", "'-A1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        # Full-width and small look-alikes: a spreadsheet may normalise them (NFKC) to =, +, - and @.
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
        ("\uff0b44", "'\uff0b44"),  # full-width plus sign
        ("\uff0dA1", "'\uff0dA1"),  # full-width hyphen-minus
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),  # full-width commercial at
        ("\ufe661+1", "'\ufe661+1"),  # small equals sign
        ("\ufe6242", "'\ufe6242"),  # small plus sign
        ("\ufe63A1", "'\ufe63A1"),  # small hyphen-minus
        ("\ufe6bSUM(A1)", "'\ufe6bSUM(A1)"),  # small commercial at
        ("FD\uff1dWEST", "FD\uff1dWEST"),  # only the first character counts
        ("FD-WEST", "FD-WEST"),  # a hyphen inside is no formula
        ("", ""),
        (-1.5, -1.5),  # numbers stay numbers
        (-3, -3),
        (None, ""),  # as the JSON writes them: null blank, a flag true/false
        (True, "true"),
        (False, "false"),
        (0, 0),
    ],
)
def test_a_cell_is_written_as_the_json_writes_it_and_runs_no_formula(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_csv_text_makes_every_text_cell_safe_and_leaves_numbers() -> None:
    text = csv_text([["group", "difference", "breached"], ["=cmd", -1.5, True], ["ALL", 0, None]])
    # Every record ends with CRLF, as RFC 4180 2.1 says, the last one too.
    assert text == "group,difference,breached\r\n'=cmd,-1.5,true\r\nALL,0,\r\n"
