"""`(condition AND value BETWEEN low AND high) OR ...` for hundreds of ranges at once.

A report reads the kept values of only the bands its percentiles fall in: one range of values for
each band and the groups wanting it (handovers by week: each week's median and standard transfer
lag, a few hundred ranges in all). Built with SQLAlchemy's operators, each range cost about 85 µs
(a coercion and a bind parameter for each comparison, and the clause lists holding them), about a
tenth of that report's time and more than PostgreSQL took to plan and run those statements.
`InRanges` keeps the bounds as integers and writes them into the SQL when compiled; the conditions
are compiled as usual, with their own bind parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, false
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InRanges(ColumnElement[bool]):
    """True where `value` lies in any of `ranges` (low and high inclusive) on a row meeting that
    range's condition; false when there are none."""

    __visit_name__ = "in_ranges"
    # Traversed as any clause is: its value and conditions as clauses, its bounds as plain values,
    # so a statement holding it keys SQLAlchemy's cache of compiled statements (a report asked
    # again over the same data wants the same ranges) and its conditions' parameters are found.
    inherit_cache = True
    _traverse_internals = [
        ("value", InternalTraversal.dp_clauseelement),
        ("conditions", InternalTraversal.dp_clauseelement_tuple),
        ("bounds", InternalTraversal.dp_plain_obj),
    ]
    type = Boolean()

    def __init__(self, value: ColumnElement[Any], ranges: Iterable[tuple[Any, int, int]]) -> None:
        self.value = value
        listed = list(ranges)
        self.conditions = tuple(condition for condition, _, _ in listed)
        # int() keeps anything but integers out of the SQL text.
        self.bounds = tuple((int(low), int(high)) for _, low, high in listed)


@compiles(InRanges)
def _compile_in_ranges(element: InRanges, compiler: SQLCompiler, **kw: Any) -> str:
    if not element.bounds:
        return compiler.process(false(), **kw)
    value = compiler.process(element.value, **kw)
    # Each condition in parentheses: compiled alone, an OR of terms has none of its own.
    terms = [
        f"(({compiler.process(condition, **kw)}) AND {value} BETWEEN {low} AND {high})"
        for condition, (low, high) in zip(element.conditions, element.bounds, strict=True)
    ]
    return "(" + " OR ".join(terms) + ")"
