"""The Python reference client of the realtime room channel (docs/realtime.md), on trio-websocket:
used by the tests, the benches and ``synctv watch``."""
