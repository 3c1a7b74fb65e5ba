"""Evaluation question sets: one JSON object per line (see DESIGN.md, "Evaluation").

A malformed set would silently skew every metric, so loading is strict: each line is validated,
errors name the file and line, and duplicate ids are refused. Source `doc` values are free text
(other teams use their own file names): sources are matched by quote text, never by doc id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "BEHAVIOURS",
    "DEV_SET",
    "ITEM_TYPES",
    "Behaviour",
    "Item",
    "ItemType",
    "Source",
    "load_dataset",
]

ItemType = Literal[
    "factoid",
    "list",
    "explanation",
    "multi_doc",
    "comparison",
    "unanswerable",
    "out_of_scope",
    "injection",
]
Behaviour = Literal["answer", "abstain", "decline"]
ITEM_TYPES: tuple[str, ...] = ItemType.__args__
BEHAVIOURS: tuple[str, ...] = Behaviour.__args__

DEV_SET = Path(__file__).parent / "datasets" / "dev.jsonl"
"""The project's development question set over the default corpus."""


class Source(BaseModel):
    """A gold passage: `quote` is verbatim corpus text that supports the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    doc: str = Field(min_length=1, description="corpus file name or document id (informative)")
    quote: str = Field(min_length=1, description="verbatim passage of the corpus")


class Item(BaseModel):
    """One evaluation question with its gold answer, key facts, sources and behaviour."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(min_length=1, pattern=r"^\S+$")
    question: str = Field(min_length=1)
    type: ItemType
    answer: str = ""
    key_facts: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    expected_behaviour: Behaviour
    language: str = Field(
        default="en", pattern=r"^[a-z]{2}$", description="ISO 639-1 code of the question"
    )
    translation_of: str = Field(
        default="",
        description="id of the English item this one translates (per-language reports compare "
        "a language with English on the same questions)",
    )

    @field_validator("key_facts")
    @classmethod
    def _key_facts_have_alternatives(cls, value: list[str]) -> list[str]:
        # An empty alternative ("a||b", "a|") would match every answer.
        for fact in value:
            if any(not alt.strip() for alt in fact.split("|")):
                raise ValueError(f"key fact {fact!r} has an empty alternative")
        return [fact.strip() for fact in value]


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "item"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def load_dataset(path: str | Path) -> list[Item]:
    """Load and validate a JSON Lines question set.

    Blank lines are skipped. Every invalid line is reported (file, line number, reason) in one
    ValueError, so a broken set is fixed in one pass; duplicate ids are errors too.
    """
    path = Path(path)
    items: list[Item] = []
    errors: list[str] = []
    first_line_of: dict[str, int] = {}
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {lineno}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(data, dict):
                errors.append(f"{where}: expected a JSON object, got {type(data).__name__}")
                continue
            try:
                item = Item.model_validate(data)
            except ValidationError as exc:
                errors.append(f"{where}: {_describe(exc)}")
                continue
            if item.id in first_line_of:
                first = first_line_of[item.id]
                errors.append(f"{where}: duplicate id {item.id!r} (first used on line {first})")
                continue
            first_line_of[item.id] = lineno
            items.append(item)
    if errors:
        raise ValueError(f"invalid question set {path}:\n" + "\n".join(errors))
    if not items:
        raise ValueError(f"invalid question set {path}: no items")
    return items
