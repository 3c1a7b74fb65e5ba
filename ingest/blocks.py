"""The neutral form every loader produces: a flat list of typed blocks in reading order."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

BlockKind = Literal["heading", "paragraph", "table", "footnote"]


class Block(BaseModel):
    kind: BlockKind
    text: str
    level: int = Field(default=0, description="Heading level as marked up (1 = top).")
    page: int | None = None
    page_end: int | None = Field(
        default=None, description="Last page, for a paragraph that runs onto the next page."
    )
    footnote_id: str = Field(default="", description="For footnote blocks: the footnote's id.")


FOOTNOTE_MARK = re.compile(r"⟦fn:(\w{1,8})⟧")


def footnote_mark(footnote_id: str) -> str:
    """In-text placeholder for a footnote reference; the chunker resolves and removes it."""
    return f"⟦fn:{footnote_id}⟧"


class LoadError(Exception):
    """A document cannot be read; the message names the reason in plain words."""
