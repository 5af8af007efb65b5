"""What a playlist item plays: its source, validated at the door.

Three kinds (the API's ``source.kind``): a direct ``url`` (with the headers the upstream needs,
subtitle and danmaku files, an optional expiry, regular or live), a ``provider`` instance's item
(its name and the path or id inside it, resolved by the providers at play time), or a ``live``
stream of this server. A source is stored as given (minus what failed validation: nothing is
silently dropped, a bad field is refused with its name). Credentials never live in a source: a
provider's are sealed in its instance, and a URL's headers are the room's own choice, shown only
to those who may manage the media.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

MAX_URL: Final = 4096
MAX_HEADERS: Final = 20
MAX_SUBTITLES: Final = 20
MAX_BATCH: Final = 100
ProxyMode = Literal["auto", "prefer", "only", "direct_prefer", "direct_only"]
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}\Z")
# Set by the HTTP client itself; a source choosing them would break or smuggle requests.
_RESERVED_HEADERS: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "range"}
)


class InvalidMediaSource(ValueError):
    """A media source that does not validate; the message names the field."""


def _http_url(value: str) -> str:
    if len(value) > MAX_URL:
        raise ValueError(f"at most {MAX_URL} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http or https URL with a host")
    if any(ord(c) <= 0x20 for c in value):
        raise ValueError("no spaces or control characters")
    return value


HttpUrl = Annotated[str, Field(min_length=8, max_length=MAX_URL)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Subtitle(_Shape):
    name: str = Field(min_length=1, max_length=100)
    url: HttpUrl
    format: Literal["vtt", "srt", "ass"] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class UrlSource(_Shape):
    kind: Literal["url"]
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict)
    subtitles: list[Subtitle] = Field(default_factory=list, max_length=MAX_SUBTITLES)
    danmaku: HttpUrl | None = None
    live: bool = False
    expires_at: float | None = Field(
        None, alias="expiresAt", description="When the URL stops working (Unix time)."
    )

    @field_validator("url", "danmaku")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        for name, text in value.items():
            if not _TOKEN.match(name) or name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"{name!r} is not a header a source may set")
            if len(text) > 4096 or any(c in text for c in "\r\n\0"):
                raise ValueError(f"the value of {name} is too long or has line breaks")
        return value


class ProviderSource(_Shape):
    kind: Literal["provider"]
    instance: str = Field(min_length=1, max_length=64)
    path: str = Field(min_length=1, max_length=2048)


class LiveSource(_Shape):
    kind: Literal["live"]
    stream_id: str = Field(alias="streamId", min_length=1, max_length=64)


MediaSource = Annotated[UrlSource | ProviderSource | LiveSource, Field(discriminator="kind")]
_SOURCE: Final[TypeAdapter[UrlSource | ProviderSource | LiveSource]] = TypeAdapter(MediaSource)


def parse_source(raw: Any) -> UrlSource | ProviderSource | LiveSource:
    try:
        return _SOURCE.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if loc and isinstance(raw, dict) and loc[0] == raw.get("kind"):
            loc = loc[1:]  # the union's tag, not a field
        where = ".".join(str(p) for p in ("source", *loc))
        raise InvalidMediaSource(f"{where}: {first['msg']}") from None


def source_json(source: UrlSource | ProviderSource | LiveSource) -> dict[str, Any]:
    return source.model_dump(mode="json", by_alias=True, exclude_none=True)


def is_live(source: UrlSource | ProviderSource | LiveSource) -> bool:
    return isinstance(source, LiveSource) or (isinstance(source, UrlSource) and source.live)
