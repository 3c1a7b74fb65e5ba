"""Request and response models of the saved conversations and drafts (/v1/conversations,
/v1/drafts). The stored answer and draft records are kept as the page received them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from common.hygiene import CleanStr

ITEM_ID = r"^[A-Za-z0-9_-]+$"
ItemId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ITEM_ID,
        description="Chosen by the client (1-64 characters from A-Z a-z 0-9 _ -), e.g. a "
        "random token, so the page can put it in its address before the first save.",
        examples=["budget-2026-2027"],
    ),
]
MAX_MESSAGE_CHARS = 20_000


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: CleanStr = Field(default="", max_length=MAX_MESSAGE_CHARS)
    answer: dict[str, Any] | None = Field(
        default=None, description="The answer record as /v1/ask returned it (assistant turns)."
    )


class ConversationPut(BaseModel):
    """The whole conversation, replacing what is stored."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "EMN budget",
                    "messages": [
                        {"role": "user", "content": "What is the EMN budget for 2026-2027?"},
                        {"role": "assistant", "content": "EUR 28 200 000 [1].", "answer": {}},
                    ],
                }
            ]
        },
    )

    title: CleanStr = Field(default="", max_length=400, description="Default: first question.")
    messages: list[Message] = Field(default_factory=list)


class ConversationAppend(BaseModel):
    """Messages to add at the end (usually one question and its answer)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {"role": "user", "content": "And how is it split between the years?"},
                        {"role": "assistant", "content": "…", "answer": {}},
                    ]
                }
            ]
        },
    )

    title: CleanStr = Field(
        default="", max_length=400, description="Title of a new conversation (default: question)."
    )
    messages: list[Message] = Field(min_length=1)


class ConversationSummary(BaseModel):
    id: str
    title: str
    created_at: str
    updated_at: str
    message_count: int


class Conversation(ConversationSummary):
    messages: list[dict[str, Any]]


class ConversationList(BaseModel):
    conversations: list[ConversationSummary] = Field(description="Newest (last updated) first.")


class DraftEdits(BaseModel):
    """What the author changed: the title and section texts by section index."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "Return and readmission: state of play", "sections": {"1": "…"}}]
        },
    )

    title: CleanStr | None = Field(default=None, max_length=400)
    sections: dict[Annotated[str, Field(pattern=r"^\d{1,2}$")], CleanStr] = Field(
        default_factory=dict,
        description="Edited text of a section, keyed by its index in `draft.sections`.",
    )


class DraftPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "topic": "return and readmission",
                    "draft": {
                        "title": "EMN inform (draft): Return and readmission",
                        "sections": [
                            {"heading": "Key messages", "text": "…", "behaviour": "answered"}
                        ],
                    },
                }
            ]
        },
    )

    topic: CleanStr = Field(max_length=400)
    draft: dict[str, Any] = Field(description="The draft as /v1/inform returned it.")
    edits: DraftEdits = Field(default_factory=DraftEdits)


class DraftSummary(BaseModel):
    id: str
    topic: str
    title: str
    created_at: str
    updated_at: str


class Draft(DraftSummary):
    draft: dict[str, Any]
    edits: DraftEdits


class DraftList(BaseModel):
    drafts: list[DraftSummary] = Field(description="Newest (last updated) first.")
