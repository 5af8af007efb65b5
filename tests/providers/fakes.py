"""Small Alist v3 and Emby servers following the public HTTP APIs the providers use.

They run on the proxy tests' origin server (real HTTP on 127.0.0.1) as request handlers, and
serve their media as origin objects that demand the credentials the real servers would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.proxy.upstream_server import Obj, Seen, UpstreamServer, json_reply

FILM = bytes((i * 31) % 256 for i in range(300_000))
SUBTITLE = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello.\n"


@dataclass
class FakeAlist:
    """POST /api/auth/login, /api/fs/list, /api/fs/get; raw files under /d/ need the token."""

    server: UpstreamServer
    username: str = "admin"
    password: str = "alist-secret-pw"
    logins: int = 0
    token: str = ""
    raw_url: str | None = None  # what fs/get answers (None: the real file on the server)

    def install(self) -> None:
        self.server.handler = self.handle
        self._new_token()

    def _new_token(self) -> None:
        self.logins += 1
        self.token = f"alist-token-{self.logins}"
        self.server.objects["/d/movies/film.mp4"] = Obj(
            FILM, require_header=("authorization", self.token)
        )

    def expire_token(self) -> None:
        self.token = "expired"

    def handle(self, seen: Seen) -> tuple[int, list[tuple[str, str]], bytes] | None:
        path = urlsplit(seen.path).path
        if not path.startswith("/api/"):
            return None
        assert seen.method == "POST"
        body = json.loads(seen.body or b"{}")
        if path == "/api/auth/login":
            if (body.get("username"), body.get("password")) != (self.username, self.password):
                return json_reply({"code": 400, "message": "password is incorrect", "data": None})
            self._new_token()
            return json_reply({"code": 200, "message": "success", "data": {"token": self.token}})
        if seen.headers.get("authorization") != self.token:
            return json_reply({"code": 401, "message": "token is expired", "data": None})
        if path == "/api/fs/list" and body.get("path") == "/":
            top = [{"name": "movies", "size": 0, "is_dir": True}]
            return json_reply(
                {"code": 200, "message": "success", "data": {"content": top, "total": 1}}
            )
        if path == "/api/fs/list" and body.get("path") == "/movies":
            content = [
                {"name": "film.mp4", "size": len(FILM), "is_dir": False},
                {"name": "extras", "size": 0, "is_dir": True},
            ]
            return json_reply(
                {"code": 200, "message": "success", "data": {"content": content, "total": 2}}
            )
        if path == "/api/fs/get" and body.get("path") == "/movies/film.mp4":
            data = {
                "name": "film.mp4",
                "size": len(FILM),
                "is_dir": False,
                "raw_url": self.raw_url or f"{self.server.base}/d/movies/film.mp4?sign=abc",
            }
            return json_reply({"code": 200, "message": "success", "data": data})
        return json_reply({"code": 500, "message": "object not found", "data": None})


@dataclass
class FakeEmby:
    """Emby's AuthenticateByName, Views, Items, PlaybackInfo, /Users, and the static stream."""

    server: UpstreamServer
    username: str = "viewer"
    password: str = "emby-secret-pw"
    api_key: str = "emby-api-key-123"
    token: str = "emby-session-token"
    auth_headers: list[str] = field(default_factory=list)

    def install(self) -> None:
        self.server.handler = self.handle
        self.server.objects["/Videos/42/stream"] = Obj(FILM, require_query="api_key=")
        self.server.objects["/Videos/42/ms42/Subtitles/2/Stream.vtt"] = Obj(
            SUBTITLE, content_type="text/vtt", require_query="api_key="
        )

    def handle(self, seen: Seen) -> tuple[int, list[tuple[str, str]], bytes] | None:
        parts = urlsplit(seen.path)
        path, query = parts.path, parse_qs(parts.query)
        if path.startswith("/Videos/"):
            key = (query.get("api_key") or [""])[0]
            if key not in (self.token, self.api_key):
                return 401, [], b""
            return None  # served as an origin object (Range and all)
        if path == "/Users/AuthenticateByName":
            header = seen.headers.get("x-emby-authorization", "")
            self.auth_headers.append(header)
            body = json.loads(seen.body)
            if not header.startswith("MediaBrowser ") or 'Client="' not in header:
                return 400, [], b""
            if (body.get("Username"), body.get("Pw")) != (self.username, self.password):
                return 401, [], b""
            return json_reply({"AccessToken": self.token, "User": {"Id": "u1", "Name": "viewer"}})
        if seen.headers.get("x-emby-token") not in (self.token, self.api_key):
            return 401, [], b""
        if path == "/Users":
            return json_reply(
                [
                    {"Id": "u0", "Name": "guest", "Policy": {"IsAdministrator": False}},
                    {"Id": "u1", "Name": "admin", "Policy": {"IsAdministrator": True}},
                ]
            )
        if path == "/Users/u1/Views":
            return json_reply({"Items": [{"Id": "lib1", "Name": "Films", "IsFolder": True}]})
        if path == "/Users/u1/Items" and query.get("ParentId") == ["lib1"]:
            items = [{"Id": "42", "Name": "Film", "IsFolder": False, "Type": "Movie"}]
            return json_reply({"Items": items, "TotalRecordCount": 1})
        if path == "/Items/42/PlaybackInfo" and query.get("UserId") == ["u1"]:
            streams = [
                {"Type": "Video", "Index": 0},
                {
                    "Type": "Subtitle",
                    "Index": 2,
                    "IsExternal": True,
                    "Language": "eng",
                    "DisplayTitle": "English",
                },
            ]
            source = {
                "Id": "ms42",
                "Name": "Film",
                "Container": "mp4",
                "MediaStreams": streams,
                "RunTimeTicks": 54_321_000_000,  # 5432.1 s in 100 ns ticks
            }
            return json_reply({"MediaSources": [source], "PlaySessionId": "p"})
        return 404, [], b""
