"""Schemas shared by every router: the error envelope and the strict input types."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from ninja import Schema
from ninja.responses import NinjaJSONEncoder
from pydantic import BeforeValidator, WithJsonSchema

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_datetime_only(value: Any) -> Any:
    # pydantic would read 0.5 or "1700000000" as a Unix time; the schema says date-time.
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("Expected an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.")
    return value


def _form_bool(value: Any) -> Any:
    # A form field carries text; OpenAPI serialises a boolean as "true"/"false", and
    # pydantic's lax "1", "yes", "on" would make the schema lie.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError('Expected "true" or "false".')


#: A date-time in ISO 8601; numbers (Unix times) are refused.
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_datetime_only)]

#: An optional multipart boolean: "true" or "false", or left out (``None``). The
#: schema says boolean, not nullable: a form cannot send null.
FormBool = Annotated[
    bool | None,
    BeforeValidator(_form_bool),
    WithJsonSchema({"type": "boolean"}),
]


class ErrorDetail(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    """``{"error": {"code", "message", "details"}}`` — the shape of every API error."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """``response=`` entries documenting the error statuses an operation can return."""
    return dict.fromkeys(statuses, ErrorOut)


def as_api_json(schema: type[Schema], obj: Any) -> dict[str, Any]:
    """``obj`` through ``schema`` exactly as the API renders it (ninja's JSON encoder:
    the same datetime precision), for payloads sent elsewhere (webhooks)."""
    payload: dict[str, Any] = json.loads(
        json.dumps(schema.from_orm(obj).model_dump(), cls=NinjaJSONEncoder)
    )
    return payload
