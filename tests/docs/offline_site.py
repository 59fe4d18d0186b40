"""Check a built documentation site loads nothing from another host.

``python -m tests.docs.offline_site site`` (run by ``nox -s docs`` after the build):
every ``<script src>``, ``<link href>`` other than a plain hyperlink relation, and
``<img>``/``<iframe>``/``<source>`` ``src`` of every HTML page must be relative or on
loopback, and must exist in the site; a page with a mermaid diagram must load mermaid
itself (mkdocs-material otherwise fetches it from unpkg.com when the page opens).
Links a reader clicks (``<a href>``) may go anywhere. Standard library only: the docs
session installs no test dependencies.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: ``<link rel>`` values that only name a page, never load anything.
HYPERLINK_RELS = {"canonical", "prev", "next", "alternate", "author", "license", "help"}
ASSET_TAGS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src"}


class _AssetCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.has_mermaid_diagram = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "mermaid" in values.get("class", "").split():
            self.has_mermaid_diagram = True
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            if rels and not rels <= HYPERLINK_RELS and values.get("href"):
                self.assets.append(values["href"])
        elif tag in ASSET_TAGS and values.get(ASSET_TAGS[tag]):
            self.assets.append(values[ASSET_TAGS[tag]])


def page_assets(html: str) -> tuple[list[str], bool]:
    """The URLs a browser loads by itself when it renders ``html``.

    Args:
        html: The page's markup.

    Returns:
        The ``src``/``href`` values of scripts, style sheets, preconnects, fonts, images
        and frames, in document order; and whether the page holds a mermaid diagram.
    """
    collector = _AssetCollector()
    collector.feed(html)
    return collector.assets, collector.has_mermaid_diagram


def offline_problems(site: Path) -> list[str]:
    """Every asset of every page of ``site`` that is remote or missing.

    Args:
        site: The directory ``mkdocs build`` wrote.

    Returns:
        One line per problem (page, then URL); empty when the site renders offline.
    """
    problems = []
    for page in sorted(site.rglob("*.html")):
        relative = page.relative_to(site).as_posix()
        assets, has_diagram = page_assets(page.read_text(encoding="utf-8"))
        if has_diagram and not any("mermaid" in urlsplit(url).path for url in assets):
            problems.append(f"{relative}: a mermaid diagram, and no local mermaid script")
        for url in assets:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                if parts.hostname not in LOOPBACK:
                    problems.append(f"{relative}: loads {url} from another host")
                continue
            if parts.scheme == "data":
                continue
            target = urlsplit(urljoin(f"/{relative}", url)).path.lstrip("/")
            path = site / target
            if not (path.is_file() or (path / "index.html").is_file()):
                problems.append(f"{relative}: {url} is not in the site")
    return problems


def main(argv: list[str]) -> int:
    site = Path(argv[1] if len(argv) > 1 else "site")
    if not (site / "index.html").is_file():
        print(f"{site}: no built site here (run mkdocs build first)", file=sys.stderr)
        return 2
    problems = offline_problems(site)
    for problem in problems:
        print(problem, file=sys.stderr)
    pages = sum(1 for _ in site.rglob("*.html"))
    print(f"{pages} pages checked, {len(problems)} remote or missing assets")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
