"""``python -m synctv``."""

from __future__ import annotations

import sys

from synctv.cli import main

sys.exit(main())
