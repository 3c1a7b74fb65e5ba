"""The page's session state in one place: the conversation, a question waiting for a retry,
feedback already sent, the document catalog and index line (fetched once, refreshed on
demand), the filters and the inform draft."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from ui.client import ApiClient, ApiError

HISTORY_TURNS = 10  # earlier turns sent with a question (the API accepts up to 50)
CATALOG_RETRY_S = 15.0  # after a failed catalog fetch, try again on a rerun this much later

# Widget keys of the sidebar filters.
FILTER_DOCS, FILTER_KINDS, FILTER_FROM, FILTER_TO = (
    "filter_docs",
    "filter_kinds",
    "filter_from",
    "filter_to",
)

DEFAULTS: dict[str, Any] = {
    "messages": [],  # {"role": "user", "content"} | {"role": "assistant", "content", "answer"}
    "pending": None,  # {"question", "error": ApiError.to_dict()}: a failed question, for Retry
    "feedback_sent": {},  # trace id -> rating
    "reports_sent": {},  # trace id -> True: answers reported to a reviewer
    "model_card": None,  # the text of /v1/model-card, fetched once
    "review_saved": None,  # the verdict just saved, confirmed above the queue
    "catalog": None,  # list of documents from /v1/documents
    "catalog_error": None,
    "catalog_at": 0.0,
    "readiness": None,
    "inform_draft": None,
    "inform_error": None,
    "inform_exports": None,
    "doc_views": {},  # doc id -> /v1/documents/{id}/chunks
}


def init() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, dict | list) else value


def load_catalog(client: ApiClient, force: bool = False) -> None:
    """The document list and the index manifest, fetched when missing (a failure is kept,
    and shown, until Retry or a little later)."""
    ss = st.session_state
    due = time.monotonic() - ss.catalog_at > CATALOG_RETRY_S
    if not force and (ss.catalog is not None or (ss.catalog_error and not due)):
        return
    ss.catalog_at = time.monotonic()
    try:
        ss.catalog = client.documents()
        ss.catalog_error = None
    except ApiError as exc:
        ss.catalog, ss.catalog_error = None, exc.to_dict()
        return
    try:
        ss.readiness = client.readiness()
    except ApiError:
        ss.readiness = None


def filters() -> dict[str, Any] | None:
    """The sidebar filters as the API's `filters` object (None when nothing is chosen)."""
    ss = st.session_state
    out: dict[str, Any] = {}
    if ss.get(FILTER_DOCS):
        out["doc_ids"] = list(ss[FILTER_DOCS])
    if ss.get(FILTER_KINDS):
        out["kinds"] = list(ss[FILTER_KINDS])
    if ss.get(FILTER_FROM):
        out["date_from"] = ss[FILTER_FROM].isoformat()
    if ss.get(FILTER_TO):
        out["date_to"] = ss[FILTER_TO].isoformat()
    return out or None


def history() -> list[dict[str, str]]:
    """The last turns of the conversation, as the API's `history`."""
    turns = [
        {"role": m["role"], "content": m["content"]}
        for m in st.session_state.messages
        if m.get("content")
    ]
    return turns[-HISTORY_TURNS:]


def add_exchange(question: str, answer: dict[str, Any]) -> None:
    st.session_state.messages.append({"role": "user", "content": question})
    st.session_state.messages.append(
        {"role": "assistant", "content": answer.get("answer", ""), "answer": answer}
    )


def new_conversation() -> None:
    st.session_state.messages = []
    st.session_state.pending = None
