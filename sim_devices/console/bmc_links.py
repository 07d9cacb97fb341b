"""The BMC shell's link commands: `pcie ...` and `mesh ...` (docs/console.md)."""

from __future__ import annotations

from typing import Any

from bringup.sim_devices.console.bmc_format import E_NO_SUCH, E_USAGE, Answer, ConsoleError, record

DEFAULT_PRBS_S = 30.0         # resolves a BER of 1e-12 at 95 % on a 106 Gb/s lane


class LinkCommands:
    """Mixed into BmcShell, whose `sled`, `_chip`, `_int`, `_float` and `_need` these use."""

    sled: Any

    # -- links ------------------------------------------------------------------------------------
    @staticmethod
    def _margin_line(m: dict[str, Any]) -> str:
        return record(lane=int(m["lane"]), timing_pct_ui=float(m["timing_pct_ui"]), voltage_mv=float(m["voltage_mv"]),
                      pass_pct_ui=float(m["pass_pct_ui"]), passed=bool(m["passed"]), preset=m["preset"],
                      ber=float(m["ber"]))

    def _lanes(self, args: list[str], count: int) -> list[int]:
        if not args or args[0].lower() == "all":
            return list(range(count))
        lane = self._int(args[0], "lane")
        if not 0 <= lane < count:
            raise ConsoleError(E_NO_SUCH, f"no lane {lane}: lanes are 0..{count - 1}")
        return [lane]

    def _pcie(self, args: list[str]) -> list[str]:
        usage = "pcie status|retrain|trace <chip> | pcie margin <chip> [lane]"
        self._need(args, 2, usage)
        verb, c = args[0].lower(), self._chip(args[1])
        if verb == "status":
            s = self.sled.pcie_status(c)
            return [record(ltssm=s["ltssm"], up=bool(s["link_up"]), speed_gts=float(s["speed_gts"]), width=int(s["width"]),
                           capable_gts=float(s["capable_gts"]), capable_width=int(s["capable_width"]),
                           aer_ce=int(s["aer_correctable"]), aer_ue=int(s["aer_uncorrectable"]),
                           link_down=int(s["link_down_count"]), degraded=bool(s["degraded"]),
                           in_reset=bool(s["in_reset"]), lanes=list(s["lanes"]), presets=list(s["presets"]),
                           notice=s.get("bandwidth_notice", ""))]
        if verb == "retrain":
            self.sled.pcie_retrain(c)
            return []
        if verb == "trace":
            return [record(t=float(t), state=st) for t, st in self.sled.pcie_trace(c)]
        if verb == "margin":
            width = int(self.sled.pcie_status(c)["capable_width"])
            return [self._margin_line(self.sled.pcie_margin(c, lane)) for lane in self._lanes(args[2:], width)]
        raise ConsoleError(E_USAGE, f"usage: {usage}")

    def _mesh(self, args: list[str]) -> Answer | list[str]:
        usage = "mesh status|retrain <chip> <port> | mesh margin <chip> <port> [lane] | mesh prbs <chip> <port> ..."
        self._need(args, 3, usage)
        verb, c = args[0].lower(), self._chip(args[1])
        port = self._int(args[2], "port")
        if not 0 <= port < self.sled.config.mesh_ports:
            raise ConsoleError(E_NO_SUCH, f"no port {port}: ports are 0..{self.sled.config.mesh_ports - 1}")
        if verb == "status":
            s = self.sled.mesh_status(c, port)
            return [record(port=port, state=s["state"], up=bool(s["up"]), lanes_up=int(s["lanes_up"]),
                           lane_up=list(s["lane_up"]), fec_corrected=int(s["fec_corrected"]),
                           fec_uncorrectable=int(s["fec_uncorrectable"]), flaps=int(s["flaps"]),
                           pre_fec_ber=[float(x) for x in s["pre_fec_ber"]], presets=list(s["presets"]))]
        if verb == "retrain":
            self.sled.mesh_retrain(c, port)
            return []
        lanes = len(self.sled.mesh_status(c, port)["lane_up"])
        if verb == "margin":
            return [self._margin_line(self.sled.mesh_margin(c, port, lane)) for lane in self._lanes(args[3:], lanes)]
        if verb == "prbs":
            chosen = self._lanes(args[3:4], lanes)
            pattern = args[4].upper() if len(args) > 4 else "PRBS31"
            seconds = self._float(args[5], "seconds") if len(args) > 5 else DEFAULT_PRBS_S
            if not 0 < seconds <= 86400:
                raise ConsoleError(E_NO_SUCH, f"a PRBS run lasts 0..86400 s, not {seconds:g}")
            # every lane's checker runs at once, so a port costs one run however many lanes
            results = [self.sled.mesh_prbs(c, port, lane, pattern, seconds) for lane in chosen]
            return Answer([record(lane=int(r["lane"]), pattern=r["pattern"], seconds=seconds, bits=float(r["bits"]),
                                  errors=int(r["errors"]), locked=bool(r["locked"]), after_fec=bool(r["after_fec"]))
                           for r in results], wait_s=seconds)
        raise ConsoleError(E_USAGE, f"usage: {usage}")

