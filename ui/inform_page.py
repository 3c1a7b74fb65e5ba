"""Inform drafting mode for NCP staff: a topic -> /v1/inform -> a cited draft in the EMN house
shape, editable section by section, exported as Markdown and Word with the AI marking."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import availability, export, persistence, render, state
from ui import markdown as md
from ui.client import ApiClient, ApiError

MAX_TOPIC_CHARS = 200
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def show(client: ApiClient, api_url: str) -> None:
    ss = st.session_state
    st.header("📝 Draft an inform")
    st.caption(
        "For EMN national contact point staff: a first draft of an inform (title, key "
        "messages, background, main findings, policy implications, sources) in which every "
        "sentence cites the passage it comes from. Edit it here, then export it. The sidebar "
        "filters apply."
    )
    render.notice(ss.catalog, compact=True)
    topic = st.text_input(
        "Topic of the inform",
        key="inform_topic",
        max_chars=MAX_TOPIC_CHARS,
        placeholder="e.g. return and readmission",
    )
    if st.button("Draft the inform", type="primary", key="inform_go", icon="📝"):
        if topic and topic.strip():
            _draft(client, topic.strip())
        else:
            st.warning("Enter a topic first.", icon="✏️")
    error = ss.inform_error
    if error and render.api_error(error["error"], retry_key="inform_retry"):
        _draft(client, error["topic"])
    if ss.inform_draft:
        editor(ss.inform_draft, api_url)


def _draft(client: ApiClient, topic: str) -> None:
    ss = st.session_state
    try:
        with st.spinner("Drafting: each section is answered and checked against the documents…"):
            ss.inform_draft = client.inform(topic, state.filters())
        ss.inform_error = None
    except ApiError as exc:
        ss.inform_error = {"topic": topic, "error": exc.to_dict()}
        availability.note(exc.to_dict())  # the API is down: the page's banner says so
    st.rerun()


def editor(draft: dict[str, Any], api_url: str) -> None:
    """The draft as editable text areas per section, its sources, and the two exports."""
    trace = draft.get("trace_id", "draft")
    citations = draft.get("citations") or []
    st.divider()
    st.warning(
        f"**{md.escape_md(export.marking(draft))}.** {md.escape_md(export.draft_note(draft))}",
        icon="⚠️",
    )
    if draft.get("behaviour") != "answered":
        st.info(
            "**Not covered by the documents.** No section of this topic could be drafted from "
            "the documents with citations; try another wording or fewer filters.",
            icon="🔎",
        )
    title_key = f"inf_title_{trace}"
    title = st.text_input(
        "Title",
        value=persistence.draft_text("title", draft.get("title", "")),
        key=title_key,
        on_change=persistence.keep_edit,  # kept and saved: survives mode switches and reloads
        args=(title_key, "title"),
    )
    texts: list[str] = []
    for i, section in enumerate(draft.get("sections", [])):
        heading = str(section.get("heading", f"Section {i + 1}"))
        st.subheader(heading)
        value = str(section.get("text", ""))
        if not value and section.get("behaviour") != "answered":
            # For the author only: an empty section is left out of the exports.
            note = section.get("note") or "The documents do not cover this section."
            st.caption(f"{md.escape_md(note)} Left out of the export unless you write it.")
        text = st.text_area(
            heading,
            value=persistence.draft_text(i, value),
            key=f"inf_{trace}_{i}",
            on_change=persistence.keep_edit,
            args=(f"inf_{trace}_{i}", i),
            height=max(120, min(420, 24 * (len(value) // 80 + value.count("\n") + 2))),
            label_visibility="collapsed",
            help="Keep the [n] markers: every sentence must cite a source.",
        )
        text = text or ""
        missing = md.uncited_sentences(text, {int(c["marker"]) for c in citations})
        if missing:
            st.warning(
                f"{len(missing)} sentence(s) without a citation marker, e.g. "
                f"“{md.escape_md(missing[0][:120])}”",
                icon="❗",
            )
        if text.strip():
            with st.expander("Preview with clickable citations"):
                st.markdown(md.link_markers(text, citations, persistence.link_params()))
        texts.append(text)

    st.subheader("Sources")
    if not citations:
        st.caption("No sources were cited.")
    for citation in citations:
        render.cite(citation)

    edited = export.with_absolute_urls(export.edited_draft(draft, title or "", texts), api_url)
    markdown_text = export.to_markdown(edited)
    docx_bytes = export.to_docx(edited)
    st.session_state.inform_exports = {"markdown": markdown_text, "docx": docx_bytes}
    st.subheader("Export")
    left, right = st.columns(2)
    left.download_button(
        "Markdown (.md)",
        data=markdown_text.encode("utf-8"),
        file_name=export.export_filename(edited, "md"),
        mime="text/markdown",
        key="dl_md",
        icon="⬇️",
        on_click="ignore",
    )
    right.download_button(
        "Word (.docx)",
        data=docx_bytes,
        file_name=export.export_filename(edited, "docx"),
        mime=DOCX_MIME,
        key="dl_docx",
        icon="⬇️",
        on_click="ignore",
    )
    st.caption("Both carry the marking “AI-generated draft — verify before use” and the sources.")
