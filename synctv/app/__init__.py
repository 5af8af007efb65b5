"""The composition root: the only package that opens a root nursery and wires services.

``tree.py`` is the nursery tree and its start and drain order; ``process.py`` the layers around
it (signals, the data_dir lock, the asyncio bridge, the database); each feature has one builder
module (``live``, ``media_proxy``, ``stun``, ``state``, ``admin``) returning a
:class:`~synctv.app.feature.Feature`. Adding a feature is one builder plus one line in
:data:`synctv.app.tree.FEATURES`.
"""

from __future__ import annotations

from synctv.app.addresses import BoundAddresses
from synctv.app.feature import Feature, Listener, RouteFactory, Services, Stop, Task
from synctv.app.listeners import ListenError, raise_descriptor_limit
from synctv.app.node import node_id_for
from synctv.app.process import LOCK_NAME, DataDirInUse, migrate_only, prepare_data_dir, serve
from synctv.app.tree import Controller

__all__ = [
    "LOCK_NAME",
    "BoundAddresses",
    "Controller",
    "DataDirInUse",
    "Feature",
    "ListenError",
    "Listener",
    "RouteFactory",
    "Services",
    "Stop",
    "Task",
    "migrate_only",
    "node_id_for",
    "prepare_data_dir",
    "raise_descriptor_limit",
    "serve",
]
