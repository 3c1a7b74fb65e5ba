"""How things look on the page: the AI notice, answers (answered, abstained, declined), their
citations (each opens the quoted passage and links to the whole document), feedback, and
API errors with a retry button."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import i18n, persistence
from ui import markdown as md
from ui.client import ApiClient, ApiError

MODEL_CARD_LINK = "?view=model-card"


def notice(catalog: list[dict[str, Any]] | None, *, compact: bool = False) -> None:
    """EU AI Act Art. 50(1): the user is told they are dealing with an AI system, what its
    sources are, and that it does not advise on individual cases."""
    lead = i18n.t("notice_lead")
    no_advice = i18n.t("notice_no_advice")
    instructions = i18n.t("notice_instructions", link=MODEL_CARD_LINK)
    if compact:
        with st.expander(i18n.t("notice_about"), icon=":material/smart_toy:"):
            st.markdown(lead)
            st.markdown(no_advice)
            st.markdown(instructions)
            st.markdown(i18n.t("notice_languages"))
            sources_list(catalog)
        return
    with st.container(border=True):
        st.markdown(f"#### :material/smart_toy: {i18n.t('notice_title')}")
        st.markdown(lead)
        st.markdown(no_advice)
        st.markdown(instructions)
        st.markdown(i18n.t("notice_languages"))
        st.markdown(i18n.t("notice_sources"))
        sources_list(catalog)


def sources_list(catalog: list[dict[str, Any]] | None) -> None:
    if not catalog:
        st.caption(i18n.t("sources_unavailable"))
        return
    lines = []
    for doc in catalog:
        extra = ", ".join(
            str(x) for x in (doc.get("reference"), doc.get("kind"), doc.get("date")) if x
        )
        if md.is_unverified(doc):
            extra = ", ".join(x for x in (extra, f"⚠ {i18n.t('unverified_mark')}") if x)
        href = md.doc_link(doc["id"], keep=persistence.link_params())
        link = f"[{md.escape_md(doc.get('title') or doc['id'])}]({href})"
        lines.append(f"- {link}" + (f" — {md.escape_md(extra)}" if extra else ""))
    st.markdown("\n".join(lines))


LOCAL_CODES = {"api_unreachable", "timeout", "connection_failed", "not_json"}


def api_error(error: dict[str, Any], *, retry_key: str) -> bool:
    """An API failure (`ApiError.to_dict()`) as a readable message, never a traceback: the
    API's own message, its error code and trace id, and a retry button; True when pressed."""
    code = str(error.get("code") or "")
    lead = i18n.t("api_unavailable" if error.get("retryable", True) else "api_rejected")
    detail = []
    if code and code not in LOCAL_CODES:
        detail.append(f"error `{code}`")
    if error.get("trace_id"):
        detail.append(f"trace id `{error['trace_id']}`")
    extra = f" ({', '.join(detail)})" if detail else ""
    message = md.escape_md(str(error.get("message") or "Unknown error."))
    st.error(f"**{lead}** {message}{extra}", icon="⚠️")
    return st.button(i18n.t("retry"), key=retry_key, icon="🔄")


def answer(answer_data: dict[str, Any], client: ApiClient | None = None) -> None:
    """One answer: styled by its behaviour, labelled as AI-generated, with its citations and
    (given a client) the feedback controls."""
    behaviour = answer_data.get("behaviour", "answered")
    text = str(answer_data.get("answer", ""))
    citations = answer_data.get("citations") or []
    reason = str(answer_data.get("reason", "")).strip()
    why = f" **{i18n.t('why')}** {md.escape_md(reason)}." if reason else ""
    linked = md.link_markers(text, citations, persistence.link_params())
    if behaviour == "abstained":
        st.info(
            f"**{i18n.t('not_covered')}**{why}\n\n{linked}",
            icon="🔎",
        )
    elif behaviour == "declined":
        st.warning(
            f"**{i18n.t('declined')}**{why}\n\n{linked}",
            icon="🚫",
        )
    else:
        note = str(answer_data.get("language_note") or "")
        if note:
            st.caption(f":material/translate: {md.escape_md(note)}")
        st.markdown(linked)
    caption = [f":material/smart_toy: {i18n.t('ai_label')}"]
    if behaviour == "answered":
        caption.append(
            i18n.t("cited_passages_one")
            if len(citations) == 1
            else i18n.t("cited_passages_many", count=len(citations))
        )
        if "confidence" in answer_data:
            caption.append(i18n.t("confidence", value=f"{float(answer_data['confidence']):.2f}"))
    if answer_data.get("trace_id"):
        caption.append(i18n.t("trace_id", value=answer_data["trace_id"]))
    st.caption(" · ".join(caption), help=answer_data.get("disclosure") or None)
    if citations:
        citation_list(citations)
    if client is not None and answer_data.get("trace_id"):
        feedback(client, str(answer_data["trace_id"]))


def citation_list(citations: list[dict[str, Any]]) -> None:
    st.markdown(f"**{i18n.t('sources')}**")
    for citation in citations:
        cite(citation)


def cite(citation: dict[str, Any]) -> None:
    """One citation: an expander titled '[n] Title — Reference · p. N' holding the quoted
    passage, where it sits, and a link to the whole document with the passage highlighted.
    A source without a catalog entry says so in its title and above its quote."""
    unverified = md.is_unverified(citation)
    heading = md.citation_heading(citation, i18n.t("unverified_mark"))
    with st.expander(md.escape_md(heading), icon="⚠️" if unverified else "📄"):
        if unverified:
            st.warning(i18n.t("unverified_source"), icon="⚠️")
        location = md.citation_location(citation)
        if location:
            st.caption(md.escape_md(location))
        st.markdown(md.quote_md(str(citation.get("quote", ""))))
        href = md.doc_link(citation["doc_id"], citation.get("chunk_id"), persistence.link_params())
        st.markdown(f"[📑 {i18n.t('open_document')}]({href})")


def feedback(client: ApiClient, trace_id: str) -> None:
    """Thumbs up/down with an optional comment, and beside them a report to a human reviewer
    (AI Act Art. 14), both sent to /v1/feedback."""
    thumbs, report_box = st.columns(2)
    with thumbs:
        rating_form(client, trace_id)
    with report_box:
        report_form(client, trace_id)


def rating_form(client: ApiClient, trace_id: str) -> None:
    sent = st.session_state.feedback_sent.get(trace_id)
    if sent:
        st.caption(i18n.t("feedback_thanks", rating="👍" if sent == "up" else "👎"))
        return
    rating = st.feedback("thumbs", key=f"fb_{trace_id}")
    if rating is None:
        return
    value = "up" if rating == 1 else "down"
    failed = persistence.record_rating(client, trace_id, value)  # recorded on click
    if failed:
        st.error(i18n.t("feedback_failed", error=md.escape_md(failed)), icon="⚠️")
        return
    st.caption(i18n.t("feedback_thanks", rating="👍" if value == "up" else "👎"))
    comment = st.text_input(
        i18n.t("feedback_comment"),
        key=f"fbc_{trace_id}",
        max_chars=4000,
        placeholder=i18n.t("feedback_placeholder"),
    )
    if st.button(i18n.t("feedback_send"), key=f"fbs_{trace_id}", icon="📨"):
        try:
            persistence.send_comment(client, trace_id, value, comment.strip())
        except ApiError as exc:
            st.error(i18n.t("feedback_failed", error=md.escape_md(exc.message)), icon="⚠️")
            return
        st.session_state.feedback_sent[trace_id] = value
        st.rerun()


def report_form(client: ApiClient, trace_id: str) -> None:
    """'Report this answer': a 'down' rating with `report: true`, which puts the answer in
    the reviewers' queue; an optional comment says what is wrong."""
    if trace_id in st.session_state.reports_sent:
        st.caption(f"🚩 {i18n.t('report_done')}")
        return
    if not st.toggle(f"🚩 {i18n.t('report_toggle')}", key=f"rep_{trace_id}"):
        return
    comment = st.text_input(
        i18n.t("report_comment"),
        key=f"repc_{trace_id}",
        max_chars=4000,
        placeholder=i18n.t("report_placeholder"),
    )
    if st.button(i18n.t("report_send"), key=f"reps_{trace_id}", icon="🚩"):
        try:
            client.feedback(trace_id, "down", comment.strip(), report=True)
        except ApiError as exc:
            st.error(i18n.t("report_failed", error=md.escape_md(exc.message)), icon="⚠️")
            return
        st.session_state.reports_sent[trace_id] = True
        st.rerun()
