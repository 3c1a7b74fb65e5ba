"""How things look on the page: the AI notice, answers (answered, abstained, declined), their
citations (each opens the quoted passage and links to the whole document), feedback, and
API errors with a retry button."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import markdown as md
from ui.client import ApiClient, ApiError

AI_LABEL = ":material/smart_toy: AI-generated"
NO_ADVICE = (
    "It gives **no advice on individual cases** (your own asylum application, residence "
    "permit or return decision): for that, contact the competent national authority, a lawyer "
    "or a legal aid service. It is not legal advice."
)
MODEL_CARD_LINK = "?view=model-card"
INSTRUCTIONS = (
    f"Read the [instructions for use (model card)]({MODEL_CARD_LINK}): its intended purpose, "
    "sources, known limits and measured accuracy. A wrong or harmful answer can be "
    "**reported** (🚩 under the answer) to a human reviewer."
)


def notice(catalog: list[dict[str, Any]] | None, *, compact: bool = False) -> None:
    """EU AI Act Art. 50(1): the user is told they are dealing with an AI system, what its
    sources are, and that it does not advise on individual cases."""
    lead = (
        "**You are using an AI system.** The EMN policy assistant writes its answers "
        "automatically from a fixed set of European Migration Network (EMN) documents. Every "
        "statement carries a numbered citation that opens the quoted passage: check it before "
        "relying on an answer. When the documents do not cover a question, it says so."
    )
    if compact:
        with st.expander(
            "About this AI assistant, its sources and its limits", icon=":material/smart_toy:"
        ):
            st.markdown(lead)
            st.markdown(NO_ADVICE)
            st.markdown(INSTRUCTIONS)
            sources_list(catalog)
        return
    with st.container(border=True):
        st.markdown("#### :material/smart_toy: An AI assistant for EU migration and asylum policy")
        st.markdown(lead)
        st.markdown(NO_ADVICE)
        st.markdown(INSTRUCTIONS)
        st.markdown("**Its sources** (the documents it can search):")
        sources_list(catalog)


def sources_list(catalog: list[dict[str, Any]] | None) -> None:
    if not catalog:
        st.caption("The document list is not available right now.")
        return
    lines = []
    for doc in catalog:
        extra = ", ".join(
            str(x) for x in (doc.get("reference"), doc.get("kind"), doc.get("date")) if x
        )
        link = f"[{md.escape_md(doc.get('title') or doc['id'])}]({md.doc_link(doc['id'])})"
        lines.append(f"- {link}" + (f" — {md.escape_md(extra)}" if extra else ""))
    st.markdown("\n".join(lines))


LOCAL_CODES = {"api_unreachable", "timeout", "connection_failed", "not_json"}


def api_error(error: dict[str, Any], *, retry_key: str) -> bool:
    """An API failure (`ApiError.to_dict()`) as a readable message, never a traceback: the
    API's own message, its error code and trace id, and a retry button; True when pressed."""
    code = str(error.get("code") or "")
    if error.get("retryable", True):
        lead = "The assistant is not available right now."
    else:
        lead = "The assistant's API did not accept this request."
    detail = []
    if code and code not in LOCAL_CODES:
        detail.append(f"error `{code}`")
    if error.get("trace_id"):
        detail.append(f"trace id `{error['trace_id']}`")
    extra = f" ({', '.join(detail)})" if detail else ""
    message = md.escape_md(str(error.get("message") or "Unknown error."))
    st.error(f"**{lead}** {message}{extra}", icon="⚠️")
    return st.button("Retry", key=retry_key, icon="🔄")


def answer(answer_data: dict[str, Any], client: ApiClient | None = None) -> None:
    """One answer: styled by its behaviour, labelled as AI-generated, with its citations and
    (given a client) the feedback controls."""
    behaviour = answer_data.get("behaviour", "answered")
    text = str(answer_data.get("answer", ""))
    citations = answer_data.get("citations") or []
    reason = str(answer_data.get("reason", "")).strip()
    if behaviour == "abstained":
        why = f" **Why:** {md.escape_md(reason)}." if reason else ""
        st.info(
            f"**Not covered by the documents.**{why}\n\n{md.link_markers(text, citations)}",
            icon="🔎",
        )
    elif behaviour == "declined":
        why = f" **Why:** {md.escape_md(reason)}." if reason else ""
        st.warning(
            f"**Declined.**{why}\n\n{md.link_markers(text, citations)}",
            icon="🚫",
        )
    else:
        st.markdown(md.link_markers(text, citations))
    caption = [AI_LABEL]
    if behaviour == "answered":
        caption.append(f"{len(citations)} cited passage{'s' if len(citations) != 1 else ''}")
        if "confidence" in answer_data:
            caption.append(f"confidence {float(answer_data['confidence']):.2f}")
    if answer_data.get("trace_id"):
        caption.append(f"trace id {answer_data['trace_id']}")
    st.caption(" · ".join(caption), help=answer_data.get("disclosure") or None)
    if citations:
        citation_list(citations)
    if client is not None and answer_data.get("trace_id"):
        feedback(client, str(answer_data["trace_id"]))


def citation_list(citations: list[dict[str, Any]]) -> None:
    st.markdown("**Sources**")
    for citation in citations:
        cite(citation)


def cite(citation: dict[str, Any]) -> None:
    """One citation: an expander titled '[n] Title — Reference · p. N' holding the quoted
    passage, where it sits, and a link to the whole document with the passage highlighted."""
    with st.expander(md.escape_md(md.citation_heading(citation)), icon="📄"):
        location = md.citation_location(citation)
        if location:
            st.caption(md.escape_md(location))
        st.markdown(md.quote_md(str(citation.get("quote", ""))))
        href = md.doc_link(citation["doc_id"], citation.get("chunk_id"))
        st.markdown(f"[📑 Open the whole document at this passage]({href})")


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
        st.caption(f"Thanks: your feedback ({'👍' if sent == 'up' else '👎'}) was recorded.")
        return
    rating = st.feedback("thumbs", key=f"fb_{trace_id}")
    if rating is None:
        return
    value = "up" if rating == 1 else "down"
    comment = st.text_input(
        "Comment (optional)",
        key=f"fbc_{trace_id}",
        max_chars=4000,
        placeholder="What was good or wrong? (No personal data, please.)",
    )
    if st.button("Send feedback", key=f"fbs_{trace_id}", icon="📨"):
        try:
            client.feedback(trace_id, value, comment.strip())
        except ApiError as exc:
            st.error(f"The feedback was not recorded: {md.escape_md(exc.message)}", icon="⚠️")
            return
        st.session_state.feedback_sent[trace_id] = value
        st.rerun()


def report_form(client: ApiClient, trace_id: str) -> None:
    """'Report this answer': a 'down' rating with `report: true`, which puts the answer in
    the reviewers' queue; an optional comment says what is wrong."""
    if trace_id in st.session_state.reports_sent:
        st.caption("🚩 Reported: a human reviewer will check this answer.")
        return
    if not st.toggle("🚩 Report this answer", key=f"rep_{trace_id}"):
        return
    comment = st.text_input(
        "What is wrong? (optional)",
        key=f"repc_{trace_id}",
        max_chars=4000,
        placeholder="Wrong, harmful, advice on a case… (No personal data, please.)",
    )
    if st.button("Send report", key=f"reps_{trace_id}", icon="🚩"):
        try:
            client.feedback(trace_id, "down", comment.strip(), report=True)
        except ApiError as exc:
            st.error(f"The report was not recorded: {md.escape_md(exc.message)}", icon="⚠️")
            return
        st.session_state.reports_sent[trace_id] = True
        st.rerun()
