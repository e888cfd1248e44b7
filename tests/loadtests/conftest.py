from __future__ import annotations

import sys
from pathlib import Path

# The pure helpers of loadtests/ (_recorder, _schedule) are top-level modules, as Locust loads them.
LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
if str(LOADTESTS) not in sys.path:
    sys.path.insert(0, str(LOADTESTS))
