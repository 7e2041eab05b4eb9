"""Lead naming, channel triage, derived limb leads and integer storage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from annotator.waveforms import (
    STANDARD_LEADS,
    derive_limb_leads,
    is_non_ecg_channel,
    normalize_lead_name,
    standardize_leads,
    to_integer_signal,
)

# Finite microvolt values well inside what any ECG amplifier records.
microvolts = st.floats(-50_000, 50_000, allow_nan=False, allow_infinity=False)


def lead_pair(n_max: int = 200):
    return st.integers(1, n_max).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=microvolts),
            hnp.arrays(np.float64, n, elements=microvolts),
        )
    )


# --- normalize_lead_name ---------------------------------------------------


def test_standard_leads_are_the_twelve_in_conventional_order():
    assert STANDARD_LEADS == (
        "I",
        "II",
        "III",
        "aVR",
        "aVL",
        "aVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
    )


@pytest.mark.parametrize("lead", STANDARD_LEADS)
def test_standard_names_map_to_themselves_in_any_case(lead):
    assert normalize_lead_name(lead) == lead
    assert normalize_lead_name(lead.lower()) == lead
    assert normalize_lead_name(lead.upper()) == lead


@pytest.mark.parametrize(
    ("spelling", "lead"),
    [
        ("DI", "I"),
        ("DII", "II"),
        ("DIII", "III"),
        ("di", "I"),
        ("D2", "II"),
        ("lead I", "I"),
        ("Lead_II", "II"),
        ("LEAD-III", "III"),
        ("lead 2", "II"),
        ("i", "I"),
        ("AVR", "aVR"),
        ("avr", "aVR"),
        ("a VL", "aVL"),
        ("aV-F", "aVF"),
        ("lead aVF", "aVF"),
        ("v1", "V1"),
        ("V 5", "V5"),
        ("v_6", "V6"),
        ("C3", "V3"),
        ("MLII", "II"),
        ("MLI", "I"),
        ("MLIII", "III"),
        ("ml ii", "II"),
        ("  II  ", "II"),
    ],
)
def test_common_spellings_map_to_the_standard_lead(spelling, lead):
    assert normalize_lead_name(spelling) == lead


@pytest.mark.parametrize(
    "name",
    [
        "ECG",
        "ECG1",
        "ECG 2",
        "CH1",
        "1",
        "V7",
        "V3R",
        "vx",
        "X",
        "VR",
        "-aVR",
        "",
        "IV",
    ],
)
def test_names_that_are_not_one_of_the_twelve_leads_give_none(name):
    assert normalize_lead_name(name) is None


# --- is_non_ecg_channel ----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "RESP",
        "Resp",
        "respiration",
        "BP",
        "ABP",
        "ART",
        "SpO2",
        "PLETH",
        "EDR",
        "vx",
        "vy",
        "vz",
        "X",
        "Y",
        "Z",
        "Status",
        "Marker",
        "event",
        "EEG Fpz-Cz",
    ],
)
def test_clearly_non_ecg_names_are_recognised(name):
    assert is_non_ecg_channel(name)


@pytest.mark.parametrize(
    "name", ["ECG", "ECG1", "ECG 2", "CH1", "II", "MLII", "V5", "aVR", "DIII"]
)
def test_ecg_names_including_generic_ones_are_not_non_ecg(name):
    assert not is_non_ecg_channel(name)
    assert not is_non_ecg_channel(name, "mV")


@pytest.mark.parametrize("unit", ["mmHg", "%", "bpm", "NU", "none", "degC"])
def test_a_known_unit_that_is_not_a_voltage_marks_the_channel_non_ecg(unit):
    assert is_non_ecg_channel("ECG", unit)


@pytest.mark.parametrize("unit", [None, "", "mV", "uV", "µV", "μV", "V", "adu"])
def test_voltage_digital_or_missing_units_leave_the_decision_to_the_name(unit):
    assert not is_non_ecg_channel("CH2", unit)
    assert is_non_ecg_channel("vx", unit)


# --- derive_limb_leads -----------------------------------------------------


def test_derived_limb_leads_follow_einthoven_and_goldberger():
    derived = derive_limb_leads(np.array([600.0]), np.array([1000.0]))
    assert derived["III"].tolist() == [400.0]
    assert derived["aVR"].tolist() == [-800.0]
    assert derived["aVL"].tolist() == [100.0]
    assert derived["aVF"].tolist() == [700.0]
    assert all(values.dtype == np.float64 for values in derived.values())


def test_derived_limb_leads_accept_integers_and_propagate_nan():
    derived = derive_limb_leads(np.array([1, 2], np.int16), np.array([3, np.nan]))
    assert derived["aVR"][0] == -2.0
    assert all(np.isnan(values[1]) for values in derived.values())


@given(lead_pair())
def test_derived_leads_satisfy_einthoven_and_sum_to_zero(pair):
    lead_i, lead_ii = pair
    derived = derive_limb_leads(lead_i, lead_ii)
    tolerance = 1e-9 * (1.0 + np.abs(lead_i) + np.abs(lead_ii))
    assert np.all(np.abs(lead_i + derived["III"] - lead_ii) <= tolerance)
    total = derived["aVR"] + derived["aVL"] + derived["aVF"]
    assert np.all(np.abs(total) <= tolerance)


# --- standardize_leads -----------------------------------------------------


def test_standardize_orders_leads_and_keeps_unknown_ecg_channels_last():
    names = ["V2", "ECG 7", "avr", "DI", "II", "III", "aVL", "aVF", "V1"]
    signal = np.arange(len(names) * 3).reshape(len(names), 3)
    out, out_names, notes = standardize_leads(signal, names)
    assert out_names == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "ECG 7"]
    assert out.dtype == np.float64
    for row, name in zip(out, out_names, strict=True):
        original = names.index({"I": "DI", "aVR": "avr"}.get(name, name))
        assert row.tolist() == signal[original].tolist()
    assert notes == ["kept ECG channels of unknown lead: ECG 7"]


def test_standardize_drops_frank_leads_with_a_note_naming_them():
    names = [*(lead.lower() for lead in STANDARD_LEADS), "vx", "vy", "vz"]
    signal = np.zeros((15, 10))
    out, out_names, notes = standardize_leads(signal, names, ["mV"] * 15)
    assert out_names == list(STANDARD_LEADS)
    assert out.shape == (12, 10)
    assert "dropped non-ECG channels: vx, vy, vz" in notes


def test_standardize_drops_channels_whose_unit_is_not_a_voltage():
    signal = np.zeros((3, 4))
    _, out_names, notes = standardize_leads(
        signal, ["II", "Pressure 1", "CH3"], ["mV", "mmHg", "mV"]
    )
    assert out_names == ["II", "CH3"]
    assert "dropped non-ECG channels: Pressure 1" in notes


def test_standardize_keeps_the_first_of_duplicate_leads_and_notes_the_rest():
    signal = np.array([[1.0], [2.0], [3.0]])
    out, out_names, notes = standardize_leads(signal, ["MLII", "V1", "II"])
    assert out_names == ["II", "V1"]
    assert out[:, 0].tolist() == [1.0, 2.0]
    assert any("II" in note and "duplicate" in note for note in notes)


def test_standardize_derives_the_four_limb_leads_from_eight_stored_leads():
    rng = np.random.default_rng(1)
    eight = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    signal = rng.integers(-2000, 2000, size=(8, 50)).astype(np.int16)
    out, out_names, notes = standardize_leads(signal, eight)
    assert out_names == list(STANDARD_LEADS)
    assert "derived III, aVR, aVL, aVF from I and II" in notes
    lead = dict(zip(out_names, out, strict=True))
    assert np.allclose(lead["III"], lead["II"] - lead["I"])
    assert np.allclose(lead["aVR"], -(lead["I"] + lead["II"]) / 2)
    assert np.array_equal(lead["V6"], signal[7])


def test_standardize_does_not_derive_when_asked_not_to_or_when_any_is_present():
    signal = np.ones((3, 5))
    _, names_off, notes_off = standardize_leads(signal, ["I", "II", "V1"], derive=False)
    assert names_off == ["I", "II", "V1"]
    assert not any("derived" in note for note in notes_off)
    _, names_some, notes_some = standardize_leads(signal, ["I", "II", "III"])
    assert names_some == ["I", "II", "III"]
    assert not any("derived" in note for note in notes_some)


def test_standardize_keeps_nan_samples():
    signal = np.array([[1.0, np.nan], [2.0, 3.0]])
    out, _, _ = standardize_leads(signal, ["I", "II"])
    assert np.isnan(out[0, 1])
    assert np.isnan(out[2:, 1]).all()  # every derived lead uses lead I


def test_standardize_raises_when_no_ecg_channel_remains():
    with pytest.raises(ValueError, match="no ECG channel"):
        standardize_leads(np.zeros((2, 3)), ["RESP", "SpO2"])


def test_standardize_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="channels"):
        standardize_leads(np.zeros((2, 3)), ["I"])
    with pytest.raises(ValueError, match="shape"):
        standardize_leads(np.zeros(3), ["I"])
    with pytest.raises(ValueError, match="units"):
        standardize_leads(np.zeros((2, 3)), ["I", "II"], ["mV"])


# --- to_integer_signal -----------------------------------------------------


def test_integer_signal_is_int16_when_it_fits_and_int32_otherwise():
    assert to_integer_signal(np.array([[-32768.0, 32767.0]])).dtype == np.int16
    wide = to_integer_signal(np.array([[0.0, 32767.6]]))
    assert wide.dtype == np.int32
    assert wide.tolist() == [[0, 32768]]
    assert to_integer_signal(np.array([40000.0]), gain_uv=2.0).dtype == np.int16


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_integer_signal_rejects_nan_and_infinite_samples(bad):
    with pytest.raises(ValueError, match="signal contains NaN or infinite samples"):
        to_integer_signal(np.array([[1.0, bad]]))


def test_integer_signal_rejects_values_beyond_int32_and_bad_gains():
    with pytest.raises(ValueError, match="int32"):
        to_integer_signal(np.array([3e9]))
    with pytest.raises(ValueError, match="gain_uv"):
        to_integer_signal(np.array([1.0]), gain_uv=0.0)


@given(
    hnp.arrays(
        np.float64, hnp.array_shapes(max_dims=2, max_side=50), elements=microvolts
    ),
    st.sampled_from([0.5, 1.0, 2.5, 4.88]),
)
def test_integer_signal_round_trips_within_half_a_gain_unit(values, gain):
    stored = to_integer_signal(values, gain_uv=gain)
    assert stored.shape == values.shape
    assert np.all(np.abs(stored * gain - values) <= gain / 2 + 1e-9 * np.abs(values))
    rounded = np.rint(values / gain)
    fits16 = values.size == 0 or (rounded.min() >= -32768 and rounded.max() <= 32767)
    assert stored.dtype == (np.int16 if fits16 else np.int32)


# --- framework independence ------------------------------------------------

# An empty stand-in for the annotator package, so that the check sees only the
# modules' own imports, whatever annotator/__init__.py comes to import.
IMPORT_WITHOUT_PACKAGE_INIT = """
import sys, types
package = types.ModuleType("annotator")
package.__path__ = ["annotator"]
sys.modules["annotator"] = package
import {modules}
leaked = [name for name in sys.modules if name.split(".")[0] in ("django", "celery")]
assert not leaked, leaked
"""


def test_signal_maths_modules_import_without_django():
    code = IMPORT_WITHOUT_PACKAGE_INIT.format(
        modules="annotator.waveforms, annotator.display, annotator.filters"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
        timeout=60,
    )
