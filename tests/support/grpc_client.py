"""Our public gRPC services seen by Google's grpcio client (an independent HTTP/2 and gRPC
implementation), for tests: one unary call from a worker thread, and a refusal read back as its
status, its catalogue code and details (``google.rpc.ErrorInfo`` in ``grpc-status-details-bin``)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import grpc
import trio
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

M = TypeVar("M", bound=Message)


class Refused(Exception):
    def __init__(self, status: grpc.StatusCode, code: str, details: dict[str, Any]) -> None:
        super().__init__(f"{status}: {code} {details}")
        self.status = status
        self.code = code
        self.details = details


def _error_info(exc: grpc.RpcError) -> tuple[str, dict[str, Any]]:
    trailer = dict(exc.trailing_metadata() or ()).get("grpc-status-details-bin")
    for detail in status_pb2.Status.FromString(trailer).details if trailer else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, {k: json.loads(v) for k, v in info.metadata.items()}
    return "", {}


def _call(
    address: str,
    path: str,
    request: Message,
    reply: type[M],
    token: str | None,
    authority: str | None = None,
) -> M:
    options = [] if authority is None else [("grpc.default_authority", authority)]
    with grpc.insecure_channel(address, options=options) as channel:
        stub = channel.unary_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply.FromString,
        )
        metadata = [("authorization", f"Bearer {token}")] if token else None
        try:
            return stub(request, metadata=metadata, timeout=20)  # type: ignore[no-any-return]
        except grpc.RpcError as exc:
            code, details = _error_info(exc)
            raise Refused(exc.code(), code, details) from None


async def call(
    address: str,
    path: str,
    request: Message,
    reply: type[M],
    token: str | None = None,
    authority: str | None = None,
) -> M:
    """``path`` is ``/package.Service/Method``; ``token`` goes in ``authorization: Bearer``;
    ``authority``: the call's ``:authority`` (default: ``address``)."""
    return await trio.to_thread.run_sync(_call, address, path, request, reply, token, authority)


def grpc_address(controller: Any) -> str:
    """The public gRPC port of a running server (its controller)."""
    host, port = controller.addresses.grpc[0]
    return f"{host}:{port}"


_END = object()


class StreamCall:
    """A bidirectional grpcio call driven from a Trio test: the call runs in its own thread;
    :meth:`send` queues a message (``None`` half-closes), :meth:`receive` waits for the next
    reply, and once the call ended :attr:`status` / :attr:`code` say how."""

    def __init__(
        self, address: str, path: str, reply: type[Message], metadata: list[tuple[str, str]]
    ) -> None:
        import queue
        import threading

        self._requests: queue.Queue[object] = queue.Queue()
        self._replies: queue.Queue[object] = queue.Queue()
        self.status: grpc.StatusCode | None = None
        self.code = ""
        self._channel = grpc.insecure_channel(address)
        stub = self._channel.stream_stream(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply.FromString,
        )

        def requests() -> Any:
            while (item := self._requests.get()) is not _END:
                yield item

        def run() -> None:
            try:
                for message in stub(requests(), metadata=metadata, timeout=60):
                    self._replies.put(message)
                self.status = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                self.status = exc.code()
                self.code, _ = _error_info(exc)
            finally:
                self._replies.put(_END)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def send(self, message: Message | None) -> None:
        self._requests.put(_END if message is None else message)

    async def receive(self, timeout: float = 10.0) -> Any:
        """The next reply, or None once the call has ended."""
        item = await trio.to_thread.run_sync(self._replies.get, True, timeout)
        return None if item is _END else item

    async def ended(self, timeout: float = 10.0) -> grpc.StatusCode:
        """Wait for the end of the call (dropping replies); its status."""
        while await self.receive(timeout) is not None:
            pass
        assert self.status is not None
        return self.status

    def close(self) -> None:
        self._requests.put(_END)
        self._channel.close()
