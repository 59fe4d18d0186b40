"""The documentation site and the Swagger UI load nothing from another host."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.offline_site import offline_problems, page_assets
from tests.fixtures.api import API

ROOT = Path(__file__).resolve().parents[2]


def write_site(root: Path, pages: dict[str, str]) -> Path:
    for name, html in pages.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(html)
    return root


def test_a_site_with_only_local_assets_passes(tmp_path):
    site = write_site(
        tmp_path,
        {
            "index.html": (
                '<link rel="stylesheet" href="assets/site.css"><div class="mermaid">'
                'graph TD</div><script src="assets/mermaid.min.js"></script>'
                '<a href="https://example.com/">a link is not an asset</a>'
                '<link rel="canonical" href="https://docs.example.com/">'
            ),
            "assets/site.css": "",
            "assets/mermaid.min.js": "",
            "api/index.html": '<script src="../assets/mermaid.min.js"></script>',
        },
    )
    assert offline_problems(site) == []


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ('<script src="https://unpkg.com/mermaid@11/dist/mermaid.min.js"></script>', "unpkg"),
        ('<link rel="preconnect" href="https://fonts.gstatic.com">', "fonts.gstatic.com"),
        ('<link rel="stylesheet" href="//cdn.jsdelivr.net/x.css">', "jsdelivr"),
        ('<script src="assets/missing.js"></script>', "not in the site"),
        ('<pre class="mermaid">graph TD</pre>', "no local mermaid script"),
    ],
)
def test_remote_missing_or_cdn_dependent_assets_fail(tmp_path, html, problem):
    site = write_site(tmp_path, {"index.html": html})
    [found] = offline_problems(site)
    assert problem in found


def test_swagger_ui_is_served_from_our_own_static_files(client, settings):
    assert "ninja" in settings.INSTALLED_APPS
    response = client.get(f"{API}/docs")
    assert response.status_code == 200
    assets, _ = page_assets(response.content.decode())
    assert assets, "the docs page loads no assets at all?"
    for url in assets:
        assert url.startswith(settings.STATIC_URL), url
    assert "cdn." not in response.content.decode()
    assert "swagger-ui-bundle.js" in " ".join(assets)


def test_documented_installed_apps_include_ninja():
    # Without it django-ninja falls back to its CDN template for the Swagger UI.
    for doc in ("README.md", "docs/installation.md"):
        assert '"ninja",' in (ROOT / doc).read_text(), doc
    # Read, not imported: importing the example settings here would apply the test
    # run's environment (an empty DATABASE_URL) to them.
    base = (ROOT / "example_project/config/settings/base.py").read_text()
    apps = base.split("INSTALLED_APPS", 1)[1].split("]", 1)[0]
    assert '"ninja",' in apps
