"""The example project serves the web pages at /app/, with sign-in at /app/login/, and
its API accepts the session they use."""

from __future__ import annotations

from tests.fixtures.example_project import ExampleProject

SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
get_user_model().objects.create_user("demo", "demo@example.com", "demo-pass-2024")
client = Client()
assert client.get("/app/").headers["Location"] == "/app/login/?next=/app/"
signed_in = client.post("/app/login/", {"username": "demo", "password": "demo-pass-2024"})
assert signed_in.status_code == 302, signed_in.status_code
assert signed_in.headers["Location"] == "/app/", signed_in.headers["Location"]
for page in ("/app/", "/app/upload/"):
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
api = client.get("/rest/api/v1/transcriptions/")
assert api.status_code == 200, api.content
print("WEB-PAGES-OK")
"""


def test_pages_sign_in_and_the_session_reaching_the_api(example: ExampleProject) -> None:
    result = example.run(["-c", SCRIPT], "local")
    assert result.returncode == 0, result.output
    assert "WEB-PAGES-OK" in result.stdout


def test_no_warning_about_the_session(example: ExampleProject) -> None:
    result = example.manage("check", settings="local")
    assert result.returncode == 0, result.output
    assert "transcription_platform_web.W001" not in result.output
