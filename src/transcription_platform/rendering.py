"""Answers of the hot read endpoints, serialised without a validation pass.

ninja validates every response against its schema: each row of a list goes through
pydantic with ninja's ``DjangoGetter`` (a Python call per field), then ``model_dump``,
then the renderer. For rows read from our own tables that pass re-checks what the
database already guarantees and costs more than the queries of a list page. These
helpers read the schema's fields straight off the objects and encode the dict as
ninja's JSON renderer does: same bytes, same OpenAPI (the operation still declares the schema), a
third of the CPU. Nested JSON columns still go through pydantic (``project``) so that
only the documented keys leave. ``tests/transcriptions/test_fast_output.py`` keeps the
output equal to the validated one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from ninja.responses import NinjaJSONEncoder
from pydantic import BaseModel, TypeAdapter


def fields_of(obj: Any, schema: type[BaseModel], **overrides: Any) -> dict[str, Any]:
    """The values of ``schema``'s fields read from ``obj``'s attributes of the same name.

    Args:
        obj: A model instance (or any object) with an attribute per field.
        schema: The response schema; its fields must be plain attributes of ``obj``
            (no aliases or resolvers), nested values already of the documented shape.
        **overrides: Values to use instead of the attribute (e.g. projected JSON).

    Returns:
        A dict in the schema's field order, ready for the renderer.
    """
    return {
        name: overrides[name] if name in overrides else getattr(obj, name)
        for name in schema.model_fields
    }


def project(adapter: TypeAdapter[Any], value: Any) -> Any:
    """``value`` validated by ``adapter`` and dumped back: undocumented keys dropped."""
    return adapter.dump_python(adapter.validate_python(value))


def rows_of(objects: Iterable[Any], schema: type[BaseModel]) -> list[dict[str, Any]]:
    """`fields_of` for every object."""
    names = list(schema.model_fields)
    return [{name: getattr(obj, name) for name in names} for obj in objects]


def render(data: Any, status: int = 200) -> HttpResponse:
    """``data`` as ninja's default ``JSONRenderer`` writes it (same encoder, same bytes).

    A site that gives its own NinjaAPI another renderer still gets JSON here: the
    operation's API is not known to the view.
    """
    return HttpResponse(
        json.dumps(data, cls=NinjaJSONEncoder),
        status=status,
        content_type="application/json; charset=utf-8",
    )
