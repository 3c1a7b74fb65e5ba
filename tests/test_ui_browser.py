"""End to end in a real headless Chromium (Debian's, installed by `make install`; Playwright
only drives it): `python -m ui.launch` (what `make run` runs) starts the API over a copy of the
session index and the chat page on free loopback ports; the browser asks a question from the
default corpus, sees the cited answer, opens the citation's passage, follows the [n] marker to
the whole document, and saves screenshots under the test's folder (with
EMN_UPDATE_SCREENSHOT=1 also docs/screenshot-chat.png, -inform.png and -export.png, README's
pictures).
Ctrl-C (SIGINT) to the launcher then stops both servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import BUDGET_FIGURE, BUDGET_QUESTION
from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    Launched,
    launcher,
    require_chromium,
)
from docx import Document

from common.settings import PROJECT_ROOT, Settings
from ui import export_preview

pytestmark = pytest.mark.slow

README_SCREENSHOT = PROJECT_ROOT / "docs" / "screenshot-chat.png"
README_INFORM = PROJECT_ROOT / "docs" / "screenshot-inform.png"
README_EXPORT = PROJECT_ROOT / "docs" / "screenshot-export.png"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def launched(default_index_settings: Settings, tmp_path: Path) -> Iterator[Launched]:
    require_chromium()
    with launcher(default_index_settings, tmp_path) as running:
        yield running


def test_ask_open_a_citation_and_stop_with_ctrl_c(launched: Launched, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    output = launched.output()
    assert f"API:       http://127.0.0.1:{launched.api_port}" in output
    assert f"Chat page: {launched.page_url.rstrip('/')}" in output

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(launched.page_url, wait_until="domcontentloaded")

            # The AI notice and the sources come before any question.
            page.get_by_text("You are using an AI system").wait_for()
            page.get_by_text("no advice on individual cases").wait_for()
            assert page.locator("[data-testid='stChatMessage']").count() == 0

            box = page.get_by_placeholder("Ask about EU migration and asylum policy")
            box.fill(BUDGET_QUESTION)
            box.press("Enter")
            page.get_by_text("AI-generated ·").wait_for()
            answer = page.locator("[data-testid='stChatMessage']").last
            assert BUDGET_FIGURE in answer.inner_text()

            # Open the citation: its expander shows the quoted passage and where it sits.
            citation = answer.locator("[data-testid='stExpander']").filter(
                has_text="[1] Commission Implementing Decision"
            )
            assert "C(2026) 36 final" in citation.inner_text()
            citation.locator("summary").click()
            whole = citation.get_by_role("link", name="Open the whole document at this passage")
            whole.wait_for(state="visible")
            page.wait_for_timeout(500)  # the expander's opening animation
            opened = citation.inner_text()
            assert BUDGET_FIGURE in opened and "Article 2 Union contribution" in opened
            citation.scroll_into_view_if_needed()
            shot = tmp_path / "chat.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000, "the screenshot is empty"
            if os.environ.get("EMN_UPDATE_SCREENSHOT") == "1":  # refresh README's picture
                shutil.copyfile(shot, README_SCREENSHOT)

            # The [1] marker in the answer opens the whole document, cited passage highlighted.
            marker = answer.locator("a[href*='chunk=']", has_text="[1]").first
            with context.expect_page() as new_tab:
                marker.click()
            document = new_tab.value
            document.set_default_timeout(TIMEOUT_MS)
            document.get_by_text("Cited passage").first.wait_for()
            highlighted = document.locator("[data-testid='stAlertContentInfo']").first
            assert BUDGET_FIGURE in highlighted.inner_text()
            document.get_by_text("The whole document (").wait_for()
            document.screenshot(path=str(tmp_path / "document.png"))
            document.close()

            # Inform mode: draft, then download the Word export the browser way.
            page.get_by_text("Draft an inform").click()
            page.get_by_label("Topic of the inform").fill("return and readmission")
            page.get_by_role("button", name="Draft the inform").click()
            word = page.get_by_role("button", name="Word (.docx)")
            word.wait_for()
            with page.expect_download() as download:
                word.click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            page.get_by_role("heading", name="Key messages").first.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "inform.png"))
        finally:
            browser.close()
    # The downloaded Word file's first page, laid out in its house styles (README's picture).
    export_shot = tmp_path / "export.png"
    export_preview.screenshot(
        export_preview.docx_html(saved.read_bytes()), export_shot, str(CHROMIUM)
    )
    assert export_shot.stat().st_size > 10_000, "the export preview is empty"
    if os.environ.get("EMN_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(tmp_path / "inform.png", README_INFORM)
        shutil.copyfile(export_shot, README_EXPORT)
    assert saved.name == "emn-inform-draft-return-and-readmission.docx"
    exported = Document(str(saved))
    assert exported.paragraphs[0].text == "EMN inform (draft): Return and readmission"
    assert exported.core_properties.category == "AI-generated draft — verify before use"
    assert "Sources" in [p.text for p in exported.paragraphs]

    # Ctrl-C stops the page and the API.
    assert port_open(launched.api_port) and port_open(launched.ui_port)
    launched.proc.send_signal(signal.SIGINT)
    assert launched.proc.wait(timeout=60) == 0, launched.output()[-3000:]
    assert not port_open(launched.api_port) and not port_open(launched.ui_port)
    assert "Stopping the chat page and the API" in launched.output()
