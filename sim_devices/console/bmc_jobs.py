"""Long BMC commands as background jobs: `start <command>` answers at once, `job <id>` collects.

A PRBS run, an HBM training or BIST, a golden-compare run take tens of seconds on a real sled. A
console that blocks on them leaves whoever holds the line blind for that long: on a bench the
runner could not read a single interlock while a 60 s PRBS31 run was going. So the BMC runs such
a command as a job: `start mesh prbs 0 1 all PRBS31 60` answers `job=<id> done_in=<seconds>` at
once, the sled's other commands keep answering meanwhile (the runner reads its interlocks), and
`job <id>` answers `state=running left_s=<seconds>` until the clock reaches the job's end, then
`state=done` followed by the command's own reply (or the command's own error).

The command's outcome is worked out when it starts, as the blocking form always has (the sled's
physics is advanced lazily to the clock): what changes is only who waits, and that the wait is
one the runner watches. Collecting is a read: asking again gives the same answer.
"""

from __future__ import annotations

from typing import Callable

from bringup.sim_devices.console.bmc_format import E_NO_SUCH, E_USAGE, Answer, ConsoleError, record

KEPT = 32  # finished jobs remembered for `job <id>` (a driver collects each once, maybe twice)


class Jobs:
    """The BMC's job table. Not thread-safe by itself: the shell calls it under the lab's lock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._jobs: dict[int, tuple[float, Answer]] = {}
        self._next = 1

    def start(self, answer: Answer) -> Answer:
        """Hold a command's answer until `answer.wait_s` of clock time have passed."""
        if answer.code:  # refused outright (usage, no such chip): nothing started
            return answer
        job, self._next = self._next, self._next + 1
        self._jobs[job] = (self._now() + answer.wait_s, answer)
        for old in sorted(self._jobs)[:-KEPT]:
            del self._jobs[old]
        return Answer([record(job=job, done_in=float(answer.wait_s))])

    def collect(self, args: list[str]) -> Answer:
        if len(args) != 1 or not args[0].isdigit():
            raise ConsoleError(E_USAGE, "usage: job <id>")
        job = int(args[0])
        if job not in self._jobs:
            raise ConsoleError(E_NO_SUCH, f"no job {job} (the last {KEPT} are kept)")
        done_t, answer = self._jobs[job]
        left = done_t - self._now()
        if left > 0:
            return Answer([record(job=job, state="running", left_s=float(left))])
        if answer.code:
            return Answer(code=answer.code, text=answer.text)
        return Answer([record(job=job, state="done"), *answer.lines])
