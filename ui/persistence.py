"""Nothing lost: the page keeps each conversation and inform draft on the API
(/v1/conversations, /v1/drafts), per browser, so a reload, a mode switch or a citation opened
in a new tab finds them again.

- The browser: a random id in a cookie (`emn_session`, set from the page, read back through
  st.context.cookies on the next visit), sent to the API as X-EMN-Session.
- Where the user is: `?c=<conversation>&d=<draft>&mode=inform` in the address; citation links
  and "Back to the chat" carry the same parameters, so a reload restores both.
- When: an exchange is saved on the run right after its answer arrives; a draft when it is
  drafted and whenever a title or section changes (on_change). A failed save says so on the
  page, with a button to try again; the work stays on the page meanwhile.
"""

from __future__ import annotations

import html
import re
import secrets
import time
from typing import Any

import streamlit as st

from ui import markdown as md
from ui.client import ApiClient, ApiError
from ui.i18n import t

SESSION_COOKIE = "emn_session"
COOKIE_DAYS = 400  # browsers cap cookie lifetimes at about 400 days
KEEP = ("c", "d", "mode")  # address parameters that say where the user is
ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
LIST_RETRY_S = 15.0

DEFAULTS: dict[str, Any] = {
    "browser_id": None,
    "conversation_id": None,
    "saved_messages": 0,  # how many of `messages` the API holds
    "draft_id": None,
    "draft_trace": None,  # trace id of the draft that `draft_id` holds
    "inform_edits": None,  # {"title": str | None, "sections": {"<index>": text}}
    "draft_saved": False,
    "draft_dirty": False,
    "persist_error": None,  # {"what", "error"}: the last save that failed
    "persist_notice": None,  # a saved item that could not be reopened
    "saved_lists": None,  # {"conversations": [...], "drafts": [...]}
    "saved_lists_error": None,
    "saved_lists_at": 0.0,
    "confirm_delete": None,  # ("conversation" | "draft", id)
    "feedback_ids": {},  # trace id -> {"id", "rating"}: the thumb recorded on click
}


def init() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, dict) else value


def new_id() -> str:
    return secrets.token_urlsafe(12)


# --- the browser ------------------------------------------------------------------------


def _cookie() -> str:
    try:
        value = st.context.cookies.get(SESSION_COOKIE) or ""
    except Exception:  # no browser behind the session (AppTest, a bare script run)
        value = ""
    return value if isinstance(value, str) and SESSION_ID.fullmatch(value) else ""


def browser_id() -> str:
    """This browser's id: the cookie's, else a new random one (written by `finish`)."""
    ss = st.session_state
    if not ss.browser_id:
        ss.browser_id = _cookie() or secrets.token_urlsafe(24)
    return str(ss.browser_id)


def attach(client: ApiClient) -> None:
    """Every request of this run says whose saved work it is."""
    init()
    client.use_session(browser_id())


def _write_cookie() -> None:
    """Set the cookie from the page (Streamlit has no response to set it on) until a request
    of this browser carries it; it then comes back with every new tab and reload."""
    if _cookie() == browser_id():
        return
    value = html.escape(browser_id(), quote=True)
    script = (
        "<script>document.cookie = '"
        f"{SESSION_COOKIE}={value}; path=/; max-age={COOKIE_DAYS * 86400}; SameSite=Lax'"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
    st.html(script, unsafe_allow_javascript=True)


# --- the address ------------------------------------------------------------------------


def link_params() -> dict[str, str]:
    """Where the user is, for citation links and the address: conversation, draft, mode."""
    ss = st.session_state
    out: dict[str, str] = {}
    if ss.get("conversation_id"):
        out["c"] = str(ss.conversation_id)
    if ss.get("draft_id") and ss.get("draft_saved"):
        out["d"] = str(ss.draft_id)
    if ss.get("mode") == "inform":
        out["mode"] = "inform"
    return out


def back_to_chat() -> None:
    """Leave a document view for the chat it was opened from (same tab or a new one)."""
    kept = {k: st.query_params[k] for k in KEEP if st.query_params.get(k)}
    st.query_params.from_dict(kept)


def _sync_address() -> None:
    params = st.query_params
    wanted = link_params()
    for key in KEEP:
        if key in wanted and params.get(key) != wanted[key]:
            params[key] = wanted[key]
        elif key not in wanted and key in params:
            del params[key]


def finish() -> None:
    """At the end of a run of the chat or inform view: the address says where the user is,
    and the browser keeps its id."""
    _sync_address()
    _write_cookie()


# --- restoring --------------------------------------------------------------------------


def restore(client: ApiClient) -> None:
    """Reopen what the address names (`?c=`, `?d=`, `mode=inform`) when this session does
    not hold it yet: after a reload, in a new tab, or on Back to the chat."""
    ss = st.session_state
    params = st.query_params
    if "mode" not in ss and params.get("mode") == "inform":
        ss["mode"] = "inform"  # before the sidebar's radio is drawn
    wanted = params.get("c")
    if wanted and wanted != ss.conversation_id:
        record = _open(client, "conversation", wanted)
        if record is not None:
            messages = [
                m for m in record.get("messages", []) if m.get("role") in ("user", "assistant")
            ]
            ss.messages = messages
            ss.pending = None
            ss.conversation_id, ss.saved_messages = wanted, len(messages)
    wanted = params.get("d")
    if wanted and wanted != ss.draft_id:
        record = _open(client, "draft", wanted)
        if record is not None:
            draft = record.get("draft") or {}
            ss.inform_draft, ss.inform_error = draft, None
            ss.inform_edits = record.get("edits") or {"title": None, "sections": {}}
            ss.draft_id, ss.draft_trace = wanted, draft.get("trace_id")
            ss.draft_saved, ss.draft_dirty = True, False


def _open(client: ApiClient, what: str, item_id: str) -> dict[str, Any] | None:
    ss = st.session_state
    param = "c" if what == "conversation" else "d"
    try:
        if not ITEM_ID.fullmatch(item_id):
            raise ApiError("not an id", code="not_found", status=404, retryable=False)
        return client.conversation(item_id) if what == "conversation" else client.draft(item_id)
    except ApiError as exc:
        if exc.status == 404:
            ss.persist_notice = t(f"saved_{what}_not_found")
            del st.query_params[param]
        else:
            ss.persist_error = {"what": what, "error": exc.to_dict(), "reopen": True}
        return None


def open_item(what: str, item_id: str) -> None:
    """Sidebar callback: show a saved conversation or draft (loaded by `restore`)."""
    ss = st.session_state
    if what == "conversation":
        st.query_params["c"] = item_id
        ss.mode = "ask"
    else:
        st.query_params["d"] = item_id
        ss.mode = "inform"


def forget_conversation() -> None:
    """A new conversation: a new id at its first save, none in the address until then."""
    ss = st.session_state
    ss.conversation_id, ss.saved_messages = None, 0
    if "c" in st.query_params:
        del st.query_params["c"]


# --- saving -----------------------------------------------------------------------------


def save_pending(client: ApiClient) -> None:
    """Save what changed since the last run: new exchanges, a new draft, changed edits."""
    _save_exchanges(client)
    _save_draft(client)


def _failed(what: str, exc: ApiError) -> None:
    st.session_state.persist_error = {"what": what, "error": exc.to_dict()}


def _saved() -> None:
    ss = st.session_state
    ss.persist_error = None
    ss.saved_lists_at = 0.0  # the sidebar lists are stale


def _save_exchanges(client: ApiClient) -> None:
    ss = st.session_state
    unsaved = ss.messages[ss.saved_messages :]
    if not unsaved:
        return
    conversation_id = ss.conversation_id or new_id()
    messages = [
        {k: m[k] for k in ("role", "content", "answer") if m.get(k) is not None} for m in unsaved
    ]
    try:
        client.append_messages(conversation_id, messages)
    except ApiError as exc:
        _failed("conversation", exc)
        return
    ss.conversation_id, ss.saved_messages = conversation_id, len(ss.messages)
    _saved()


def draft_text(field: int | str, original: str) -> str:
    """The text to show in a draft's field: the author's edit when there is one."""
    edits = st.session_state.get("inform_edits") or {}
    value = edits.get("title") if field == "title" else edits.get("sections", {}).get(str(field))
    return original if value is None else str(value)


def keep_edit(widget_key: str, field: int | str) -> None:
    """on_change of a draft's title or section: keep the edit (saved on this run)."""
    ss = st.session_state
    edits = dict(ss.get("inform_edits") or {"title": None, "sections": {}})
    value = str(ss.get(widget_key) or "")
    if field == "title":
        edits["title"] = value
    else:
        edits["sections"] = {**edits.get("sections", {}), str(field): value}
    ss.inform_edits, ss.draft_dirty = edits, True


def _save_draft(client: ApiClient) -> None:
    ss = st.session_state
    draft = ss.get("inform_draft")
    if not draft:
        return
    if draft.get("trace_id") != ss.draft_trace:  # a new draft: a new saved item
        ss.draft_id, ss.draft_trace = new_id(), draft.get("trace_id")
        ss.inform_edits = {"title": None, "sections": {}}
        ss.draft_saved, ss.draft_dirty = False, True
    if not ss.draft_dirty:
        return
    edits = ss.inform_edits or {"title": None, "sections": {}}
    try:
        if ss.draft_saved:
            try:
                client.save_draft_edits(ss.draft_id, edits)
            except ApiError as exc:
                if exc.status != 404:  # deleted meanwhile: saved again whole below
                    raise
                ss.draft_saved = False
        if not ss.draft_saved:
            topic = str(draft.get("topic") or draft.get("title") or "")
            client.save_draft(ss.draft_id, topic, draft, edits)
            ss.draft_saved = True
    except ApiError as exc:
        _failed("draft", exc)
        return
    ss.draft_dirty = False
    _saved()


def status() -> None:
    """A failed save, said on the page with a retry (never silently); a saved item that
    could not be reopened."""
    ss = st.session_state
    if ss.persist_notice:
        st.info(ss.persist_notice, icon="🗂️")
        ss.persist_notice = None
    failed = ss.persist_error
    if not failed:
        return
    error = md.escape_md(str(failed["error"].get("message", "")))
    verb = "reopened" if failed.get("reopen") else "saved"
    st.warning(t(f"saved_{failed['what']}_not_{verb}", error=error), icon="💾")
    if st.button(t("retry"), key="persist_retry", icon="🔄"):
        ss.persist_error = None
        st.rerun()


# --- the sidebar: saved conversations and drafts ----------------------------------------


def _lists(client: ApiClient) -> dict[str, list[dict[str, Any]]] | None:
    ss = st.session_state
    due = time.monotonic() - ss.saved_lists_at > LIST_RETRY_S
    if ss.saved_lists is not None and ss.saved_lists_at and not due:
        return ss.saved_lists
    if ss.saved_lists_error and not due:
        return None
    ss.saved_lists_at = time.monotonic()
    try:
        ss.saved_lists = {"conversations": client.conversations(), "drafts": client.drafts()}
        ss.saved_lists_error = None
    except ApiError as exc:
        ss.saved_lists, ss.saved_lists_error = None, exc.message
    return ss.saved_lists


def sidebar(client: ApiClient) -> None:
    """'Your conversations' and 'Your drafts': reopen one, or delete it (confirmed)."""
    ss = st.session_state
    _delete_confirmed(client)
    lists = _lists(client)
    if lists is None:
        error = md.escape_md(str(ss.saved_lists_error))
        st.caption(f"💾 {t('saved_lists_unavailable', error=error)}")
        return
    for what, items, current in (
        ("conversation", lists["conversations"], ss.conversation_id),
        ("draft", lists["drafts"], ss.draft_id),
    ):
        with st.expander(t(f"saved_{what}s", count=len(items)), icon="🗂️"):
            if not items:
                st.caption(t(f"saved_{what}s_empty"))
            for item in items:
                _item(what, item, current)


def _item(what: str, item: dict[str, Any], current: str | None) -> None:
    ss = st.session_state
    item_id = str(item["id"])
    title = str(item.get("title") or item.get("topic") or t("saved_untitled"))
    when = str(item.get("updated_at", ""))[:16].replace("T", " ")
    if ss.confirm_delete == (what, item_id):
        st.warning(t("saved_delete_confirm", title=md.escape_md(title)), icon="🗑️")
        left, right = st.columns(2)
        left.button(t("saved_delete_yes"), key=f"del_yes_{what}_{item_id}", type="primary",
                    on_click=_confirm, args=(what, item_id, True))  # fmt: skip
        right.button(t("saved_delete_no"), key=f"del_no_{what}_{item_id}", on_click=_confirm,
                     args=(what, item_id, False))  # fmt: skip
        return
    left, right = st.columns([5, 1])
    marker = "▸ " if item_id == current else ""
    left.button(
        f"{marker}{title}",
        key=f"open_{what}_{item_id}",
        help=t("saved_item_help", title=title, when=when),
        on_click=open_item,
        args=(what, item_id),
        use_container_width=True,
    )
    right.button("🗑️", key=f"del_{what}_{item_id}", help=t(f"saved_delete_{what}_help"),
                 on_click=_ask_delete, args=(what, item_id))  # fmt: skip


def _ask_delete(what: str, item_id: str) -> None:
    st.session_state.confirm_delete = (what, item_id)


def _confirm(what: str, item_id: str, yes: bool) -> None:
    ss = st.session_state
    ss.confirm_delete = ("confirmed", what, item_id) if yes else None


def _delete_confirmed(client: ApiClient) -> None:
    """Delete what the user confirmed on the previous run (the API call needs this run's
    client, so the callback only records the choice)."""
    ss = st.session_state
    choice = ss.confirm_delete
    if not choice or choice[0] != "confirmed":
        return
    _, what, item_id = choice
    ss.confirm_delete = None
    try:
        if what == "conversation":
            client.delete_conversation(item_id)
        else:
            client.delete_draft(item_id)
    except ApiError as exc:
        if exc.status != 404:
            st.error(t(f"saved_{what}_not_deleted", error=md.escape_md(exc.message)), icon="⚠️")
            return
    ss.saved_lists_at = 0.0
    if what == "conversation" and item_id == ss.conversation_id:
        forget_conversation()
        ss.messages, ss.pending = [], None
    if what == "draft" and item_id == ss.draft_id:
        ss.draft_id, ss.draft_saved, ss.inform_edits = None, False, None
        ss.inform_draft, ss.draft_trace = None, None
        if "d" in st.query_params:
            del st.query_params["d"]
    st.toast(t(f"saved_{what}_deleted"), icon="🗑️")


# --- thumbs: recorded on click ----------------------------------------------------------


def record_rating(client: ApiClient, trace_id: str, rating: str) -> str | None:
    """Record a thumb the moment it is clicked (a changed thumb changes the same feedback);
    an error message, or None."""
    known = st.session_state.feedback_ids.get(trace_id)
    if known and known["rating"] == rating:
        return None
    try:
        if known:
            client.update_feedback(known["id"], trace_id, rating)
        else:
            receipt = client.feedback(trace_id, rating)
            known = {"id": int(receipt["id"])}
    except ApiError as exc:
        return exc.message
    st.session_state.feedback_ids[trace_id] = {"id": known["id"], "rating": rating}
    return None


def send_comment(client: ApiClient, trace_id: str, rating: str, comment: str) -> None:
    """The comment added to the thumb already recorded (not a second rating)."""
    known = st.session_state.feedback_ids.get(trace_id)
    if known:
        client.update_feedback(known["id"], trace_id, rating, comment)
    else:
        client.feedback(trace_id, rating, comment)
