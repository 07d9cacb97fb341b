"""The simulated sled's console on a real pseudo-terminal, spoken to byte by byte as docs/console.md says."""

import binascii
import math
import re

import pytest
import serial

from bringup.core.clock import SimClock
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.console.console_server import ConsoleServer
from bringup.sim_devices.sled.sled import Sled

PROMPT = b"sled> "
STATUS = re.compile(rb"^(OK|ERR (\d+) .*?)( @(\d+))? #(\d+):([0-9A-F]{4})$")


def crc(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def tagged(tag: int, text: str) -> bytes:
    line = f"@{tag} {text}".encode()
    return line + b" *%04X\n" % crc(line)


def parse(raw: bytes) -> tuple[list[bytes], bytes, int | None]:
    """(body lines, status, tag) of one reply, checking its framing: prompt, length and CRC."""
    assert raw.endswith(b"\r\n" + PROMPT), raw[-40:]
    lines = raw[: -len(PROMPT)].split(b"\r\n")[:-1]
    m = STATUS.match(lines[-1])
    assert m, lines[-1]
    body = b"".join(line + b"\r\n" for line in lines[:-1])
    head = lines[-1].rsplit(b" #", 1)[0]
    assert int(m.group(5)) == len(body)
    assert int(m.group(6), 16) == crc(body + head)
    return lines[:-1], m.group(1), int(m.group(4)) if m.group(4) else None


@pytest.fixture
def lab():
    clock = SimClock()
    sled = Sled(SledConfig(n_chips=2), clock, seed=7)
    sled.set_input(12.0, 400.0)
    with ConsoleServer(sled) as server:
        port = serial.serial_for_url(server.path, baudrate=115200, timeout=2.0)
        assert talk(port, b"\n") == PROMPT  # an empty line: just the prompt
        yield sled, server, port
        port.close()


def talk(port, data: bytes) -> bytes:
    port.write(data)
    return port.read_until(PROMPT)


def test_id_is_framed_with_length_and_crc(lab):
    sled, server, port = lab
    assert server.path.startswith("/dev/")
    body, status, tag = parse(talk(port, b"id\n"))
    assert status == b"OK" and tag is None
    assert b"chips=2" in body[0] and b"rails=VDD_CORE,VDD_SRAM" in body[0]


def test_a_tag_comes_back_in_the_status_line(lab):
    _, _, port = lab
    _, status, tag = parse(talk(port, tagged(41, "pll 0")))
    assert (status, tag) == (b"OK", 41)


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending_gives_exactly_one_reply(lab, ending):
    _, _, port = lab
    parse(talk(port, b"boot 1" + ending))
    port.write(b"boot 1" + ending)
    parse(port.read_until(PROMPT))
    port.timeout = 0.2
    assert port.read(1) == b""  # no second prompt from a CRLF read as two lines


def test_a_command_with_a_bad_checksum_is_refused_and_not_run(lab):
    sled, _, port = lab
    _, status, tag = parse(talk(port, b"@5 power on *0000\n"))
    assert status.startswith(b"ERR 13") and tag is None
    sled.clock.advance(3.0)
    assert sled.boot_state(0) == "off"


def test_power_on_boots_the_sled_and_the_rails_read_what_the_regulator_says(lab):
    sled, _, port = lab
    parse(talk(port, tagged(1, "power on")))
    sled.clock.advance(3.0)
    body, _, _ = parse(talk(port, b"power\n"))
    assert all(b"state=on" in line and b"boot=ready" in line for line in body) and len(body) == 2
    body, _, _ = parse(talk(port, b"pmbus 1 VDD_CORE read 0x20,READ_VOUT\n"))
    words = [int(re.search(rb"value=0x([0-9A-F]+)", line).group(1), 16) for line in body]
    assert words == [sled.pmbus_read(1, "VDD_CORE", 0x20), sled.pmbus_read(1, "VDD_CORE", 0x8B)]
    (line,), _, _ = parse(talk(port, b"rail 1 VDD_CORE\n"))
    vout = float(re.search(rb"vout_v=(\S+)", line).group(1))
    assert vout == words[1] / 1024.0 and abs(vout - 0.75) < 0.02


def test_last_replays_the_last_tagged_reply_and_only_that_one(lab):
    _, _, port = lab
    first = talk(port, tagged(7, "sensors 0"))
    assert talk(port, tagged(8, "last 7")) == first
    _, status, tag = parse(talk(port, tagged(9, "last 6")))
    assert status.startswith(b"ERR 21") and tag == 9


def test_errors_carry_the_documented_codes(lab):
    sled, _, port = lab
    assert parse(talk(port, b"frobnicate\n"))[1].startswith(b"ERR 10 ")
    assert parse(talk(port, b"pll\n"))[1].startswith(b"ERR 11 ")
    assert parse(talk(port, b"sensors 9\n"))[1].startswith(b"ERR 12 no chip 9")
    assert parse(talk(port, b"hbm train 0\n"))[1].startswith(b"ERR 20 ")  # not booted
    sled.inject("sensor_stuck", target={"chip": 0, "sensor": "rail:HBM_VDD"}, params={"mode": "nack"})
    assert parse(talk(port, b"pmbus 0 HBM_VDD read 0x8C\n"))[1].startswith(b"ERR 30 ")


def test_a_prbs_run_takes_its_time_on_the_simulated_clock(lab):
    sled, _, port = lab
    parse(talk(port, b"power on\n"))
    sled.clock.advance(3.0)
    before = sled.clock.now()
    body, status, _ = parse(talk(port, b"mesh prbs 0 2 all PRBS31 30\n"))
    assert status == b"OK" and len(body) == 8 and all(b"locked=1" in line for line in body)
    assert sled.clock.now() == before + 30.0


def test_a_prbs_run_as_a_job_answers_at_once_and_the_sled_keeps_answering_meanwhile(lab):
    """The console is never held by a long test: start answers at once, other commands (the
    interlocks' reads) go on while the clock runs, and job <id> gives the run's reply at its end."""
    sled, _, port = lab
    parse(talk(port, b"power on\n"))
    sled.clock.advance(3.0)
    before = sled.clock.now()
    body, status, _ = parse(talk(port, b"start mesh prbs 0 2 all PRBS31 30\n"))
    assert status == b"OK" and body == [b"job=1 done_in=30.0"] and sled.clock.now() == before
    assert parse(talk(port, b"sensors 0\n"))[1] == b"OK"  # the line is free for the interlocks
    sled.clock.advance(12.5)
    body, status, _ = parse(talk(port, b"job 1\n"))
    assert status == b"OK" and body == [b"job=1 state=running left_s=17.5"]
    sled.clock.advance(17.5)
    body, status, _ = parse(talk(port, b"job 1\n"))
    assert status == b"OK" and body[0] == b"job=1 state=done" and len(body) == 9
    assert all(b"locked=1" in line for line in body[1:])
    assert parse(talk(port, b"job 1\n"))[0] == body  # collecting is a read: the same answer again
    # a command refused outright starts no job; an unknown job is an error of its own
    assert parse(talk(port, b"start mesh prbs 0 9 all PRBS31 30\n"))[1].startswith(b"ERR 12")
    assert parse(talk(port, b"job 2\n"))[1].startswith(b"ERR 12")


def test_a_failed_sensor_prints_nan(lab):
    sled, _, port = lab
    sled.inject("sensor_stuck", target={"chip": 1, "sensor": "tj"}, params={"mode": "nan"})
    (line,), _, _ = parse(talk(port, b"sensors 1\n"))
    assert math.isnan(float(re.search(rb"tj_c=(\S+)", line).group(1)))


def _twenty_replies(noise):
    sled = Sled(SledConfig(n_chips=2), SimClock(), seed=3)
    if noise:
        sled.inject("console_noise", params=noise)
    with ConsoleServer(sled) as server:
        port = serial.serial_for_url(server.path, timeout=0.5)
        port.write(b"sensors\n" * 20)
        data = port.read(1 << 20)  # everything: read() returns once the line has been quiet for the timeout
        port.close()
    return data, server.impaired_lines


def test_noise_damages_lines_and_does_so_the_same_way_for_the_same_seed():
    clean, none_hit = _twenty_replies(None)
    replies = clean.split(PROMPT)[:-1]
    assert none_hit == 0 and len(replies) == 20
    for r in replies:
        parse(r + PROMPT)
    noise = {"drop_rate": 0.2, "garble_rate": 0.2, "stall_rate": 0.0}
    noisy, hits = _twenty_replies(noise)
    assert hits > 0 and noisy != clean
    assert _twenty_replies(noise) == (noisy, hits)


def test_a_console_stalled_for_good_sends_nothing_and_still_stops():
    clock = SimClock()
    sled = Sled(SledConfig(n_chips=1), clock, seed=1)
    server = ConsoleServer(sled)
    server.start()
    port = serial.serial_for_url(server.path, timeout=0.2)
    assert talk(port, b"\n") == PROMPT
    sled.inject("console_noise", params={"drop_rate": 0.0, "garble_rate": 0.0, "stall_rate": 1.0,
                                         "stall_s": math.inf})
    port.write(b"id\n")
    assert port.read(1) == b""
    server.stop()
    with pytest.raises(serial.SerialException):  # the console is gone: the port says so
        port.read(1)
    port.close()
