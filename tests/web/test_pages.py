"""The pages as a browser receives them: sign-in, access rules, markup a strict CSP
allows, the configuration handed to the scripts, and the audio served with ranges."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.test import Client

from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.users import PASSWORD, make_user
from transcription_platform.conf import settings as platform_settings
from transcription_platform.web.checks import check_session_auth

pytestmark = pytest.mark.django_db

APP = "/app/"
PAGES = ["", "upload/", "dashboard/"]


class Markup(HTMLParser):
    """Collects what a strict Content-Security-Policy would block or needs to see."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts: list[str] = []
        self.script_srcs: list[str] = []
        self.style_attributes: list[str] = []
        self.event_handlers: list[str] = []
        self.json_blocks: dict[str, str] = {}
        self._json_id: str | None = None
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.style_attributes.append(tag)
        self.event_handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            if attributes.get("src"):
                self.script_srcs.append(attributes["src"] or "")
            elif attributes.get("type") == "application/json":
                self._json_id = attributes.get("id")
            else:
                self._in_inline_script = True
        if tag == "style":
            self.style_attributes.append("<style>")

    def handle_data(self, data: str) -> None:
        if self._json_id:
            self.json_blocks[self._json_id] = data
        elif self._in_inline_script:
            self.inline_scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._json_id = None
            self._in_inline_script = False


def parse(response) -> Markup:
    markup = Markup()
    markup.feed(response.content.decode())
    return markup


@pytest.fixture
def completed(user, tmp_path, settings):
    use_tmp_storage(settings, tmp_path / "media")
    return make_transcription(
        user,
        "completed",
        title="Standup",
        duration=90.0,
        audio_info={"container": "ogg"},
        _create_files=True,
    )


@pytest.mark.parametrize("page", [*PAGES, "login/"])
def test_signed_out_visitors_are_sent_to_sign_in(client, page):
    response = client.get(APP + page)
    if page == "login/":
        assert response.status_code == 200
        return
    assert response.status_code == 302
    assert response["Location"] == f"/app/login/?next=/app/{page}"


def test_sign_in_with_the_session_then_back_to_the_page_asked_for(user):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/app/login/?next=/app/upload/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post(
        "/app/login/",
        {"username": "alice", "password": PASSWORD, "next": "/app/upload/",
         "csrfmiddlewaretoken": token},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == "/app/upload/"
    assert client.get("/app/upload/").status_code == 200


def test_a_wrong_password_is_said_next_to_the_form_and_keeps_the_name(user, client):
    response = client.post("/app/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'role="alert"' in body
    assert "correct username and password" in body
    assert 'value="alice"' in body
    assert "_auth_user_id" not in client.session


def test_sign_out_ends_the_session(web_client):
    page = web_client.get("/app/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = web_client.post("/app/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == "/app/login/"
    assert web_client.get("/app/").status_code == 302


def test_web_login_url_sends_visitors_to_the_sites_own_page(client, settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "WEB_LOGIN_URL": "/accounts/sign-in/",
    }
    response = client.get("/app/upload/")
    assert response["Location"] == "/accounts/sign-in/?next=/app/upload/"


@pytest.mark.parametrize("page", [*PAGES, "login/", "reader"])
def test_pages_need_no_inline_script_or_style(page, user, completed):
    client = Client()
    if page != "login/":
        user.is_staff = True
        user.save()
        client.force_login(user)
    path = f"/app/transcriptions/{completed.pk}/" if page == "reader" else APP + page
    response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Security-Policy"] == platform_settings.WEB_CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    markup = parse(response)
    assert markup.inline_scripts == []
    assert markup.style_attributes == []
    assert markup.event_handlers == []
    assert all(src.startswith("/static/transcription_platform/web/") for src in markup.script_srcs)


def test_the_site_can_send_its_own_policy_or_none(web_client, settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "WEB_CONTENT_SECURITY_POLICY": None,
    }
    assert "Content-Security-Policy" not in web_client.get("/app/")


def test_the_scripts_get_the_api_root_and_the_optional_streams(web_client, completed):
    markup = parse(web_client.get(f"/app/transcriptions/{completed.pk}/"))
    config = json.loads(markup.json_blocks["page-config"])
    assert config["api"] == "/rest/api/v1/"
    assert config["id"] == str(completed.pk)
    assert config["audio"] == f"/app/transcriptions/{completed.pk}/audio"
    assert config["analysis"] is True
    assert config["pages"]["reader"] == "/app/transcriptions/00000000-0000-0000-0000-000000000000/"
    # The realtime endpoints are offered only when an installed app serves them.
    for key in ("events", "eventsToken", "transcriptionEvents"):
        assert key in config


def test_the_reader_of_someone_elses_transcription_is_a_404(web_client, other_user, tmp_path):
    theirs = make_transcription(other_user, "completed")
    assert web_client.get(f"/app/transcriptions/{theirs.pk}/").status_code == 404
    assert web_client.get(f"/app/transcriptions/{theirs.pk}/audio").status_code == 404


def test_the_upload_page_offers_the_configured_engines(web_client, settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "ENGINES": {
            "default": {"BACKEND": "transcription_platform.engines.fake.FakeEngine"},
            "fast": {"BACKEND": "transcription_platform.engines.fake.FakeEngine"},
        },
    }
    body = web_client.get("/app/upload/").content.decode()
    start = body.index('<select id="engine"')
    engine_select = body[start : body.index("</select>", start)]
    assert re.findall(r'<option value="(\w+)"( selected)?>', engine_select) == [
        ("default", " selected"),
        ("fast", ""),
    ]
    assert 'id="analyze"' in body  # the analysis app is installed


# --------------------------------------------------------------------------- audio


def test_audio_is_served_whole_with_accept_ranges(web_client, completed):
    expected = completed.audio.read()
    response = web_client.get(f"/app/transcriptions/{completed.pk}/audio")
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/ogg"
    assert b"".join(response.streaming_content) == expected
    assert int(response["Content-Length"]) == len(expected)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=3-9", 3, 9),
        ("bytes=5-", 5, None),
        ("bytes=-4", -4, None),
        ("bytes=2-99999", 2, None),
    ],
)
def test_audio_answers_a_byte_range_with_206(web_client, completed, header, first, last):
    expected = completed.audio.read()
    size = len(expected)
    url = f"/app/transcriptions/{completed.pk}/audio"
    response = web_client.get(url, headers={"Range": header})
    assert response.status_code == 206
    start = first % size
    end = size - 1 if last is None else last
    assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert b"".join(response.streaming_content) == expected[start : end + 1]


def test_an_unsatisfiable_range_is_a_416(web_client, completed):
    size = completed.audio.size
    response = web_client.get(
        f"/app/transcriptions/{completed.pk}/audio", headers={"Range": f"bytes={size}-"}
    )
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


def test_a_missing_audio_file_is_a_404_not_a_500(web_client, completed):
    completed.audio.storage.delete(completed.audio.name)
    assert web_client.get(f"/app/transcriptions/{completed.pk}/audio").status_code == 404


# --------------------------------------------------------------------------- access


def test_the_dashboard_is_a_404_for_members(web_client):
    assert web_client.get("/app/dashboard/").status_code == 404
    assert "/app/dashboard/" not in web_client.get("/app/").content.decode()


@pytest.mark.parametrize("role", ["admin", "billing"])
def test_the_dashboard_opens_for_its_roles(role):
    client = Client()
    client.force_login(make_user("staffer", role))
    assert client.get("/app/dashboard/").status_code == 200
    assert "/app/dashboard/" in client.get("/app/").content.decode()


def test_the_session_check_warns_until_session_auth_is_listed(settings):
    assert check_session_auth() == []
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "AUTHENTICATION": ["transcription_platform.auth.PlatformAuth"],
    }
    (warning,) = check_session_auth()
    assert warning.id == "transcription_platform_web.W001"
    assert "SessionAuth" in warning.hint


def test_manage_py_check_reports_it(settings, capsys):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "AUTHENTICATION": ["transcription_platform.auth.PlatformAuth"],
    }
    call_command("check", "--tag", "transcription_platform")
    assert "transcription_platform_web.W001" in capsys.readouterr().err


def test_a_transcription_without_stored_audio_is_a_404(web_client, user):
    never_stored = make_transcription(user, "completed")  # retention removed its file
    assert not never_stored.audio.name
    assert web_client.get(f"/app/transcriptions/{never_stored.pk}/audio").status_code == 404
