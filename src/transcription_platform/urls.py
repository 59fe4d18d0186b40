"""Mount the API with one line in a site's urls.py::

    path("rest/api/v1/", include("transcription_platform.urls")),

Everything under that prefix answers in the API's JSON error shape, including
paths that match no operation (404) — never Django's HTML pages.
"""

from django.urls import path, re_path

from transcription_platform.api import api
from transcription_platform.exceptions import NotFound, response_for


def api_not_found(request, unmatched: str = ""):
    return response_for(NotFound("No API endpoint matches this path."))


urlpatterns = [
    path("", api.urls),
    re_path(r"^(?P<unmatched>.*)$", api_not_found),
]
