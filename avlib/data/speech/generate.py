"""Embedded stand-ins for AVletters, Digits and CUAVE, written in the readers' layouts.

Each clip is made exactly as a real recording would be processed:

1. a synthetic speaker (voice :func:`.voice.random_voice`, appearance
   :func:`.mouth.random_appearance`) says one word; the phoneme timeline
   (:func:`.voice.make_timeline`) drives both the source-filter synthesiser
   (:func:`.voice.synthesize`) and the mouth renderer (:func:`.mouth.render_mouth`), so
   audio and video are aligned by construction; background "room" noise is added at a
   per-clip SNR drawn from the preset's range;
2. :func:`avlib.media.write_video` writes a real ``.mp4`` (H.264 + AAC) with the sound;
3. the frames are decoded back from the file (:func:`avlib.media.read_all_frames`,
   converted to gray) and the MFCCs are computed from the file's decoded sound track
   with the same feature code a user runs on real recordings
   (:func:`avlib.features.audio.load_audio`,
   :func:`avlib.features.audio.mfcc_per_video_frame`, 26 per video frame); extra MFCC
   sets with more speech-shaped noise (``mfcc_snr<k>``) and, for Digits, log-mel
   spectrograms are computed from the same decoded track;
4. everything is saved in the dataset's layout (:mod:`.layouts`).

Every random draw comes from a generator seeded by ``(seed, dataset, speaker, word,
take)``, so a clip does not depend on the order or the process it is made in: the
output is identical for a seed whatever ``n_jobs`` (tested).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from avlib.errors import DataError, MediaError, ParameterError
from avlib.features.audio import load_audio, logmel, mfcc_per_video_frame
from avlib.media import write_video
from avlib.paths import embedded_root
from avlib.utils import progress as progress_bar

from .layouts import DATASET_INFO, clip_stem
from .mouth import articulation_tracks, random_appearance, render_mouth
from .voice import SAMPLE_RATE, add_noise, make_timeline, random_voice, synthesize

__all__ = [
    "GENERATOR_VERSION",
    "SPEECH_PRESETS",
    "SPEECH_KNOBS",
    "speech_preset",
    "generate_speech_benchmark",
    "ensure_speech_benchmark",
    "MARKER",
    "VIDEO_SUFFIX",
    "read_gray_frames",
]

#: Bumped whenever the generator's output changes (forces regeneration).
#: 2: calibrated information knobs (:data:`SPEECH_KNOBS`): noisier audio, per-speaker
#: articulation (Digits, CUAVE).
GENERATOR_VERSION = 2
#: Container of the generated videos: H.264 video + 16-bit PCM sound in AVI (lossless
#: sound and no AAC encoder delay, so the MFCCs line up with the frames exactly).
VIDEO_SUFFIX = ".avi"
#: Marker file written last in a generated root; holds the generation parameters.
MARKER = "avlib_speech_benchmark.json"

_DS_CODE = {"avletters": 1, "digits": 2, "cuave": 3}


def _preset(n_speakers, words, takes, knobs=None, **kw):
    base = dict(n_speakers=n_speakers, words=list(words), takes=list(takes), snr_db=[15.0, 35.0],
                extra_snrs=[10.0, 0.0, -10.0], keep_video=True, formant_spread=0.06,
                articulation=[1.0, 1.0], token_var=0.15)
    base.update(json.loads(json.dumps(knobs or {})))
    base.update(kw)
    return base


_LETTERS = [chr(ord("A") + i) for i in range(26)]
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_STYLES = ["low", "normal", "loud", "slow", "quick"]

#: Information knobs per dataset (the same at every scale): how much each modality tells
#: about the word. Set with the calibration probes (:mod:`.calibration`) so that the
#: single-modality accuracies land in :data:`.calibration.TARGET_BANDS` and each modality
#: is right on clips where the other is wrong; never set from a multimodal result.
#:
#: * ``snr_db`` (audio): range of the per-clip room-noise SNR in dB (uniform; speech-shaped
#:   noise against the spoken part);
#: * ``formant_spread`` (audio): half-range of the per-speaker F1-F3 biases (accent /
#:   anatomy; 0.06 = +-6 %);
#: * ``articulation`` (video): range of the per-speaker articulation gain (uniform; the
#:   lips' distance from the rest shape relative to the lexicon's viseme targets);
#: * ``token_var`` (video): token-to-token variability of jaw opening and rounding
#:   (factor in ``1 +- token_var``).
#:
#: Calibration record (generator 2, ``cpu`` preset, all speaker folds; probe accuracy
#: audio / video, and the share of clips only audio / only video gets right):
#: AVletters seed 0: 57.2 / 34.7 %, 32.6 / 10.1 %; seed 1: 55.5 / 40.5 %, 30.3 / 15.3 %.
#: Digits seed 0: 67.2 / 44.9 %, 38.0 / 15.7 %; seed 1: 62.1 / 51.7 %, 29.6 / 19.2 %.
#: CUAVE seed 0: 72.9 / 52.5 %, 35.4 / 15.0 %; seed 1: 71.7 / 48.9 %, 37.4 / 14.6 %.
#: Generator 1 (room noise 15-35 dB, no articulation gain), seed 0: AVletters 76.3 / 34.7 %,
#: Digits 96.1 / 54.5 %, CUAVE 98.8 / 68.6 %; only video right 4.7 / 2.3 / 0.8 %.
SPEECH_KNOBS: dict[str, dict] = {
    "avletters": dict(snr_db=[-4.0, 16.0], formant_spread=0.06, articulation=[1.0, 1.0], token_var=0.15),
    "digits": dict(snr_db=[-10.0, 10.0], formant_spread=0.06, articulation=[0.7, 1.0], token_var=0.15),
    "cuave": dict(snr_db=[-10.0, 10.0], formant_spread=0.06, articulation=[0.5, 1.0], token_var=0.15),
}

#: Scale presets: ``SPEECH_PRESETS[scale][dataset]`` = generation parameters
#: (``n_speakers``, ``words``, ``takes`` = repetition numbers or Digits speaking styles,
#: ``extra_snrs`` = additional MFCC sets with speech-shaped noise at these SNRs,
#: ``keep_video``, and the information knobs of :data:`SPEECH_KNOBS`).
SPEECH_PRESETS: dict[str, dict[str, dict]] = {
    "smoke": {
        "avletters": _preset(3, _LETTERS[:8], [1, 2, 3], SPEECH_KNOBS["avletters"]),
        "digits": _preset(3, _DIGITS, ["normal", "quick"], SPEECH_KNOBS["digits"]),
        "cuave": _preset(8, _DIGITS, [1], SPEECH_KNOBS["cuave"]),
    },
    "cpu": {
        "avletters": _preset(10, _LETTERS, [1, 2, 3], SPEECH_KNOBS["avletters"]),
        "digits": _preset(15, _DIGITS, _STYLES, SPEECH_KNOBS["digits"]),
        "cuave": _preset(36, _DIGITS, [1, 2, 3, 4, 5], SPEECH_KNOBS["cuave"]),
    },
    "paper": {
        "avletters": _preset(10, _LETTERS, [1, 2, 3], SPEECH_KNOBS["avletters"]),
        "digits": _preset(15, _DIGITS, _STYLES, SPEECH_KNOBS["digits"]),
        "cuave": _preset(36, _DIGITS, [1, 2, 3, 4, 5], SPEECH_KNOBS["cuave"]),
    },
}


def speech_preset(scale: str, dataset: str) -> dict:
    """A copy of the generation parameters of ``scale`` for ``dataset``."""
    if scale not in SPEECH_PRESETS:
        raise ParameterError(f"unknown scale {scale!r}; valid: {', '.join(SPEECH_PRESETS)}")
    if dataset not in _DS_CODE:
        raise ParameterError(f"unknown dataset {dataset!r}; valid: {', '.join(_DS_CODE)}")
    return json.loads(json.dumps(SPEECH_PRESETS[scale][dataset]))


@dataclass(frozen=True)
class _Speaker:
    index: int
    name: str
    female: bool


def _speakers(dataset: str, n: int, seed: int) -> list[_Speaker]:
    info = DATASET_INFO[dataset]
    if n > len(info.speaker_names):
        raise ParameterError(f"{dataset} has {len(info.speaker_names)} speakers, asked for {n}")
    out = []
    for i in range(n):
        name = info.speaker_names[i]
        if info.speaker_female is not None:
            female = bool(info.speaker_female[i])
        else:
            female = bool(np.random.default_rng([seed, _DS_CODE[dataset], i, 7]).random() < 0.5)
        out.append(_Speaker(i, name, female))
    return out


def _speaker_models(dataset: str, spk: _Speaker, seed: int, params: dict):
    """Voice, appearance and articulation gain of one speaker (own random stream)."""
    rng = np.random.default_rng([seed, _DS_CODE[dataset], spk.index, 1])
    voice = random_voice(rng, female=spk.female, formant_spread=float(params["formant_spread"]))
    app = random_appearance(rng)
    lo, hi = params["articulation"]
    gain = float(np.random.default_rng([seed, _DS_CODE[dataset], spk.index, 4]).uniform(lo, hi))
    return voice, app, gain


def _make_clip(task) -> dict:
    """Generate, write, decode and featurise one clip (runs in a worker process).

    BLAS thread pools are limited to one thread: the parallelism is over clips, and
    nested BLAS threads only oversubscribe the cores.
    """
    t0 = time.process_time()
    with threadpool_limits(limits=1):
        rec = _make_clip_inner(task)
    rec["cpu_s"] = round(time.process_time() - t0, 4)
    return rec


def _make_clip_inner(task) -> dict:
    root, dataset, seed, spk, word_idx, take_idx, word, take, params = task
    info = DATASET_INFO[dataset]
    voice, app, gain = _speaker_models(dataset, spk, seed, params)
    rng = np.random.default_rng([seed, _DS_CODE[dataset], spk.index, word_idx, take_idx, 2])
    style = take if isinstance(take, str) else "normal"
    rate = voice.rate * float(rng.uniform(0.9, 1.1))    # token-to-token variation
    tl, n_frames = make_timeline(word, rate=rate, style=style, rng=rng, fps=info.fps,
                                 min_frames=info.min_frames, max_frames=info.max_frames)
    audio = synthesize(tl, voice, rng, sr=SAMPLE_RATE)
    lo, hi = params["snr_db"]
    snr = float(rng.uniform(lo, hi))
    speech = slice(int(tl.speech_start * SAMPLE_RATE), int(tl.speech_end * SAMPLE_RATE))
    audio = add_noise(audio, snr, rng, speech_slice=speech)
    artic = articulation_tracks(tl, fps=info.fps, n_frames=n_frames, rng=rng, gain=gain,
                                token_var=float(params["token_var"]))
    frames = render_mouth(artic, app, hw=info.disk_hw, rng=rng)
    rgb = np.repeat((frames * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=-1)

    stem = clip_stem(dataset, word, take)
    folder = Path(root) / spk.name
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / f"{stem}{VIDEO_SUFFIX}"
    write_video(video, rgb, fps=info.fps, audio=audio, sample_rate=SAMPLE_RATE)

    # --- the user's pipeline on the written file
    gray = read_gray_frames(video)
    if len(gray) != n_frames:
        raise DataError(f"{video}: decoded {len(gray)} frames, wrote {n_frames}")
    y = load_audio(video, sr=SAMPLE_RATE)
    mfcc = mfcc_per_video_frame(y, sr=SAMPLE_RATE, fps=info.fps, n_frames=n_frames, n_mfcc=26)
    np.save(folder / f"{stem}.frames.npy", gray)
    np.save(folder / f"{stem}.mfcc.npy", mfcc)
    nrng = np.random.default_rng([seed, _DS_CODE[dataset], spk.index, word_idx, take_idx, 3])
    for extra in params["extra_snrs"]:
        y_n = add_noise(y, float(extra), nrng, speech_slice=speech)
        m = mfcc_per_video_frame(y_n, sr=SAMPLE_RATE, fps=info.fps, n_frames=n_frames, n_mfcc=26)
        np.save(folder / f"{stem}.mfcc_snr{extra:g}.npy", m)
    if dataset == "digits":
        spec = logmel(y, sr=SAMPLE_RATE, n_fft=512, hop_length=160, n_mels=64)
        np.save(folder / f"{stem}.spec.npy", spec)
    if not params["keep_video"]:
        video.unlink()
    return dict(stem=stem, speaker=spk.name, word=word, take=take, style=style, n_frames=n_frames,
                snr_db=round(snr, 2), speech_start=round(tl.speech_start, 4),
                speech_end=round(tl.speech_end, 4),
                phonemes=" ".join(f"{s.name}:{s.start:.3f}-{s.end:.3f}" for s in tl.segments))


def read_gray_frames(path) -> np.ndarray:
    """Decode every frame of a video file as 8-bit grayscale (the luma plane), with PyAV.

    Returns
    -------
    np.ndarray [shape=(T, H, W), dtype=uint8]

    Raises
    ------
    MediaError
        Missing or corrupt file, no video stream, no decodable frame.
    """
    import av

    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file does not exist")
    try:
        container = av.open(str(path))
    except Exception as exc:  # av.error.FFmpegError and friends
        raise MediaError(path, f"cannot open container ({type(exc).__name__}: {exc})") from exc
    frames = []
    try:
        if not container.streams.video:
            raise MediaError(path, "no video stream")
        try:
            for frame in container.decode(container.streams.video[0]):
                frames.append(frame.to_ndarray(format="gray"))
        except av.error.FFmpegError as exc:
            if not frames:
                raise MediaError(path, f"video stream cannot be decoded ({exc})") from exc
    finally:
        container.close()
    if not frames:
        raise MediaError(path, "video stream holds no frames")
    return np.stack(frames)


def _params(dataset: str, scale: str, seed: int, overrides: dict | None) -> dict:
    params = speech_preset(scale, dataset)
    for k, v in (overrides or {}).items():
        if k not in params:
            raise ParameterError(f"unknown generation parameter {k!r}; valid: {', '.join(params)}")
        params[k] = list(v) if isinstance(v, tuple) else v
    return dict(generator="avlib.data.speech", version=GENERATOR_VERSION, dataset=dataset, scale=scale,
                seed=int(seed), sample_rate=SAMPLE_RATE, **params)


def generate_speech_benchmark(root, dataset: str, *, scale: str = "smoke", seed: int = 0,
                              n_jobs: int | None = None, overrides: dict | None = None,
                              progress: bool = True) -> Path:
    """Generate one embedded benchmark into ``root`` (overwriting it).

    Parameters
    ----------
    root : path
        Output folder (removed first if it exists).
    dataset : {"avletters", "digits", "cuave"}
    scale : {"smoke", "cpu", "paper"}
        Preset of :data:`SPEECH_PRESETS`.
    seed : int
    n_jobs : int, optional
        Worker processes (default: ``min(2, os.cpu_count())``; 1 = in this process).
    overrides : dict, optional
        Replace preset entries (e.g. ``{"n_speakers": 4}``); they are part of the marker.
    progress : bool
        Show a progress bar (:func:`avlib.utils.progress`; silent outside a terminal).

    Returns
    -------
    Path
        ``root``; its marker file :data:`MARKER` holds the parameters, the clip count,
        the wall-clock generation time and the CPU seconds spent in the workers.
    """
    params = _params(dataset, scale, seed, overrides)
    speakers = _speakers(dataset, params["n_speakers"], seed)
    info = DATASET_INFO[dataset]
    bad = [w for w in params["words"] if w not in info.class_names]
    bad += [t for t in params["takes"] if t not in info.takes]
    if bad:
        raise ParameterError(f"{dataset}: unknown words/takes {bad}; words: {info.class_names}, takes: {info.takes}")
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    tasks = []
    for spk in speakers:
        for word in params["words"]:
            wi = info.class_names.index(word)
            for take in params["takes"]:
                ti = info.takes.index(take) if isinstance(take, str) else int(take)
                tasks.append((str(root), dataset, int(seed), spk, wi, ti, word, take, params))
    n_jobs = int(n_jobs or min(2, os.cpu_count() or 1))
    records = []
    bar = progress_bar(total=len(tasks), desc=f"{dataset} ({scale})", **({} if progress else {"disable": True}))
    try:
        if n_jobs <= 1:
            for task in tasks:
                records.append(_make_clip(task))
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                for rec in pool.map(_make_clip, tasks, chunksize=4):
                    records.append(rec)
                    bar.update(1)
    finally:
        bar.close()
    _write_tables(root, dataset, speakers, records, seed, params)
    elapsed = time.perf_counter() - t0
    marker = dict(params=params, n_clips=len(records), seconds=round(elapsed, 2), n_jobs=n_jobs,
                  worker_cpu_seconds=round(sum(r["cpu_s"] for r in records), 2))
    (root / MARKER).write_text(json.dumps(marker, indent=1))
    return root


def _write_tables(root: Path, dataset: str, speakers, records, seed, params):
    with open(root / "clips.csv", "w", newline="") as fh:   # deterministic: no timings here
        fields = [k for k in records[0] if k != "cpu_s"]
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(records)
    with open(root / "speakers.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["speaker", "female", "f0_hz", "vtl", "rate", "loudness_db", "breath", "formant_bias",
                    "skin", "mouth_width", "articulation"])
        for spk in speakers:
            v, a, gain = _speaker_models(dataset, spk, seed, params)
            w.writerow([spk.name, int(spk.female), round(v.f0, 1), round(v.vtl, 3), round(v.rate, 3),
                        round(v.loudness_db, 2), round(v.breath, 3),
                        " ".join(f"{b:.3f}" for b in v.formant_bias), round(a.skin, 3), round(a.width, 3),
                        round(gain, 3)])


def ensure_speech_benchmark(data_root, dataset: str, *, scale: str, seed: int = 0,
                            n_jobs: int | None = None, overrides: dict | None = None,
                            progress: bool = True) -> Path:
    """Return the embedded benchmark's root, generating it only if missing or different.

    The root is :func:`avlib.paths.embedded_root` ``(data_root, scale, dataset)``. A
    marker file with the generation parameters is written last; if it is missing (an
    interrupted run) or its parameters differ from the requested ones, the folder is
    regenerated.
    """
    root = embedded_root(data_root, scale, dataset)
    want = _params(dataset, scale, seed, overrides)
    marker = root / MARKER
    if marker.exists():
        try:
            have = json.loads(marker.read_text()).get("params")
        except (OSError, ValueError):
            have = None
        if have == want:
            return root
    return generate_speech_benchmark(root, dataset, scale=scale, seed=seed, n_jobs=n_jobs,
                                     overrides=overrides, progress=progress)
