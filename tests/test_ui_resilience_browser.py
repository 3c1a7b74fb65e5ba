"""The page's resilience in Debian's headless Chromium, on a phone-sized screen (390x844),
against `python -m ui.launch` (what `make run` runs) on free loopback ports over a copy of
the session index:

- the page opens at the top: the AI notice is in the first viewport, before and after a
  question (the chat input no longer drags the page to the end of the conversation);
- a citation's title is one line, cut with an ellipsis, the full title in its `title`;
- with the API killed, the page stays up (no Streamlit "not responding" dialog) and says
  "The API is unavailable; retrying…", in an open tab and in one opened meanwhile; the question
  asked meanwhile is kept, and when the launcher has the API back on its port the message
  goes away by itself and the question is answered."""

from __future__ import annotations

import signal
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

from common.settings import Settings

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
API_BACK_MS = 240_000  # the restarted API loads its model again (slow on a busy CI machine)
RETRYING = "The API is unavailable; retrying…"
NOT_RESPONDING = ("not responding", "Connection error")  # Streamlit's own dialog


@pytest.fixture
def launched(default_index_settings: Settings, tmp_path: Path) -> Iterator[Launched]:
    require_chromium()
    extra = {
        "EMN_UI_API_RETRY_S": "1",
        # Long enough for the page to see the API gone before it is back.
        "EMN_LAUNCH_RESTART_BACKOFF_S": "8",
    }
    with launcher(default_index_settings, tmp_path, extra) as running:
        yield running


def in_first_viewport(page, locator) -> bool:  # type: ignore[no-untyped-def]
    """Seen without scrolling: below the top of the window and above the pinned chat input."""
    box = locator.bounding_box()
    floor = page.locator("[data-testid='stChatInput']").bounding_box()
    assert box is not None and floor is not None
    return box["y"] >= 0 and box["y"] + box["height"] <= floor["y"]


def no_dialog(page) -> bool:  # type: ignore[no-untyped-def]
    return all(page.get_by_text(text).count() == 0 for text in NOT_RESPONDING)


def test_phone_layout_then_the_api_dies_and_comes_back(launched: Launched, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport=PHONE)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(launched.page_url, wait_until="domcontentloaded")

            # Opens at the top: the notice's title and its first paragraph are in view.
            lead = page.get_by_text("You are using an AI system")
            lead.wait_for()
            page.wait_for_timeout(1000)  # let the page settle (it used to scroll down here)
            assert in_first_viewport(page, lead)
            assert in_first_viewport(page, page.get_by_role("heading", name="An AI assistant"))
            page.screenshot(path=str(tmp_path / "phone-open.png"))

            box = page.get_by_placeholder("Ask about EU migration and asylum policy")
            box.fill(BUDGET_QUESTION)
            box.press("Enter")
            page.get_by_text("AI-generated ·").wait_for()
            page.wait_for_timeout(1000)
            about = page.get_by_text("About this AI assistant, its sources and its limits")
            assert in_first_viewport(page, about)  # still at the top after a question

            # A citation's title: one line, cut, the full title on hover.
            summary = page.locator("summary[title^='[1] Commission Implementing Decision']")
            summary.wait_for()
            title = summary.get_attribute("title") or ""
            assert title.endswith("— C(2026) 36 final · Article 2 Union contribution"), title
            label = summary.locator("[data-testid='stMarkdownContainer'] p")
            assert label.text_content() == title
            height, line, cut = label.evaluate(
                "p => [p.getBoundingClientRect().height,"
                " parseFloat(getComputedStyle(p).lineHeight), p.scrollWidth > p.clientWidth]"
            )
            assert height < 1.5 * line and cut, (height, line, cut)
            summary.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "phone-answer.png"))

            # The API dies: the page stays and says so; a question asked meanwhile waits.
            api = launched.api_child()
            api.send_signal(signal.SIGKILL)
            api.wait(timeout=30)
            box.fill(BUDGET_QUESTION)
            box.press("Enter")
            page.get_by_text(RETRYING).first.wait_for()
            waiting = page.locator("[data-testid='stChatMessage']").nth(2)
            # The question is kept (on a slow machine the page may still be re-rendering the
            # "Searching" placeholder when the retry notice appears: wait for the question).
            expect(waiting).to_contain_text(BUDGET_QUESTION, timeout=TIMEOUT_MS)
            assert in_first_viewport(page, waiting)  # brought into view when it was asked
            assert no_dialog(page)
            fresh = context.new_page()  # opened while the API is down
            fresh.set_default_timeout(TIMEOUT_MS)
            fresh.goto(launched.page_url, wait_until="domcontentloaded")
            fresh.get_by_text(RETRYING).first.wait_for()
            assert in_first_viewport(fresh, fresh.get_by_text("You are using an AI system"))
            page.screenshot(path=str(tmp_path / "phone-api-down.png"))

            # The launcher restarts the API on its port: the message goes by itself, and the
            # waiting question is answered.
            page.get_by_text(RETRYING).first.wait_for(state="detached", timeout=API_BACK_MS)
            fresh.get_by_text(RETRYING).first.wait_for(state="detached", timeout=TIMEOUT_MS)
            messages = page.locator("[data-testid='stChatMessage']")
            messages.filter(has_text=BUDGET_FIGURE).nth(1).wait_for()  # the second answer
            page.get_by_text("Searching the documents").wait_for(state="detached")
            assert messages.count() == 4 and BUDGET_FIGURE in messages.last.inner_text()
            assert no_dialog(page) and no_dialog(fresh)
        finally:
            browser.close()
    output = launched.output()
    assert "The API exited unexpectedly with status -9; restarting in 8 s" in output
    assert "The API restarted (process " in output
