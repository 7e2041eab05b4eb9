"""Deterministic, plausible synthetic 12-lead ECGs for demos, tests and load tests.

The heart is modelled as a time-varying dipole in the Frank X/Y/Z frame (X to
the patient's left, Y to the feet, Z to the back), as in ECGSYN-style
vectorcardiogram models: every beat adds Gaussian bumps
``a * exp(-(t - c)**2 / (2 * s**2))`` for the P, Q, R, S and T waves, each with
its own 3-D amplitude vector ``a``. The eight independent leads I, II and V1-V6
are the projection of that dipole through Dower's transform (Dower et al.,
J Electrocardiol 1988), so R-wave progression, axis and T-wave polarity follow
from one vector loop; III, aVR, aVL and aVF are then derived with
:func:`annotator.waveforms.derive_limb_leads`, so Einthoven's law holds exactly
before rounding to integer microvolts.

Numpy and the standard library only. All randomness comes from one
``numpy.random.Generator`` seeded by the caller: the same arguments give the same
bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from annotator.waveforms import STANDARD_LEADS, derive_limb_leads, to_integer_signal

__all__ = ["CONDUCTIONS", "RHYTHMS", "SyntheticECG", "synthesize", "synthetic_batch"]

RHYTHMS = ("sinus", "af", "brady", "tachy")
CONDUCTIONS = ("none", "rbbb", "lbbb", "avb1")

# Dower's transform, rows I, II, V1..V6, columns X, Y, Z (Frank frame).
_DOWER = np.array(
    [
        [0.632, -0.235, 0.059],
        [0.235, 1.066, -0.132],
        [-0.515, 0.157, -0.917],
        [0.044, 0.164, -1.387],
        [0.882, 0.098, -1.277],
        [1.213, 0.127, -0.601],
        [1.125, 0.127, -0.086],
        [0.831, 0.076, 0.230],
    ]
)

# Wave tables: one row per Gaussian, columns centre (s), width sigma (s), and the
# dipole amplitude X, Y, Z (mV). P centres are relative to P onset, QRS centres
# to QRS onset (for the duration in _QRS_BASE_S; both scale with the drawn
# duration), T centres to the end of T (for QT = 0.4 s; they scale with QT).
_P_WAVES = np.array(
    [
        [0.036, 0.016, 0.03, 0.10, -0.05],  # right atrium: inferior, anterior
        [0.066, 0.018, 0.10, 0.05, 0.05],  # left atrium: leftward, posterior
    ]
)
_QRS_NORMAL = np.array(
    [
        [0.016, 0.0065, -0.10, 0.02, -0.14],  # septal: rightward, anterior
        [0.040, 0.0105, 1.00, 0.75, 0.15],  # main left-ventricular forces
        [0.052, 0.0110, 0.30, 0.10, 0.75],  # late posterior forces: S in V1-V2
        [0.068, 0.0085, -0.20, -0.12, 0.25],  # terminal basal forces
    ]
)
# RBBB: normal septal and left-ventricular activation, then slow right-ventricular
# forces to the right and front (R' in V1-V2, wide S in I and V6).
_QRS_RBBB = np.array(
    [
        [0.016, 0.0065, -0.10, 0.02, -0.14],
        [0.040, 0.0105, 1.00, 0.75, 0.15],
        [0.052, 0.0110, 0.30, 0.10, 0.45],
        [0.102, 0.0170, -0.55, -0.05, -0.80],
    ]
)
# LBBB: no septal q; slow, notched left-posterior activation (QS in V1).
_QRS_LBBB = np.array(
    [
        [0.025, 0.0140, 0.40, 0.45, 0.65],
        [0.057, 0.0160, 0.95, 0.70, 1.45],
        [0.080, 0.0150, 0.00, 0.10, 0.50],
        [0.102, 0.0180, 1.05, 0.35, 1.20],
    ]
)
# Nominal QRS duration of each table: the complex from onset until every wave
# has fallen to a few per cent of its peak, which is where a global (all-lead)
# slope measurement puts the end of the QRS.
_QRS_BASE_S = {"normal": 0.082, "rbbb": 0.134, "lbbb": 0.158}
# Two Gaussians make the T wave asymmetric; their last three columns are weights
# of the T dipole below, not amplitudes.
_T_WAVES = np.array(
    [
        [-0.120, 0.050, 0.45, 0.45, 0.45],  # slow upstroke
        [-0.065, 0.028, 0.80, 0.80, 0.80],  # peak and faster downstroke
    ]
)
# T-wave dipole (mV) per conduction: concordant normally, secondary changes
# (discordant to the terminal or whole QRS) in bundle-branch block.
_T_VECTOR = {
    "normal": np.array([0.40, 0.18, -0.20]),
    "rbbb": np.array([0.40, 0.18, 0.12]),
    "lbbb": np.array([-0.40, -0.02, -0.50]),
}
# Direction of the fibrillating atria's dipole: biggest in V1 and the inferior leads.
_F_WAVE_VECTOR = np.array([0.15, 0.35, -0.90])

# A realistic mix for demos: mostly normal sinus rhythm, some of each finding.
_BATCH_MIX: tuple[tuple[str, str], ...] = (
    ("sinus", "none"),
    ("sinus", "none"),
    ("af", "none"),
    ("sinus", "none"),
    ("sinus", "rbbb"),
    ("sinus", "none"),
    ("brady", "none"),
    ("sinus", "none"),
    ("sinus", "lbbb"),
    ("sinus", "none"),
    ("tachy", "none"),
    ("sinus", "none"),
    ("sinus", "avb1"),
    ("sinus", "none"),
    ("af", "rbbb"),
    ("sinus", "none"),
    ("brady", "avb1"),
    ("sinus", "none"),
    ("sinus", "none"),
    ("tachy", "none"),
    ("sinus", "none"),
    ("af", "none"),
)

_RHYTHM_LABEL = {"sinus": "SR", "af": "AF", "brady": "SB", "tachy": "ST"}
_CONDUCTION_LABEL = {"rbbb": "RBBB", "lbbb": "LBBB", "avb1": "1dAVb"}


@dataclass(frozen=True, eq=False)
class SyntheticECG:
    """One synthetic 10 s (by default) 12-lead ECG and the truth it was built from.

    ``signal_uv`` is int16 microvolts, shape ``(12, n)`` in ``lead_names`` order
    (``STANDARD_LEADS``), read-only. ``heart_rate`` is the mean ventricular rate
    (bpm) over the R peaks inside the record; ``pr_ms`` is None in atrial
    fibrillation; ``qt_ms`` is the QT at the mean RR interval. ``labels`` are
    class codes of the default taxonomy (``annotator/taxonomy/default.csv``).
    Equality is identity (arrays have no single truth value).
    """

    signal_uv: NDArray[np.int16]
    fs: float
    lead_names: tuple[str, ...]
    rhythm: str
    conduction: str
    heart_rate: float
    pr_ms: float | None
    qrs_ms: float
    qt_ms: float
    labels: tuple[str, ...]


def synthesize(
    *,
    seed: int,
    fs: float = 500.0,
    duration_s: float = 10.0,
    rhythm: str = "sinus",
    conduction: str = "none",
    noise_uv: float = 15.0,
) -> SyntheticECG:
    """Build one synthetic 12-lead ECG.

    ``rhythm`` is one of ``RHYTHMS`` (sinus 55-95 bpm, brady 38-47 bpm, tachy
    105-135 bpm, af with an irregularly irregular ventricular rate of 65-125 bpm
    and fibrillatory waves instead of P waves), ``conduction`` one of
    ``CONDUCTIONS`` (RBBB and LBBB widen the QRS to 128-155 ms; avb1 makes the
    PR 220-320 ms, and is impossible with ``af``). ``noise_uv`` is the standard
    deviation of Gaussian noise (low-passed at about fs / 4) added to each
    independent lead (I, II, V1-V6), on top of a small baseline wander.
    ``seed`` (>= 0) fixes every random choice: the same arguments give
    byte-identical signals.

    The returned signal has shape ``(12, round(duration_s * fs))``.
    """
    if rhythm not in RHYTHMS:
        raise ValueError(f"rhythm must be one of {RHYTHMS}, got {rhythm!r}")
    if conduction not in CONDUCTIONS:
        raise ValueError(f"conduction must be one of {CONDUCTIONS}, got {conduction!r}")
    if rhythm == "af" and conduction == "avb1":
        raise ValueError("first-degree AV block needs P waves; not possible with af")
    if not (fs > 0 and duration_s > 0 and noise_uv >= 0):
        raise ValueError("fs and duration_s must be positive, noise_uv not negative")

    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    morphology = {"rbbb": "rbbb", "lbbb": "lbbb"}.get(conduction, "normal")

    rate = {
        "sinus": (55.0, 95.0),
        "brady": (38.0, 47.0),
        "tachy": (105.0, 135.0),
        "af": (65.0, 125.0),
    }[rhythm]
    mean_rr = 60.0 / rng.uniform(*rate)
    if rhythm == "af":
        pr_s = None
    elif conduction == "avb1":
        pr_s = rng.uniform(0.22, 0.32)
    else:
        pr_s = rng.uniform(0.12, 0.16) if rhythm == "tachy" else rng.uniform(0.13, 0.19)
    if morphology == "normal":
        qrs_s = rng.uniform(0.080, 0.100)
    else:
        qrs_s = rng.uniform(0.128, 0.155)
    qtc_s = rng.uniform(0.38, 0.43)

    onsets, rr = _beat_onsets(rng, rhythm, mean_rr, duration_s, pr_s or 0.0)
    qt = qtc_s * np.cbrt(rr) + (qrs_s - 0.09)  # Fridericia, plus extra QRS width

    centres, sigmas, amplitudes, r_offset = _beat_waves(
        rng, morphology, onsets, pr_s, qrs_s, qt
    )
    vcg = _render(onsets, centres, sigmas, amplitudes, fs, n)
    if rhythm == "af":
        vcg += _fibrillatory_waves(rng, fs, n)

    independent = 1000.0 * (_DOWER @ vcg)  # mV -> µV, rows I, II, V1..V6
    independent += _baseline_wander(rng, fs, n)
    independent += noise_uv * _recorder_noise(rng, n)
    derived = derive_limb_leads(independent[0], independent[1])
    limb = [derived[name] for name in STANDARD_LEADS[2:6]]
    leads = np.vstack([independent[:2], *limb, independent[2:]])
    signal = to_integer_signal(leads)
    if signal.dtype != np.int16:
        raise AssertionError("synthetic signal left the int16 range")
    signal.flags.writeable = False

    peaks = onsets + r_offset
    inside = peaks[(peaks >= 0) & (peaks < n / fs)]
    heart_rate = 60.0 / (np.diff(inside).mean() if inside.size >= 2 else mean_rr)

    labels = [_RHYTHM_LABEL[rhythm]]
    if conduction != "none":
        labels.append(_CONDUCTION_LABEL[conduction])
    if rhythm == "sinus" and conduction == "none" and 50 <= heart_rate <= 100:
        labels.append("NORM")
    return SyntheticECG(
        signal_uv=signal,
        fs=float(fs),
        lead_names=STANDARD_LEADS,
        rhythm=rhythm,
        conduction=conduction,
        heart_rate=float(heart_rate),
        pr_ms=None if pr_s is None else 1000.0 * pr_s,
        qrs_ms=1000.0 * qrs_s,
        qt_ms=1000.0 * (qtc_s * np.cbrt(mean_rr) + qrs_s - 0.09),
        labels=tuple(labels),
    )


def synthetic_batch(
    n: int, *, seed: int = 0, fs: float = 500.0, duration_s: float = 10.0
) -> Iterator[SyntheticECG]:
    """Yield ``n`` synthetic ECGs cycling through a fixed, realistic mix.

    About half are normal sinus rhythm; the rest are sinus rhythm with RBBB,
    LBBB or first-degree AV block, sinus bradycardia and tachycardia (one with
    first-degree AV block), and atrial fibrillation (one with RBBB). Item ``i``
    is ``synthesize`` with a seed derived from ``(seed, i)`` and a noise level
    between 8 and 25 µV, so a batch is reproducible and its items differ.
    """
    for i in range(n):
        rhythm, conduction = _BATCH_MIX[i % len(_BATCH_MIX)]
        item_seed = int(np.random.SeedSequence((seed, i)).generate_state(1)[0])
        yield synthesize(
            seed=item_seed,
            fs=fs,
            duration_s=duration_s,
            rhythm=rhythm,
            conduction=conduction,
            noise_uv=8.0 + 17.0 * (item_seed % 1000) / 999,
        )


def _beat_onsets(
    rng: np.random.Generator,
    rhythm: str,
    mean_rr: float,
    duration_s: float,
    pr_s: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """QRS onset times (s) covering the record, and each beat's preceding RR."""
    count = int(np.ceil((duration_s + 2.0) / mean_rr * 1.6)) + 4
    if rhythm == "af":
        # Irregularly irregular: independent log-normal RR intervals (CV ~ 0.2),
        # with the AV node's refractory floor.
        rr = mean_rr * rng.lognormal(-0.02, 0.2, count)
        rr = np.maximum(rr, 0.30)
    else:
        # Sinus: respiratory sinus arrhythmia (2-4 %) plus a little jitter.
        breath_hz = rng.uniform(0.2, 0.33)
        phase = rng.uniform(0, 2 * np.pi)
        approx_t = np.arange(count) * mean_rr
        rsa = rng.uniform(0.02, 0.04) * np.sin(2 * np.pi * breath_hz * approx_t + phase)
        rr = mean_rr * (1.0 + rsa + 0.008 * rng.standard_normal(count))
    # Start early enough that the record opens mid-rhythm, with P waves.
    first = -rng.uniform(0.3, 0.3 + mean_rr) - pr_s
    onsets = first + np.concatenate([[0.0], np.cumsum(rr[1:])])
    keep = onsets - pr_s - 0.05 < duration_s
    return onsets[keep], rr[keep]


def _rotation(frontal: float, horizontal: float) -> NDArray[np.float64]:
    """Rotation (radians) in the frontal plane, then about the body's long axis."""
    cf, sf = np.cos(frontal), np.sin(frontal)
    ch, sh = np.cos(horizontal), np.sin(horizontal)
    in_frontal = np.array([[cf, -sf, 0.0], [sf, cf, 0.0], [0.0, 0.0, 1.0]])
    in_horizontal = np.array([[ch, 0.0, -sh], [0.0, 1.0, 0.0], [sh, 0.0, ch]])
    return in_horizontal @ in_frontal


def _beat_waves(
    rng: np.random.Generator,
    morphology: str,
    onsets: NDArray[np.float64],
    pr_s: float | None,
    qrs_s: float,
    qt: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """Per-beat Gaussian centres (B, W), widths (B, W) and dipoles (B, W, 3).

    Times are relative to each beat's QRS onset. Also returns the time of the
    dominant QRS wave after onset (the R peak used for the heart rate).
    """
    beats = onsets.size
    # Per-patient heart position: frontal QRS axis and rotation in the chest.
    # The T axis follows the QRS axis only partly, as in healthy adults.
    frontal = np.deg2rad(rng.uniform(-20.0, 15.0))
    horizontal = np.deg2rad(rng.uniform(-10.0, 10.0))
    rotation = _rotation(frontal, horizontal)
    t_rotation = _rotation(frontal / 2, horizontal / 2)
    qrs_table = {"normal": _QRS_NORMAL, "rbbb": _QRS_RBBB, "lbbb": _QRS_LBBB}[
        morphology
    ]
    qrs_scale = qrs_s / _QRS_BASE_S[morphology]
    # Per-patient voltages: each wave +-10 %, the whole QRS 0.8-1.15 (x 1.1 in
    # LBBB, whose QRS voltages run high), the T wave 0.75-1.25.
    qrs_vec = qrs_table[:, 2:] * rng.uniform(0.9, 1.1, (len(qrs_table), 1))
    qrs_vec = qrs_vec * rng.uniform(0.8, 1.15)
    if morphology == "lbbb":
        qrs_vec = qrs_vec * 1.1
    t_vec = _T_VECTOR[morphology] * rng.uniform(0.75, 1.25)

    scale_t = qt / 0.4
    # Respiration changes the QRS amplitude by a few per cent from beat to beat.
    breathing = 1.0 + 0.04 * np.sin(
        2 * np.pi * rng.uniform(0.2, 0.33) * onsets + rng.uniform(0, 2 * np.pi)
    )

    centres = [
        np.broadcast_to(qrs_table[:, 0] * qrs_scale, (beats, len(qrs_table))),
        qt[:, None] + _T_WAVES[:, 0] * scale_t[:, None],
    ]
    sigmas = [
        np.broadcast_to(qrs_table[:, 1] * qrs_scale, (beats, len(qrs_table))),
        _T_WAVES[:, 1] * scale_t[:, None],
    ]
    amplitudes = [
        breathing[:, None, None] * (qrs_vec @ rotation.T)[None, :, :],
        np.broadcast_to(
            _T_WAVES[:, 2:] * (t_rotation @ t_vec), (beats, len(_T_WAVES), 3)
        ),
    ]
    if pr_s is not None:
        p_vec = _P_WAVES[:, 2:] * rng.uniform(0.8, 1.3)
        pr = pr_s + 0.004 * rng.standard_normal((beats, 1))
        centres.append(_P_WAVES[:, 0] - pr)
        sigmas.append(np.broadcast_to(_P_WAVES[:, 1], (beats, len(_P_WAVES))))
        amplitudes.append(np.broadcast_to(p_vec, (beats, len(_P_WAVES), 3)))

    dominant = int(np.argmax(np.linalg.norm(qrs_table[:, 2:], axis=1)))
    return (
        np.concatenate(centres, axis=1),
        np.concatenate(sigmas, axis=1),
        np.concatenate(amplitudes, axis=1),
        float(qrs_table[dominant, 0] * qrs_scale),
    )


def _render(
    onsets: NDArray[np.float64],
    centres: NDArray[np.float64],
    sigmas: NDArray[np.float64],
    amplitudes: NDArray[np.float64],
    fs: float,
    n: int,
) -> NDArray[np.float64]:
    """Sum every beat's Gaussians into a (3, n) dipole signal in mV.

    Each beat is evaluated on its own window of samples around its QRS onset
    (shape (B, W, L)), then scattered into the record with ``np.bincount``.
    """
    reach = 4.0 * sigmas
    before = max(0.0, float(-(centres - reach).min()))
    after = float((centres + reach).max())
    start = np.floor((onsets - before) * fs).astype(np.int64)
    window = int(np.ceil((before + after) * fs)) + 2
    index = start[:, None] + np.arange(window)
    local_t = index / fs - onsets[:, None]
    z = (local_t[:, None, :] - centres[:, :, None]) / sigmas[:, :, None]
    bumps = np.exp(-0.5 * z * z)
    per_axis = np.einsum("bwl,bwc->cbl", bumps, amplitudes)
    inside = (index >= 0) & (index < n)
    flat = index[inside]
    return np.stack(
        [np.bincount(flat, weights=axis[inside], minlength=n) for axis in per_axis]
    )


def _fibrillatory_waves(
    rng: np.random.Generator, fs: float, n: int
) -> NDArray[np.float64]:
    """Atrial fibrillation's f-waves as a (3, n) dipole in mV.

    Two drifting oscillations between 4 and 9 Hz with slowly varying amplitude;
    30-80 µV peak in V1.
    """
    t = np.arange(n) / fs
    total = np.zeros(n)
    for weight in (1.0, 0.45):
        base = rng.uniform(4.5, 7.5)
        drift = 0.8 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 6))
        frequency = np.clip(base + drift, 4.0, 9.0)
        phase = 2 * np.pi * np.cumsum(frequency) / fs + rng.uniform(0, 2 * np.pi)
        envelope = 1.0 + 0.35 * np.sin(
            2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6)
        )
        total += weight * envelope * np.sin(phase)
    peak_v1_mv = rng.uniform(0.035, 0.07)
    v1_gain = abs(_DOWER[2] @ _F_WAVE_VECTOR)
    total *= peak_v1_mv / (1.45 * v1_gain)
    return _F_WAVE_VECTOR[:, None] * total[None, :]


def _recorder_noise(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """Unit-variance Gaussian noise (8, n), low-passed like a recorder's filter.

    White noise smoothed with the [1, 2, 1] / 4 kernel (zero at the Nyquist
    frequency; -3 dB at a quarter of the sampling rate, 125 Hz at 500 Hz), then
    rescaled to unit standard deviation.
    """
    white = rng.standard_normal((8, n + 2))
    smooth = (white[:, :-2] + 2.0 * white[:, 1:-1] + white[:, 2:]) / 4.0
    return smooth / np.sqrt(6.0 / 16.0)


def _baseline_wander(
    rng: np.random.Generator, fs: float, n: int
) -> NDArray[np.float64]:
    """Slow baseline drift (breathing, electrode drift): (8, n) in µV.

    Three slow sinusoids (0.05-0.4 Hz) mixed into the eight independent leads
    with random weights, so the drift is shared but differs from lead to lead.
    """
    t = np.arange(n) / fs
    frequencies = rng.uniform(0.05, 0.4, (3, 1))
    phases = rng.uniform(0, 2 * np.pi, (3, 1))
    mixing = rng.uniform(-35.0, 35.0, (8, 3))
    return mixing @ np.sin(2 * np.pi * frequencies * t + phases)
