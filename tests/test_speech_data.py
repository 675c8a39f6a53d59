"""Tests of avlib.data.speech: embedded AVletters / Digits / CUAVE stand-ins and readers."""

import json
import shutil

import numpy as np
import pytest
import torch

from avlib.data.speech import (
    DATASET_INFO,
    SpeechDataset,
    cnn_mlp_inputs,
    ensure_speech_benchmark,
    generate_speech_benchmark,
    holdout_split,
    load_speech_dataset,
    pad_sequences,
    sequence_inputs,
    speaker_folds,
    standardize,
    window_average,
    with_mfcc,
)
from avlib.data.speech.generate import MARKER
from avlib.data.speech.phonemes import LEXICON, PHONEMES, VISEMES, viseme_sequence
from avlib.errors import DataError, ParameterError

# tiny versions of the presets (a few seconds each)
TINY = {
    "avletters": dict(n_speakers=3, words=["B", "P"], takes=[1, 2, 3], extra_snrs=[0.0]),
    "digits": dict(n_speakers=2, words=["one", "seven"], takes=["normal", "quick", "slow"], extra_snrs=[]),
    "cuave": dict(n_speakers=8, words=["two"], takes=[1], extra_snrs=[]),
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    for name, over in TINY.items():
        ensure_speech_benchmark(root, name, scale="smoke", seed=3, n_jobs=2, overrides=over, progress=False)
    return root


def _root(data_root, name):
    return data_root / "embedded" / "smoke" / name


@pytest.fixture(scope="module")
def datasets(data_root):
    return {name: load_speech_dataset(_root(data_root, name), name) for name in TINY}


def _fake(name, n_speakers, clips_per_speaker=2, takes=None):
    """A SpeechDataset with tiny arrays (no generation), for split tests."""
    info = DATASET_INFO[name]
    spk, tk, frames, mfcc = [], [], [], []
    for s in info.speaker_names[:n_speakers]:
        for c in range(clips_per_speaker):
            spk.append(s)
            tk.append(takes[c] if takes else 1)
            frames.append(np.zeros((info.min_frames, 2, 2), np.uint8))
            mfcc.append(np.zeros((info.min_frames, 26), np.float32))
    t = np.empty(len(tk), dtype=object)
    t[:] = tk
    return SpeechDataset(info=info, frames=frames, mfcc=mfcc, labels=np.zeros(len(spk), np.int64),
                         speakers=np.array(spk), takes=t, ids=[f"{s}/x" for s in spk])


# ------------------------------------------------------------------- lexicon / synthesis

def test_lexicon_covers_all_classes_and_visemes_are_ambiguous():
    for info in DATASET_INFO.values():
        for w in info.class_names:
            assert w in LEXICON
            assert all(p in PHONEMES for p in LEXICON[w])
    for p in PHONEMES.values():
        assert p.viseme == "inherit" or p.viseme in VISEMES
    # B and P (and D / T) look the same on the lips, but are different phonemes
    assert viseme_sequence("B") == viseme_sequence("P")
    assert viseme_sequence("D") == viseme_sequence("T")
    assert LEXICON["B"] != LEXICON["P"]


# ------------------------------------------------------------------- generated layouts

@pytest.mark.parametrize("name", list(TINY))
def test_generated_layout_loads_with_paper_shapes(datasets, name):
    ds = datasets[name]
    info = DATASET_INFO[name]
    over = TINY[name]
    assert len(ds) == over["n_speakers"] * len(over["words"]) * len(over["takes"])
    assert ds.skipped == []
    assert set(ds.speakers) == set(info.speaker_names[: over["n_speakers"]])
    for f, m in zip(ds.frames, ds.mfcc):
        assert f.dtype == np.float32 and f.shape[1:] == info.frame_hw
        assert 0.0 <= f.min() and f.max() <= 1.0
        assert m.shape == (len(f), 26) and m.dtype == np.float32 and np.isfinite(m).all()
        assert info.min_frames <= len(f) <= info.max_frames
    m = info.min_frames
    x_img, x_mfcc, y = cnn_mlp_inputs(ds)
    assert x_img.shape == (len(ds), m) + info.frame_hw
    assert x_mfcc.shape == (len(ds), 26 * m)
    assert np.array_equal(y, ds.labels)
    s_img, s_mfcc, mask, y2 = sequence_inputs(ds)
    assert s_img.shape == (len(ds), info.max_frames, 1) + info.frame_hw
    assert s_mfcc.shape == (len(ds), info.max_frames, 26)
    assert np.array_equal(mask.sum(1), ds.lengths)
    assert not s_img[~mask].any() and not s_mfcc[~mask].any()
    assert np.array_equal(y2, ds.labels)


def test_paper_input_sizes():
    # XFlow: CNNxMLP 80x60x11 + 286 (AVletters), 90x120x6 + 156 (Digits, CUAVE); LSTM 39 / 58 / 44
    av, dg, cu = DATASET_INFO["avletters"], DATASET_INFO["digits"], DATASET_INFO["cuave"]
    assert av.frame_hw + (av.min_frames,) == (80, 60, 11) and 26 * av.min_frames == 286
    assert dg.frame_hw + (dg.min_frames,) == (90, 120, 6) and 26 * dg.min_frames == 156
    assert cu.frame_hw + (cu.min_frames,) == (90, 120, 6)
    assert (av.max_frames, dg.max_frames, cu.max_frames) == (39, 58, 44)
    assert (av.n_classes, dg.n_classes, cu.n_classes) == (26, 10, 10)


def test_avletters_frames_are_transposed_images(datasets, data_root):
    ds = datasets["avletters"]
    raw = np.load(_root(data_root, "avletters") / f"{ds.ids[0]}.frames.npy")
    assert raw.shape[1:] == (60, 80)
    np.testing.assert_allclose(ds.frames[0], raw.transpose(0, 2, 1) / 255.0, atol=1e-6)


def test_video_and_extra_noise_files(data_root, datasets):
    ds = datasets["avletters"]
    spk_dir = _root(data_root, "avletters") / ds.speakers[0]
    assert list(spk_dir.glob("*.avi")), "the original videos are kept"
    noisy = load_speech_dataset(_root(data_root, "avletters"), "avletters", mfcc="mfcc_snr0")
    assert noisy.ids == ds.ids
    assert not np.allclose(noisy.mfcc[0], ds.mfcc[0])
    swapped = with_mfcc(ds, "mfcc_snr0")
    assert swapped.frames is ds.frames and swapped.mfcc_kind == "mfcc_snr0"
    assert all(np.array_equal(a, b) for a, b in zip(swapped.mfcc, noisy.mfcc))
    with pytest.raises(DataError, match=ds.ids[0]):
        with_mfcc(ds, "mfcc_snr7")
    dg = datasets["digits"]
    assert dg.spectrogram(0).ndim == 2


def test_speaking_styles_change_duration(datasets):
    ds = datasets["digits"]
    length = {t: ds.lengths[ds.takes == t].mean() for t in ("quick", "normal", "slow")}
    assert length["quick"] < length["normal"] < length["slow"]


def test_modalities_are_aligned(datasets):
    """Audio energy and mouth opening rise together (aligned by construction)."""
    ds = datasets["avletters"]
    corr = []
    for f, m in zip(ds.frames, ds.mfcc):
        # mouth movement = distance from the rest shape (first/last frame); audio energy ~ c0
        rest = 0.5 * (f[0] + f[-1])
        moving = np.abs(f - rest)[:, 20:60, 10:50].mean(axis=(1, 2))
        corr.append(np.corrcoef(moving, m[:, 0])[0, 1])
    assert np.nanmean(corr) > 0.3


# ------------------------------------------------------------------- inputs

def test_window_average_known_answer():
    x = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    out = window_average(x, 6)          # window of 5
    expected = np.array([np.mean(np.arange(j, j + 5)) for j in range(6)])
    np.testing.assert_allclose(out[:, 0], expected)
    rng = np.random.default_rng(0)
    seq = rng.random((7, 4, 5))
    np.testing.assert_allclose(window_average(seq, 7), seq, rtol=1e-6)
    np.testing.assert_allclose(window_average(seq, 1)[0], seq.mean(0), rtol=1e-6)
    with pytest.raises(ParameterError):
        window_average(seq, 8)


def test_pad_and_standardize_keep_padding_zero():
    rng = np.random.default_rng(1)
    seqs = [rng.normal(3, 2, (n, 4)) for n in (3, 5, 2)]
    x, mask = pad_sequences(seqs, 6)
    assert x.shape == (3, 6, 4) and mask.sum() == 10
    (z,) = standardize(x, masks=[mask])
    np.testing.assert_allclose(z[mask].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[mask].std(0), 1, atol=1e-4)
    assert not z[~mask].any()
    a, b = rng.normal(5, 3, (50, 2)), rng.normal(5, 3, (20, 2))
    za, zb, (mean, std) = standardize(a, b, return_stats=True)
    np.testing.assert_allclose(mean, a.mean(0), rtol=1e-5)
    np.testing.assert_allclose(zb, (b - a.mean(0)) / (a.std(0) + 1e-6), rtol=1e-4)


# ------------------------------------------------------------------- splits

@pytest.mark.parametrize("name,n_spk,n_folds,test_size", [
    ("avletters", 10, 10, 1), ("digits", 15, 15, 1), ("cuave", 36, 9, 4)])
def test_speaker_folds_of_the_paper(name, n_spk, n_folds, test_size):
    ds = _fake(name, n_spk)
    folds = speaker_folds(ds)
    assert len(folds) == n_folds
    seen = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(ds)))
    order = ds.speaker_order
    for k, (tr, te) in enumerate(folds):
        assert not set(ds.speakers[tr]) & set(ds.speakers[te])
        assert list(dict.fromkeys(ds.speakers[te])) == order[k * test_size:(k + 1) * test_size]


def test_holdout_splits_of_ngiam():
    av = _fake("avletters", 10, 3, takes=[1, 2, 3])
    tr, te = holdout_split(av)
    assert len(tr) == 20 and len(te) == 10 and set(av.takes[te]) == {3}
    cu = _fake("cuave", 36)
    tr, te = holdout_split(cu)
    assert set(cu.speakers[te]) == {f"s{i:02d}" for i in range(1, 37, 2)}
    assert set(cu.speakers[tr]) == {f"s{i:02d}" for i in range(2, 37, 2)}
    with pytest.raises(ParameterError):
        holdout_split(_fake("digits", 15))


def test_generated_folds_and_holdout(datasets):
    assert len(speaker_folds(datasets["avletters"])) == 3
    assert len(speaker_folds(datasets["cuave"])) == 2        # 8 speakers, groups of 4
    tr, te = holdout_split(datasets["cuave"])
    assert len(tr) == len(te) == 4


# ------------------------------------------------------------------- determinism, marker

def test_deterministic_for_a_seed(tmp_path, data_root):
    over = dict(n_speakers=4, words=["two"], takes=[1], extra_snrs=[])
    a = generate_speech_benchmark(tmp_path / "a", "cuave", scale="smoke", seed=3, n_jobs=1,
                                  overrides=over, progress=False)
    b = generate_speech_benchmark(tmp_path / "b", "cuave", scale="smoke", seed=4, n_jobs=1,
                                  overrides=over, progress=False)
    ref = _root(data_root, "cuave")       # seed 3, made with 2 worker processes
    da = load_speech_dataset(a, "cuave")
    db = load_speech_dataset(ref, "cuave", speakers=["s01", "s02", "s03", "s04"])
    dc = load_speech_dataset(b, "cuave")
    assert da.ids == db.ids
    for i in range(len(da)):
        assert np.array_equal(da.frames[i], db.frames[i])
        assert np.array_equal(da.mfcc[i], db.mfcc[i])
    assert any(not np.array_equal(da.mfcc[i], dc.mfcc[i]) for i in range(len(da)))


def test_ensure_reuses_and_regenerates(data_root, tmp_path):
    root = _root(data_root, "cuave")
    stamp = (root / MARKER).stat().st_mtime_ns
    again = ensure_speech_benchmark(data_root, "cuave", scale="smoke", seed=3, overrides=TINY["cuave"])
    assert again == root and (root / MARKER).stat().st_mtime_ns == stamp
    params = json.loads((root / MARKER).read_text())["params"]
    assert params["seed"] == 3 and params["n_speakers"] == 8
    over = dict(n_speakers=2, words=["two"], takes=[1], extra_snrs=[])
    small = ensure_speech_benchmark(tmp_path, "cuave", scale="smoke", seed=0, n_jobs=1, overrides=over)
    assert json.loads((small / MARKER).read_text())["n_clips"] == 2
    over2 = dict(over, words=["two", "six"])
    ensure_speech_benchmark(tmp_path, "cuave", scale="smoke", seed=0, n_jobs=1, overrides=over2)
    assert json.loads((small / MARKER).read_text())["n_clips"] == 4
    with pytest.raises(ParameterError):
        ensure_speech_benchmark(tmp_path, "cuave", scale="smoke", overrides={"n_speaker": 3})
    with pytest.raises(ParameterError):
        ensure_speech_benchmark(tmp_path, "lrs3", scale="smoke")
    with pytest.raises(ParameterError, match="eleven"):
        ensure_speech_benchmark(tmp_path, "cuave", scale="smoke", overrides={"words": ["eleven"]})
    assert (small / MARKER).exists()          # a bad request does not delete existing data


# ------------------------------------------------------------------- bad input

def test_bad_clips_are_skipped_and_named(data_root, tmp_path):
    src = _root(data_root, "avletters")
    root = tmp_path / "av"
    shutil.copytree(src, root)
    ds0 = load_speech_dataset(root, "avletters")
    a, b, c, d = ds0.ids[:4]
    (root / f"{a}.mfcc.npy").unlink()                                   # missing MFCC
    m = np.load(root / f"{b}.mfcc.npy")
    np.save(root / f"{b}.mfcc.npy", m[:-1])                               # count mismatch
    np.save(root / f"{c}.frames.npy", np.load(root / f"{c}.frames.npy")[:5])  # too short
    np.save(root / f"{c}.mfcc.npy", np.load(root / f"{c}.mfcc.npy")[:5])
    (root / f"{d}.frames.npy").unlink()                                 # missing frames
    ds = load_speech_dataset(root, "avletters")
    assert len(ds) == len(ds0) - 4
    reasons = dict(ds.skipped)
    assert "missing MFCC" in reasons[a]
    assert "MFCC rows" in reasons[b]
    assert "fewer than the minimum 11" in reasons[c]
    assert "missing frames" in reasons[d]
    assert a in ds.report()
    with pytest.raises(DataError, match=a.split("/")[0]):
        load_speech_dataset(root, "avletters", strict=True)
    with pytest.raises(DataError):
        load_speech_dataset(tmp_path / "nowhere", "avletters")
    with pytest.raises(ParameterError):
        load_speech_dataset(root, "timit")


def test_xflow_arrays_take_a_per_dataset_downsample(datasets):
    """The cpu preset pools Digits/CUAVE frames more than AVletters: a dict keyed by dataset."""
    from avlib.experiments.xflow.inputs import dataset_setting, xflow_arrays

    ds = datasets["cuave"]
    full = xflow_arrays(ds, "cnnxmlp", downsample=1, cache=False)[0]
    by6 = xflow_arrays(ds, "cnnxmlp", downsample={"avletters": 4, "cuave": 6}, cache=False)[0]
    h, w = full.shape[-2:]
    assert by6.shape[-2:] == (h // 6, w // 6)
    assert torch.allclose(by6[0, 0, 0, 0], full[0, 0, :6, :6].float().mean())
    assert dataset_setting({"digits": 6}, "Digits") == 6 and dataset_setting(4, "cuave") == 4
    with pytest.raises(ParameterError, match="cuave"):
        xflow_arrays(ds, "cnnxmlp", downsample={"avletters": 4}, cache=False)


# ------------------------------------------------------------------- calibration probes

def _fake_clips(name, n_speakers, per_class):
    """A SpeechDataset of ``n_speakers`` x classes x ``per_class`` clips (tiny arrays)."""
    info = DATASET_INFO[name]
    spk, labels, tk = [], [], []
    for s in info.speaker_names[:n_speakers]:
        for c in range(info.n_classes):
            for r in range(per_class):
                spk.append(s)
                labels.append(c)
                tk.append(r + 1)
    n = len(spk)
    frames = [np.zeros((info.min_frames, 2, 2), np.float32)] * n
    mfcc = [np.zeros((info.min_frames, 26), np.float32)] * n
    t = np.empty(n, dtype=object)
    t[:] = tk
    return SpeechDataset(info=info, frames=frames, mfcc=mfcc, labels=np.array(labels, np.int64),
                         speakers=np.array(spk), takes=t, ids=[f"{s}/{i}" for i, s in enumerate(spk)])


def test_complementarity_table_known_answer():
    from avlib.data.speech.calibration import complementarity_table

    y = [0, 1, 2, 3, 4, 5, 6, 7]
    a = [0, 1, 2, 3, 9, 9, 9, 9]       # right on the first four
    v = [0, 1, 9, 9, 4, 5, 6, 9]       # right on 0, 1, 4, 5, 6
    out = complementarity_table(y, a, v)
    assert out == dict(both=0.25, only_audio=0.25, only_video=0.375, neither=0.125)
    assert abs(sum(out.values()) - 1) < 1e-12


def test_calibration_probe_informative_audio_uninformative_video():
    """Perfectly informative audio, pure-noise video: audio 100 %, video near chance,
    only-video and neither exactly 0, only-audio = 1 - video accuracy."""
    from avlib.data.speech.calibration import TARGET_BANDS, calibration_probe, calibration_table

    ds = _fake_clips("digits", n_speakers=5, per_class=4)          # 200 clips, 5 folds
    rng = np.random.default_rng(0)
    xa = np.eye(10, dtype=np.float32)[ds.labels] * 3 + 0.1 * rng.standard_normal((len(ds), 10)).astype(np.float32)
    xa = np.concatenate([xa, rng.standard_normal((len(ds), 20)).astype(np.float32)], 1)
    xv = rng.standard_normal((len(ds), 300)).astype(np.float32)     # > PROBE_COMPONENTS: PCA path
    r = calibration_probe(ds, features=(xa, xv))
    s = r.summary()
    assert s["n_clips"] == len(ds) and s["folds"] == 5 and s["chance"] == 0.1
    assert s["audio"] == 1.0
    assert s["video"] < 0.25                                          # chance 0.1, 200 clips
    assert s["only_video"] == 0.0 and s["neither"] == 0.0
    assert s["both"] == pytest.approx(s["video"]) and s["only_audio"] == pytest.approx(1 - s["video"])
    assert s["early_fusion"] >= 0.9 and s["late_fusion"] >= 0.9
    assert s["audio_band"] == TARGET_BANDS["digits"]["audio"]
    assert not s["audio_in_band"] and not s["video_in_band"] and not s["complementary"]
    # each clip is predicted once, by a probe that never saw its speaker
    assert (r.fold >= 0).all() and len(np.unique(r.fold)) == 5
    acc, comp = calibration_table([r])
    assert list(acc["probe"]) == ["audio", "video", "early fusion", "late fusion"]
    assert acc.loc[acc["probe"] == "audio", "accuracy"].item() == 1.0
    assert comp[["both", "only_audio", "only_video", "neither"]].sum(axis=1).item() == pytest.approx(1.0)
    # complementary case: audio knows the even classes, video the odd ones
    even = (ds.labels % 2 == 0)[:, None]
    xa2 = np.where(even, xa[:, :10], 0) + 0.1 * rng.standard_normal((len(ds), 10)).astype(np.float32)
    xv2 = np.where(~even, xa[:, :10], 0) + 0.1 * rng.standard_normal((len(ds), 10)).astype(np.float32)
    s2 = calibration_probe(ds, features=(xa2, xv2), max_folds=2).summary()
    assert s2["n_clips"] == 80 and s2["folds"] == 2
    assert 0.5 <= s2["audio"] <= 0.75 and 0.5 <= s2["video"] <= 0.75     # half the classes + chance
    assert s2["only_audio"] >= 0.25 and s2["only_video"] >= 0.25 and s2["complementary"]
    assert s2["early_fusion"] >= 0.95 and s2["late_fusion"] >= 0.95


def test_probe_pooling_is_the_cpu_presets():
    import dataclasses

    from avlib.config.xflow import XFlowConfig
    from avlib.data.speech.calibration import PROBE_DOWNSAMPLE, TARGET_BANDS

    assert PROBE_DOWNSAMPLE == dataclasses.asdict(XFlowConfig.for_scale("cpu").data.downsample)
    for name, bands in TARGET_BANDS.items():
        chance = 1.0 / DATASET_INFO[name].n_classes
        (alo, ahi), (vlo, vhi) = bands["audio"], bands["video"]
        assert chance < vlo < vhi <= ahi < 0.9 and alo < ahi       # video below audio, no ceiling


def test_probe_features_shapes(datasets):
    from avlib.data.speech.calibration import probe_features

    ds = datasets["cuave"]
    xa, xv = probe_features(ds)
    assert xa.shape == (len(ds), 26 * 6) and xv.shape == (len(ds), 6 * (90 // 4) * (120 // 4))
    _, xv6 = probe_features(ds, downsample=6)
    assert xv6.shape == (len(ds), 6 * 15 * 20)


def test_generated_smoke_data_both_modalities_above_chance(tmp_path):
    """A small generated CUAVE stand-in (smoke preset, 2 takes): each modality's probe beats
    chance clearly, and each is right on clips where the other is wrong."""
    from avlib.data.speech.calibration import calibration_probe

    root = generate_speech_benchmark(tmp_path / "cu", "cuave", scale="smoke", seed=0, n_jobs=2,
                                     overrides=dict(takes=[1, 2], extra_snrs=[], keep_video=False),
                                     progress=False)
    ds = load_speech_dataset(root, "cuave")
    assert len(ds) == 160
    s = calibration_probe(ds).summary()
    assert s["audio"] > 2 * s["chance"] and s["video"] > 2 * s["chance"]
    assert s["only_audio"] > 0 and s["only_video"] > 0


def test_the_datasheet_loads_each_dataset_and_its_noise_conditions(data_root, datasets):
    from avlib.data.speech.datasheet import by_condition, load_datasets

    # a folder holding the datasets, as a user with real data would give it
    real = load_datasets(["avletters", "digits"], source=str(data_root / "embedded" / "smoke"))
    assert list(real) == ["avletters", "digits"]
    for name, ds in real.items():
        np.testing.assert_array_equal(ds.mfcc[0], datasets[name].mfcc[0])
    cond = by_condition({"avletters": real["avletters"], "digits": real["digits"]}, ["mfcc_snr0"][:0])
    assert list(cond) == [("avletters", "mfcc"), ("digits", "mfcc")]
    noisy = by_condition({"avletters": real["avletters"]}, ["mfcc_snr0"])
    assert list(noisy) == [("avletters", "mfcc"), ("avletters", "mfcc_snr0")]
    assert not np.array_equal(noisy[("avletters", "mfcc_snr0")].mfcc[0], real["avletters"].mfcc[0])
