"""The conversation: history, the question box, streamed answers (with a non-streaming
fallback), and a failed question kept with a Retry button."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import availability, i18n, page_style, render, state
from ui import markdown as md
from ui.client import ApiClient, ApiError, StreamUnavailable

MAX_QUESTION_CHARS = 2000
USER_AVATAR, ASSISTANT_AVATAR = ":material/person:", ":material/smart_toy:"
PENDING_KEY = "pending_question"


def show(client: ApiClient, *, stream: bool) -> None:
    ss = st.session_state
    render.notice(ss.catalog, compact=bool(ss.messages or ss.pending))
    for message in ss.messages:
        if message["role"] == "user":
            with st.chat_message("user", avatar=USER_AVATAR):
                st.markdown(md.escape_md(message["content"]))
        else:
            with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
                render.answer(message["answer"], client)

    question = pending_question(ss.pending)

    # Pinned to the bottom inside st.bottom: a chat input Streamlit places there itself makes
    # the page follow the end of the conversation, which hides the AI notice on a phone.
    with st.bottom:
        typed = st.chat_input(
            i18n.t("question_placeholder"), max_chars=MAX_QUESTION_CHARS, key="question"
        )
    question = typed or question
    if question and question.strip():
        ask(client, question.strip(), stream=stream)


def pending_question(pending: dict[str, Any] | None) -> str | None:
    """A failed question, kept on the page: sent again on Retry, or by itself once an API
    that could not be reached is back (meanwhile it waits under the 'retrying' message)."""
    if not pending:
        return None
    waiting = availability.unreachable(pending["error"])
    if waiting and not availability.down() and not pending.get("resent"):
        pending["resent"] = True  # once: a question that brings the API down is not looped
        return str(pending["question"])  # the API is back
    box = st.empty()  # cleared on Retry, so the question is not shown twice meanwhile
    with box.container():
        with st.container(key=PENDING_KEY), st.chat_message("user", avatar=USER_AVATAR):
            st.markdown(md.escape_md(pending["question"]))
        page_style.reveal(PENDING_KEY)  # e.g. the 'retrying' message above moved it down
        with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
            if waiting and availability.down():
                st.caption(f":material/sync_problem: {i18n.t('api_retrying')}")
                retry = False
            else:
                retry = render.api_error(pending["error"], retry_key="retry_ask")
    if retry:
        box.empty()
        return str(pending["question"])
    return None


def ask(client: ApiClient, question: str, *, stream: bool) -> None:
    """Send the question with the history and filters; show the answer as it streams in."""
    ss = st.session_state
    resent = bool(ss.pending and ss.pending.get("resent") and ss.pending["question"] == question)
    ss.pending = None
    history, filters = state.history(), state.filters()
    asked = f"asked_{len(ss.messages)}"
    with st.container(key=asked), st.chat_message("user", avatar=USER_AVATAR):
        st.markdown(md.escape_md(question))
    page_style.reveal(asked)  # the page no longer follows the conversation by itself
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        placeholder = st.empty()
        try:
            result = _streamed(client, question, history, filters, placeholder) if stream else None
            if result is None:
                with placeholder, st.spinner(i18n.t("searching")):
                    result = client.ask(question, history, filters)
        except ApiError as exc:
            ss.pending = {"question": question, "error": exc.to_dict(), "resent": resent}
            availability.note(ss.pending["error"])
            st.rerun()
        state.add_exchange(question, result)
    if ss.catalog_error:  # the API is back: refresh the sources and the index line too
        state.load_catalog(client, force=True)
    st.rerun()


def _streamed(
    client: ApiClient,
    question: str,
    history: list[dict[str, str]],
    filters: dict[str, Any] | None,
    placeholder: Any,
) -> dict[str, Any] | None:
    """The final answer record of a streamed answer, the text shown as it arrives; None when
    streaming is not available (the caller asks again without it)."""
    text = ""
    placeholder.markdown(f"_{i18n.t('searching')}_")
    try:
        for event in client.ask_stream(question, history, filters):
            if event.kind == "delta":
                text += event.text
                placeholder.markdown(md.escape_md(text) + " ▌")
            elif event.kind == "answer" and event.data is not None:
                return event.data
    except StreamUnavailable:
        return None
    return None
