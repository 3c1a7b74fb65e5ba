"""The page's own "The API is unavailable; retrying…" state.

When a request finds the API gone (connection refused or broken, a proxy's 502/504), the page says
so at the top in its language and checks /healthz every EMN_UI_API_RETRY_S seconds (a
fragment that reruns on its own); once the API answers, the catalog is fetched again and the
whole page reruns without the message. A question that failed meanwhile waits on the page and
is sent again then (ui/chat.py), so nothing typed is lost."""

from __future__ import annotations

from typing import Any

import streamlit as st

from common.settings import Settings
from ui import i18n, state
from ui.client import ApiClient

DOWN = "api_down"  # session state: True while the API cannot be reached
UNREACHABLE_CODES = {"api_unreachable", "connection_failed"}
GATEWAY_STATUSES = {502, 504}  # a proxy in front of an API that is gone (its own 503s are not)


def unreachable(error: dict[str, Any] | None) -> bool:
    """Whether an error (`ApiError.to_dict()`) says the API is not there, rather than that
    it refused or could not answer this request."""
    if not error:
        return False
    return str(error.get("code")) in UNREACHABLE_CODES or error.get("status") in GATEWAY_STATUSES


def note(error: dict[str, Any] | None) -> None:
    """Remember that the API is down when `error` says so (the banner then shows)."""
    if unreachable(error):
        st.session_state[DOWN] = True


def down() -> bool:
    return bool(st.session_state.get(DOWN))


def banner(settings: Settings) -> None:
    """The retrying message while the API is down; nothing otherwise."""
    if down():
        st.fragment(_watch, run_every=settings.ui_api_retry_s)(settings)


def _watch(settings: Settings) -> None:
    with ApiClient.from_settings(settings) as client:
        if client.reachable():
            st.session_state[DOWN] = False
            state.load_catalog(client, force=True)
            st.rerun(scope="app")
    st.warning(i18n.t("api_retrying"), icon=":material/sync_problem:")
