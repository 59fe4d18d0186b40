"""Page-number pagination with the envelope ``{count, next, previous, results}``."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import PaginationBase

from transcription_platform import compiled
from transcription_platform.conf import settings
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import NotFound


def _page_url(request: HttpRequest, page: int) -> str:
    query = request.GET.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


class PageQuery(Schema):
    """The query parameters of every paginated list."""

    page: int = Field(1, ge=1, description="1-based page number.")
    page_size: int | None = Field(
        None, ge=1, description="Items per page (capped at the site's maximum)."
    )


class PageNumberPagination(PaginationBase):
    """``?page=N&page_size=M``; page_size defaults to PAGE_SIZE, capped at MAX_PAGE_SIZE."""

    # Named at module level: the OpenAPI component takes the class name, and ninja's
    # nested ``Input`` would publish a schema called "Input".
    Input = PageQuery  # type: ignore[assignment]  # ninja types Input as its own nested class; any Schema works

    class Output(Schema):
        count: int
        next: str | None
        previous: str | None
        results: list[Any]

    items_attribute = "results"

    def paginate_queryset(
        self, queryset: QuerySet[Any], pagination: PageQuery, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        return page_of(queryset, pagination, request)


def page_of(queryset: QuerySet[Any], pagination: PageQuery, request: HttpRequest) -> dict[str, Any]:
    """One page of ``queryset``: ``{count, next, previous, results}`` (results a list).

    The ``count`` is exact: a ``COUNT(*)`` each time (an index-only scan on PostgreSQL
    once autovacuum has run; see docs/benchmarks.md for what it costs).

    Raises:
        NotFound: A page past the last one (page 1 always exists).
    """
    return _page(
        queryset.count,
        lambda offset, size: list(queryset[offset : offset + size]),
        pagination,
        request,
    )


def page_of_shape(
    using: str,
    shape: Hashable,
    params: Sequence[Any],
    build: Callable[[], QuerySet[Any, dict[str, Any]]],
    pagination: PageQuery,
    request: HttpRequest,
) -> dict[str, Any]:
    """`page_of` a ``.values()`` queryset whose SQL is compiled once per shape.

    The same page, count and errors as ``page_of(build(), ...)``; the queryset is
    built and compiled only the first time this process meets ``shape`` (see
    `transcription_platform.compiled`).

    Args:
        using: The database alias ``build()`` reads.
        shape: Everything the SQL text depends on, but the page and its size.
        params: The SQL parameters of this request (the same for the count and page).
        build: Makes the (ordered) queryset.
        pagination: The page asked for.
        request: The request (for the next/previous links).

    Returns:
        ``{count, next, previous, results}``, results a list of dicts.
    """
    return _page(
        lambda: compiled.count(using, ("count", shape), params, build),
        lambda offset, size: compiled.values_rows(
            using, ("page", shape, offset, size), params, lambda: build()[offset : offset + size]
        ),
        pagination,
        request,
    )


def _page(
    count_rows: Callable[[], int],
    read: Callable[[int, int], list[Any]],
    pagination: PageQuery,
    request: HttpRequest,
) -> dict[str, Any]:
    size = min(pagination.page_size or settings.PAGE_SIZE, settings.MAX_PAGE_SIZE)
    page = pagination.page
    count = count_rows()
    offset = (page - 1) * size
    if page > 1 and offset >= count:
        raise NotFound(f"Page {page} does not exist.", code=PlatformErrorCode.PAGE_NOT_FOUND)
    results = read(offset, size)
    return {
        "count": count,
        "next": _page_url(request, page + 1) if offset + size < count else None,
        "previous": _page_url(request, page - 1) if page > 1 else None,
        "results": results,
    }


def paged_schema(item: type[Schema]) -> type[Schema]:
    """The page envelope of ``item`` as ninja's ``@paginate`` names it (``Paged<Item>``).

    For operations that build their page themselves (``page_of``) and still document
    the same response as the paginated ones.
    """
    return type(
        f"Paged{item.__name__}",
        (Schema,),
        {
            "__annotations__": {
                "count": int,
                "next": str | None,
                "previous": str | None,
                "results": list[item],  # type: ignore[valid-type]  # a class known at run time
            },
            "__module__": item.__module__,
        },
    )
