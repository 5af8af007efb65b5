"""``/api/rooms/{room}/chat``: chat history with a cursor, the danmaku timeline, and the REST
twins of the channel's ``chat`` and ``chat_delete`` (the same :class:`~synctv.core.chat.
ChatService`: a message sent here reaches every connection as its ``chat_message`` event)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from synctv.api.http.routes.auth import CamelModel, refusals
from synctv.api.http.routes.rooms import Who
from synctv.core.chat import (
    DEFAULT_PAGE,
    MAX_PAGE,
    MAX_TEXT,
    MAX_TIMELINE,
    ChatService,
    message_json,
)
from synctv.store.chat import ChatRow

RoomId = Annotated[str, Path(min_length=1, max_length=64)]
MessageId = Annotated[str, Path(min_length=1, max_length=64)]
_AUTH = (401, "`authentication_required`, `token_expired` or `token_revoked`")
_DENIED = (403, "`permission_denied` (the room permission named in details)")
_MISSING = (404, "`room_not_found`")


class DanmakuOut(CamelModel):
    mode: Literal["scroll", "top", "bottom"]
    color: str = Field(description="#rrggbb")
    media_id: str = Field(description="The media playing when it was sent.")
    position: float = Field(description="Seconds into that media when it was sent.")


class ChatMessageOut(CamelModel):
    id: str
    sender_id: str
    sender_name: str = Field(description="The sender's display name when it was sent.")
    text: str = Field(description="Plain text: show it as text, never as markup.")
    sent_at: float = Field(description="Server time it was stored (Unix seconds).")
    danmaku: DanmakuOut | None


class ChatSendIn(CamelModel):
    text: str = Field(
        max_length=4 * MAX_TEXT,
        description=f"At most {MAX_TEXT} characters once cleaned (control characters removed).",
    )
    danmaku_mode: Literal["scroll", "top", "bottom"] | None = Field(
        None, description="Makes it a danmaku, stamped with the media and position playing now."
    )
    danmaku_color: str | None = Field(None, description="#rrggbb (white when absent).")


class ChatHistoryOut(CamelModel):
    messages: list[ChatMessageOut] = Field(description="Newest first.")
    next_before: str | None = Field(description="Pass as `before` for the older page; null: none.")


class TimelineOut(CamelModel):
    danmaku: list[ChatMessageOut] = Field(description="By position in the media.")
    truncated: bool = Field(
        description=f"More than {MAX_TIMELINE} in the window: ask again from the last position."
    )


def chat_out(row: ChatRow) -> ChatMessageOut:
    return ChatMessageOut.model_validate(message_json(row))


def chat_router(chat: ChatService) -> APIRouter:
    router = APIRouter(prefix="/api/rooms/{room_id}/chat", tags=["chat"])

    @router.get("", response_model=ChatHistoryOut, responses=refusals(_AUTH, _DENIED, _MISSING))
    async def history(
        who: Who,
        room_id: RoomId,
        before: Annotated[
            str | None, Query(max_length=64, description="A message id: older ones only.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> Any:
        """The room's chat, newest first, a page at a time (``view_chat_history``)."""
        page = await chat.history(who, room_id, before, limit)
        return ChatHistoryOut(
            messages=[chat_out(r) for r in page.messages], next_before=page.next_before
        )

    @router.post(
        "",
        status_code=201,
        response_model=ChatMessageOut,
        responses=refusals(
            _AUTH,
            (403, "`permission_denied` (send_chat_messages) or `chat_disabled`"),
            _MISSING,
            (422, "`invalid_chat_message`"),
            (429, "`rate_limited` (ratelimit.chatMessagesPerUserPerSecond)"),
            (503, "`chat_not_stored`: nothing was sent; retry"),
        ),
    )
    async def send(who: Who, room_id: RoomId, body: ChatSendIn) -> Any:
        """Send a message (or a danmaku) to the room (``send_chat_messages``)."""
        row = await chat.send(who, room_id, body.text, body.danmaku_mode, body.danmaku_color)
        return chat_out(row)

    @router.delete(
        "/{message_id}",
        status_code=204,
        responses=refusals(
            _AUTH,
            (403, "`permission_denied` (delete_chat_messages, for another's message)"),
            (404, "`room_not_found` or `chat_message_not_found`"),
            (503, "`chat_not_stored`: nothing changed; retry"),
        ),
    )
    async def delete(who: Who, room_id: RoomId, message_id: MessageId) -> Response:
        """Delete one's own message, or another's (``delete_chat_messages``)."""
        await chat.delete(who, room_id, message_id)
        return Response(status_code=204)

    @router.get(
        "/timeline",
        response_model=TimelineOut,
        responses=refusals(_AUTH, _DENIED, _MISSING, (400, "`invalid_parameter`")),
    )
    async def timeline(
        who: Who,
        room_id: RoomId,
        media: Annotated[str, Query(min_length=1, max_length=64, description="A media id.")],
        start: Annotated[float, Query(alias="from", ge=0, description="Seconds.")] = 0.0,
        end: Annotated[float, Query(alias="to", ge=0, description="Seconds.")] = 1e9,
    ) -> Any:
        """The danmaku sent on a media between two positions, along its timeline, to replay
        them as it plays (``view_chat_history``)."""
        found = await chat.timeline(who, room_id, media, start, end)
        return TimelineOut(danmaku=[chat_out(r) for r in found.danmaku], truncated=found.truncated)

    return router
