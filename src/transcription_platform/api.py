"""The library's NinjaAPI, assembled from the routers of the installed apps.

Each app's ``AppConfig.api_routers`` lists ``(prefix, "dotted.path.router")`` pairs;
an app left out of ``INSTALLED_APPS`` contributes nothing. A site with its own
NinjaAPI mounts the routers itself and calls `install_platform` on it (see
docs/installation.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.http import HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from django.utils.module_loading import import_string
from ninja import NinjaAPI
from ninja.constants import NOT_SET
from ninja.parser import Parser

from transcription_platform import __version__
from transcription_platform.exceptions import install_exception_handlers, response_for
from transcription_platform.ratelimit import PlatformRateLimit
from transcription_platform.schemas import ErrorOut, find_nul, nul_error
from transcription_platform.scopes import enforce_scopes

#: The header ``transcription_platform.auth.PlatformAuth`` also reads a key from (kept
#: literal; a test keeps the two equal).
API_KEY_HEADER = "X-API-Key"

ERROR_DESCRIPTIONS = {
    "400": "Bad request (error shape)",
    "401": "Not authenticated",
    "402": "A usage limit would be exceeded (billing app)",
    "403": "Permission denied",
    "404": "Not found",
    "409": "Conflict with the resource's state",
    "413": "Payload too large",
    "415": "Unsupported media type",
    "416": "Range not satisfiable: the byte range starts past the end of the file",
    "422": "Validation error: the request does not match the schema",
    "429": "Rate limited; see the Retry-After header",
    "500": "Internal error",
    "503": "A dependency (the database, a provider) is unavailable; see the Retry-After header",
}


def iter_routers() -> list[tuple[str, Any]]:
    """(prefix, router) of every installed app that exposes API routes."""
    mounted = []
    for config in apps.get_app_configs():
        for prefix, dotted in getattr(config, "api_routers", ()):
            mounted.append((prefix, import_string(dotted)))
    return mounted


class PlatformParser(Parser):
    """ninja's parser with the input rules every operation shares.

    * JSON bodies must be objects: ninja would otherwise read ``[1, 2]`` or ``"x"``
      sent to an operation whose fields are all optional as an empty payload.
    * No text of the body, the form fields or the query string holds a NUL character
      (400 ``validation_error`` naming the fields), whatever the schema of the operation.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise ValueError("The JSON body must be an object.")  # → 400 bad_request
        if paths := list(find_nul(data)):
            raise nul_error("body", paths)  # ninja wraps it; the handler unwraps it
        return data

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        parsed = super().parse_querydict(data, list_fields, request)
        # Files are bytes, not text; their names are sanitised by the upload validation.
        texts = {key: value for key, value in parsed.items() if isinstance(value, (str, list))}
        if paths := list(find_nul(texts)):
            source = "query" if data is request.GET else "form"
            raise nul_error(source, [path[:1] for path in paths])
        return parsed


def refuse_nul_outside_body(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse a NUL character in any header or query parameter, before anything reads them.

    A view-level decorator (ninja's ``mode="view"``): it runs before authentication, so
    an ``X-API-Key``, an ``Idempotency-Key`` or a ``User-Agent`` written to the audit log
    never reaches the database with a NUL in it.

    Args:
        run: The operation's ``run``.

    Returns:
        ``run``, answering 400 ``validation_error`` for such a request.
    """

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        for source, values in (("header", dict(request.headers)), ("query", request.GET.lists())):
            if paths := list(find_nul(dict(values))):
                return response_for(nul_error(source, [p[:1] for p in paths]))
        return run(request, *args, **kwargs)

    return wrapper


class PlatformAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI schema documents the errors every operation can return
    and the ``X-API-Key`` header every authenticated operation accepts."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        _declare_api_key_header(schema)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorOut" not in components:
            error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(error_schema.pop("$defs", {}))
            components["ErrorOut"] = error_schema
        ref = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                # 400: any operation refuses a NUL character in a header or the query;
                # any operation can meet a database outage (503 + Retry-After).
                statuses = {"400", "422", "429", "500", "503"}
                if operation.get("security"):
                    # 403: an API key without the operation's scope (scopes.py).
                    statuses.update({"401", "403"})
                if "{" in path or _has_parameter(operation, "page"):
                    statuses.add("404")  # unknown object, or a page past the end
                # ninja keys responses by int; JSON output needs (and tools expect) str.
                responses = {str(k): v for k, v in operation.get("responses", {}).items()}
                operation["responses"] = responses
                for entry in responses.values():
                    _json_last(entry)
                for status in sorted(statuses | {s for s in responses if int(s) >= 400}):
                    entry = responses.setdefault(status, {})
                    entry.setdefault("description", ERROR_DESCRIPTIONS.get(status, "Error"))
                    if "content" not in entry:
                        entry.update(ref)
        return schema


def _json_last(response: dict[str, Any]) -> None:
    """List ``application/json`` after the other media types of a response.

    Client generators (openapi-python-client, openapi-generator) read a response with
    its first media type they support: a text reader handles every export format, a
    JSON reader fails on SRT. JSON keeps its object schema for those that negotiate.
    """
    content = response.get("content")
    if content and len(content) > 1 and "application/json" in content:
        content["application/json"] = content.pop("application/json")


def _declare_api_key_header(schema: dict[str, Any]) -> None:
    """Offer ``X-API-Key`` as an alternative to Bearer wherever a scheme is required.

    The platform's auth reads both headers, but ninja can declare one scheme per auth
    class; generated clients need the second one spelled out to send it.
    """
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    if not schemes:
        return
    schemes["ApiKeyHeader"] = {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "A platform API key from /auth/api-keys/.",
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            security = operation.get("security")
            if security and {"ApiKeyHeader": []} not in security:
                security.append({"ApiKeyHeader": []})


def _has_parameter(operation: dict[str, Any], name: str) -> bool:
    return any(p.get("name") == name for p in operation.get("parameters", ()))


def _as_list(throttle: Any) -> list[Any]:
    return list(throttle) if isinstance(throttle, (list, tuple)) else [throttle]


def install_platform(api: NinjaAPI) -> None:
    """Give ``api`` our error shape, our input rules, API-key scopes and the site-wide
    rate limits.

    A site's own parser and throttles are kept; ninja's default parser is replaced by
    `PlatformParser`. Call it before the API's URLs are built (throttles are handed to
    operations then).
    """
    install_exception_handlers(api)
    if type(api.parser) is Parser:
        api.parser = PlatformParser()
    api.add_decorator(enforce_scopes)
    api.add_decorator(refuse_nul_outside_body, mode="view")
    # The anon/user limits of operations without limits of their own (rate_limit gives
    # those theirs): a ninja throttle, checked before the body is read.
    if api.throttle is NOT_SET:
        api.throttle = [PlatformRateLimit()]
    elif not any(isinstance(t, PlatformRateLimit) for t in _as_list(api.throttle)):
        api.throttle = [*_as_list(api.throttle), PlatformRateLimit()]


def build_api(**kwargs: Any) -> NinjaAPI:
    """A NinjaAPI with every installed app's routers, our error handlers and limits."""
    options: dict[str, Any] = {
        "title": "transcription_platform API",
        "version": __version__,
        "description": "Upload audio, follow the job, fetch the transcript.",
        "urls_namespace": "transcription_platform",
        "parser": PlatformParser(),
    }
    options.update(kwargs)
    api = PlatformAPI(**options)
    install_platform(api)
    for prefix, router in iter_routers():
        api.add_router(prefix, router)
    return api


api = build_api()
