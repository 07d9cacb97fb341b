"""Which device a run tested: the serial given with `--dut`, else the one the sled itself reported.

`bringup run` without `--dut` records the DUT as "unknown", but the sled's console says who it is
when it is opened (`id`: model, serial, firmware) and the runner records every instrument's
identity in its `instruments` event. Exports that must name the part (STDF LOT_ID and PART_ID)
take the serial from there, so a night run without `--dut` is still filed under the right board.
"""

from __future__ import annotations

import re

UNKNOWN_DUT = "unknown"  # what `bringup run` records when no --dut is given
# the sled console driver's identity: "<model> s/n <serial> firmware <version> at <port>"
_SERIAL = re.compile(r"\bs/n\s+(\S+)")


def dut_serial(run: dict, events: list[dict]) -> str:
    """The DUT's serial: `--dut` if given, else the serial the sled reported, else "unknown"."""
    given = (run.get("dut") or "").strip()
    if given and given != UNKNOWN_DUT:
        return given
    for e in events:
        if e["kind"] != "instruments" or not isinstance(e["data"], dict):
            continue
        for role, identity in sorted(e["data"].items(), key=lambda item: item[0] != "sled"):
            m = _SERIAL.search(str(identity))
            if m and m.group(1) != "?":
                return m.group(1)
    return given or UNKNOWN_DUT
