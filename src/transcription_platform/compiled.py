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
from datetime import UTC
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.sql.constants import MULTI

#: Shapes kept per connection; past it the oldest half is dropped.
MAX_SHAPES = 256
_ATTR = "_tp_compiled_shapes"
_UNUSABLE = object()
ModelT = TypeVar("ModelT", bound=Model)


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


def _converters(compiler: Any) -> dict[int, Any]:
    # What results_iter asks for on every call: the same for every run of one shape.
    fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
    converters: dict[int, Any] = compiler.get_converters(fields)
    return converters


def _native_timestamps(connection: Any, cursor: Any) -> None:
    """Let psycopg's C loader read ``timestamptz`` columns on this cursor, when it gives
    what Django's would.

    Django registers a Python subclass of psycopg's loader that replaces the tzinfo
    of each value with the connection's time zone; being a subclass, it runs in
    Python (a fifth of a list page's CPU: 80 timestamps). When the session's time
    zone is UTC and so is Django's (``USE_TZ``, no ``TIME_ZONE`` on the database, the
    default), psycopg's own loader already returns datetimes with that same
    ``datetime.timezone.utc``; psycopg swaps in its C version when it is registered.
    """
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return
    raw: Any = getattr(cursor, "cursor", None)
    adapters = getattr(raw, "adapters", None)  # psycopg 3 only
    if adapters is None or raw.connection.info.parameter_status("TimeZone") != "UTC":
        return
    from psycopg.types.datetime import TimestamptzLoader

    adapters.register_loader("timestamptz", TimestamptzLoader)


def _fetch(using: str, sql: str, params: Sequence[Any], compiler: Any, converters: Any) -> Any:
    """The rows of ``sql`` with Django's converters applied (as ``results_iter``)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        _native_timestamps(connection, cursor)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return compiler.apply_converters(rows, converters) if converters else rows


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
        sql, compiler, converters, names = known
        rows = _fetch(using, sql, params, compiler, converters)
        return [dict(zip(names, row, strict=True)) for row in rows]
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
    shapes[key] = (capture.sql, compiler, _converters(compiler), names) if reusable else _UNUSABLE
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


def first_instance(
    using: str, key: Hashable, params: Sequence[Any], build: Callable[[], QuerySet[ModelT]]
) -> ModelT | None:
    """The first model instance of ``build()`` (None without rows), from SQL compiled
    once per shape (see `values_rows`).

    Only for querysets of plain rows of one model (no ``select_related``, annotations
    or deferred fields); any other shape is read through the ORM every time.

    Args:
        using: The database alias the queryset reads.
        key: The shape of the queryset.
        params: The parameters of this request's SQL, in order.
        build: Makes the queryset (called only when the shape is not known yet).

    Returns:
        The instance, as ``build().first()`` without its extra ordering would give it.
    """
    shapes = _shapes(using)
    known = shapes.get(key)
    if known is _UNUSABLE:
        return next(iter(build()), None)
    if known is not None:
        sql, compiler, converters, model, attnames = known
        for row in _fetch(using, sql, params, compiler, converters):
            instance: ModelT = model.from_db(using, attnames, row)
            return instance
        return None
    queryset = build()
    compiler = queryset.query.get_compiler(using)
    capture = _Capture()
    with connections[using].execute_wrapper(capture):
        results = compiler.execute_sql(MULTI)
    rows = [] if results is None else list(compiler.results_iter(results))
    model = queryset.model
    attnames = [field.attname for field in model._meta.concrete_fields]
    klass_info = compiler.klass_info
    plain = (
        results is not None
        and klass_info is not None
        and not klass_info.get("related_klass_infos")
        and not compiler.annotation_col_map
        and len(compiler.select) == compiler.col_count
        # Columns of the model's own fields, in order (not expressions or extra SQL).
        and [getattr(getattr(c[0], "target", None), "attname", None) for c in compiler.select]
        == attnames
    )
    reusable = plain and capture.sql is not None and capture.params == tuple(params)
    shapes[key] = (
        (capture.sql, compiler, _converters(compiler), model, attnames) if reusable else _UNUSABLE
    )
    if not plain:
        # Rows of another shape than one plain model: Django builds them (a second
        # query, on this shape's first request only).
        return next(iter(queryset.all()), None)
    return model.from_db(using, attnames, rows[0]) if rows else None
