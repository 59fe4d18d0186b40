"""The library's API plus the API benchmark's references, in one server.

The bare view runs through the same middleware and answers a JSON body of the size of a
small API answer without touching the database; ``bench/ninja/`` and ``bench/drf/``
serve the same list and detail as a plain django-ninja API and a DRF ``ModelViewSet``
(``benchmarks/reference/``).
"""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from benchmarks.reference import drf, plain_ninja


def bare_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"id": "00000000-0000-0000-0000-000000000000", "status": "completed"})


urlpatterns = [
    path("bench/bare/", bare_json),
    path("bench/ninja/", plain_ninja.api.urls),
    path("bench/drf/", include(drf.urlpatterns)),
    path("rest/api/v1/", include("transcription_platform.urls")),
]
