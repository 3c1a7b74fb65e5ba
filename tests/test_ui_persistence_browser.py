"""Nothing lost, in a real headless Chromium (Debian's) against `python -m ui.launch`: the
conversation survives a reload and is behind "Back to the chat" of a citation opened in a new
tab; a thumb is recorded on click; an inform draft's edit survives a switch to Ask and back,
and a reload. The browser's id lives in the page's own cookie; the address carries the rest."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api_helpers import BUDGET_FIGURE, BUDGET_QUESTION
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, Launched
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from sqlalchemy import select
from test_ui_browser import launched  # noqa: F401  (the fixture)

from api.db import make_engine
from api.feedback_store import feedback_table

pytestmark = pytest.mark.slow

EDIT = " Edited by the NCP [1]."


def eventually(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll a real condition (the API or the database) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def session_of(context: BrowserContext) -> str:
    return eventually(
        lambda: next((c["value"] for c in context.cookies() if c["name"] == "emn_session"), ""),
        "the page's browser-id cookie",
    )


def api_get(running: Launched, context: BrowserContext, path: str) -> httpx.Response:
    return httpx.get(
        f"http://127.0.0.1:{running.api_port}{path}",
        headers={"X-EMN-Session": session_of(context)},
    )


def open_page(pw: Any) -> tuple[Any, BrowserContext, Page]:
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return browser, context, page


def answer_with_figure(page: Page) -> Any:
    found = page.locator("[data-testid='stChatMessage']").filter(has_text=BUDGET_FIGURE).first
    found.wait_for()
    return found


def test_the_conversation_survives_reload_and_new_tab_and_a_thumb_counts_on_click(
    launched: Launched,  # noqa: F811
) -> None:
    with sync_playwright() as pw:
        browser, context, page = open_page(pw)
        try:
            page.goto(launched.page_url, wait_until="domcontentloaded")
            box = page.get_by_placeholder("Ask about EU migration and asylum policy")
            box.fill(BUDGET_QUESTION)
            box.press("Enter")
            answer_with_figure(page)
            page.wait_for_url(re.compile(r"[?&]c=[A-Za-z0-9_-]+"))
            conversation = re.search(r"[?&]c=([A-Za-z0-9_-]+)", page.url).group(1)  # type: ignore[union-attr]
            stored = eventually(
                lambda: api_get(launched, context, f"/v1/conversations/{conversation}"),
                "the saved conversation",
            )
            trace_id = stored.json()["messages"][1]["answer"]["trace_id"]

            page.reload(wait_until="domcontentloaded")
            answer = answer_with_figure(page)  # the conversation is back after a reload

            marker = answer.locator("a[href*='chunk=']", has_text="[1]").first
            with context.expect_page() as new_tab:
                marker.click()
            document = new_tab.value
            document.set_default_timeout(TIMEOUT_MS)
            document.get_by_text("Cited passage").first.wait_for()
            document.get_by_role("button", name="Back to the chat").click()
            answer_with_figure(document)  # not an empty chat
            document.close()

            # Thumbs up, no "Send": recorded at once.
            thumbs = answer.locator(
                "[data-testid='stFeedback'] button, [data-testid='stButtonGroup'] button"
            )
            thumbs.first.click()
            engine = make_engine(f"sqlite:///{launched.log.parent / 'data' / 'audit.sqlite'}")

            def ratings() -> list[str]:
                with engine.connect() as conn:
                    query = select(feedback_table.c.rating).where(
                        feedback_table.c.trace_id == trace_id
                    )
                    return [r[0] for r in conn.execute(query)]

            assert eventually(ratings, "the thumb's feedback row") == ["up"]
        finally:
            browser.close()


def test_an_inform_edit_survives_a_mode_switch_and_a_reload(
    launched: Launched,  # noqa: F811
) -> None:
    with sync_playwright() as pw:
        browser, context, page = open_page(pw)
        try:
            page.goto(launched.page_url, wait_until="domcontentloaded")
            # One document only, so the draft is quick.
            documents = page.locator(
                "[data-testid='stSidebar'] [data-testid='stMultiSelect']"
            ).first
            documents.click()
            page.keyboard.type("Commission Implementing Decision")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            page.get_by_text("Draft an inform").click()
            page.get_by_label("Topic of the inform").fill("EMN work programme 2026-2027")
            page.get_by_role("button", name="Draft the inform").click()
            page.get_by_role("button", name="Word (.docx)").wait_for()

            background = page.locator("[data-testid='stTextArea'] textarea").nth(1)
            edited = background.input_value() + EDIT
            background.fill(edited)
            background.press("Control+Enter")
            eventually(
                lambda: any(
                    EDIT in str(d.get("edits", {}).get("sections", {}))
                    for d in (
                        api_get(launched, context, f"/v1/drafts/{item['id']}").json()
                        for item in api_get(launched, context, "/v1/drafts").json()["drafts"]
                    )
                ),
                "the saved edit",
            )

            page.get_by_text("Ask questions").click()
            page.get_by_placeholder("Ask about EU migration and asylum policy").wait_for()
            page.get_by_text("Draft an inform").first.click()
            expect(page.locator("[data-testid='stTextArea'] textarea").nth(1)).to_have_value(edited)

            page.wait_for_url(re.compile(r"[?&]mode=inform"))  # the address says where we are
            page.reload(wait_until="domcontentloaded")
            expect(page.locator("[data-testid='stTextArea'] textarea").nth(1)).to_have_value(
                edited, timeout=TIMEOUT_MS
            )
        finally:
            browser.close()
