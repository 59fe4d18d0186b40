"""Schemas shared by every router: the error envelope."""

from __future__ import annotations

from typing import Any

from ninja import Schema


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
