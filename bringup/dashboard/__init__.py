"""The overnight dashboard: a live terminal view of a run, from the results store alone.

`live_view` shows it beside `bringup run` at a terminal; `watch` (behind `bringup watch`) attaches
to any run, running or finished, from another process. Both only read the store, so any number
can follow a run and none can disturb it. See docs/dashboard.md.
"""

from __future__ import annotations

from bringup.dashboard.live import RunIdCatcher, live_view, watch
from bringup.dashboard.model import RunView

__all__ = ["live_view", "RunIdCatcher", "watch", "RunView"]
