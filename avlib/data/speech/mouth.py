"""Mouth-region video rendered from the phoneme timeline of a spoken word.

Each phoneme has a viseme class (:data:`.phonemes.VISEMES`) with articulatory targets:
jaw opening, lip rounding (protrusion), lip spread, lip closure, upper-teeth and
tongue visibility. The targets are placed on the same timeline as the audio (so audio
and video are aligned by construction), smoothed over time (coarticulation; the lips
anticipate the sound by ~30 ms as in natural speech), averaged over each frame's
exposure and drawn as a grayscale mouth region:

* skin with a per-speaker tone, static texture and a lighting gradient;
* outer and inner lip contours built from the articulatory parameters (opening,
  width, roundness, lip thickness, cupid's bow), soft anti-aliased edges;
* dark mouth cavity, upper/lower teeth bands, tongue blob, tongue tip between the teeth
  for dental sounds, lower lip under the upper teeth for labiodentals;
* per-speaker mouth size and position, small smooth head motion, light flicker and
  sensor noise.

Phonemes of one viseme class are drawn identically: words that differ only by voicing
or nasality (*B*/*P*, *D*/*T*...) are ambiguous on the lips, as in real lip reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .phonemes import PHONEMES, VISEMES
from .voice import STYLES, Timeline

__all__ = ["Appearance", "random_appearance", "articulation_tracks", "render_mouth", "ARTIC_KEYS"]

#: Names of the articulatory parameters, in track column order.
ARTIC_KEYS = ("jaw", "round", "spread", "close", "teeth", "tongue")


@dataclass(frozen=True)
class Appearance:
    """Per-speaker look of the mouth region (all sizes relative to the image)."""

    skin: float          # skin gray level
    lip: float           # lip gray level relative to skin
    width: float         # mouth half-width / image width
    open_max: float      # maximal half-opening / image height
    lip_upper: float     # upper lip thickness / image height
    lip_lower: float     # lower lip thickness / image height
    dx: float            # mouth centre offset / image width
    dy: float            # mouth centre offset / image height
    light: tuple         # lighting gradient (gx, gy)
    teeth: float         # teeth gray level
    motion: float        # head-motion amplitude in pixels
    noise: float         # sensor noise std
    texture_seed: int


def random_appearance(rng: np.random.Generator) -> Appearance:
    """Draw one speaker's appearance."""
    skin = float(rng.uniform(0.38, 0.8))
    return Appearance(
        skin=skin, lip=float(rng.uniform(0.62, 0.82)), width=float(rng.uniform(0.28, 0.38)),
        open_max=float(rng.uniform(0.16, 0.22)), lip_upper=float(rng.uniform(0.08, 0.12)),
        lip_lower=float(rng.uniform(0.10, 0.15)), dx=float(rng.uniform(-0.06, 0.06)),
        dy=float(rng.uniform(-0.06, 0.06)), light=(float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.2, 0.3))),
        teeth=float(rng.uniform(0.75, 0.95)), motion=float(rng.uniform(0.3, 1.6)),
        noise=float(rng.uniform(0.008, 0.03)), texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


def articulation_tracks(tl: Timeline, *, fps: float, n_frames: int, lead: float = 0.03,
                        rng: np.random.Generator | None = None, gain: float = 1.0,
                        token_var: float = 0.15) -> np.ndarray:
    """Articulatory parameters per video frame.

    Targets of each phoneme's viseme are held over its segment (rest shape outside the
    word), shifted ``lead`` seconds earlier (visual anticipation), smoothed with a
    Gaussian (~25 ms; closures less) and averaged over each frame's exposure.

    ``gain`` scales every target's distance from the rest shape (the speaker's
    articulation: < 1 hypo-articulated, the lips move little; 1 = the lexicon's targets).
    With ``rng``, jaw opening and rounding of the token are scaled by factors drawn in
    ``1 +- token_var`` (token-to-token variability).

    Returns
    -------
    np.ndarray [shape=(n_frames, 6), dtype=float32]
        Columns :data:`ARTIC_KEYS`.
    """
    from scipy.ndimage import gaussian_filter1d

    step = 0.005
    sub = max(1, int(round(1.0 / fps / step)))
    n_ctrl = n_frames * sub
    t = (np.arange(n_ctrl) + 0.5) / (fps * sub) + lead
    rest = np.array([VISEMES["rest"][k] for k in ARTIC_KEYS])
    track = np.tile(rest, (n_ctrl, 1))
    segs = tl.segments
    for i, seg in enumerate(segs):
        ph = PHONEMES[seg.name]
        vis = ph.viseme
        if vis == "inherit":
            vis = PHONEMES[segs[i + 1].name].viseme if i + 1 < len(segs) else "rest"
        tgt = np.array([VISEMES[vis][k] for k in ARTIC_KEYS])
        sel = (t >= seg.start) & (t < seg.end)
        if ph.kind == "diphthong" and ph.formants_end is not None:
            # the lips follow the second target of a diphthong (e.g. AY -> spread)
            end_vis = {"EY": "spread", "AY": "spread_mid", "OW": "round"}.get(seg.name, vis)
            tgt2 = np.array([VISEMES[end_vis][k] for k in ARTIC_KEYS])
            rel = np.clip(((t[sel] - seg.start) / max(seg.end - seg.start, 1e-6) - 0.3) / 0.6, 0, 1)[:, None]
            track[sel] = tgt * (1 - rel) + tgt2 * rel
        else:
            track[sel] = tgt
    if gain != 1.0:
        track = rest + float(gain) * (track - rest)
    jaw_gain = STYLES[tl.style]["jaw"]
    speech = (t >= tl.speech_start) & (t < tl.speech_end)
    track[speech, 0] *= jaw_gain
    sig = 0.025 / (1.0 / (fps * sub))
    smooth = gaussian_filter1d(track, sig, axis=0, mode="nearest")
    smooth[:, 3] = gaussian_filter1d(track[:, 3], sig * 0.5, mode="nearest")
    if rng is not None:   # token-to-token articulation variability
        smooth[:, 0] *= float(1.0 + token_var * rng.uniform(-1.0, 1.0))
        smooth[:, 1] *= float(1.0 + token_var * rng.uniform(-1.0, 1.0))
    per_frame = smooth.reshape(n_frames, sub, len(ARTIC_KEYS)).mean(axis=1)
    return np.clip(per_frame, 0, 1.2).astype(np.float32)


def _soft(x):
    """Anti-aliased step: 0 below -0.5 px, 1 above +0.5 px."""
    return np.minimum(np.maximum(x + np.float32(0.5), np.float32(0.0)), np.float32(1.0))


def render_mouth(artic: np.ndarray, app: Appearance, *, hw: tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
    """Draw grayscale mouth frames.

    Parameters
    ----------
    artic : np.ndarray [shape=(T, 6)]
        Articulatory parameters per frame (:func:`articulation_tracks`).
    app : Appearance
        Speaker appearance.
    hw : (int, int)
        Image height and width in pixels (natural image orientation).
    rng : np.random.Generator
        Head motion, flicker and sensor noise.

    Returns
    -------
    np.ndarray [shape=(T, H, W), dtype=float32]
        Gray levels in [0, 1].
    """
    from scipy.ndimage import gaussian_filter, gaussian_filter1d

    h, w = hw
    n = artic.shape[0]
    artic = np.asarray(artic, np.float32)
    jaw, rnd, spr, close, teeth, tongue = (artic[:, i][:, None, None] for i in range(6))
    # head motion: smooth random walk of the mouth centre and scale
    mot = gaussian_filter1d(rng.standard_normal((n + 8, 3)), 3.0, axis=0)[4:4 + n]
    mot = (mot / (np.abs(mot).max(axis=0, keepdims=True) + 1e-6)).astype(np.float32)
    cx = w / 2 + app.dx * w + app.motion * mot[:, 0]
    cy = h / 2 + app.dy * h + app.motion * mot[:, 1] + 0.04 * h
    zoom = 1 + 0.015 * mot[:, 2]
    cx, cy, zoom = (v[:, None, None] for v in (cx, cy, zoom))
    yy = np.arange(h, dtype=np.float32)[None, :, None]
    xx = np.arange(w, dtype=np.float32)[None, None, :]
    # mouth geometry (pixels)
    half_w = app.width * w * zoom * (1 + 0.22 * spr - 0.30 * rnd)
    opening = 2 * app.open_max * h * zoom * jaw * (1 - np.clip(close, 0, 1))
    up_open = 0.35 * opening + 0.3
    lo_open = 0.65 * opening + 0.3
    thick_u = app.lip_upper * h * zoom * (1 + 0.5 * rnd)
    thick_l = app.lip_lower * h * zoom * (1 + 0.4 * rnd) * (1 - 0.3 * np.clip(teeth - 0.8, 0, 1) * close)
    u = (xx - cx) / half_w
    v = yy - cy
    prof = np.sqrt(np.clip(1 - u * u, 0, 1))
    exp_in = 0.6 + 0.8 * (1 - rnd) * (0.5 + 0.5 * spr)          # rounder when rounded
    prof_in = prof ** exp_in
    bow = 0.25 * thick_u * np.exp(-(u / 0.18) ** 2)
    y_iu = -up_open * prof_in
    y_il = lo_open * prof_in
    y_ou = y_iu - thick_u * prof ** 0.35 + bow
    y_ol = y_il + thick_l * prof ** 0.35
    inside_x = _soft((1 - np.abs(u)) * half_w)
    outer = _soft(v - y_ou) * _soft(y_ol - v) * inside_x
    cavity = _soft(v - y_iu) * _soft(y_il - v) * _soft((1 - np.abs(u)) * half_w - 1.0)
    cavity = np.minimum(cavity, outer)
    lips = outer - cavity
    # inside the cavity: teeth (upper band, lower band), tongue
    tooth_h = 0.07 * h * zoom
    up_teeth = _soft(y_iu + tooth_h * (0.4 + 0.6 * teeth) - v) * (teeth > 0.05)
    lo_teeth = _soft(v - (y_il - 0.5 * tooth_h * teeth)) * (teeth > 0.3)
    tongue_c = y_il - 0.35 * lo_open
    tongue_blob = np.clip(1 - ((u / 0.55) ** 2 + ((v - tongue_c) / (0.5 * lo_open + 1.0)) ** 2), 0, 1)
    tongue_blob = np.minimum(tongue_blob * 3, 1) * np.clip(tongue * 1.5, 0, 1)
    tip = np.clip(1 - ((u / 0.25) ** 2 + (v / (0.15 * h * zoom + 0.5)) ** 2), 0, 1)
    tip = np.minimum(tip * 3, 1) * np.clip(tongue - 0.6, 0, 0.4) / 0.4
    # colours
    tex_rng = np.random.default_rng(app.texture_seed)
    texture = gaussian_filter(tex_rng.standard_normal((h, w)), 1.5) * 0.03
    gy = (np.arange(h) / h - 0.5)[:, None]
    gx = (np.arange(w) / w - 0.5)[None, :]
    light = (1 + app.light[0] * gx + app.light[1] * gy).astype(np.float32)
    skin = ((app.skin + texture) * light).astype(np.float32)
    # shadow under the lower lip and at the corners
    crease = np.exp(-((v - y_ol - 0.06 * h) / (0.04 * h)) ** 2) * np.clip(1 - np.abs(u) * 0.8, 0, 1) * 0.12
    corners = np.exp(-(((np.abs(u) - 1.0) * half_w) / (0.03 * w + 0.5)) ** 2) * np.exp(-(v / (0.06 * h)) ** 2) * 0.2
    img = skin[None] * (1 - crease - corners)
    lip_col = app.skin * app.lip * light[None] * (1 + 0.08 * (v < 0))
    img = img * (1 - lips) + lip_col * lips
    teeth_col = app.teeth * light[None] * 0.9
    tongue_col = app.skin * 0.75 * light[None]
    inner = 0.08 * (1 - tongue_blob) + tongue_col * tongue_blob
    tt = np.clip(up_teeth + lo_teeth, 0, 1)
    inner = inner * (1 - tt) + teeth_col * tt
    inner = inner * (1 - tip) + tongue_col * 1.1 * tip
    img = img * (1 - cavity) + inner * cavity
    flick = 1 + 0.015 * gaussian_filter1d(rng.standard_normal(n + 6), 2.0)[3:3 + n]
    img = img * flick.astype(np.float32)[:, None, None]
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(app.noise)
    return np.clip(img, 0, 1).astype(np.float32)
