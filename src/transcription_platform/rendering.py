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

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

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


def _datetime_json(value: datetime) -> str:
    # DjangoJSONEncoder's form, ECMA-262: milliseconds, "Z" for UTC.
    text = value.isoformat()
    if value.microsecond:
        text = text[:23] + text[26:]
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


class _Encoder(NinjaJSONEncoder):
    """ninja's encoder, with the types of our rows found by one dict lookup.

    ``NinjaJSONEncoder.default`` walks a chain of ``isinstance`` tests (pydantic
    models, URLs, IP addresses, enums, then Django's dates, decimals, UUIDs…) for each
    value the C encoder cannot write itself: five per row of a list. Exact
    ``datetime`` and ``UUID`` values are written here as those encoders write them;
    anything else (subclasses included) goes down the same chain.
    """

    def default(self, o: Any) -> Any:
        convert = _EXACT_TYPES.get(type(o))
        if convert is not None:
            return convert(o)
        return super().default(o)


_EXACT_TYPES: dict[type, Callable[[Any], Any]] = {datetime: _datetime_json, UUID: str}
#: One encoder for every answer: it holds no state between calls.
_ENCODER = _Encoder()


def render(data: Any, status: int = 200) -> HttpResponse:
    """``data`` as ninja's default ``JSONRenderer`` writes it (same encoder, same bytes).

    A site that gives its own NinjaAPI another renderer still gets JSON here: the
    operation's API is not known to the view.
    """
    return HttpResponse(
        _ENCODER.encode(data),
        status=status,
        content_type="application/json; charset=utf-8",
    )
