"""Pictures of a run for people: shmoo grids, Vmin per frequency, telemetry over a soak.

`shmoo` and `telemetry` read the store; `text` draws in a terminal with no extra package;
`png` draws PNG files with matplotlib, the optional extra `bringup[plot]`.
"""

from bringup.plots.shmoo import Shmoo, Vmin, group_by_test, run_shmoos, shmoos
from bringup.plots.telemetry import SoakWindow, soak_series, soak_windows
from bringup.plots.text import shmoo_text, vmin_text

__all__ = ["Shmoo", "Vmin", "shmoos", "run_shmoos", "group_by_test", "shmoo_text", "vmin_text",
           "SoakWindow", "soak_windows", "soak_series"]
