"""The chat page: `streamlit run ui/app.py` (the API's address from EMN_API_URL).

Routes: the conversation (default), inform drafting (sidebar mode), a document's passages
(`?doc=ID&chunk=CHUNK_ID`, opened by a citation's [n] marker or its "whole document" link),
the instructions for use (`?view=model-card`) and the reviewers' queue (`?view=review`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from common.settings import load_settings
from ui import (
    availability,
    chat,
    document_view,
    i18n,
    inform_page,
    model_card,
    page_style,
    persistence,
    render,
    review_page,
    state,
)
from ui import markdown as md
from ui.client import ApiClient

ASK, INFORM = "ask", "inform"
MODE_ICONS = {ASK: "💬", INFORM: "📝"}
REVIEW_LINK = "?view=review"
log = logging.getLogger("ui")


def sidebar(client: ApiClient) -> str:
    ss = st.session_state
    with st.sidebar:
        st.title(i18n.t("page_title"))
        st.caption(f":material/smart_toy: {i18n.t('sidebar_caption')}")
        i18n.picker()
        labels = {ASK: i18n.t("mode_ask"), INFORM: i18n.t("mode_inform")}
        mode = st.radio(
            i18n.t("mode_label"),
            [ASK, INFORM],
            format_func=lambda m: f"{MODE_ICONS[m]} {labels[m]}",
            key="mode",
        )
        st.subheader(i18n.t("filters"))
        catalog = ss.catalog or []
        titles = {d["id"]: d.get("title") or d["id"] for d in catalog}
        selected = [d for d in ss.get(state.FILTER_DOCS, []) if d not in titles]
        st.multiselect(
            i18n.t("filter_documents"),
            options=[*titles, *selected],
            format_func=lambda doc_id: titles.get(doc_id, doc_id),
            key=state.FILTER_DOCS,
            placeholder=i18n.t("filter_documents_all"),
        )
        kinds = sorted({d["kind"] for d in catalog if d.get("kind")})
        st.multiselect(
            i18n.t("filter_kinds"),
            options=kinds,
            key=state.FILTER_KINDS,
            placeholder=i18n.t("filter_kinds_all"),
        )
        left, right = st.columns(2)
        left.date_input(
            i18n.t("filter_from"), value=None, key=state.FILTER_FROM, format="YYYY-MM-DD"
        )
        right.date_input(i18n.t("filter_to"), value=None, key=state.FILTER_TO, format="YYYY-MM-DD")
        st.caption(i18n.t("filters_caption"))
        new = i18n.t("new_conversation")
        if mode == ASK and st.button(new, icon="🗑️", key="new_conversation"):
            state.new_conversation()
            persistence.forget_conversation()
            st.rerun()
        persistence.sidebar(client)
        st.divider()
        st.markdown(f"[:material/menu_book: {i18n.t('model_card_link')}]({render.MODEL_CARD_LINK})")
        st.markdown(f"[:material/fact_check: {i18n.t('review_link')}]({REVIEW_LINK})")
        st.caption(i18n.t("review_caption"))
        st.caption(md.escape_md(md.index_line(ss.readiness)))
    return mode


def main() -> None:
    st.set_page_config(page_title="EMN policy assistant", page_icon="🇪🇺", layout="centered")
    try:
        page()
    except Exception:  # never a traceback on the page (st.rerun/st.stop are not Exceptions)
        log.exception("the chat page failed")
        st.error(
            "**Something went wrong on this page.** The details are in the page's log. "
            "Reload the page or try again.",
            icon="⚠️",
        )
        if st.button("Try again", key="retry_page", icon="🔄"):
            st.rerun()


def page() -> None:
    settings = load_settings()
    state.init()
    i18n.init()
    page_style.apply()
    with ApiClient.from_settings(settings) as client:
        persistence.attach(client)
        doc_id = st.query_params.get("doc")
        if doc_id:
            document_view.show(client, doc_id, st.query_params.get("chunk"))
            return
        view = st.query_params.get("view")
        if view == "model-card":
            model_card.show(client)
            return
        if view == "review":
            review_page.show(client)
            return
        state.load_catalog(client)
        catalog_error = st.session_state.catalog_error
        availability.note(catalog_error)
        persistence.restore(client)
        persistence.save_pending(client)  # before the sidebar lists what is saved
        mode = sidebar(client)
        availability.banner(settings)  # the API is down: says so and retries by itself
        persistence.status()
        if (
            catalog_error
            and not availability.unreachable(catalog_error)
            and render.api_error(catalog_error, retry_key="retry_catalog")
        ):
            state.load_catalog(client, force=True)
            st.rerun()
        if mode == INFORM:
            # Exports link passages under the API's public address only (never loopback).
            inform_page.show(client, settings.api_public_url)
        else:
            chat.show(client, stream=settings.ui_stream)
        persistence.finish()


main()
