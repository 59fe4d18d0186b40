"""Mount the API with one line in a site's urls.py::

    path("rest/api/v1/", include("transcription_platform.urls")),

Everything under that prefix answers in the API's JSON error shape, including paths
that match no operation (404) and wrong methods (405) — never Django's HTML pages.
"""

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from transcription_platform.api import api
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import NotFound, error_response, response_for
from transcription_platform.hooks import imported_by_apps


@csrf_exempt  # like ninja's views: an unmatched POST must get our 404, not a CSRF page
def api_not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    return response_for(NotFound("No API endpoint matches this path."))


def _json_method_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """ninja answers a wrong method with a bare text 405; give it our shape."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = error_response(
                405,
                PlatformErrorCode.METHOD_NOT_ALLOWED,
                f"Method {request.method} is not allowed here.",
                {"allowed": allowed.split(", ")},
                {"Allow": allowed},
            )
        return response

    return wrapper


_api_patterns, _api_app, _api_namespace = api.urls
for pattern in _api_patterns:
    if pattern.callback is not None:  # every ninja pattern has a view; the stubs allow None
        pattern.callback = _json_method_not_allowed(pattern.callback)

urlpatterns = [
    # Plain views that apps mount beside the API's operations (``api_urlpatterns`` on
    # their AppConfig: the notifications app's event streams).
    *(pattern for patterns in imported_by_apps("api_urlpatterns") for pattern in patterns),
    path("", (_api_patterns, _api_app, _api_namespace)),
    # [\s\S], not ".": a path with an encoded newline must not escape to an HTML 404.
    re_path(r"^(?P<unmatched>[\s\S]*)$", api_not_found),
]
