"""Display windows without Django: sample arithmetic, µV conversion, the wire bytes."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import numpy as np
import pytest

from annotator import display


@dataclass(frozen=True)
class WireCase:
    """A window to encode, and the sha256 of each format's body."""

    n_leads: int
    n: int
    dtype: type
    seed: int
    fs: float
    gain: float
    width: int
    x0: int
    names: tuple[str, ...] | None
    method: str
    binary_sha256: str
    json_sha256: str


# The digests are those of the bodies the signal endpoint sent for these inputs
# before its maths moved out of api/: the encoding is a contract with the
# browser, so a change of any byte must be deliberate (and bump WIRE_VERSION).
WIRE_CASES = {
    "raw12": WireCase(
        12, 5000, np.int16, 0, 500.0, 1.0, 2000, 0, None, "raw",
        "112fbf2df9d2281fa29a58fdbde653a8d868398736bffd08a22cdd3312b35f88",
        "029bbe711b251431f5f5b3235758b8c13946f272e1781abe4d0189c002c2c96f",
    ),
    "m4_two_leads_clipped": WireCase(
        2, 20000, np.int16, 1, 360.0, 5.0, 300, 1234, ("II", "V5"), "m4",
        "edfbd7970011352b08cbaa62ea4fb5832dab5eb347d22418c40cc4b42aef4ea1",
        "a03b0908c99b72b236c2b4c080fd562710665e663c6a2d75cb16fd6df9d82ee3",
    ),
    "raw_int32_half_gain": WireCase(
        2, 900, np.int32, 2, 250.0, 0.5, 1000, 17, ("V2", "I"), "raw",
        "5542e3b7e188b4df077e4ef259c53a1c288d6614caf08ddd64e5f5e765ae6f8a",
        "857f7419b9fd904f759044509525f5f07ce004dfaa75702ff78559278788b477",
    ),
    # More than 4 samples per column, but M4's points would not be smaller.
    "m4_not_smaller_is_raw": WireCase(
        1, 401, np.int16, 3, 1000.0, 1.25, 100, 5, ("aVF",), "raw",
        "3cc9a7fbcef5c489df48fdba9c865d2b0c7cf6ff03d7ffffb40fba2543adf2fe",
        "8d30a3b085bfd35f659670c910a789696e27c481570896e44bd27161d6dc70e2",
    ),
}  # fmt: skip


def wave(n_leads: int, n: int, dtype: type, seed: int) -> np.ndarray:
    """Integer-only test signal (no float or RNG, so it is the same everywhere),
    with a +20,000-unit spike every 997 samples."""
    i = np.arange(n, dtype=np.int64)
    rows = [
        ((i * i * 7919 + (lead + seed) * 104729 + i * 31) % 4001) - 2000
        for lead in range(n_leads)
    ]
    out = np.stack(rows)
    out[:, ::997] += 20000
    return out.astype(dtype)


def encode(case: str, fmt: str) -> bytes:
    c = WIRE_CASES[case]
    return display.encode_signal(
        wave(c.n_leads, c.n, c.dtype, c.seed),
        exam=7,
        sampling_rate=c.fs,
        n_samples=c.x0 + c.n + 11,
        gain_uv=c.gain,
        x0=c.x0,
        width=c.width,
        lead_names=c.names or [f"L{k}" for k in range(c.n_leads)],
        fmt=fmt,
    )


@pytest.mark.parametrize("fmt", display.FORMATS)
@pytest.mark.parametrize("case", sorted(WIRE_CASES))
def test_the_wire_bytes_equal_the_stored_fixture(case, fmt):
    body = encode(case, fmt)
    assert hashlib.sha256(body).hexdigest() == getattr(
        WIRE_CASES[case], f"{fmt}_sha256"
    )
    if fmt == "binary":
        (length,) = struct.unpack_from("<I", body)
        header = json.loads(body[4 : 4 + length])
    else:
        header = json.loads(body)
    assert header["method"] == WIRE_CASES[case].method


def test_the_header_places_the_window_in_the_record():
    header = json.loads(encode("m4_two_leads_clipped", "json"))
    assert header["exam"] == 7
    assert header["x0"] == 1234 and header["n_window"] == 20000
    assert header["start"] == 1234 / 360.0
    assert header["end"] == (1234 + 20000) / 360.0
    assert header["duration"] == (1234 + 20000 + 11) / 360.0
    assert header["clipped"] is True
    assert [lead["name"] for lead in header["leads"]] == ["II", "V5"]


def test_sample_window_takes_the_samples_whose_times_fall_in_it():
    assert display.sample_window(0.0, 1.0, fs=500.0, n_samples=5000) == (0, 500)
    # 0.3 s x 1000 Hz is 300.00000000000006 in floating point: still sample 300.
    assert display.sample_window(0.3, 0.6, fs=1000.0, n_samples=5000) == (300, 600)
    assert display.sample_window(0.0011, 0.0019, fs=1000.0, n_samples=10) == (2, 2)
    assert display.sample_window(0.0, 99.0, fs=10.0, n_samples=40) == (0, 40)


def test_microvolts_round_and_clip_to_int16():
    values = np.array([[0, 3, -3, 30000, -30000]], dtype=np.int32)
    uv, clipped = display.to_microvolts(values, 1.5)
    assert uv.dtype == np.dtype("<i2") and uv.shape == values.shape
    assert uv.tolist() == [[0, 4, -4, 32767, -32768]]
    assert clipped
    same, clipped = display.to_microvolts(values[:, :3].astype(np.int16), 1.0)
    assert same.tolist() == [[0, 3, -3]] and not clipped


def test_points_are_raw_up_to_four_samples_per_column():
    signal = wave(2, 400, np.int16, 0)
    assert display.select_points(signal, 100) == ("raw", None)
    method, kept = display.select_points(wave(2, 4000, np.int16, 0), 100)
    assert method == "m4" and len(kept) == 2
    for row in kept:
        assert np.all(np.diff(row) > 0) and len(row) <= 400


def test_encoding_refuses_an_unknown_format_or_missing_lead_names():
    kw = {"exam": 1, "sampling_rate": 100.0, "n_samples": 10, "gain_uv": 1.0}
    signal = wave(2, 10, np.int16, 0)
    with pytest.raises(ValueError, match="fmt"):
        display.encode_signal(
            signal, **kw, x0=0, width=16, lead_names=["I", "II"], fmt="csv"
        )
    with pytest.raises(ValueError, match="lead names"):
        display.encode_signal(signal, **kw, x0=0, width=16, lead_names=["I"])
