"""The library's API plus one bare view: the baseline of the API benchmark.

The bare view runs in the same server, through the same middleware, and answers a
JSON body of the size of a small API answer without touching the database.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def bare_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"id": "00000000-0000-0000-0000-000000000000", "status": "completed"})


urlpatterns = [
    path("bench/bare/", bare_json),
    path("rest/api/v1/", include("transcription_platform.urls")),
]
