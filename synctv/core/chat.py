"""Chat and danmaku: the service behind the channel's ``chat``/``chat_delete`` and
``/api/rooms/{room}/chat``.

Theory of operation. Sending needs ``send_chat_messages`` and the room setting ``chatEnabled``;
the text is cleaned (:func:`clean_text`: plain text, control characters stripped) and must keep 1
to :data:`MAX_TEXT` characters; then the sender's budget (per user across their connections and
REST: ``ratelimit.chatMessagesPerUserPerSecond``) is taken, and the store writes the message with
its ``chat_message`` room event in one transaction, which the room hub delivers to every
connection (the sender's included). Fail closed: a message that is not committed is refused with
``chat_not_stored`` and nobody hears of it.

A danmaku is a message with a display mode and a colour; the store stamps it with the room's
media and position at the moment of sending, so :meth:`ChatService.timeline` can replay it along
that media's timeline. Deleting one's own message needs nothing more; another person's needs
``delete_chat_messages``. History and timeline need ``view_chat_history``.

:class:`ChatRetention` is the background task keeping ``chat.messageRetentionDays`` and
``chat.maxMessagesPerRoom`` (read at every run). Resource handling: it holds nothing between
runs. Error handling: a failed run raises (the supervisor restarts it with backoff).
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, cast

import trio

from synctv import errors
from synctv.core.permissions import Permission
from synctv.core.playlists import position_of
from synctv.core.rooms import Access, Caller, RoomService
from synctv.errors import DomainError
from synctv.store.chat import (
    ChatRow,
    ChatStore,
    Danmaku,
    DanmakuMode,
    NewMessage,
    NotStored,
    Queued,
    SendRefused,
)
from synctv.store.playlists import StoredPlayback

log = logging.getLogger("synctv.chat")

MAX_TEXT: Final = 500
DEFAULT_PAGE: Final = 50
MAX_PAGE: Final = 100
# Danmaku one timeline answer carries at most (a client asks for the next window after it).
MAX_TIMELINE: Final = 1000
DANMAKU_MODES: Final = ("scroll", "top", "bottom")
# Retention runs this often: messages are kept for days or by count, so a few minutes late is
# nothing, and an idle server does one cheap statement per run.
RETENTION_INTERVAL_SECONDS: Final = 600.0
_COLOR = re.compile(r"#[0-9a-fA-F]{6}\Z")
# Bidirectional embeddings, overrides and isolates: invisible, and they reorder what follows
# (a name or a link can be made to read as another). Format characters that build emoji (ZWJ,
# variation selectors) stay.
_BIDI: Final = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))


def clean_text(text: str, *, single_line: bool = False) -> str:
    """Plain text as it will be stored: NFC, line breaks as ``\\n`` (a space in a danmaku), tabs
    as spaces, control characters, lone surrogates and bidi controls removed, ends trimmed.
    Markup is left as it is: clients show it as text, never interpret it."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for char in text:
        if char == "\n":
            kept.append(" " if single_line else char)
        elif char == "\t":
            kept.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cs") or ord(char) in _BIDI:
            continue
        else:
            kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept)).strip()


def _invalid(message: str) -> DomainError:
    return DomainError(errors.INVALID_CHAT_MESSAGE, message)


def danmaku_of(mode: str | None, color: str | None) -> Danmaku | None:
    """The danmaku of a request (None: a plain message); ``invalid_chat_message`` for a bad mode
    or colour. A mode without a colour is white."""
    if not mode:
        if color:
            raise _invalid("a danmaku colour needs a danmaku mode")
        return None
    if mode not in DANMAKU_MODES:
        raise _invalid(f"the danmaku mode is one of {', '.join(DANMAKU_MODES)}")
    color = color or "#ffffff"
    if not _COLOR.match(color):
        raise _invalid("the danmaku colour is #rrggbb")
    return Danmaku(cast("DanmakuMode", mode), color.lower())


def message_json(row: ChatRow) -> dict[str, Any]:
    """A message as events, history and the timeline show it (camelCase)."""
    danmaku = None
    if row.danmaku_mode is not None:
        danmaku = {
            "mode": row.danmaku_mode,
            "color": row.danmaku_color,
            "mediaId": row.media_id,
            "position": row.media_position,
        }
    return {
        "id": row.id,
        "senderId": row.sender_id,
        "senderName": row.sender_name,
        "text": row.text,
        "sentAt": row.created_at.timestamp(),
        "danmaku": danmaku,
    }


@dataclass(frozen=True, slots=True)
class HistoryPage:
    messages: list[ChatRow]  # newest first
    next_before: str | None  # the cursor of the next (older) page; None: no more


@dataclass(frozen=True, slots=True)
class Timeline:
    danmaku: list[ChatRow]  # along the media timeline
    truncated: bool  # more than MAX_TIMELINE in the window: ask again from the last position


class ChatService:
    def __init__(
        self,
        rooms: RoomService,
        store: ChatStore,
        check_rate: Callable[[str], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rooms = rooms
        self._store = store
        self._check_rate = check_rate
        self._clock = clock

    async def send(
        self,
        caller: Caller,
        room_id: str,
        text: str,
        danmaku_mode: str | None = None,
        danmaku_color: str | None = None,
    ) -> ChatRow:
        """Store and announce a message; refusals: ``permission_denied``, ``chat_disabled``,
        ``invalid_chat_message``, ``rate_limited``, ``chat_not_stored``."""
        access = await self._rooms.access(caller, room_id)
        message = await self.admit(caller, access, text, danmaku_mode, danmaku_color)
        with self._refusals(room_id):
            return await self._store.send(room_id, message, self._stamp, message_json)

    async def admit(
        self,
        caller: Caller,
        access: Access,
        text: str,
        danmaku_mode: str | None = None,
        danmaku_color: str | None = None,
    ) -> NewMessage:
        """The message ``caller`` may send with ``access`` (their standing in its room, which
        the caller keeps current), cleaned, their rate budget taken; the same refusals as
        :meth:`send` but ``chat_not_stored``. Nothing is stored yet."""
        access.require(Permission.SEND_CHAT_MESSAGES)
        if not access.settings.chat_enabled:
            raise DomainError(errors.CHAT_DISABLED, "chat is turned off in this room")
        danmaku = danmaku_of(danmaku_mode, danmaku_color)
        clean = clean_text(text, single_line=danmaku is not None)
        if not 1 <= len(clean) <= MAX_TEXT:
            raise _invalid(f"a message is 1 to {MAX_TEXT} characters (after cleanup)")
        await self._check_rate(caller.user_id)
        return NewMessage(
            sender_id=caller.user_id,
            sender_kind="guest" if caller.is_guest else "user",
            guest_name=f"guest-{caller.user_id[:6]}",
            text=clean,
            danmaku=danmaku,
        )

    def enqueue(self, room_id: str, message: NewMessage) -> Queued:
        """Queue an admitted plain message (no danmaku) for its room's next group commit and
        go on: messages enqueued one after another are committed in that order. Await
        :meth:`stored` with the result, always (see :meth:`ChatStore.enqueue`)."""
        return self._store.enqueue(room_id, message, message_json)

    async def stored(self, room_id: str, queued: Queued) -> ChatRow:
        """The committed message of an :meth:`enqueue` (and its ``chat_message`` event, on its
        way to the room); ``chat_not_stored`` or ``room_not_found`` when nothing was written."""
        with self._refusals(room_id):
            return await self._store.stored(room_id, queued)

    async def send_admitted(self, room_id: str, message: NewMessage) -> ChatRow:
        """Store an admitted message (a danmaku: its own transaction) and wait for it."""
        with self._refusals(room_id):
            return await self._store.send(room_id, message, self._stamp, message_json)

    def _stamp(self, state: StoredPlayback) -> tuple[str, float] | None:
        # Read under the room lock: the clock then, with the state no change can move.
        if state.media_id is None:
            return None
        return state.media_id, position_of(state, self._clock())

    @contextmanager
    def _refusals(self, room_id: str) -> Iterator[None]:
        """The store's refusals as the service's errors."""
        try:
            yield
        except SendRefused as exc:
            if exc.reason == "nothing_playing":
                raise _invalid("a danmaku needs media selected in the room") from None
            raise DomainError(errors.ROOM_NOT_FOUND, "no room with this id") from None
        except NotStored as exc:
            log.warning("chat message not stored in room %s: %s", room_id, exc)
            raise DomainError(
                errors.CHAT_NOT_STORED, "the message could not be stored and was not sent"
            ) from None

    async def delete(self, caller: Caller, room_id: str, message_id: str) -> None:
        """Delete one's own message, or another's with ``delete_chat_messages``."""
        access = await self._rooms.access(caller, room_id)
        row = await self._store.message(room_id, message_id) if len(message_id) <= 64 else None
        if row is None:
            raise _no_message()
        if row.sender_id != caller.user_id:
            access.require(Permission.DELETE_CHAT_MESSAGES)
        try:
            deleted = await self._store.delete(room_id, message_id, caller.user_id)
        except NotStored as exc:
            log.warning("chat deletion not stored in room %s: %s", room_id, exc)
            raise DomainError(
                errors.CHAT_NOT_STORED, "the deletion could not be stored; retry"
            ) from None
        if not deleted:  # deleted meanwhile
            raise _no_message()

    async def history(
        self, caller: Caller, room_id: str, before: str | None, limit: int = DEFAULT_PAGE
    ) -> HistoryPage:
        """Newest first, ``limit`` at a time; ``before`` is the previous page's
        ``next_before`` (or any message id)."""
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.VIEW_CHAT_HISTORY)
        if not 1 <= limit <= MAX_PAGE:
            raise DomainError(errors.INVALID_PARAMETER, f"limit is 1 to {MAX_PAGE}")
        rows = await self._store.history(room_id, before, limit + 1)
        more = len(rows) > limit
        return HistoryPage(rows[:limit], rows[limit - 1].id if more else None)

    async def timeline(
        self, caller: Caller, room_id: str, media_id: str, start: float, end: float
    ) -> Timeline:
        """The danmaku sent on ``media_id`` between positions ``start`` and ``end`` (seconds)."""
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.VIEW_CHAT_HISTORY)
        if not 0 <= start <= end:
            raise DomainError(errors.INVALID_PARAMETER, "0 <= from <= to (seconds)")
        rows = await self._store.timeline(room_id, media_id, start, end, MAX_TIMELINE + 1)
        return Timeline(rows[:MAX_TIMELINE], len(rows) > MAX_TIMELINE)


def _no_message() -> DomainError:
    return DomainError(errors.CHAT_MESSAGE_NOT_FOUND, "no such chat message in this room")


class ChatRetention:
    """Deletes messages older than ``retention_days()`` and beyond ``max_per_room()`` per room
    (oldest first) at start and then every ``interval`` seconds; both are read at every run, so
    a changed setting applies at the next one."""

    def __init__(
        self,
        store: ChatStore,
        retention_days: Callable[[], int],
        max_per_room: Callable[[], int],
        *,
        interval: float = RETENTION_INTERVAL_SECONDS,
    ) -> None:
        self._store = store
        self._retention_days = retention_days
        self._max_per_room = max_per_room
        self._interval = interval
        self.runs = 0

    async def run_once(self) -> int:
        """Prune now; how many messages were deleted."""
        days, most = self._retention_days(), self._max_per_room()
        deleted = await self._store.prune(days, most)
        self.runs += 1
        if deleted:
            log.info("chat: deleted %d messages (%d days, %d per room)", deleted, days, most)
        return deleted

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run at start, then every interval, until cancelled (a supervised task)."""
        task_status.started()
        while True:
            await self.run_once()
            await trio.sleep(self._interval)
