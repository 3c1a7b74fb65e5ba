"""The reviewers' view (`?view=review`, AI Act Art. 14 human oversight): the answers users
rated down or reported (`GET /v1/review`), each with its question, answer, citations and the
users' feedback, and a verdict (right | wrong) with a note (`POST /v1/review/{trace_id}`).

The review routes need an API key with the 'admin' scope (EMN_UI_API_KEY) when the API runs
with EMN_AUTH_MODE=keys; without one the view says so instead of failing.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import document_view, render
from ui import markdown as md
from ui.client import ApiClient, ApiError

STATUSES = {"open": "Open", "reviewed": "Reviewed", "all": "All flagged"}
VERDICTS = {"right": "✅ Right", "wrong": "❌ Wrong"}
LIMIT = 50


def needs_admin(error: ApiError) -> bool:
    return error.status in {401, 403}


def admin_message(error: ApiError) -> None:
    """A refused key: what is missing and how to get it, instead of a generic failure."""
    if error.status == 401:
        why = "The API asks for an API key and this page has none that it accepts."
    else:
        why = "This page's API key lacks the 'admin' scope."
    st.error(
        f"**The review queue needs an admin key.** {why} Set `EMN_UI_API_KEY` to a key with "
        "the 'admin' scope (`python -m api.keys create --name reviewer --scopes admin`) and "
        f"reload the page. (The API answered {error.status}: {md.escape_md(error.message)})",
        icon="🔒",
    )


def show(client: ApiClient) -> None:
    document_view.back_button(key="review_back")
    st.header("Review flagged answers")
    st.caption(
        "Answers users rated 👎 or reported 🚩, latest first. Check each against its cited "
        "passages, then record whether it is right or wrong (the verdict is audited)."
    )
    ss = st.session_state
    if ss.review_saved:
        st.success(ss.review_saved, icon="✅")
        ss.review_saved = None
    status = st.radio(
        "Show",
        list(STATUSES),
        format_func=STATUSES.__getitem__,
        horizontal=True,
        key="review_status",
    )
    try:
        queue = client.review_queue(status, LIMIT)
    except ApiError as exc:
        if needs_admin(exc):
            admin_message(exc)
        elif render.api_error(exc.to_dict(), retry_key="retry_review"):
            st.rerun()
        return
    items = queue.get("items") or []
    st.caption(
        f"{queue.get('open', 0)} open · {queue.get('total', len(items))} shown by this filter"
        + (f" (the latest {LIMIT})" if int(queue.get("total", 0)) > LIMIT else "")
    )
    if not items:
        st.info("Nothing to review here.", icon="🎉")
    for item in items:
        review_item(client, item)


def review_item(client: ApiClient, item: dict[str, Any]) -> None:
    trace_id = str(item["trace_id"])
    with st.container(border=True):
        kind = "Inform topic" if item.get("kind") == "inform" else "Question"
        question = str(item.get("question") or "(not recorded)")
        st.markdown(f"**{kind}:** {md.escape_md(question)}")
        facts = [
            f"status {item.get('status', '')}",
            str(item.get("behaviour") or ""),
            f"answered {item.get('answered_at', '')}",
            f"flagged {item.get('flagged_at') or '—'}",
            f"trace id {trace_id}",
        ]
        st.caption(md.escape_md(" · ".join(f for f in facts if f)))
        citations = [c for c in item.get("citations") or [] if c.get("doc_id")]
        st.markdown("**Answer**")
        st.markdown(md.link_markers(str(item.get("answer", "")), citations) or "_(empty)_")
        if item.get("erased"):
            st.caption("Personal fields of this record were erased on request.")
        if citations:
            render.citation_list(citations)
        feedback_list(item.get("feedback") or [])
        if item.get("verdict"):
            note = f" — {md.escape_md(item['review_note'])}" if item.get("review_note") else ""
            st.markdown(
                f"**Verdict:** {VERDICTS.get(item['verdict'], item['verdict'])}{note} "
                f"({md.escape_md(str(item.get('reviewed_at') or ''))})"
            )
        verdict_form(client, trace_id)


def feedback_list(feedback: list[dict[str, Any]]) -> None:
    if not feedback:
        return
    lines = []
    for f in feedback:
        mark = "👍" if f.get("rating") == "up" else "👎"
        if f.get("report"):
            mark += " 🚩 reported"
        comment = f" — {md.escape_md(str(f['comment']))}" if f.get("comment") else ""
        lines.append(f"- {mark} ({md.escape_md(str(f.get('created_at', '')))}){comment}")
    st.markdown("**Users' feedback**\n\n" + "\n".join(lines))


def verdict_form(client: ApiClient, trace_id: str) -> None:
    left, right = st.columns([1, 2])
    verdict = left.radio(
        "Verdict", list(VERDICTS), format_func=VERDICTS.__getitem__, index=None,
        key=f"rvv_{trace_id}",
    )  # fmt: skip
    note = right.text_area(
        "Note (optional)",
        key=f"rvn_{trace_id}",
        max_chars=4000,
        height=80,
        placeholder="What is right or wrong, and why? (No personal data, please.)",
    )
    if not st.button("Save verdict", key=f"rvs_{trace_id}", icon="💾"):
        return
    if verdict is None:
        st.warning("Choose right or wrong first.", icon="☝️")
        return
    try:
        client.review(trace_id, verdict, note.strip())
    except ApiError as exc:
        if needs_admin(exc):
            admin_message(exc)
        else:
            st.error(f"The verdict was not saved: {md.escape_md(exc.message)}", icon="⚠️")
        return
    st.session_state.review_saved = f"Verdict saved: {VERDICTS[verdict]} for trace id {trace_id}."
    st.rerun()
