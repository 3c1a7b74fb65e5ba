"""The instructions for use (`?view=model-card`): the model card the API serves at
`GET /v1/model-card` (AI Act Art. 13), linked from the sidebar and the AI notice."""

from __future__ import annotations

import streamlit as st

from ui import document_view, render
from ui.client import ApiClient, ApiError


def show(client: ApiClient) -> None:
    document_view.back_button(key="model_card_back")
    ss = st.session_state
    if ss.model_card is None:
        try:
            with st.spinner("Loading the instructions for use…"):
                ss.model_card = client.model_card()
        except ApiError as exc:
            if render.api_error(exc.to_dict(), retry_key="retry_model_card"):
                st.rerun()
            return
    st.markdown(ss.model_card)
