"""The pages. Each renders a template; the page's script then calls the JSON API with
the session (``SessionAuth``), so what a page shows is what the API says.

Every page answers with the ``WEB_CONTENT_SECURITY_POLICY`` header: the templates have
no inline script or style, so a strict policy holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.apps import apps
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.utils.decorators import method_decorator

from transcription_platform import roles
from transcription_platform.conf import settings
from transcription_platform.exceptions import NotFound
from transcription_platform.ranges import ranged_response
from transcription_platform.transcriptions import services as transcriptions
from transcription_platform.web import dashboard as dashboard_data

View = Callable[..., HttpResponseBase]
NAMESPACE = "transcription_platform_web"
#: Roles that open the staff dashboard (besides ``is_staff``); "analyst" counts where a
#: site's roles define it.
DASHBOARD_ROLES = ("admin", "billing", "analyst")
#: The dashboard's periods in days (``?days=``); the second is the default.
DASHBOARD_PERIODS = (7, 30, 90)


def login_url() -> str:
    """Where a signed-out visitor is sent: ``WEB_LOGIN_URL`` or this app's own page."""
    return settings.WEB_LOGIN_URL or reverse(f"{NAMESPACE}:login")


def with_csp(view: View) -> View:
    """Set ``WEB_CONTENT_SECURITY_POLICY`` on the response unless the site already did."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        policy = settings.WEB_CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response

    return wrapper


def page(view: View) -> View:
    """A page for signed-in users: others go to the sign-in page and come back."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url())
        return view(request, *args, **kwargs)

    return with_csp(wrapper)


def _served_by_api(relative: str) -> str | None:
    """The URL of ``relative`` under the API when an operation serves it, else None.

    The realtime streams exist only with the app that provides them; the pages ask the
    URL resolver instead of naming that app, so any site (or app) serving the same
    paths gets live updates, and everyone else falls back to polling.
    """
    root = api_root()
    for candidate in (relative, relative.rstrip("/") + "/"):
        try:
            match = resolve(root + candidate)
        except Resolver404:
            continue
        if match.url_name:  # the API's catch-all 404 view has no name
            return root + candidate
    return None


def api_root() -> str:
    """The prefix the site mounted the API under (``/rest/api/v1/`` in the example)."""
    return reverse("transcription_platform:api-root")  # ninja names its root path so


def can_see_dashboard(user: Any) -> bool:
    """Staff, or a user with one of `DASHBOARD_ROLES` that the site defines."""
    if user.is_staff:
        return True
    return any(roles.has_role(user, role) for role in DASHBOARD_ROLES if role in roles.ROLES)


def _render(
    request: HttpRequest, template: str, config: dict[str, Any], **context: Any
) -> HttpResponse:
    """Render a page; ``config`` reaches its script as JSON (``json_script``), not code."""
    config = {
        "api": api_root(),
        "pages": {
            "list": reverse(f"{NAMESPACE}:transcriptions"),
            "upload": reverse(f"{NAMESPACE}:upload"),
            "reader": reverse(f"{NAMESPACE}:reader", kwargs={"transcription_id": UUID(int=0)}),
        },
        "events": _served_by_api("events"),
        "eventsToken": _served_by_api("events/token"),
        **config,
    }
    return render(
        request,
        f"transcription_platform/web/{template}",
        {
            "page_config": config,
            "show_dashboard": can_see_dashboard(request.user),
            **context,
        },
    )


@method_decorator(with_csp, name="dispatch")
class LoginView(auth_views.LoginView):
    """The sign-in page (the site's own session login, Django's auth backends)."""

    template_name = "transcription_platform/web/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse(f"{NAMESPACE}:transcriptions")


@method_decorator(with_csp, name="dispatch")
class LogoutView(auth_views.LogoutView):
    """Sign out (POST, as Django requires) and return to the sign-in page."""

    def get_default_redirect_url(self) -> str:
        return login_url()


@page
def transcription_list(request: HttpRequest) -> HttpResponse:
    """My transcriptions: search, filters, pages; statuses follow the jobs."""
    return _render(
        request,
        "list.html",
        {"pageSize": settings.PAGE_SIZE},
        statuses=["pending", "processing", "completed", "failed", "cancelled"],
    )


@page
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a file, choose the options, follow the upload and then the job."""
    return _render(
        request,
        "upload.html",
        {"maxUploadBytes": settings.MAX_UPLOAD_BYTES},
        engines=sorted(settings.ENGINES),
        default_engine=settings.DEFAULT_ENGINE,
        analysis_installed=apps.is_installed("transcription_platform.analysis"),
        analysis_default=settings.ANALYSIS_ENABLED,
        max_upload_mb=settings.MAX_UPLOAD_BYTES / 1024 / 1024,
    )


def _transcription_or_404(request: HttpRequest, transcription_id: UUID) -> Any:
    try:
        return transcriptions.get_transcription_for(request.user, transcription_id)
    except NotFound:
        raise Http404("Transcription not found.") from None


@page
def reader(request: HttpRequest, transcription_id: UUID) -> HttpResponse:
    """The transcript with its audio: click to seek, the current segment highlighted."""
    transcription = _transcription_or_404(request, transcription_id)
    config = {
        "id": str(transcription.pk),
        "audio": reverse(f"{NAMESPACE}:audio", kwargs={"transcription_id": transcription.pk}),
        "analysis": apps.is_installed("transcription_platform.analysis"),
        "transcriptionEvents": _served_by_api(f"transcriptions/{transcription.pk}/events"),
    }
    return _render(
        request,
        "reader.html",
        config,
        transcription=transcription,
        export_formats=["txt", "srt", "vtt", "json"],
        export_url=reverse(
            "transcription_platform:export_transcription",
            kwargs={"transcription_id": transcription.pk},
        ),
    )


@page
def audio(request: HttpRequest, transcription_id: UUID) -> HttpResponseBase:
    """The original audio with byte ranges (a browser cannot seek without them)."""
    transcription = _transcription_or_404(request, transcription_id)
    try:
        handle, size, content_type = transcriptions.open_audio(transcription)
    except NotFound:
        raise Http404("The audio file is missing from storage.") from None
    response = ranged_response(request, handle, size, content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@page
def dashboard(request: HttpRequest) -> HttpResponse:
    """The staff dashboard (404 for others: it is not there for them)."""
    if not can_see_dashboard(request.user):
        raise Http404("No such page.")
    days = request.GET.get("days", "")
    period = int(days) if days in {str(n) for n in DASHBOARD_PERIODS} else DASHBOARD_PERIODS[1]
    return _render(
        request,
        "dashboard.html",
        {},
        periods=DASHBOARD_PERIODS,
        **dashboard_data.dashboard_context(request.user, period),
    )
