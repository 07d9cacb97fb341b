"""Reset, PLL lock and boot of one chip, and its three-state health.

After all rails are good the chip is held in reset for `reset_hold_s`; then its PLL locks
(needs the reference clock and a good AVDD_PLL; gives up after `pll_lock_timeout_s`), the
firmware boots for `fw_boot_s`, trains HBM, and the chip is ready. PCIe PERST# is released
`perst_delay_s` after power is stable. Losing power or a trip drops everything back to off.
"""

from __future__ import annotations

from typing import Callable, Protocol

from bringup.sim_devices.world.agenda import Agenda, Event
from bringup.sim_devices.world.config import BootConfig

OFF, RESET, PLL_LOCK, FW_BOOT, READY, FAILED, HUNG = (
    "off", "reset", "pll_lock", "fw_boot", "ready", "failed", "hung")


class BootHooks(Protocol):
    def log(self, t: float, severity: str, text: str) -> None: ...
    def release_perst(self, t: float, refclk_ok: bool) -> None: ...
    def booted(self, t: float) -> None: ...
    def reset_asserted(self, t: float) -> None: ...
    def powered_off(self, t: float) -> None: ...


class Boot:
    """The boot state machine of one chip."""

    def __init__(self, chip: int, cfg: BootConfig, agenda: Agenda, hooks: BootHooks) -> None:
        self.chip = chip
        self.cfg = cfg
        self.agenda = agenda
        self.hooks = hooks
        self.state = OFF
        self.pll_locked = False
        self.refclk_present = True   # faults: pll_no_lock (missing reference clock)
        self.pll_supply_ok = True    # faults: pll_no_lock (AVDD_PLL low), sequencing damage
        self.reason = ""             # why the chip is failed or hung
        self.boot_count = 0
        self._events: list[Event] = []

    def lose_refclk(self) -> None:
        """The reference clock is gone: the PLL cannot lock at the next reset release."""
        self.refclk_present = False

    def spoil_pll_supply(self) -> None:
        """AVDD_PLL is out of range (too low, or sequenced wrongly): the PLL cannot lock."""
        self.pll_supply_ok = False

    @property
    def in_reset(self) -> bool:
        return self.state in (OFF, RESET, PLL_LOCK, FAILED)

    @property
    def clock_running(self) -> bool:
        return self.pll_locked

    def _cancel(self) -> None:
        for ev in self._events:
            ev.cancel()
        self._events = []

    def _at(self, t: float, action: Callable[[float], None]) -> None:
        self._events.append(self.agenda.at(t, action))

    def power_good(self, t: float) -> None:
        """All rails good: hold reset, then release it; release PERST# after the delay."""
        self._cancel()
        self.state = RESET
        self.reason = ""
        self._at(t + self.cfg.reset_hold_s, self._release_reset)
        self._at(t + self.cfg.perst_delay_s,
                 lambda tt: self.hooks.release_perst(tt, self.refclk_present and self.pll_locked))

    def _release_reset(self, t: float) -> None:
        self.state = PLL_LOCK
        self.hooks.log(t, "info", f"chip{self.chip}: reset released, PLL locking")
        if self.refclk_present and self.pll_supply_ok:
            self._at(t + self.cfg.pll_lock_s, self._locked)
        else:
            self._at(t + self.cfg.pll_lock_timeout_s, self._lock_timeout)

    def _locked(self, t: float) -> None:
        self.pll_locked = True
        self.state = FW_BOOT
        self.hooks.log(t, "info", f"chip{self.chip}: PLL locked, firmware booting")
        self._at(t + self.cfg.fw_boot_s, self._booted)

    def _lock_timeout(self, t: float) -> None:
        self.state = FAILED
        why = "no reference clock" if not self.refclk_present else "AVDD_PLL out of range"
        self.reason = f"PLL lock timeout ({why})"
        self.hooks.log(t, "error", f"chip{self.chip}: {self.reason}; core held in reset")

    def _booted(self, t: float) -> None:
        self.state = READY
        self.boot_count += 1
        self.hooks.log(t, "info", f"chip{self.chip}: boot complete")
        self.hooks.booted(t)

    def power_lost(self, t: float, reason: str = "power lost") -> None:
        """Any rail lost or powered off: back to off, links and memory held in reset."""
        self._cancel()
        if self.state != OFF:
            self.hooks.reset_asserted(t)
        self.hooks.powered_off(t)
        self.state = OFF
        self.pll_locked = False
        self.reason = reason

    def lose_lock(self, t: float, why: str) -> None:
        """The PLL drops lock on a running chip: the core stops and is held in reset."""
        self._cancel()
        self.pll_locked = False
        self.state = FAILED
        self.reason = f"PLL lost lock ({why})"
        self.hooks.log(t, "error", f"chip{self.chip}: {self.reason}")
        self.hooks.reset_asserted(t)

    def hang(self, t: float, reason: str) -> None:
        if self.state == READY:
            self.state = HUNG
            self.reason = reason
            self.hooks.log(t, "error", f"chip{self.chip}: core hung ({reason})")

    def reset(self, t: float) -> None:
        """A warm reset from the BMC (rails stay up): reset held, PLL relocked, firmware booted again.
        What clears a hung core on a bench; the links and HBM go back through reset with it."""
        self.hooks.log(t, "warning", f"chip{self.chip}: reset by the BMC"
                                     + (f" ({self.reason})" if self.reason else ""))
        self._cancel()
        self.pll_locked = False
        self.hooks.reset_asserted(t)
        self.power_good(t)

    def recover(self, t: float) -> None:
        if self.state == HUNG:
            self.state = READY
            self.reason = ""
            self.hooks.log(t, "warning", f"chip{self.chip}: watchdog recovered the core")


def health(boot_state: str, problems: list[str]) -> str:
    """Three-state health as AWS tooling reports it: healthy | unhealthy | unknown.

    unknown while the chip is off or still booting (nothing proven either way); unhealthy on a
    failed or hung chip or any listed problem; healthy only when ready with no problem.
    """
    if boot_state in (FAILED, HUNG) or problems:
        return "unhealthy"
    return "healthy" if boot_state == READY else "unknown"
