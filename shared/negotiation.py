"""Content negotiation on `Accept` (RFC 9110 12.5.1), for endpoints that answer in more than one
media type (reports: JSON or CSV; Annex A lists: CSV or JSON), and the one CSV writer they share."""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from fastapi import Request, Response
from pydantic import BaseModel

from shared.errors import NotAcceptable

CSV = "text/csv"
JSON = "application/json"

# Sent by every answer whose media type follows `Accept`, so no cache hands one client the form
# another asked for (RFC 9110 12.5.5); and its OpenAPI description.
VARY_ACCEPT = {"Vary": "Accept"}
VARY_ACCEPT_DOC = {"description": "Accept: the body's media type follows it.", "schema": {"type": "string"}}


def json_response(
    model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A model as JSON, the body `JSONResponse(model.model_dump(mode="json"))` writes (compact,
    UTF-8), serialised by pydantic in one step: a third of the time for a year's handovers by week
    (171 KB; 0.7 ms against 2.2)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type=JSON, headers=headers)


def quality(accept: str, media_type: str) -> tuple[float, int]:
    """How much `accept` wants `media_type`: the q of its most specific matching range, then how
    early that range is listed (an earlier one wins a tie)."""
    kind = media_type.split("/")[0]
    best: tuple[int, float, int] = (-1, 0.0, 0)  # specificity, q, -position
    for position, item in enumerate(accept.split(",")):
        media_range, *params = (part.strip() for part in item.split(";"))
        specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(media_range.lower())
        if specificity is None or specificity < best[0]:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
                if math.isnan(q):  # q=nan compares false both ways: as malformed, 0
                    q = 0.0
        if specificity > best[0]:
            best = (specificity, q, -position)
    return best[1], best[2]


def preferred(request: Request, offered: Sequence[str]) -> str:
    """The media type of `offered` the client prefers (by q, then by the order of its `Accept`); on a
    tie, or when it accepts none of them, the first offered (the endpoint's default)."""
    accept = request.headers.get("accept", "")
    choice, best = offered[0], quality(accept, offered[0])
    for media_type in offered[1:]:
        q = quality(accept, media_type)
        if q[0] > 0 and q > best:
            choice, best = media_type, q
    return choice


def negotiate(request: Request, offered: Sequence[str]) -> str:
    """The media type of `offered` to answer in: the one the client prefers (`preferred`; the first
    offered when it sends no Accept); 406 when its Accept allows none of them: sent anyway, the client
    has said it could not read the answer."""
    choice = preferred(request, offered)
    accept = request.headers.get("accept", "").strip()
    if accept and quality(accept, choice)[0] <= 0:
        raise NotAcceptable(
            f"The answer is sent only as {' or '.join(offered)}, which the Accept header does not allow."
        )
    return choice


# A spreadsheet runs a cell that begins with one of these as a formula (OWASP "CSV injection"):
# `=HYPERLINK(...)` in an export an analyst or inspector opens would leak or mislead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_start(text: str) -> bool:
    """Whether a spreadsheet would read `text` as a formula: it begins with one of FORMULA_STARTS,
    or with a look-alike a spreadsheet may fold into one: a character whose NFKC compatibility form
    is one (the full-width U+FF1D, U+FF0B, U+FF0D and U+FF20; the small U+FE66, U+FE62, U+FE63 and
    U+FE6B; the super- and subscript = and +)."""
    if text.startswith(FORMULA_STARTS):
        return True
    return (
        bool(text)
        and not text[0].isascii()
        and unicodedata.normalize("NFKC", text[0]).startswith(FORMULA_STARTS)
    )


def csv_cell(value: object) -> object:
    """One CSV cell, written as the JSON writes the value: null blank, a flag `true`/`false` (csv
    would write Python's True/False), text a spreadsheet would run as a formula with a leading `'` so
    it shows as the text it is; anything else (numbers, ISO times, codes) as it is, so a number (a
    difference of -1.5) stays a number."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and formula_start(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The rows (the header first) as CSV, every cell written by `csv_cell` and every record (the
    last too) ended by CRLF, as RFC 4180 2.1 says: the one CSV writer of the reports, compare, the
    Annex A lists and their OpenAPI examples."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()
