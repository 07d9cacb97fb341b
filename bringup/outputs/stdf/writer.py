"""A run from the results store as an STDF V4 file, the format every yield tool ingests.

How bring-up maps onto STDF (docs/ci.md has the table for people):
- parts: one per chip (a measurement's `chip` coordinate), PART_ID `<DUT serial>-chip<N>`;
  measurements without a chip belong to the DUT itself, PART_ID `<DUT serial>`. The DUT serial
  is `--dut`, else the serial the sled reported when it was opened (`bringup/core/dut.py`). All parts are
  written on head 1, site 1, one PIR ... PRR after another.
- tests: one per (step path, measurement name without the chip); TEST_NUM from
  `numbering.number_tests`, so it is the same in every run of the procedure. A reading with
  limits and units is a PTR; a boolean check (no unit, limit `low: 1` or `high: 0`) is an FTR.
- sweep, for_each and soak coordinates (other than the chip) go in a DTR `COND: ...` written
  immediately before the PTR/FTR they apply to.
- what never ran: a test that some chips ran and this chip did not gets a PTR/FTR flagged
  "test not executed"; a part of a run that did not finish is flagged "abnormal end" in its
  PRR with its pass/fail marked invalid; every phase's state and reason is a DTR `PHASE ...`.
- bins: hard 1 PASS, 2 FAIL, 3 INCOMPLETE (an UNKNOWN reading, or not every test ran); soft
  1 PASS, 2 INCOMPLETE, 3 UNKNOWN, 4 FAIL interlock (an interlock tripped: the part is judged by
  the abort it caused), 5 FAIL safe state, 6 FAIL outside any phase, 100+i FAIL in the i-th
  phase (the first the part failed in). Every bin a part gets has its SBR and a name.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bringup import __version__
from bringup.core.dut import dut_serial
from bringup.core.states import PhaseState, RunState
from bringup.store import FAIL, PASS, UNKNOWN, StoreReader, UnknownRun, retried
from bringup.outputs.stdf.numbering import StdfTest, chip_of, identify, number_tests
from bringup.outputs.stdf.records import encode, float32

HEAD, SITE, ALL = 1, 1, 255
INCOMPLETE = "INCOMPLETE"
HARD_BINS = {PASS: (1, "P", "PASS"), FAIL: (2, "F", "FAIL"), UNKNOWN: (3, "F", "INCOMPLETE"),
             INCOMPLETE: (3, "F", "INCOMPLETE")}
NOT_FINISHED = frozenset({RunState.ABORTED, RunState.INTERRUPTED, RunState.RUNNING, RunState.ERROR})
# soft bins of a failure outside the phases, by the first part of its path ("monitors/sled.max_tj")
OUTSIDE_PHASES = {"monitors": (4, "FAIL interlock"), "safe_state": (5, "FAIL safe state")}
OTHER_FAIL = (6, "FAIL outside any phase")
SOFT_BIN_NAMES = {1: "PASS", 2: "INCOMPLETE", 3: "UNKNOWN",
                  **{n: name for n, name in [*OUTSIDE_PHASES.values(), OTHER_FAIL]}}
FIRST_PHASE_BIN = 100

# PTR/FTR TEST_FLG bits (STDF V4 p. 47)
_FAILED, _NO_PASS_FAIL, _NOT_EXECUTED, _TIMEOUT, _UNRELIABLE, _INVALID = 0x80, 0x40, 0x10, 0x08, 0x04, 0x02
# PTR OPT_FLAG: bit 1 reserved (1); no low / high spec limit (bits 2, 3); no low / high limit (6, 7)
_PTR_OPT = 0x02 | 0x04 | 0x08
# PRR PART_FLG: abnormal end (bit 2), part failed (bit 3), pass/fail flag invalid (bit 4)
_ABNORMAL, _PART_FAILED, _PF_INVALID = 0x04, 0x08, 0x10


def is_check(m: dict) -> bool:
    """A pass/fail check rather than a parametric reading: unitless, judged against 1 or 0."""
    if m["unit"]:
        return False
    low, high = m["low"], m["high"]
    return (low == 1 and high in (None, 1)) or (low in (None, 0) and high == 0)


def conditions(coords: dict | None) -> str:
    items = [(k, v) for k, v in (coords or {}).items() if k != "chip"]
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


@dataclass
class Part:
    part_id: str
    chip: str | None
    tests: list[dict] = field(default_factory=list)  # measurements, in the order taken
    missing: list[StdfTest] = field(default_factory=list)
    verdict: str = PASS
    soft_bin: int = 1


class StdfRun:
    """One run's records, gathered and judged; `encode()` gives the file's bytes."""

    def __init__(self, run: dict, phases: list[dict], measurements: list[dict], events: list[dict] = ()) -> None:
        self.run, self.phases, self.ms = run, phases, measurements
        self.replaced = retried(measurements)  # failed attempts the step retried: not the final word
        self.dut = dut_serial(run, list(events))
        self.keys = [identify(m) for m in measurements]
        self.key_of = {m["id"]: k for m, k in zip(measurements, self.keys)}
        self.numbers = number_tests(self.keys)
        by_key: dict[StdfTest, list[dict]] = defaultdict(list)
        for key, m in zip(self.keys, measurements):
            by_key[key].append(m)
        self.by_key = by_key
        self.functional = {k: all(is_check(m) for m in ms) for k, ms in by_key.items()}
        self.phase_order = {p["phase_id"]: i for i, p in enumerate(phases)}
        self.finished = (run["state"] not in NOT_FINISHED
                         and all(p["state"] in (PhaseState.PASSED, PhaseState.FAILED) for p in phases))
        self.parts = self._parts()

    # -- parts and their verdicts -----------------------------------------------------------
    def _parts(self) -> list[Part]:
        dut = self.dut
        parts: dict[str | None, Part] = {}
        seen: dict[str | None, set[StdfTest]] = defaultdict(set)
        for key, m in zip(self.keys, self.ms):
            chip = chip_of(m["coords"])
            if chip not in parts:
                parts[chip] = Part(dut if chip is None else f"{dut}-chip{chip}", chip)
            parts[chip].tests.append(m)
            seen[chip].add(key)
        if not parts:
            parts[None] = Part(dut, None)
        chip_tests: dict[StdfTest, None] = {}
        for key, m in zip(self.keys, self.ms):
            if chip_of(m["coords"]) is not None:
                chip_tests.setdefault(key, None)
        ordered = sorted(parts.values(), key=lambda p: (p.chip is not None, _chip_order(p.chip)))
        for part in ordered:
            if part.chip is not None:
                part.missing = [k for k in chip_tests if k not in seen[part.chip]]
            self._judge(part)
        return ordered

    def _judge(self, part: Part) -> None:
        # characterization data (shmoo points) is in the PTRs but does not bin the part
        final = [m for m in part.tests if m["id"] not in self.replaced and m.get("gate", 1)]
        failed = [m for m in final if m["verdict"] == FAIL]
        if failed:
            first = failed[0]["path"].split("/")[0]
            part.verdict = FAIL
            part.soft_bin = (FIRST_PHASE_BIN + self.phase_order[first] if first in self.phase_order
                             else OUTSIDE_PHASES.get(first, OTHER_FAIL)[0])
        elif any(m["verdict"] == UNKNOWN for m in final):
            part.verdict, part.soft_bin = UNKNOWN, 3
        elif part.missing or not self.finished:
            part.verdict, part.soft_bin = INCOMPLETE, 2

    def soft_bin_name(self, number: int) -> str:
        if number >= FIRST_PHASE_BIN:
            return f"FAIL {self.phases[number - FIRST_PHASE_BIN]['phase_id']}"
        return SOFT_BIN_NAMES[number]

    # -- records ------------------------------------------------------------------------------
    def encode(self) -> bytes:
        run = self.run
        start = _epoch(run["started_at"])
        out = [encode("FAR", CPU_TYPE=2, STDF_VER=4), self._mir(start),
               encode("SDR", HEAD_NUM=HEAD, SITE_GRP=1, SITE_CNT=1, SITE_NUM=[SITE], LOAD_ID=run["station"])]
        for p in self.phases:
            text = f"PHASE {p['phase_id']}: {p['state']}" + (f" ({p['reason']})" if p["reason"] else "")
            out.append(encode("DTR", TEXT_DAT=text))
        for part in self.parts:
            out.extend(self._part(part))
        out.extend(self._summaries())
        last = max([run["ended_t"] or 0.0] + [m["t"] for m in self.ms]) if (run["ended_t"] or self.ms) else None
        elapsed = (last - run["started_t"]) if last is not None and run["started_t"] is not None else 0.0
        exc = run["reason"] or ("the run's process ended without recording an end"
                                if run["state"] == RunState.INTERRUPTED else "")
        out.append(encode("MRR", FINISH_T=start + max(0, int(round(elapsed))), DISP_COD=" ",
                          USR_DESC=f"{run['procedure']} run {run['id']}: {run['state']}, verdict "
                                   f"{run['verdict'] or 'none'}", EXC_DESC=exc))
        return b"".join(out)

    def _mir(self, start: int) -> bytes:
        run = self.run
        return encode("MIR", SETUP_T=start, START_T=start, STAT_NUM=1,
                      MODE_COD="E" if run["clock"] == "real" else "D", RTST_COD=" ", PROT_COD=" ",
                      BURN_TIM=65535, CMOD_COD=" ", LOT_ID=self.dut, NODE_NAM=run["host"],
                      TSTR_TYP="bringup", JOB_NAM=run["procedure"], JOB_REV=run["version"],
                      SBLOT_ID=f"run{run['id']}", EXEC_TYP="bringup", EXEC_VER=__version__,
                      USER_TXT=f"station {run['station']}, clock {run['clock']}",
                      AUX_FILE=run["procedure_path"], SPEC_NAM=run["procedure"],
                      SPEC_VER=(run["procedure_sha256"] or "")[:16], SETUP_ID=run["station"])

    def _part(self, part: Part) -> list[bytes]:
        out = [encode("PIR", HEAD_NUM=HEAD, SITE_NUM=SITE)]
        for m in part.tests:
            cond = conditions(m["coords"])
            if cond:
                out.append(encode("DTR", TEXT_DAT=f"COND: {cond}"))
            out.append(self._result(self.key_of[m["id"]], m))
        for key in part.missing:
            out.append(self._result(key, None))
        times = [m["t"] for m in part.tests]
        flags = ((_ABNORMAL if self.run["state"] in NOT_FINISHED else 0)
                 | (_PART_FAILED if part.verdict != PASS else 0)
                 | (_PF_INVALID if part.verdict == INCOMPLETE else 0))
        out.append(encode("PRR", HEAD_NUM=HEAD, SITE_NUM=SITE, PART_FLG=flags,
                          NUM_TEST=min(len(part.tests) + len(part.missing), 0xFFFF),
                          HARD_BIN=HARD_BINS[part.verdict][0], SOFT_BIN=part.soft_bin,
                          X_COORD=-32768, Y_COORD=-32768,
                          TEST_T=min(int(round((max(times) - min(times)) * 1000)), 0xFFFFFFFF) if times else 0,
                          PART_ID=part.part_id,
                          PART_TXT=f"chip {part.chip} of {self.dut}" if part.chip is not None else ""))
        return out

    def _result(self, key: StdfTest, m: dict | None) -> bytes:
        """A PTR or FTR for measurement `m`; for m None, the test marked "not executed"."""
        number = self.numbers[key]
        template = m if m is not None else self.by_key[key][0]
        if m is None:
            flags = _NOT_EXECUTED | _NO_PASS_FAIL
        else:
            flags = {PASS: 0, FAIL: _FAILED, UNKNOWN: _FAILED}[m["verdict"]]
            if m["verdict"] == UNKNOWN and (m["message"] or "").startswith("timed out"):
                flags |= _TIMEOUT
        value = None if m is None else m["value"]
        if self.functional[key]:
            if m is not None and m["verdict"] == UNKNOWN:
                flags |= _UNRELIABLE
            text = "" if m is None else (m["message"] or ("none" if value is None else f"{value:g}"))
            return encode("FTR", TEST_NUM=number, HEAD_NUM=HEAD, SITE_NUM=SITE, TEST_FLG=flags, OPT_FLAG=0xFF,
                          TEST_TXT=key.name, RSLT_TXT=text, PATG_NUM=255)
        if value is None:
            flags |= _INVALID
        low, high = template["low"], template["high"]
        parm = 0xC0  # low <= result and result <= high are passes
        if value is not None and high is not None and value > high:
            parm |= 0x08
        if value is not None and low is not None and value < low:
            parm |= 0x10
        opt = _PTR_OPT | (0x40 if low is None else 0) | (0x80 if high is None else 0)
        return encode("PTR", TEST_NUM=number, HEAD_NUM=HEAD, SITE_NUM=SITE, TEST_FLG=flags, PARM_FLG=parm,
                      RESULT=0.0 if value is None else value, TEST_TXT=key.name, OPT_FLAG=opt,
                      LO_LIMIT=low or 0.0, HI_LIMIT=high or 0.0, UNITS=template["unit"])

    def _summaries(self) -> list[bytes]:
        out = []
        for key in sorted(self.by_key, key=lambda k: self.numbers[k]):
            ms = self.by_key[key]
            fails = sum(1 for m in ms if m["verdict"] != PASS)
            if self.functional[key]:
                out.append(encode("TSR", HEAD_NUM=ALL, SITE_NUM=0, TEST_TYP="F", TEST_NUM=self.numbers[key],
                                  EXEC_CNT=len(ms), FAIL_CNT=fails, TEST_NAM=key.name, SEQ_NAME=key.path,
                                  OPT_FLAG=0x37))
                continue
            values = [float32(m["value"]) for m in ms if m["value"] is not None]
            values = [v for v in values if math.isfinite(v)]
            stats = dict(TEST_MIN=min(values), TEST_MAX=max(values), TST_SUMS=sum(values),
                         TST_SQRS=sum(v * v for v in values)) if values else {}
            out.append(encode("TSR", HEAD_NUM=ALL, SITE_NUM=0, TEST_TYP="P", TEST_NUM=self.numbers[key],
                              EXEC_CNT=len(ms), FAIL_CNT=fails, TEST_NAM=key.name, SEQ_NAME=key.path,
                              OPT_FLAG=0x04 if values else 0x37, **stats))
        hard: dict[int, int] = defaultdict(int)
        soft: dict[int, int] = defaultdict(int)
        for part in self.parts:
            hard[HARD_BINS[part.verdict][0]] += 1
            soft[part.soft_bin] += 1
        names = {n: (pf, name) for n, pf, name in HARD_BINS.values()}
        for number in sorted(hard):
            pf, name = names[number]
            out.append(encode("HBR", HEAD_NUM=ALL, SITE_NUM=0, HBIN_NUM=number, HBIN_CNT=hard[number],
                              HBIN_PF=pf, HBIN_NAM=name))
        for number in sorted(soft):
            out.append(encode("SBR", HEAD_NUM=ALL, SITE_NUM=0, SBIN_NUM=number, SBIN_CNT=soft[number],
                              SBIN_PF="P" if number == 1 else "F", SBIN_NAM=self.soft_bin_name(number)))
        abnormal = len(self.parts) if self.run["state"] in NOT_FINISHED else 0
        out.append(encode("PCR", HEAD_NUM=ALL, SITE_NUM=0, PART_CNT=len(self.parts), RTST_CNT=0,
                          ABRT_CNT=abnormal, GOOD_CNT=sum(1 for p in self.parts if p.verdict == PASS),
                          FUNC_CNT=0xFFFFFFFF))
        return out


def _chip_order(chip: str | None) -> tuple:
    if chip is None:
        return (0, 0, "")
    return (1, int(chip), "") if chip.lstrip("-").isdigit() else (2, 0, chip)


def _epoch(started_at: str) -> int:
    try:
        when = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0, int(when.timestamp()))


def stdf_bytes(reader: StoreReader, run_id: int) -> bytes:
    """Run `run_id` as STDF V4, read from one consistent moment of the store."""
    with reader.snapshot():
        run = reader.run(run_id)
        if run is None:
            raise UnknownRun(f"no run {run_id} in {reader.path}; `bringup runs --store {reader.path}` "
                             f"lists the runs it has")
        phases, measurements = reader.phases(run_id), reader.measurements(run_id)
        events = [e for e in reader.events(run_id) if e["kind"] == "instruments"]
    return StdfRun(run, phases, measurements, events).encode()
