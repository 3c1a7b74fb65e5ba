"""The whole-document view (`?doc=ID&chunk=CHUNK_ID`): a document's passages in order, the
cited one shown first and highlighted in place, each with its section path and page."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import i18n, persistence, render
from ui import markdown as md
from ui.client import ApiClient, ApiError


def _load(client: ApiClient, doc_id: str) -> dict[str, Any] | None:
    views = st.session_state.doc_views
    if doc_id in views:
        return views[doc_id]
    try:
        with st.spinner("Loading the document…"):
            views[doc_id] = client.document_chunks(doc_id)
    except ApiError as exc:
        if render.api_error(exc.to_dict(), retry_key="retry_doc"):
            st.rerun()
        return None
    return views[doc_id]


def back_button(key: str = "doc_back") -> None:
    if st.button("Back to the chat", icon="⬅️", key=key):
        persistence.back_to_chat()  # the conversation and draft it was opened from
        st.rerun()


def show(client: ApiClient, doc_id: str, chunk_id: str | None) -> None:
    back_button()
    data = _load(client, doc_id)
    if data is None:
        return
    doc = data.get("document", {})
    chunks = data.get("chunks", [])
    st.header(doc.get("title") or doc_id)
    facts = [doc.get("reference"), doc.get("kind"), doc.get("date")]
    if doc.get("status"):
        facts.append(str(doc["status"]).replace("_", " "))
    facts.append(f"{len(chunks)} passages")
    st.caption(md.escape_md(" · ".join(str(f) for f in facts if f)))
    if md.is_unverified(doc):
        st.warning(i18n.t("unverified_source"), icon="⚠️")
    if doc.get("source_url"):
        st.markdown(f"[Original publication]({doc['source_url']})")

    cited = next((c for c in chunks if c.get("chunk_id") == chunk_id), None)
    if chunk_id and cited is None:
        st.warning("The cited passage is no longer in this document (the index has changed).")
    if cited is not None:
        st.subheader("📌 Cited passage")
        passage(cited, highlight=True)
    st.subheader(f"The whole document ({len(chunks)} passages)")
    for chunk in chunks:
        passage(chunk, highlight=chunk is cited)


def passage(chunk: dict[str, Any], *, highlight: bool = False) -> None:
    where = md.citation_location({"section_path": chunk.get("section_path"), **_pages(chunk)})
    text = md.escape_md(str(chunk.get("text", "")))
    footnotes = chunk.get("footnotes") or []
    if footnotes:
        text += "\n\n" + "\n\n".join(f"*{md.escape_md(str(n))}*" for n in footnotes)
    label = f"**{md.escape_md(where)}**\n\n" if where else ""
    if highlight:
        st.info(f"{label}{text}", icon="📌")
    else:
        with st.container(border=True):
            if where:
                st.caption(md.escape_md(where))
            st.markdown(text)


def _pages(chunk: dict[str, Any]) -> dict[str, Any]:
    return {"page": chunk.get("page"), "page_end": chunk.get("page_end")}
