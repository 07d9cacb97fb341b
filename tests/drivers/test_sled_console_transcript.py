"""The sled console driver against transcripts: the exact bytes it sends, the bytes a console answers.

No pty, no simulator: a scripted port replays (sent, received) pairs. The helpers below frame
commands and replies as docs/console.md specifies, independently of the driver's own code.
"""

import binascii
import math

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError, InstrumentUnreachable
from bringup.drivers.sled_console import SledConsole

PROMPT = b"sled> "
RAILS = "VDD_CORE,VDD_SRAM,AVDD_PLL,SERDES_AVDD,SERDES_AVTT,HBM_VPP,HBM_VDD,HBM_VDDQ,VDDIO"
ID = f"model=TRN-SLED serial=SN0042 firmware=\"bmc 2.1\" chips=2 rails={RAILS} ports=4 stacks=4 pcie_lanes=16 mesh_lanes=8"


class Mismatch(BaseException):
    """BaseException: the driver turns Exceptions into its own errors, which would hide this."""


class ScriptedPort:
    """The part of a pyserial port the driver uses. Each write must be the next expected bytes;
    the paired reply becomes readable. An empty reply is silence: read() returns b'' (timed out)."""

    def __init__(self, pairs):
        self.pairs = list(pairs)
        self.pending = bytearray()
        self.timeout = None
        self.flushes = 0
        self.written = []
        self.opened_with = None

    def __call__(self, url, **kw):  # the driver's serial_factory
        self.opened_with = (url, kw)
        return self

    def write(self, data):
        if not self.pairs:
            raise Mismatch(f"unexpected write {data!r}: the transcript is over")
        expected, reply = self.pairs.pop(0)
        if data != expected:
            raise Mismatch(f"expected {expected!r}, driver sent {data!r}")
        self.written.append(data)
        self.pending += reply
        return len(data)

    def read(self, size=1):
        out = bytes(self.pending[:size])
        del self.pending[:size]
        return out

    @property
    def in_waiting(self):
        return len(self.pending)

    def reset_input_buffer(self):
        self.flushes += 1
        self.pending.clear()

    def close(self):
        pass


def crc(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def cmd(tag: int, text: str) -> bytes:
    line = f"@{tag} {text}".encode()
    return line + b" *%04X\n" % crc(line)


def reply(tag, lines=(), status="OK", prompt=True) -> bytes:
    body = b"".join(line.encode() + b"\r\n" for line in lines)
    head = status.encode() + (b" @%d" % tag if tag is not None else b"")
    return body + head + b" #%d:%04X\r\n" % (len(body), crc(body + head)) + (PROMPT if prompt else b"")


OPEN = [(b"\n", PROMPT), (cmd(1, "id"), reply(1, [ID]))]


def driver(pairs, **options):
    port = ScriptedPort(OPEN + list(pairs))
    d = SledConsole(role="sled", resource="/dev/ttyUSB3", clock=SimClock(),
                    serial_factory=port, options={"timeout": 0.05, **options})
    d.open()
    return d, port


def test_the_console_check_is_crc16_ccitt_false():
    assert crc(b"123456789") == 0x29B1  # the catalogue's check value
    assert cmd(1, "id") == b"@1 id *%04X\n" % crc(b"@1 id")


def test_open_resynchronises_then_identifies_the_sled():
    d, port = driver([])
    assert port.opened_with[0] == "/dev/ttyUSB3"
    assert port.opened_with[1]["baudrate"] == 115200
    assert d.chips == 2 and d.rails[0] == "VDD_CORE" and d.ports == 4
    assert d.identity() == "TRN-SLED s/n SN0042 firmware bmc 2.1 at /dev/ttyUSB3"
    assert not port.pairs


def test_visa_style_serial_resource_opens_the_same_port():
    port = ScriptedPort(OPEN)
    SledConsole(role="sled", resource="ASRL/dev/ttyS1::INSTR", clock=SimClock(),
                serial_factory=port).open()
    assert port.opened_with[0] == "/dev/ttyS1"


def test_rail_voltage_decodes_ulinear16_with_the_rails_vout_mode():
    d, _ = driver([(cmd(2, "pmbus 1 VDD_CORE read 0x20,0x8B"),
                    reply(2, ["code=0x20 name=VOUT_MODE value=0x0016", "code=0x8B name=READ_VOUT value=0x0300"]))])
    assert d.rail_voltage("VDD_CORE", chip=1) == 0.75


def test_rail_current_decodes_linear11():
    d, _ = driver([(cmd(2, "pmbus 0 VDD_SRAM read 0x8C"), reply(2, ["code=0x8C name=READ_IOUT value=0xE804"]))])
    assert d.rail_current("VDD_SRAM") == 0.5


def test_a_device_with_no_sample_reads_nan_not_a_number():
    d, _ = driver([(cmd(2, "pmbus 0 VDD_CORE read 0x20,0x8B"),
                    reply(2, ["code=0x20 name=VOUT_MODE value=0x0016", "code=0x8B name=READ_VOUT value=0xFFFF"]))])
    assert math.isnan(d.rail_voltage("VDD_CORE"))


def test_a_pmbus_nack_is_an_error_in_the_sleds_own_words():
    d, _ = driver([(cmd(2, "pmbus 0 HBM_VDD read 0x8C"),
                    reply(2, status="ERR 30 PMBus: chip0 HBM_VDD: no acknowledge (bus fault)"))])
    with pytest.raises(DriverError, match="ERR 30 PMBus: chip0 HBM_VDD: no acknowledge"):
        d.rail_current("HBM_VDD")


def test_a_garbled_reply_is_asked_for_again_after_resynchronising_and_the_retry_recorded():
    good = reply(2, ["chip=0 tj_c=61.5 hbm_c=55.0 power_w=400.0"])
    bad = good.replace(b"61.5", b"91.5")  # one byte garbled: the CRC no longer holds
    d, port = driver([(cmd(2, "sensors 0"), bad), (b"\n", PROMPT), (cmd(3, "last 2"), good)])
    assert d.tj(0) == 61.5
    assert [(r.command, r.attempt) for r in d.retries] == [("sensors 0", 2)]
    assert "CRC" in d.retries[0].why
    assert port.flushes == 2  # at open, and before the resynchronising empty line


def test_a_dropped_byte_is_caught_by_the_length():
    good = reply(2, ["chip=0 tj_c=61.5"])
    dropped = good.replace(b"61.5", b"615")  # length no longer matches the body
    d, _ = driver([(cmd(2, "sensors 0"), dropped), (b"\n", PROMPT), (cmd(3, "last 2"), good)])
    assert d.tj(0) == 61.5
    assert "shorter than its stated length" in d.retries[0].why


def test_a_long_test_whose_start_reply_was_lost_is_not_started_again():
    started = reply(2, ["job=7 done_in=30.0"])
    lanes = ["lane=0 pattern=PRBS31 seconds=30 bits=3e12 errors=0 locked=1 after_fec=1"]
    d, port = driver([(cmd(2, "start mesh prbs 0 1 0 PRBS31 30"), started[:-20]), (b"\n", PROMPT),
                      (cmd(3, "last 2"), started),
                      (cmd(4, "job 7"), reply(4, ["job=7 state=done", *lanes]))])
    assert d.prbs_ber(1, lane=0) < 1e-12
    assert sum(b"start mesh prbs" in w for w in port.written) == 1


def test_a_long_test_is_a_job_whose_time_passes_in_the_drivers_pause_not_on_the_line():
    """Start, let the time pass (the runner watches its interlocks meanwhile), collect; a job that
    is still running is asked again after the time it says it has left."""
    lanes = ["lane=0 pattern=PRBS31 seconds=60 bits=6e12 errors=0 locked=1 after_fec=1"]
    d, port = driver([(cmd(2, "start mesh prbs 0 1 all PRBS31 60"), reply(2, ["job=3 done_in=60.0"])),
                      (cmd(3, "job 3"), reply(3, ["job=3 state=running left_s=1.5"])),
                      (cmd(4, "job 3"), reply(4, ["job=3 state=done", *lanes]))])
    paused: list[float] = []
    with d.within(pause=lambda seconds: paused.append(seconds) or d.clock.sleep(seconds)):
        assert d.prbs_ber(1, duration=60.0) < 1e-12
    assert paused == [60.0, 1.5] and d.clock.now() == 61.5
    assert not port.pairs


def test_a_read_that_never_reached_the_console_is_sent_again():
    d, _ = driver([(cmd(2, "sensors 1"), b""), (b"\n", PROMPT),
                   (cmd(3, "last 2"), reply(3, status="ERR 21 @2 was not the last command run (last: @1)")),
                   (cmd(4, "sensors 1"), reply(4, ["chip=1 tj_c=44.0"]))])
    assert d.tj(1) == 44.0
    assert [r.attempt for r in d.retries] == [2, 3]


def test_a_read_is_asked_again_of_a_console_that_cannot_replay():
    d, _ = driver([(cmd(2, "sensors 1"), b"chip=1 tj"), (b"\n", PROMPT),
                   (cmd(3, "last 2"), reply(3, status="ERR 10 unknown command 'last'")),
                   (cmd(4, "sensors 1"), reply(4, ["chip=1 tj_c=44.0"]))])
    assert d.tj(1) == 44.0


def test_a_stale_reply_with_an_older_tag_is_never_taken_for_ours():
    stale = reply(1, ["chip=0 tj_c=20.0"])  # a late answer to an earlier command
    d, _ = driver([(cmd(2, "sensors 0"), stale + reply(2, ["chip=0 tj_c=70.25"]))])
    assert d.tj(0) == 70.25
    assert d.retries == []


def test_garbage_that_never_verifies_is_unknown_never_a_value():
    junk = b"chip=0 tj_c=45.0\r\nOK @%d #17:0000\r\n" + PROMPT
    pairs = [(cmd(2, "sensors 0"), junk % 2)]
    for tag in (3, 4, 5):
        pairs += [(b"\n", PROMPT), (cmd(tag, "last 2"), junk % 2)]
    d, _ = driver(pairs, retries=3)
    with pytest.raises(DriverError, match="no verified reply to 'sensors 0' in 4 attempts"):
        d.tj(0)
    assert len(d.retries) == 3


def test_a_console_that_goes_silent_is_unreachable_naming_role_and_port():
    d, port = driver([(cmd(2, "sensors"), b""), (b"\n", b""), (b"\n", b"")])
    with pytest.raises(InstrumentUnreachable) as err:
        d.max_tj()
    assert "role 'sled'" in str(err.value) and "/dev/ttyUSB3" in str(err.value)
    assert "s of wall time" in str(err.value)  # a wall-time guard says so, even on a simulated clock
    with pytest.raises(InstrumentUnreachable):  # and stays lost: nothing more is written
        d.max_tj()
    assert not port.pairs


def test_a_lost_reply_to_an_action_is_recovered_by_asking_not_by_sending_it_again():
    # the console ran `stress start` but its reply was garbled; `last 2` replays that very reply
    lost = reply(2).replace(b"OK", b"0K")
    d, port = driver([(cmd(2, "stress start 80 compute"), lost), (b"\n", PROMPT),
                      (cmd(3, "last 2"), reply(2))])
    d.stress_start(80.0)
    assert sum(b"stress start" in w for w in port.written) == 1


def test_an_action_that_never_arrived_is_sent_again_once_the_console_says_so():
    d, port = driver([(cmd(2, "pcie retrain 0"), b""), (b"\n", PROMPT),
                      (cmd(3, "last 2"), reply(3, status="ERR 21 @2 was not the last command run (last: @1)")),
                      (cmd(4, "pcie retrain 0"), reply(4)),
                      (cmd(5, "pcie status 0"), reply(5, ["ltssm=L0 up=1 speed_gts=32.0 width=16"]))])
    d.pcie_retrain(0)
    assert [w for w in port.written if b"retrain" in w] == [cmd(2, "pcie retrain 0"), cmd(4, "pcie retrain 0")]


def test_an_action_is_not_repeated_on_a_console_that_cannot_replay():
    d, port = driver([(cmd(2, "power on"), b""), (b"\n", PROMPT),
                      (cmd(3, "last 2"), reply(3, status="ERR 10 unknown command 'last'"))])
    with pytest.raises(DriverError, match="not sent again"):
        d.power_on()
    assert sum(b"power on" in w for w in port.written) == 1


def test_an_action_whose_outcome_stays_unknown_is_an_error_and_is_not_repeated():
    garbled = reply(2).replace(b"OK", b"OX")
    pairs = [(cmd(2, "mesh retrain 0 1"), garbled)]
    for tag in (3, 4, 5):
        pairs += [(b"\n", PROMPT), (cmd(tag, "last 2"), garbled)]
    d, port = driver(pairs, retries=3)
    with pytest.raises(DriverError, match="not sent again blindly"):
        d.mesh_retrain(1, chip=0)
    assert sum(b"mesh retrain" in w for w in port.written) == 1


def test_a_command_garbled_on_its_way_in_was_not_run_and_is_sent_again():
    d, _ = driver([(cmd(2, "stress stop"), reply(None, status="ERR 13 command checksum mismatch: not run")),
                   (cmd(3, "stress stop"), reply(3))])
    d.stress_stop()
    assert "garbled" in d.retries[0].why


def test_check_rails_names_the_status_bits():
    rails = ["rail=VDD_CORE phase=on enabled=1 pg=1 status_word=0x0000 status_vout=0x0000 status_iout=0x0000 "
             "status_input=0x0000 status_temperature=0x0000 status_cml=0x0000",
             "rail=VDD_SRAM phase=hiccup enabled=1 pg=0 status_word=0x8850 status_vout=0x0010 status_iout=0x0080 "
             "status_input=0x0000 status_temperature=0x0000 status_cml=0x0000"]
    d, _ = driver([(cmd(2, "rail 0"), reply(2, rails))])
    with pytest.raises(DriverError) as err:
        d.check_rails(chip=0)
    text = str(err.value)
    assert "chip0 VDD_SRAM" in text and "VDD_CORE" not in text
    assert "STATUS_WORD 0x8850 (VOUT, POWER_GOOD#, OFF, IOUT_OC)" in text
    assert "IOUT_OC_FAULT" in text and "VOUT_UV_FAULT" in text


def test_unknown_health_is_nan_and_unhealthy_is_zero():
    d, _ = driver([(cmd(2, "health 0"), reply(2, ['chip=0 health=unknown boot=off problems=""'])),
                   (cmd(3, "health 1"), reply(3, ['chip=1 health=unhealthy boot=ready problems="HBM stack 0 failed"']))])
    assert math.isnan(d.health(0))
    assert d.health(1) == 0.0


def test_max_tj_is_nan_when_any_sensor_has_failed():
    d, _ = driver([(cmd(2, "sensors"), reply(2, ["chip=0 tj_c=60.0", "chip=1 tj_c=nan"]))])
    assert math.isnan(d.max_tj())


def test_prbs_ber_bound_at_the_asked_confidence_and_an_unlocked_checker_fails():
    lanes = ["lane=0 pattern=PRBS31 seconds=30 bits=3e12 errors=0 locked=1 after_fec=1",
             "lane=1 pattern=PRBS31 seconds=30 bits=3e12 errors=2 locked=1 after_fec=1"]
    def job(tag: int, command: str, n: int, rows: list[str]) -> list[tuple[bytes, bytes]]:
        return [(cmd(tag, f"start {command}"), reply(tag, [f"job={n} done_in=30.0"])),
                (cmd(tag + 1, f"job {n}"), reply(tag + 1, [f"job={n} state=done", *rows]))]
    d, _ = driver(job(2, "mesh prbs 0 1 all PRBS31 30", 1, lanes) + job(4, "mesh prbs 0 2 0 PRBS31 30", 2, [lanes[0]])
                  + job(6, "mesh prbs 0 3 all PRBS7 10", 3, ["lane=0 bits=0 errors=0 locked=0"]))
    worst = d.prbs_ber(1, "PRBS31", 95.0)
    assert worst == pytest.approx(6.2958 / 3e12, rel=1e-4)      # chi2(0.95, 6) / 2N: two errors
    assert d.prbs_ber(2, lane=0) == pytest.approx(-math.log(0.05) / 3e12, rel=1e-9)  # zero errors
    assert d.prbs_ber(3, "PRBS7", duration=10.0) == 1.0


def test_telemetry_is_one_round_trip_for_every_chip():
    d, port = driver([(cmd(2, "sensors"), reply(2, [
        "chip=0 tj_c=50.5 hbm_c=45.0 power_w=300.0 vdd_core_v=0.74 idd_core_a=300.0 throttle=0x00",
        "chip=1 tj_c=52.5 hbm_c=46.0 power_w=310.0 vdd_core_v=0.73 idd_core_a=310.0 throttle=0x20"]))])
    t = d.telemetry()
    assert t["sled.chip1.tj"] == (52.5, "degC") and t["sled.chip1.throttle"] == (32.0, "")
    assert t["sled.chip0.vdd_core"] == (0.74, "V") and len(t) == 12
    assert not port.pairs


def test_in_the_runners_tick_readings_share_one_reply_and_outside_it_each_asks_afresh():
    """Five interlocks on one `sensors` snapshot cost one round trip; a reading outside a tick (a
    step, after anything may have acted) never reuses an earlier reply."""
    rows = ["chip=0 tj_c=50.5 hbm_c=45.0", "chip=1 tj_c=52.5 hbm_c=46.0"]
    d, port = driver([(cmd(2, "sensors"), reply(2, rows)), (cmd(3, "coolant"), reply(3, ["flow_lpm=4.0 leak=0"])),
                      (cmd(4, "sensors 1"), reply(4, [rows[1]])), (cmd(5, "sensors"), reply(5, rows))])
    with d.within(shared_reads={}):
        assert (d.max_tj(), d.hbm_temperature(0), d.hbm_temperature(1)) == (52.5, 45.0, 46.0)
        assert (d.coolant_flow(), d.leak()) == (4.0, 0.0)
    assert d.hbm_temperature(1) == 46.0 and d.max_tj() == 52.5
    assert not port.pairs and sum(b"sensors" in w for w in port.written) == 3


def test_power_on_waits_on_the_clock_until_every_chip_has_booted():
    d, _ = driver([(cmd(2, "power on"), reply(2)),
                   (cmd(3, "power"), reply(3, ["chip=0 state=on boot=fw_boot", "chip=1 state=up boot=off"])),
                   (cmd(4, "power"), reply(4, ["chip=0 state=on boot=ready", "chip=1 state=on boot=ready"]))],
                  poll=0.25)
    d.power_on()
    assert d.clock.now() == 0.25


def test_power_on_that_fails_names_the_chip_and_the_faulted_rail():
    rails = ["rail=VDD_CORE phase=on enabled=1 pg=1 status_word=0x0000 status_vout=0x0000 status_iout=0x0000 "
             "status_input=0x0000 status_temperature=0x0000 status_cml=0x0000",
             "rail=VDD_SRAM phase=hiccup enabled=1 pg=0 status_word=0x8850 status_vout=0x0010 status_iout=0x0080 "
             "status_input=0x0000 status_temperature=0x0000 status_cml=0x0000",
             "rail=AVDD_PLL phase=off enabled=0 pg=0 status_word=0x0840 status_vout=0x0000 status_iout=0x0000 "
             "status_input=0x0000 status_temperature=0x0000 status_cml=0x0000"]
    d, _ = driver([(cmd(2, "power on 0"), reply(2)),
                   (cmd(3, "power 0"), reply(3, ["chip=0 state=failed boot=off"])),
                   (cmd(4, "health 0"), reply(4, ['chip=0 health=unknown boot=off problems="sequencer failed"'])),
                   (cmd(5, "rail 0"), reply(5, rails))])
    with pytest.raises(DriverError) as err:
        d.power_on(chip=0)
    assert "chip0" in str(err.value) and "VDD_SRAM" in str(err.value) and "IOUT_OC" in str(err.value)
    assert "AVDD_PLL" not in str(err.value)  # a rail never enabled is not the cause


def test_a_refused_power_on_is_an_error_with_the_sleds_reason():
    d, _ = driver([(cmd(2, "power on"), reply(2, status="ERR 20 power-on refused: input 0.00 V below UV"))])
    with pytest.raises(DriverError, match="input 0.00 V below UV"):
        d.power_on()


def test_power_on_forgives_one_poll_before_the_sequence_starts_but_not_a_chip_that_stays_off():
    d, _ = driver([(cmd(2, "power on 1"), reply(2)),
                   (cmd(3, "power 1"), reply(3, ["chip=1 state=off enabled=0 pg=0 rails=9 boot=off"])),
                   (cmd(4, "power 1"), reply(4, ["chip=1 state=on enabled=9 pg=9 rails=9 boot=ready"]))])
    d.power_on(chip=1)
    d, _ = driver([(cmd(2, "power on 1"), reply(2)),
                   (cmd(3, "power 1"), reply(3, ["chip=1 state=off enabled=0 pg=0 rails=9 boot=off"])),
                   (cmd(4, "power 1"), reply(4, ["chip=1 state=off enabled=0 pg=0 rails=9 boot=off"])),
                   (cmd(5, "health 1"), reply(5, ['chip=1 health=unknown boot=off problems="thermal trip"'])),
                   (cmd(6, "rail 1"), reply(6, []))])
    with pytest.raises(DriverError, match="chip1 boot off .thermal trip"):
        d.power_on(chip=1)


# -- cooling: the `coolant` record --------------------------------------------------------------------
AIR_COOLANT = ("cooling=air inlet_c=30.0 outlet_c=40.5 flow_lpm=7645.55 pump_ok=1 leak=0 heat_w=1600.0 "
               "fan_rpm=12000.0,0.0,12000.0,- cooling_ok=0")
LIQUID_COOLANT = ("cooling=liquid inlet_c=30.0 outlet_c=36.1 flow_lpm=4.0 pump_ok=1 leak=0 heat_w=1700.0 "
                  "fan_rpm= cooling_ok=1")


def test_fan_rpm_reads_each_fan_from_the_coolant_record_and_a_missing_tach_is_nan():
    d, port = driver([(cmd(2, "coolant"), reply(2, [AIR_COOLANT])), (cmd(3, "coolant"), reply(3, [AIR_COOLANT])),
                      (cmd(4, "coolant"), reply(4, [AIR_COOLANT]))])
    assert d.fan_rpm(0) == 12000.0
    assert d.fan_rpm(fan=1) == 0.0                       # a stopped fan is a reading, not an error
    assert math.isnan(d.fan_rpm(3))                      # `-`: the tachometer gave nothing
    assert not port.pairs


def test_fan_rpm_on_a_liquid_sled_is_an_error_that_says_so_and_a_fan_past_the_last_one_too():
    d, _ = driver([(cmd(2, "coolant"), reply(2, [LIQUID_COOLANT])), (cmd(3, "coolant"), reply(3, [AIR_COOLANT]))])
    with pytest.raises(DriverError, match="liquid-cooled and has no fans; watch cooling_ok"):
        d.fan_rpm(0)
    with pytest.raises(DriverError, match="no fan 4; the sled has fans 0..3"):
        d.fan_rpm(4)


def test_cooling_ok_is_the_bmcs_verdict_and_a_record_without_one_is_an_error():
    d, _ = driver([(cmd(2, "coolant"), reply(2, [LIQUID_COOLANT])), (cmd(3, "coolant"), reply(3, [AIR_COOLANT])),
                   (cmd(4, "coolant"), reply(4, ["cooling=air inlet_c=30.0 fan_rpm=8400.0"]))])
    assert d.cooling_ok() == 1.0
    assert d.cooling_ok() == 0.0
    with pytest.raises(DriverError, match="no number 'cooling_ok'"):
        d.cooling_ok()                                   # older firmware: never a silent pass


def test_coolant_flow_on_an_air_sled_is_its_airflow_in_litres_per_minute():
    d, _ = driver([(cmd(2, "coolant"), reply(2, [AIR_COOLANT]))])
    assert d.coolant_flow() == 7645.55
