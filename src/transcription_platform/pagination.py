"""Page-number pagination with the envelope ``{count, next, previous, results}``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import PaginationBase

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
    size = min(pagination.page_size or settings.PAGE_SIZE, settings.MAX_PAGE_SIZE)
    page = pagination.page
    count = queryset.count()
    offset = (page - 1) * size
    if page > 1 and offset >= count:
        raise NotFound(f"Page {page} does not exist.", code=PlatformErrorCode.PAGE_NOT_FOUND)
    results = list(queryset[offset : offset + size])
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
