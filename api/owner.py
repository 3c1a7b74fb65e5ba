"""Whose saved work a request may touch: the owner of conversations and drafts.

The chat page sends a random browser-session id (`X-EMN-Session`, kept in a cookie), so two
people sharing one page server, or one API key, never see each other's work. The owner is
that session id, combined with the API key's id when a key is sent (auth mode 'keys'; in
'open' mode a valid key still names the caller). A machine client sends any stable random id
of its own. The id must be long enough not to be guessed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from api.auth import AskCaller

SESSION_HEADER = "X-EMN-Session"
SESSION_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"


def owner_of(key_id: str | None, session: str) -> str:
    """'key:ID/session:SID', or 'session:SID' without a key."""
    return f"{key_owner_prefix(key_id)}{session}" if key_id else f"session:{session}"


def key_owner_prefix(key_id: str) -> str:
    """What every owner under this key starts with, whatever the session: a data subject's
    erasure (`python -m api.audit erase --key-id`) deletes the saved work of all of them."""
    return f"key:{key_id}/session:"


async def _owner(
    principal: AskCaller,
    session: Annotated[
        str,
        Header(
            alias=SESSION_HEADER,
            min_length=16,
            max_length=128,
            pattern=SESSION_PATTERN,
            description="The browser session whose saved work this is: a random id of 16-128 "
            "characters from A-Z a-z 0-9 _ - (the chat page keeps one per browser).",
            examples=["my-browser-session-0001"],
        ),
    ],
) -> str:
    return owner_of(principal.key_id, session)


Owner = Annotated[str, Depends(_owner)]
