"""The feedback and review stores on SQLite and on a real PostgreSQL (`database_url`): the
same behaviour on both, since several hosts share one PostgreSQL database."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api.db import make_engine
from api.feedback_store import FeedbackStore
from api.review_store import ReviewStore


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[FeedbackStore, ReviewStore]]:
    engine = make_engine(database_url)
    try:
        yield FeedbackStore(engine), ReviewStore(engine)
    finally:
        engine.dispose()


def test_feedback_is_stored_redacted_and_updated_only_by_its_key(
    stores: tuple[FeedbackStore, ReviewStore],
) -> None:
    feedback, _ = stores
    row = feedback.add("t-1", "up", "Mail me at jane.doe@example.org", "key-a")
    assert row["id"] >= 1
    assert "jane.doe@example.org" not in feedback.for_trace("t-1")[0]["comment"]

    assert feedback.update(row["id"], "t-1", "down", "wrong figure", "key-b") is None
    assert feedback.update(row["id"], "t-other", "down", "wrong figure", "key-a") is None
    changed = feedback.update(row["id"], "t-1", "down", "wrong figure", "key-a", report=True)
    assert changed is not None and changed["rating"] == "down" and changed["report"] is True
    assert [r["rating"] for r in feedback.for_trace("t-1")] == ["down"]


def test_flagged_answers_are_listed_latest_first(
    stores: tuple[FeedbackStore, ReviewStore],
) -> None:
    feedback, _ = stores
    feedback.add("liked", "up", "", None)
    feedback.add("older", "down", "", None)
    time.sleep(0.002)  # distinct creation times (microsecond text)
    feedback.add("reported", "up", "", None, report=True)
    assert [trace for trace, _ in feedback.flagged()] == ["reported", "older"]


def test_reviews_keep_the_latest_verdict_and_erasure_blanks_only_that_keys_text(
    stores: tuple[FeedbackStore, ReviewStore],
) -> None:
    feedback, reviews = stores
    reviews.add("t-1", "wrong", "first look", "reviewer")
    reviews.add("t-1", "right", "checked against the decision", "reviewer")
    reviews.add("t-2", "wrong", "other reviewer's note", "other")
    latest = reviews.latest("t-1")
    assert latest is not None and latest["verdict"] == "right"
    assert reviews.latest("t-unknown") is None

    feedback.add("t-1", "down", "my comment", "reviewer")
    feedback.add("t-1", "down", "kept", "other")
    assert reviews.erase_key("reviewer") == 2
    assert feedback.erase_key("reviewer") == 1
    assert reviews.erase_key("reviewer") == 0  # nothing left to blank

    latest = reviews.latest("t-1")
    assert latest is not None and latest["note"] == "" and latest["verdict"] == "right"
    other = reviews.latest("t-2")
    assert other is not None and other["note"] == "other reviewer's note"
    comments = sorted(r["comment"] for r in feedback.for_trace("t-1"))
    assert comments == ["", "kept"]
