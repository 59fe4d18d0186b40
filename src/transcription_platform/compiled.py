"""Querysets of the hot read paths compiled to SQL once, then run with fresh parameters.

Building a queryset and compiling it to SQL is pure Python work that gives the same
text every time for the same shape of request: for a page of the transcription list
it cost about three times the round trips it prepared (a page and its ``COUNT(*)``).
These helpers run a queryset through Django the first time a *shape* is seen, keep
the SQL it executed and the compiler that reads its rows (Django's own converters
still turn the values into Python), and for the next request of that shape send the
same SQL with that request's parameters.

A shape is a key the caller builds from everything the SQL text depends on (filters
used, ordering, page size and offset, the caller's role…); the parameters are what
varies. Nothing is guessed: the first run checks that the parameters Django compiled
are exactly the ones the caller says the shape takes, and a shape for which they
differ is never reused (it runs through the ORM every time). Kept per database
connection object (so per thread, as Django's connections are), at most
`MAX_SHAPES` shapes each.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.models.sql.constants import MULTI

#: Shapes kept per connection; past it the oldest half is dropped.
MAX_SHAPES = 256
_ATTR = "_tp_compiled_shapes"
_UNUSABLE = object()


class _Capture:
    """An execute wrapper that records the last SQL and parameters sent."""

    def __init__(self) -> None:
        self.sql: str | None = None
        self.params: tuple[Any, ...] = ()

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        self.sql, self.params = sql, tuple(params or ())
        return execute(sql, params, many, context)


def _shapes(using: str) -> dict[Hashable, Any]:
    connection = connections[using]
    shapes: dict[Hashable, Any] | None = connection.__dict__.get(_ATTR)
    if shapes is None:
        shapes = connection.__dict__[_ATTR] = {}
    elif len(shapes) >= MAX_SHAPES:
        for old in list(shapes)[: MAX_SHAPES // 2]:
            del shapes[old]
    return shapes


def values_rows(
    using: str,
    key: Hashable,
    params: Sequence[Any],
    build: Callable[[], QuerySet[Any, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """The rows of the ``.values()`` queryset ``build()`` returns, as dicts.

    Args:
        using: The database alias the queryset reads (``queryset.db``).
        key: The shape: equal keys must mean the same SQL text.
        params: The parameters of this request's SQL, in order.
        build: Makes the queryset (called only when the shape is not known yet).

    Returns:
        What ``list(build())`` returns.
    """
    shapes = _shapes(using)
    known = shapes.get(key)
    if known is _UNUSABLE:
        return list(build())
    if known is not None:
        sql, compiler, names = known
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in compiler.results_iter([fetched])]
    queryset = build()
    query = queryset.query
    compiler = query.get_compiler(using)
    capture = _Capture()
    with connections[using].execute_wrapper(capture):
        results = compiler.execute_sql(MULTI)
    # What ValuesIterable does with the compiler's rows.
    names = [*query.extra_select, *query.values_select, *query.annotation_select]
    rows = (
        []
        if results is None
        else [dict(zip(names, row, strict=True)) for row in compiler.results_iter(results)]
    )
    reusable = capture.sql is not None and capture.params == tuple(params) and results is not None
    shapes[key] = (capture.sql, compiler, names) if reusable else _UNUSABLE
    return rows


def count(
    using: str, key: Hashable, params: Sequence[Any], build: Callable[[], QuerySet[Any, Any]]
) -> int:
    """``build().count()``, from SQL compiled once per shape (see `values_rows`).

    Args:
        using: The database alias the queryset reads.
        key: The shape of the counted queryset.
        params: The parameters of this request's SQL, in order.
        build: Makes the queryset (called only when the shape is not known yet).

    Returns:
        The number of rows.
    """
    shapes = _shapes(using)
    known = shapes.get(key)
    if known is _UNUSABLE:
        return build().count()
    if known is not None:
        with connections[using].cursor() as cursor:
            cursor.execute(known, params)
            row = cursor.fetchone()
        return int(row[0])
    capture = _Capture()
    with connections[using].execute_wrapper(capture):
        number = build().count()
    reusable = capture.sql is not None and capture.params == tuple(params)
    shapes[key] = capture.sql if reusable else _UNUSABLE
    return number
