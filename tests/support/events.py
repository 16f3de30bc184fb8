"""Load the sample events in events/ (the same files `sam local invoke` uses)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    with (EVENTS / name).open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return copy.deepcopy(data)
