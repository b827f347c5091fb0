"""Report endpoints: JSON by default, CSV on `Accept: text/csv`; analysts and managers only."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from services.reporting.reports.models import (
    BAND_RATES,
    SD_MULTIPLE_DEFAULT,
    SD_MULTIPLE_MAX,
    SD_MULTIPLE_MIN,
    AwaitingContact,
    AwaitingReport,
    CompareReport,
    ContactGrouping,
    ContactToOutcomeGroupBy,
    ContactToOutcomeReport,
    ContactToOutcomeRow,
    ConversionBandsReport,
    ConversionReport,
    ConversionRow,
    Difference,
    Freshness,
    GroupBy,
    HandoverReport,
    HandoverRow,
    Measure,
    SupervisionReport,
    SupervisionRow,
    Timeline,
    contact_grouping,
)
from services.reporting.reports.service import ALL, Reports, freshness
from services.reporting.rounding import half_up
from services.reporting.settings import Settings
from shared.audit import auditor_of
from shared.auth import Principal, Role, require_roles
from shared.dates import EARLIEST_DATE, LATEST_DATE, require_dates_in_range
from shared.db import SessionDep
from shared.errors import NotFound, Unprocessable, problem_responses
from shared.negotiation import CSV, JSON, VARY_ACCEPT, VARY_ACCEPT_DOC, csv_text, json_response, negotiate
from shared.types import IsoDate, IsoDateTime, utcnow
from shared.working_days import london_date

# 406: every route here answers in set forms (JSON, and CSV for the reports) and refuses others.
router = APIRouter(tags=["reports"], responses=problem_responses(401, 403, 406, 422, 429))
Reader = Annotated[Principal, Depends(require_roles(Role.analyst, Role.manager))]
# Sent with every answer here (`_freshness_headers`), so documented on each 200.
FRESHNESS_HEADERS: dict[str, Any] = {
    "X-Data-Latest-Event-At": {
        "description": "The latest upstream recording time of any event reflected (ISO 8601; empty "
        "before the first).",
        "schema": {"type": "string"},
    },
    "X-Feed-Positions": {
        "description": "Each feed's last position applied, as feed=position pairs joined by ';'.",
        "schema": {"type": "string"},
    },
}
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {CSV: {"schema": {"type": "string"}}},
        "description": "The report (JSON or CSV). The CSV ends every record with CRLF (RFC 4180); in it "
        "a text cell beginning with =, +, -, @, tab or CR (or a full-width or small look-alike of one) "
        "gets a leading `'` so a spreadsheet shows it as text; numbers are written as numbers.",
        "headers": FRESHNESS_HEADERS | {"Vary": VARY_ACCEPT_DOC},
    }
}

FromDate = Annotated[IsoDate, Query(alias="from", description="First London date of the range (inclusive).")]
ToDate = Annotated[IsoDate, Query(alias="to", description="Last London date of the range (inclusive).")]
Grouping = Annotated[GroupBy, Query(description="How to group the figures.")]
ContactToOutcomeGrouping = Annotated[ContactToOutcomeGroupBy, Query(description="How to group the figures.")]

# Lists that grow with the data (the awaiting queue, per-journey handovers, the overdue list) are
# cut to `limit` items; each report also gives the full count.
DEFAULT_LIMIT, MAX_LIMIT = 200, 5000


def _limit(
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_LIMIT,
            description="The most items of the report's list returned (its total is given alongside).",
        ),
    ] = DEFAULT_LIMIT,
) -> int:
    return limit


# A dependency rather than a plain parameter so it follows from/to/group_by in the OpenAPI.
Limit = Annotated[int, Depends(_limit)]


# A time grouping's periods become one SQL CASE branch each, compiled per call: 5,200 weeks took
# 9-12 s of the worker (blocking every other request), 313 weeks 20-45 ms.
MAX_PERIODS = 600


def _periods(group_by: ContactGrouping, from_date: date, to_date: date) -> int:
    months = (to_date.year - from_date.year) * 12 + to_date.month - from_date.month + 1
    match group_by:
        case GroupBy.week:
            return (to_date - from_date).days // 7 + 2  # at most: partial weeks at both ends
        case GroupBy.month:
            return months
        case GroupBy.quarter:
            return months // 3 + 2
        case _:
            return 1  # a key, or a day of the week (seven groups at most): no CASE of periods


def _check_range(
    from_date: date,
    to_date: date,
    field: str = "from",
    to_field: str = "to",
    group_by: ContactGrouping | None = None,
) -> None:
    require_dates_in_range((from_date, field), (to_date, to_field))
    if from_date > to_date:
        raise Unprocessable("The range starts after it ends.", field=field, location="query")
    if group_by is not None and _periods(group_by, from_date, to_date) > MAX_PERIODS:
        raise Unprocessable(
            f"Grouped by {group_by.value}, a range may span at most {MAX_PERIODS} periods: "
            "shorten it or group by a longer period.",
            field=to_field,
            location="query",
        )


@dataclass(frozen=True)
class ReportQuery:
    """The date range and grouping every report takes, checked."""

    from_date: date
    to_date: date
    group_by: GroupBy


def _report_query(default: GroupBy) -> Callable[..., ReportQuery]:
    """The `from`/`to`/`group_by` query parameters as one dependency; reports differ only in their
    default grouping, which stays in each operation's OpenAPI."""

    def report_query(from_date: FromDate, to_date: ToDate, group_by: Grouping = default) -> ReportQuery:
        _check_range(from_date, to_date, group_by=group_by)
        return ReportQuery(from_date, to_date, group_by)

    return report_query


ByMonth = Annotated[ReportQuery, Depends(_report_query(GroupBy.month))]
ByTeam = Annotated[ReportQuery, Depends(_report_query(GroupBy.team))]
BySource = Annotated[ReportQuery, Depends(_report_query(GroupBy.source))]


@dataclass(frozen=True)
class ContactToOutcomeQuery:
    """Contact to outcome's range and grouping, checked: every report's groupings, or the day of
    the week."""

    from_date: date
    to_date: date
    group_by: ContactGrouping


def _contact_to_outcome_query(
    from_date: FromDate, to_date: ToDate, group_by: ContactToOutcomeGrouping = ContactToOutcomeGroupBy.month
) -> ContactToOutcomeQuery:
    grouping = contact_grouping(group_by)
    _check_range(from_date, to_date, group_by=grouping)
    return ContactToOutcomeQuery(from_date, to_date, grouping)


ContactToOutcomeQueryDep = Annotated[ContactToOutcomeQuery, Depends(_contact_to_outcome_query)]


@dataclass(frozen=True)
class BandsQuery:
    """The conversion control bands' range of whole London months, checked, and the band's width."""

    from_date: date
    to_date: date
    sd_multiple: float


def _bands_query(
    from_date: FromDate,
    to_date: ToDate,
    sd: Annotated[
        float,
        Query(
            ge=SD_MULTIPLE_MIN,
            le=SD_MULTIPLE_MAX,
            allow_inf_nan=False,
            description="How many standard deviations each band spans either side of its mean.",
        ),
    ] = SD_MULTIPLE_DEFAULT,
) -> BandsQuery:
    # The months are the periods, each a point of the series: a part of one would weigh in the
    # mean and SD as much as a whole one from fewer contacts, and be flagged for it. So whole
    # months only, as many as any grouping by month takes.
    _check_range(from_date, to_date, group_by=GroupBy.month)
    if from_date.day != 1:
        raise Unprocessable(
            "The bands are over whole London months: from must be the first day of a month.",
            field="from",
            location="query",
        )
    if (to_date + timedelta(days=1)).day != 1:
        raise Unprocessable(
            "The bands are over whole London months: to must be the last day of a month.",
            field="to",
            location="query",
        )
    return BandsQuery(from_date, to_date, sd)


BandsQueryDep = Annotated[BandsQuery, Depends(_bands_query)]


@dataclass(frozen=True)
class CompareQuery:
    """One measure over two ranges (a before, b after), grouped alike."""

    measure: Measure
    a: ReportQuery
    b: ReportQuery


def _compare_query(
    measure: Annotated[Measure, Query(description="The measure to compare.")],
    a_from: Annotated[IsoDate, Query(description="First day of range a (before).")],
    a_to: Annotated[IsoDate, Query(description="Last day of range a.")],
    b_from: Annotated[IsoDate, Query(description="First day of range b (after).")],
    b_to: Annotated[IsoDate, Query(description="Last day of range b.")],
    group_by: Grouping = GroupBy.month,
) -> CompareQuery:
    _check_range(a_from, a_to, "a_from", "a_to", group_by)
    _check_range(b_from, b_to, "b_from", "b_to", group_by)
    return CompareQuery(measure, ReportQuery(a_from, a_to, group_by), ReportQuery(b_from, b_to, group_by))


Compared = Annotated[CompareQuery, Depends(_compare_query)]


def _as_of(
    as_of: Annotated[
        IsoDateTime | None,
        Query(
            description="Show the queue as it stood then (timezone-aware); default now, and now at the "
            "latest: a time to come is taken as now."
        ),
    ] = None,
) -> datetime | None:
    if as_of is not None and not EARLIEST_DATE <= as_of.date() <= LATEST_DATE:
        raise Unprocessable(
            f"as_of must lie between {EARLIEST_DATE} and {LATEST_DATE}.", field="as_of", location="query"
        )
    return as_of


AsOf = Annotated[datetime | None, Depends(_as_of)]


def _wants_csv(request: Request) -> bool:
    """CSV when the client prefers it to JSON (by q, then by order), JSON when it accepts that (no
    Accept header accepts anything); 406 when it accepts neither: sent JSON, it could not read it."""
    return negotiate(request, (JSON, CSV)) == CSV


def _json_only(request: Request) -> None:
    """A JSON-only answer (the timeline): 406 unless the client accepts JSON."""
    negotiate(request, (JSON,))


# Dependencies, so the form is settled before any report is read (and after the caller's role).
WantsCsv = Annotated[bool, Depends(_wants_csv)]
AcceptsJson = Annotated[None, Depends(_json_only)]


def _freshness_headers(fresh: Freshness) -> dict[str, str]:
    # The time written as the body writes it (Z, not +00:00): the header repeats the body's value.
    latest = fresh.model_dump(mode="json", include={"latest_event_at"})["latest_event_at"]
    return {
        "X-Data-Latest-Event-At": latest or "",
        "X-Feed-Positions": ";".join(f"{f.feed}={f.position}" for f in fresh.feeds),
    }


def _report_headers(fresh: Freshness) -> dict[str, str]:
    """A report's headers: its freshness, and that its form (JSON or CSV) follows Accept, so no
    cache gives one client the form another asked for (RFC 9110 12.5.5)."""
    return _freshness_headers(fresh) | VARY_ACCEPT


def _respond(
    wants_csv: bool,
    report: BaseModel,
    rows: Sequence[BaseModel],
    fresh: Freshness,
    row_model: type[BaseModel] | None = None,
) -> Response:
    """The report as JSON, or its `rows` as CSV; `row_model` names the columns of a list that may be
    empty (the awaiting queue), so an empty one still has its header."""
    headers = _report_headers(fresh)
    if not wants_csv:
        return json_response(report, headers=headers)
    model = row_model or type(rows[0])
    fields = list(model.model_fields)
    dumped = (row.model_dump(mode="json") for row in rows)
    lines = ([values[k] for k in fields] for values in dumped)
    return Response(csv_text([fields, *lines]), media_type="text/csv; charset=utf-8", headers=headers)


async def _reports(request: Request, session: SessionDep) -> Reports:
    service = request.app.state.service
    settings: Settings = service.settings
    await Reports.configure_transaction(session, settings)
    return Reports(session, settings, await freshness(session, service.consumers))


ReportsDep = Annotated[Reports, Depends(_reports)]


async def _audit(request: Request, session: SessionDep, principal: Principal, measure: str) -> None:
    await auditor_of(request).record(session, principal, "read", "report", resource_id=measure)


@router.get(
    "/reports/contact-to-outcome",
    response_model=ContactToOutcomeReport,
    responses=REPORT_RESPONSES,
    summary="Time from contact to threshold decision and to authorisation",
)
async def contact_to_outcome(
    request: Request,
    session: SessionDep,
    principal: Reader,
    wants_csv: WantsCsv,
    reports: ReportsDep,
    query: ContactToOutcomeQueryDep,
) -> Response:
    report = await reports.contact_to_outcome(query.from_date, query.to_date, query.group_by, utcnow())
    await _audit(request, session, principal, report.measure)
    return _respond(wants_csv, report, [report.overall, *report.groups], reports.fresh)


@router.get(
    "/reports/awaiting-decision",
    response_model=AwaitingReport,
    responses=REPORT_RESPONSES,
    summary="The live queue of contacts without a decision, their age and breaches",
)
async def awaiting_decision(
    request: Request,
    session: SessionDep,
    principal: Reader,
    wants_csv: WantsCsv,
    reports: ReportsDep,
    query: ByTeam,
    as_of: AsOf,
    limit: Limit,
) -> Response:
    # The queue as of a time to come would show today's undecided contacts waiting, and breached,
    # then, as though none could be decided first: now at the latest, as the answer's as_of says.
    now = utcnow()
    as_of = now if as_of is None else min(as_of, now)
    report = await reports.awaiting(query.from_date, query.to_date, query.group_by, as_of, limit)
    await _audit(request, session, principal, report.measure)
    # CSV: the queue itself, one contact per line.
    return _respond(wants_csv, report, report.contacts, reports.fresh, AwaitingContact)


@router.get(
    "/reports/handovers",
    response_model=HandoverReport,
    responses=REPORT_RESPONSES,
    summary="Team transfers, worker changes and unallocated time per journey",
)
async def handovers(
    request: Request,
    session: SessionDep,
    principal: Reader,
    wants_csv: WantsCsv,
    reports: ReportsDep,
    query: ByMonth,
    limit: Limit,
) -> Response:
    report = await reports.handovers(query.from_date, query.to_date, query.group_by, utcnow(), limit)
    await _audit(request, session, principal, report.measure)
    return _respond(wants_csv, report, [report.overall, *report.groups], reports.fresh)


@router.get(
    "/reports/supervision",
    response_model=SupervisionReport,
    responses=REPORT_RESPONSES,
    summary="Open journeys supervised within their policy interval, and the overdue list",
)
async def supervision(
    request: Request,
    session: SessionDep,
    principal: Reader,
    wants_csv: WantsCsv,
    reports: ReportsDep,
    query: ByTeam,
    limit: Limit,
) -> Response:
    today = london_date(utcnow())
    report = await reports.supervision(query.from_date, query.to_date, query.group_by, today, limit)
    await _audit(request, session, principal, report.measure)
    return _respond(wants_csv, report, [report.overall, *report.groups], reports.fresh)


@router.get(
    "/reports/conversion",
    response_model=ConversionReport,
    responses=REPORT_RESPONSES,
    summary="Contacts to outcomes (the funnel), repeat contacts and re-referrals",
)
async def conversion(
    request: Request,
    session: SessionDep,
    principal: Reader,
    wants_csv: WantsCsv,
    reports: ReportsDep,
    query: BySource,
) -> Response:
    report = await reports.conversion(query.from_date, query.to_date, query.group_by)
    await _audit(request, session, principal, report.measure)
    return _respond(wants_csv, report, [report.overall, *report.groups], reports.fresh)


@router.get(
    "/reports/conversion/control-bands",
    response_model=ConversionBandsReport,
    responses=REPORT_RESPONSES,
    summary="NFA, information and advice, and referral rates per contact source and month, with "
    "±SD control bands",
)
async def conversion_bands(
    request: Request,
    session: SessionDep,
    principal: Reader,
    wants_csv: WantsCsv,
    reports: ReportsDep,
    query: BandsQueryDep,
) -> Response:
    report = await reports.conversion_bands(query.from_date, query.to_date, query.sd_multiple)
    await _audit(request, session, principal, report.measure)
    headers = _report_headers(reports.fresh)
    if not wants_csv:
        return json_response(report, headers=headers)
    # CSV: one line per series (ALL first) and month, each with its rates' bands, as a control
    # chart plots them.
    counts = ["contacts", "nfa", "info_advice", "referrals"]
    parts = ["mean", "sd", "lower", "upper"]
    header = ["group", "month", *counts]
    header += [
        f"{rate}{suffix}" for rate in BAND_RATES for suffix in ["", *(f"_{p}" for p in parts), "_flag"]
    ]
    lines = []
    for series in [report.overall, *report.groups]:
        dumped = series.model_dump(mode="json")
        for month in dumped["months"]:
            line = [series.group, month["month"], *(month[c] for c in counts)]
            for rate in BAND_RATES:
                line += [month[rate], *(dumped[rate][p] for p in parts), month[f"{rate}_flag"]]
            lines.append(line)
    return Response(csv_text([header, *lines]), media_type="text/csv; charset=utf-8", headers=headers)


async def _measure(
    reports: Reports, measure: Measure, q: ReportQuery
) -> ContactToOutcomeReport | HandoverReport | SupervisionReport | ConversionReport:
    now = utcnow()
    match measure:
        case Measure.contact_to_outcome:
            return await reports.contact_to_outcome(q.from_date, q.to_date, q.group_by, now)
        case Measure.handovers:
            return await reports.handovers(q.from_date, q.to_date, q.group_by, now, DEFAULT_LIMIT)
        case Measure.supervision:
            today = london_date(now)
            return await reports.supervision(q.from_date, q.to_date, q.group_by, today, DEFAULT_LIMIT)
        case Measure.conversion:
            return await reports.conversion(q.from_date, q.to_date, q.group_by)


def _is_number(annotation: Any) -> bool:
    kinds = [t for t in (get_args(annotation) or (annotation,)) if t is not type(None)]
    return bool(kinds) and all(t in (int, float) for t in kinds)  # not bool: a flag is no figure


# Each measure's row: its numeric fields are the figures compared, whatever their values.
ROWS: dict[Measure, type[BaseModel]] = {
    Measure.contact_to_outcome: ContactToOutcomeRow,
    Measure.handovers: HandoverRow,
    Measure.supervision: SupervisionRow,
    Measure.conversion: ConversionRow,
}


def figures(row_model: type[BaseModel]) -> list[str]:
    """A row's numeric figures, in its order. Taken from the model, not a row's values, so a figure
    null in both ranges is still listed: a client lays out the same figures every time."""
    return [name for name, field in row_model.model_fields.items() if _is_number(field.annotation)]


def rows_by_group(report: dict[str, Any]) -> dict[str, Any]:
    """A report's rows by group, ALL for the whole: a group keyed ALL (a team may be coded so) is
    left out rather than taken for the whole."""
    return {g["group"]: g for g in report["groups"]} | {ALL: report["overall"]}


def difference(a: dict[str, Any], b: dict[str, Any], names: Sequence[str]) -> list[Difference]:
    """b minus a for each of the figures `names` (null unless both are numbers; of counts a count, else
    to 2 places): ALL first, then each group present in both ranges."""
    a_rows, b_rows = rows_by_group(a), rows_by_group(b)
    result = []
    for group in [ALL, *sorted(set(a_rows) & set(b_rows) - {ALL})]:
        left, right = a_rows[group], b_rows[group]
        values: dict[str, int | float | None] = {}
        for k in names:
            x, y = left.get(k), right.get(k)
            if type(x) is int and type(y) is int:
                values[k] = y - x  # a difference of counts is a count, written as the counts are
            elif type(x) in (int, float) and type(y) in (int, float):
                values[k] = half_up(float(y) - float(x), 2)
            else:
                values[k] = None
        result.append(Difference(group=group, values=values))
    return result


@router.get(
    "/reports/compare",
    response_model=CompareReport,
    responses=REPORT_RESPONSES,
    summary="One measure for two date ranges side by side, with the difference (b minus a)",
)
async def compare(
    request: Request,
    session: SessionDep,
    principal: Reader,
    wants_csv: WantsCsv,
    reports: ReportsDep,
    query: Compared,
) -> Response:
    measure = query.measure
    a_report = await _measure(reports, measure, query.a)
    # The same range twice is the same report: measuring it again would only double the time.
    b_report = a_report if query.b == query.a else await _measure(reports, measure, query.b)
    a, b = a_report.model_dump(mode="json"), b_report.model_dump(mode="json")
    report = CompareReport(
        measure=measure,
        group_by=query.a.group_by,
        a=a_report,
        b=b_report,
        difference=difference(a, b, figures(ROWS[measure])),
    )
    await _audit(request, session, principal, f"compare:{measure.value}")
    if wants_csv:
        # CSV: one line per group and figure: a, b and the difference.
        a_rows, b_rows = rows_by_group(a), rows_by_group(b)
        lines = (
            [
                diff.group,
                figure,
                a_rows[diff.group].get(figure),
                b_rows[diff.group].get(figure),
                value,
            ]
            for diff in report.difference
            for figure, value in diff.values.items()
        )
        return Response(
            csv_text([["group", "figure", "a", "b", "difference"], *lines]),
            media_type="text/csv; charset=utf-8",
            headers=_report_headers(reports.fresh),
        )
    return json_response(report, headers=_report_headers(reports.fresh))


@router.get(
    "/children/{child_id}/timeline",
    response_model=Timeline,
    responses={200: {"headers": FRESHNESS_HEADERS}, **problem_responses(404)},
    summary="Every coded event of one child's journeys across both services, in time order",
)
async def timeline(
    request: Request,
    session: SessionDep,
    principal: Reader,
    _json: AcceptsJson,
    reports: ReportsDep,
    child_id: Annotated[uuid.UUID, Path(description="The child's pseudonymous id.")],
) -> Response:
    result = await reports.timeline(child_id)
    await auditor_of(request).record(
        session, principal, "read", "timeline", resource_id=child_id, child_id=child_id
    )
    if result is None:
        raise NotFound("No journey events are known for this child.")
    return json_response(result, headers=_freshness_headers(reports.fresh))
