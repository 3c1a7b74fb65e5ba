"""Whose saved work a request may touch: the owner of conversations and drafts.

The chat page sends a random browser-session id (`X-EMN-Session`, kept in a cookie), so two
people sharing one page server, or one API key, never see each other's work. The owner is
the API key's id combined with that session id; a key alone (a machine client without the
header) owns its own items; without a key (auth mode 'open') the session id alone, so there
it is required. The id must be long enough not to be guessed.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header

from api.auth import AskCaller
from api.errors import ApiError

SESSION_HEADER = "X-EMN-Session"
SESSION_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def owner_of(key_id: str | None, session: str | None) -> str:
    """'key:ID/session:SID', 'key:ID' or 'session:SID'; ApiError when neither is usable."""
    if session is not None:
        session = session.strip()
        if not SESSION_PATTERN.fullmatch(session):
            raise ApiError(
                422,
                "invalid_session",
                f"The {SESSION_HEADER} header must be 16 to 128 characters from A-Z, a-z, "
                "0-9, '_' and '-' (a random id the page keeps for this browser).",
            )
    if key_id and session:
        return f"key:{key_id}/session:{session}"
    if key_id:
        return f"key:{key_id}"
    if session:
        return f"session:{session}"
    raise ApiError(
        400,
        "session_required",
        f"Saved conversations and drafts belong to a browser session: send the {SESSION_HEADER} "
        "header (16 to 128 characters from A-Z, a-z, 0-9, '_' and '-'), or an API key.",
    )


async def _owner(
    principal: AskCaller,
    session: Annotated[
        str | None,
        Header(
            alias=SESSION_HEADER,
            description="The browser session whose saved work this is (16-128 characters "
            "from A-Z a-z 0-9 _ -). Required without an API key.",
        ),
    ] = None,
) -> str:
    return owner_of(principal.key_id, session)


Owner = Annotated[str, Depends(_owner)]
