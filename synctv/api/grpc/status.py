"""A :class:`synctv.errors.DomainError` as a gRPC status, and back to its code on the client.

The status is the one the catalogue declares for the code; the message is the error's message;
the code and details travel as a ``google.rpc.ErrorInfo`` in the standard status details
(``grpc-status-details-bin``): ``reason`` is the code exactly as in ``docs/errors.md``,
``domain`` is :data:`ERROR_DOMAIN`, and ``metadata`` holds each detail JSON-encoded (the field is
``map<string, string>``). grpclib encodes and decodes it when ``googleapis-common-protos`` is
installed (a dependency); grpcio clients read it with ``grpcio-status``.
"""

from __future__ import annotations

import json

from google.rpc.error_details_pb2 import ErrorInfo
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from synctv.errors import DomainError

ERROR_DOMAIN = "synctv"


def grpc_error(error: DomainError) -> GRPCError:
    """The status a gRPC client receives for ``error``."""
    info = ErrorInfo(
        reason=error.code,
        domain=ERROR_DOMAIN,
        metadata={key: json.dumps(value) for key, value in error.details.items()},
    )
    return GRPCError(Status(int(error.error.grpc_status)), error.message, [info])


def error_code(exc: GRPCError) -> str | None:
    """The catalogue code a server of ours attached to ``exc``, or None (another server, or a
    failure below our handlers such as a deadline)."""
    for detail in exc.details or ():
        if isinstance(detail, ErrorInfo) and detail.domain == ERROR_DOMAIN and detail.reason:
            return str(detail.reason)
    return None
