"""The API's interactive docs work offline: /docs (Swagger UI) and /redoc load their scripts
and styles from the service itself (the fastapi-offline package's copies), never from a CDN.
Debian's Chromium (driven by Playwright, as in tests/test_ui_browser.py) opens each page with
every request to a host other than 127.0.0.1 aborted, and must still show the operations."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, require_chromium
from conftest import ApiServer

pytestmark = pytest.mark.slow

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
URL = re.compile(r"""https?://([^/\s"'<>:]+)""")

# (page, texts it must show once rendered): the ask operation's path and its summary.
PAGES = [
    ("/docs", ["/v1/ask", "Answer a question with citations", "/v1/chat/completions"]),
    ("/redoc", ["/v1/ask", "Answer a question with citations", "Chat completions"]),
]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_name_no_other_host(api_server: ApiServer, path: str) -> None:
    html = httpx.get(api_server.url(path), timeout=30).text
    hosts = {m.group(1) for m in URL.finditer(html)} - LOOPBACK
    assert not hosts, f"{path} refers to {hosts}"
    assets = re.findall(r"""(?:src|href)="(/[^"]+)""", html)
    assert assets, html
    for asset in assets:
        assert httpx.get(api_server.url(asset), timeout=30).status_code == 200, asset


@pytest.mark.parametrize(("path", "texts"), PAGES)
def test_the_docs_render_with_the_network_blocked(
    api_server: ApiServer, path: str, texts: list[str], tmp_path: Path
) -> None:
    require_chromium()
    from playwright.sync_api import Route, sync_playwright

    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", only_loopback)
            page.goto(api_server.url(path), wait_until="domcontentloaded")
            for text in texts:
                page.get_by_text(text, exact=False).first.wait_for(state="attached")
            body = page.inner_text("body")
            for text in texts:
                assert text in body, (text, body[:2000])
            page.screenshot(path=str(tmp_path / f"{path.strip('/')}.png"))
        finally:
            browser.close()
    # Nothing the page needs was fetched from elsewhere (a logo or font tried and refused
    # would be listed here; the page rendered without it).
    assert not [u for u in blocked if u.endswith((".js", ".css"))], blocked
