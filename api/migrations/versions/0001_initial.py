"""The schema as it stood before versioned migrations: audit log and its head row, feedback,
review verdicts, saved conversations and inform drafts.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("payload_digest", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    for column in ("created_at", "trace_id", "key_id"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column])


def _audit_head() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def _feedback() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        _report_column(),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("created_at", "trace_id", "rating", "key_id"):
        op.create_index(f"ix_feedback_{column}", "feedback", [column])


def _report_column() -> sa.Column:
    return sa.Column("report", sa.Boolean(), server_default=sa.false(), nullable=False)


def _review_verdicts() -> None:
    op.create_table(
        "review_verdicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("created_at", "trace_id", "key_id"):
        op.create_index(f"ix_review_verdicts_{column}", "review_verdicts", [column])


def _conversations() -> None:
    op.create_table(
        "conversations",
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "id"),
    )
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])


def _inform_drafts() -> None:
    op.create_table(
        "inform_drafts",
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(400), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("draft", sa.Text(), nullable=False),
        sa.Column("edits", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "id"),
    )
    op.create_index("ix_inform_drafts_updated_at", "inform_drafts", ["updated_at"])


TABLES: dict[str, Callable[[], None]] = {
    "audit_log": _audit_log,
    "audit_head": _audit_head,
    "feedback": _feedback,
    "review_verdicts": _review_verdicts,
    "conversations": _conversations,
    "inform_drafts": _inform_drafts,
}


def upgrade() -> None:
    for create in TABLES.values():
        create()


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)


def adopt(columns: dict[str, set[str]]) -> None:
    """Bring a database made before migrations (metadata.create_all; `columns`: its tables
    and their columns) to this revision, to be stamped 0001: the tables it lacks (created by
    an older version, e.g. before saved conversations) and feedback's 'report' flag (added
    later in place)."""
    for name, create in TABLES.items():
        if name not in columns:
            create()
    if "feedback" in columns and "report" not in columns["feedback"]:
        op.add_column("feedback", _report_column())
