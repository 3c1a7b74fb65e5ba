"""The chat page's language: picked in the sidebar, or `?lang=CODE` in the address, or the
browser's language on the first visit; English otherwise. The texts come from
common/locales (one file per language), the same ones the API writes its declines with."""

from __future__ import annotations

import streamlit as st

from common.language import DEFAULT_LANGUAGE
from common.texts import Texts, available_languages, language_name

KEY = "language"
PARAM_SEEN = "language_param"


def _browser_language() -> str:
    try:
        locale = st.context.locale or ""
    except Exception:  # no browser context (AppTest, a bare script run)
        locale = ""
    return locale.split("-")[0].lower()


def init() -> None:
    """Choose the page language once per session (the sidebar changes it after)."""
    ss = st.session_state
    wanted = str(st.query_params.get("lang") or "").lower()
    languages = available_languages()
    if wanted in languages and ss.get(PARAM_SEEN) != wanted:
        # A new address (a shared link) sets the language once; the picker changes it after.
        ss[KEY] = ss[PARAM_SEEN] = wanted
    elif KEY not in ss:
        browser = _browser_language()
        ss[KEY] = browser if browser in languages else DEFAULT_LANGUAGE


def code() -> str:
    return str(st.session_state.get(KEY, DEFAULT_LANGUAGE))


def t(key: str, **values: object) -> str:
    """A label of the page in its language."""
    return Texts(code()).ui(key, **values)


def picker() -> None:
    """The language picker (each language by its own name)."""
    st.selectbox(
        t("language_label"),
        options=available_languages(),
        format_func=language_name,
        key=KEY,
    )
