"""The OPAQUE server setup from ``security.opaque_server_setup`` (a 64-byte seed).

The configured secret is a seed, not opaque-ke's serialised ``ServerSetup``: the setup (OPRF
seed, server key pair, fake-record key) is drawn by :meth:`ServerSetup.generate` from a
deterministic stream expanded from the seed (SHAKE-256 with a domain label), so one seed gives the
same setup on every start and every replica. Its fingerprint is stored beside the accounts; see
:func:`synctv.auth.identity.IdentityService.check_server_setup`.
"""

from __future__ import annotations

import hashlib
from typing import Final

from synctv.auth.opaque import ServerSetup

_DOMAIN: Final = b"synctv/opaque-server-setup/v1"
SEED_LEN: Final = 64


def server_setup_from_seed(seed: bytes) -> ServerSetup:
    if len(seed) != SEED_LEN:
        raise ValueError(f"the OPAQUE server setup seed is {SEED_LEN} bytes, got {len(seed)}")
    # Enough bytes for the draws generate() makes, including rare scalar rejections.
    stream = hashlib.shake_256(_DOMAIN + seed).digest(4096)
    position = 0

    def draw(length: int) -> bytes:
        nonlocal position
        if position + length > len(stream):
            raise RuntimeError("server setup derivation ran out of bytes")  # p ~ 2^-1000
        chunk = stream[position : position + length]
        position += length
        return chunk

    return ServerSetup.generate(draw)
