"""POST /v1/inform (api/inform.py) on a real server: the draft in the EMN house shape with
global citation markers, filters applied, the marking, and JSON errors for bad topics."""

from __future__ import annotations

import re

import httpx
import pytest
from api_helpers import assert_error
from conftest import ApiServer

pytestmark = pytest.mark.slow

WORK_PROGRAMME = "emn-work-programme-2026-2027"


def test_inform_drafts_a_cited_house_shape_within_the_filters(api_server: ApiServer) -> None:
    body = {"topic": "the EMN work programme", "filters": {"doc_ids": [WORK_PROGRAMME]}}
    response = httpx.post(api_server.url("/v1/inform"), json=body, timeout=120)
    assert response.status_code == 200, response.text
    draft = response.json()
    assert draft["marking"] == "AI-generated draft — verify before use"
    assert draft["ai_generated"] is True and draft["disclosure"] and draft["trace_id"]
    headings = [s["heading"] for s in draft["sections"]]
    assert headings == ["Key messages", "Background", "Main findings", "Policy implications"]
    assert draft["behaviour"] == "answered" and draft["citations"]
    assert {c["doc_id"] for c in draft["citations"]} == {WORK_PROGRAMME}
    markers = {c["marker"] for c in draft["citations"]}
    assert markers == set(range(1, len(markers) + 1))
    for section in draft["sections"]:
        for line in filter(None, section["text"].splitlines()):
            used = {int(n) for n in re.findall(r"\[(\d+)\]", line)}
            assert used and used <= markers, line  # every sentence or bullet is cited
    for citation in draft["citations"]:
        assert citation["url"].startswith(f"/v1/documents/{WORK_PROGRAMME}/chunks#")
    paths = httpx.get(api_server.url("/openapi.json")).json()["paths"]
    assert "/v1/inform" in paths


@pytest.mark.parametrize("topic", ["", "   ", "x" * 201])
def test_inform_rejects_a_bad_topic_with_a_json_error(api_server: ApiServer, topic: str) -> None:
    response = httpx.post(api_server.url("/v1/inform"), json={"topic": topic}, timeout=30)
    assert_error(response, 422, "validation_error")
