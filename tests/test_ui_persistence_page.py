"""The chat page's saved work through Streamlit's AppTest against the real API (the session's
`api_server`): an exchange is saved as soon as its answer arrives and reopened from the
address (`?c=`) by the same browser, also behind a document's "Back to the chat"; draft edits
survive a mode switch and are saved; a thumb is recorded on click and its comment joins it; a
refused save is said on the page; a saved conversation is deleted after a confirmation; the
saved-work list speaks the page's language.
(The real cookie, reloads and new tabs: tests/test_ui_persistence_browser.py.)"""

from __future__ import annotations

import secrets

import httpx
import pytest
from api_helpers import BUDGET_FIGURE, BUDGET_QUESTION
from conftest import ApiServer
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from test_ui_page import APP, WORK_PROGRAMME, ask, page, texts

from api.db import make_engine
from api.feedback_store import feedback_table
from common.texts import Texts

pytestmark = pytest.mark.slow


def saved(api_server: ApiServer, browser: str, path: str) -> httpx.Response:
    return httpx.get(api_server.url(path), headers={"X-EMN-Session": browser})


def same_browser(monkeypatch: pytest.MonkeyPatch, api_url: str, browser: str, **params: str):  # type: ignore[no-untyped-def]
    """The page opened again by the same browser (its cookie's id) at `?params`."""
    monkeypatch.setenv("EMN_API_URL", api_url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["browser_id"] = browser
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_an_exchange_is_saved_and_reopened_from_the_address(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url, ui_stream="false")
    answer = ask(at, BUDGET_QUESTION)
    browser, conversation = at.session_state["browser_id"], at.session_state["conversation_id"]
    assert conversation and at.query_params["c"] == conversation
    stored = saved(api_server, browser, f"/v1/conversations/{conversation}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["messages"][1]["answer"]["trace_id"] == answer["trace_id"]
    assert stored["title"] == BUDGET_QUESTION
    # Citation links carry the conversation, for the document's "Back to the chat".
    assert f"&c={conversation}" in texts(at.chat_message[-1].markdown)
    assert any(conversation in b.key for b in at.sidebar.button)  # listed in the sidebar

    reloaded = same_browser(monkeypatch, api_server.base_url, browser, c=conversation)
    assert BUDGET_FIGURE in reloaded.session_state["messages"][-1]["content"]
    assert BUDGET_FIGURE in texts(reloaded.chat_message[-1].markdown)

    cite = answer["citations"][0]
    view = same_browser(
        monkeypatch,
        api_server.base_url,
        browser,
        doc=cite["doc_id"],
        chunk=cite["chunk_id"],
        c=conversation,
    )
    view.button(key="doc_back").click().run()
    assert not view.exception and not view.query_params.get("doc")
    assert BUDGET_FIGURE in texts(view.chat_message[-1].markdown)

    # Another browser does not get it: the page says so instead of showing an empty chat.
    other = same_browser(
        monkeypatch, api_server.base_url, secrets.token_urlsafe(24), c=conversation
    )
    assert not other.chat_message and "not saved for this browser" in texts(other.info)


def test_draft_edits_survive_a_mode_switch_and_are_saved(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url)
    at.multiselect(key="filter_docs").set_value([WORK_PROGRAMME])
    at.sidebar.radio(key="mode").set_value("inform").run()
    at.text_input(key="inform_topic").set_value("EMN work programme 2026-2027")
    at.button(key="inform_go").click().run()
    assert not at.exception and not at.error, texts(at.error)
    trace = at.session_state["inform_draft"]["trace_id"]
    section = at.text_area(key=f"inf_{trace}_1")
    edited = section.value + " Edited by the NCP [1]."
    section.set_value(edited).run()
    at.text_input(key=f"inf_title_{trace}").set_value("My own title").run()

    at.sidebar.radio(key="mode").set_value("ask").run()
    assert not at.text_area  # the editor is gone: its widget state with it
    at.sidebar.radio(key="mode").set_value("inform").run()
    assert at.text_area(key=f"inf_{trace}_1").value == edited
    assert at.text_input(key=f"inf_title_{trace}").value == "My own title"
    assert "Edited by the NCP [1]." in at.session_state["inform_exports"]["markdown"]

    browser, draft_id = at.session_state["browser_id"], at.session_state["draft_id"]
    assert at.query_params["d"] == draft_id and at.query_params["mode"] == "inform"
    stored = saved(api_server, browser, f"/v1/drafts/{draft_id}").json()
    assert stored["edits"] == {"title": "My own title", "sections": {"1": edited}}
    assert stored["draft"]["trace_id"] == trace and stored["title"] == "My own title"

    reopened = same_browser(monkeypatch, api_server.base_url, browser, d=draft_id, mode="inform")
    assert reopened.text_area(key=f"inf_{trace}_1").value == edited


def test_a_thumb_is_recorded_on_click_and_the_comment_joins_it(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url, ui_stream="false")
    trace_id = ask(at, BUDGET_QUESTION)["trace_id"]

    def rows() -> list:  # type: ignore[type-arg]
        with make_engine(api_server.database_url).connect() as conn:
            query = select(feedback_table).where(feedback_table.c.trace_id == trace_id)
            return [(r.id, r.rating, r.comment) for r in conn.execute(query)]

    [thumbs] = at.get("feedback")
    thumbs.set_value(1).run()  # thumbs up, no Send
    assert not at.exception and not at.error
    [(row_id, rating, comment)] = rows()
    assert (rating, comment) == ("up", "")
    assert "your feedback (👍) was recorded" in texts(at.caption)
    at.text_input(key=f"fbc_{trace_id}").set_value("Clear and cited.")
    at.button(key=f"fbs_{trace_id}").click().run()
    assert not at.exception and not at.error
    assert rows() == [(row_id, "up", "Clear and cited.")]  # the same feedback, not a second


def test_a_refused_save_is_said_on_the_page(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    monkeypatch.setenv("EMN_API_URL", api_server.base_url)
    monkeypatch.setenv("EMN_UI_STREAM", "false")
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["browser_id"] = "not a valid id!"  # the API refuses to save under it
    at.run()
    ask(at, BUDGET_QUESTION)
    warning = texts(at.warning)
    assert "This conversation could not be saved:" in warning and "X-EMN-Session" in warning
    assert "It stays on this page" in warning and at.button(key="persist_retry")
    assert at.session_state["conversation_id"] is None and len(at.session_state["messages"]) == 2


def test_a_saved_conversation_is_deleted_after_a_confirmation(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url, ui_stream="false")
    ask(at, BUDGET_QUESTION)
    browser, conversation = at.session_state["browser_id"], at.session_state["conversation_id"]
    at.button(key=f"del_conversation_{conversation}").click().run()
    assert "for good?" in texts(at.sidebar.warning)
    assert saved(api_server, browser, f"/v1/conversations/{conversation}").status_code == 200
    at.button(key=f"del_yes_conversation_{conversation}").click().run()
    assert not at.exception and not at.error
    assert saved(api_server, browser, f"/v1/conversations/{conversation}").status_code == 404
    assert not at.chat_message and not at.query_params.get("c")


def test_the_saved_work_is_listed_in_the_page_language(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    browser = secrets.token_urlsafe(24)
    conversation = secrets.token_urlsafe(9)
    stored = httpx.post(
        api_server.url(f"/v1/conversations/{conversation}/messages"),
        headers={"X-EMN-Session": browser},
        json={"messages": [{"role": "user", "content": BUDGET_QUESTION}]},
    )
    assert stored.status_code in (200, 201), stored.text
    at = same_browser(monkeypatch, api_server.base_url, browser, lang="de")
    german = Texts("de")
    labels = [e.label for e in at.sidebar.expander]
    assert german.ui("saved_conversations", count=1) in labels  # "Ihre Unterhaltungen (1)"
    assert german.ui("saved_drafts", count=0) in labels
    assert german.ui("saved_drafts_empty") in texts(at.sidebar.caption)
    opener = at.button(key=f"open_conversation_{conversation}")
    assert opener.label == BUDGET_QUESTION and "gespeichert" in opener.help
    at.button(key=f"del_conversation_{conversation}").click().run()
    assert f"„{BUDGET_QUESTION}“ endgültig löschen?" in texts(at.sidebar.warning)
    assert at.button(key=f"del_yes_conversation_{conversation}").label == "Löschen"
    assert "Your conversations" not in "\n".join(labels)
