"""The sled's memory and link controls: HBM training and BIST, PCIe, mesh ports.

Part of the `Sled` facade (a mixin, to keep one idea per file): each method advances the
physics to the clock's now, then asks the chip's HBM, PCIe or mesh model, passing the die
temperature, and returns plain values.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from bringup.sim_devices.silicon.boot import READY

if TYPE_CHECKING:
    from bringup.sim_devices.sled.engine import Engine


def plain(obj: Any) -> Any:
    """Dataclasses and numpy scalars -> dicts, lists and Python numbers."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


class SledLinks:
    """HBM, PCIe and mesh methods of `Sled`."""

    # provided by Sled: the engine, sync() and _chips()
    engine: "Engine"

    # -- memory ----------------------------------------------------------------------------------
    def hbm_train(self, chip: int) -> list[Any]:
        t = self.sync()
        (c,) = self._chips(chip)
        ch = self.engine.chips[c]
        if ch.boot.state != READY:
            raise RuntimeError(f"chip{c} is {ch.boot.state}: HBM trains only on a booted chip")
        return plain(ch.train_hbm(t))

    def hbm_bist(self, chip: int) -> list[Any]:
        t = self.sync()
        (c,) = self._chips(chip)
        temp = self.engine.hbm_temp(c)
        return [plain(s.bist(t, temp)) for s in self.engine.chips[c].hbm]

    def hbm_status(self, chip: int) -> list[dict[str, Any]]:
        t = self.sync()
        (c,) = self._chips(chip)
        temp = self.engine.hbm_temp(c)
        return [dict(plain(s.status(t, temp)), temp_c=temp) for s in self.engine.chips[c].hbm]

    # -- links -----------------------------------------------------------------------------------
    def pcie_status(self, chip: int) -> dict[str, Any]:
        t = self.sync()
        (c,) = self._chips(chip)
        return plain(self.engine.chips[c].pcie.status(t, self.engine.tj(c)))

    def pcie_retrain(self, chip: int) -> None:
        t = self.sync()
        (c,) = self._chips(chip)
        self.engine.chips[c].pcie.retrain(t)

    def pcie_margin(self, chip: int, lane: int) -> Any:
        t = self.sync()
        (c,) = self._chips(chip)
        return plain(self.engine.chips[c].pcie.margin(lane, t, self.engine.tj(c)))

    def pcie_trace(self, chip: int) -> Any:
        t = self.sync()
        (c,) = self._chips(chip)
        return plain(self.engine.chips[c].pcie.trace(t))

    def _port(self, chip: int, port: int):
        (c,) = self._chips(chip)
        ports = self.engine.chips[c].mesh
        if not 0 <= port < len(ports):
            raise ValueError(f"chip{c} has mesh ports 0..{len(ports) - 1}, not {port}")
        return c, ports[port]

    def mesh_status(self, chip: int, port: int) -> dict[str, Any]:
        t = self.sync()
        c, p = self._port(chip, port)
        return plain(p.status(t, self.engine.tj(c)))

    def mesh_retrain(self, chip: int, port: int) -> None:
        t = self.sync()
        self._port(chip, port)[1].retrain(t)

    def mesh_prbs(self, chip: int, port: int, lane: int, pattern: str = "PRBS31",
                  seconds: float = 94.0) -> dict[str, Any]:
        """A PRBS test of `seconds` on one lane; the error count is drawn from its true BER."""
        t = self.sync()
        c, p = self._port(chip, port)
        return plain(p.prbs(t, lane, pattern, seconds, self.engine.tj(c)))

    def mesh_margin(self, chip: int, port: int, lane: int) -> Any:
        t = self.sync()
        c, p = self._port(chip, port)
        return plain(p.margin(lane, t, self.engine.tj(c)))

