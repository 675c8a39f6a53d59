"""Known-answer tests of the ICMR 2017 fidelity choices: videos without scores, the log-mel scale,
the audio Xception exit, Han et al. 2016, the frame model, late fusion, the paper's F1 and the
models' Grad-CAM layer names."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from avlib.features import audio as fa


def uniform_frame_indices(n_available, k):
    from avlib.features.frames import uniform_frame_indices as pick

    return pick(n_available, k)

torch.set_num_threads(2)

DEMO_SPEC = Path(__file__).parent / "fixtures" / "icmr2017" / "demo.wav.spec.npy"  # the authors' demo, shipped


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _floor_share(S):
    return float(np.mean(np.isclose(S, S.min())))


# ----------------------------------------------------------------- item 3: log-mel scale
def test_mel_to_db_hand_computed_squared_power():
    # mel power values 1, 0.1, 1e-3, 1e-5 -> authors' logamplitude(S ** 2): 20 log10(S)
    S = np.array([[1.0, 0.1], [1e-3, 1e-5]])
    got = fa.mel_to_db(S, scale="power_squared", top_db=None)
    np.testing.assert_allclose(got, [[0.0, -20.0], [-60.0, -100.0]], atol=1e-4)
    # with top_db 80 the floor is 80 dB below the maximum (0 dB) = 40 dB of power range
    got = fa.mel_to_db(S, scale="power_squared", top_db=80.0)
    np.testing.assert_allclose(got, [[0.0, -20.0], [-60.0, -80.0]], atol=1e-4)
    # the librosa power_to_db scale is half of it (kept as an option)
    np.testing.assert_allclose(fa.mel_to_db(S, scale="power", top_db=None), [[0, -10], [-30, -50]], atol=1e-4)
    with pytest.raises(Exception):
        fa.mel_to_db(S, scale="amplitude")


def test_logmel_pure_tone_known_level():
    # a 1 kHz sine of amplitude a: Hann-windowed |X|^2 at the peak bin = (a * n_fft / 4)^2; the
    # mel power of the band holding it is a known multiple; the squared scale doubles its dB
    sr, n_fft, hop = 12000, 512, 256
    t = np.arange(sr * 2) / sr
    y = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    import librosa

    M = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=96, power=2.0,
                                       pad_mode="constant")
    mid = M.shape[1] // 2
    peak = float(M[:, mid].max())
    ours = fa.logmel(y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=96, scale="power_squared")
    assert ours[:, mid].max() == pytest.approx(20 * math.log10(peak), abs=1e-3)
    # the ICMR input uses the authors' scale by default
    choi = fa.logmel_choi(y, sr=sr, seconds=2.0, mode="cc")
    assert choi.max() == pytest.approx(ours.max(), abs=1e-3)
    assert choi.max() - choi.min() == pytest.approx(80.0, abs=1e-3)


def test_logmel_matches_authors_demo_fixture_statistics():
    demo = np.load(DEMO_SPEC)
    demo_range, demo_floor = float(demo.max() - demo.min()), _floor_share(demo)
    assert demo.shape == (96, 1366)
    assert demo_range == pytest.approx(80.0, abs=1e-6)
    assert 0.25 < demo_floor < 0.40  # about 31.6 %
    # a comparable signal: 30 s of the benchmark's accordion recorded by a phone in a room
    from avlib.data.instruments.sound import render_performance

    audio, sr, _ = render_performance("accordion", np.random.default_rng(0), 30.0)
    ours = fa.logmel_choi(audio.mean(0), sr=sr, mode="uc")
    assert ours.shape == demo.shape
    assert float(ours.max() - ours.min()) == pytest.approx(demo_range, abs=1e-3)
    assert abs(_floor_share(ours) - demo_floor) < 0.1, (_floor_share(ours), demo_floor)
    # same dB scale: the maxima are within a few dB (the old power_to_db scale was ~half)
    assert abs(float(ours.max()) - float(demo.max())) < 8.0
    # the librosa power scale (the old default) cannot match the fixture's floor share
    old = fa.logmel_choi(audio.mean(0), sr=sr, mode="uc", scale="power")
    assert _floor_share(old) < 0.05


def test_han_segment_seconds_sets_rate():
    assert fa.han_target_sr(1.0) == 22050
    assert fa.han_target_sr(3.0) == 7350
    assert 43 * 512 / fa.han_target_sr(3.0) == pytest.approx(3.0, abs=0.01)
    y = np.random.default_rng(0).standard_normal(22050 * 12).astype(np.float32) * 0.1
    seg = fa.logmel_han(y, sr=22050, target_sr=fa.han_target_sr(3.0), n_segments=3)
    assert seg.shape == (3, 128, 43)


def test_icmr_config_keys_audio_cache_on_scale_and_segment_length():
    from avlib.config.icmr import ICMRConfig

    paper, cpu = ICMRConfig.for_scale("paper"), ICMRConfig.for_scale("cpu")
    assert paper.audio.han_segment_seconds == 3.0 and cpu.audio.han_segment_seconds == 1.0
    assert "1 s" in cpu.note() and "3 s" in cpu.note()
    assert paper.audio.logmel_scale == "power_squared"
    keys = ("audio.logmel_scale", "audio.han_segment_seconds")
    assert cpu.key(*keys) != cpu.with_overrides({"audio.logmel_scale": "power"}).key(*keys)


# ----------------------------------------------------------------- item 4: Xception exit
def test_xception_exit_is_linear_with_2x2_pool():
    from avlib.models.xception_audio import XceptionAudio

    torch.manual_seed(0)
    m = XceptionAudio(12).train()  # batch statistics: BN outputs of unit scale
    assert abs(n_params(m) / 1e6 - 9.65) < 0.01  # 728 filters (reference); 768 would give 10.6 M
    assert abs(n_params(XceptionAudio(12, width=768)) / 1e6 - 10.6) < 0.05
    x = torch.randn(2, 1, 96, 137)  # the cpu preset's input
    captured = {}
    block = m.exit[0]
    block.body[-2].register_forward_hook(lambda mod, i, o: captured.__setitem__("pre_pool", o))
    block.register_forward_hook(lambda mod, i, o: captured.__setitem__("inp", i[0]))
    with torch.no_grad():
        f = m.forward_features(x)
    expected = F.max_pool2d(captured["pre_pool"], 2, 2, ceil_mode=True) + block.residual(captured["inp"])
    torch.testing.assert_close(f, expected)
    # no ELU after the exit block: features go below ELU's bound of -1
    assert float(f.min()) < -1.0
    h, w = captured["inp"].shape[-2:]
    assert f.shape[-2:] == (math.ceil(h / 2), math.ceil(w / 2))


# ----------------------------------------------------------------- item 5: Han 2016
def test_han_pooling_rounds_down_like_keras():
    from avlib.models.han2016 import Han2016

    m = Han2016(12).eval()
    assert abs(n_params(m) / 1e6 - 1.5) < 0.1
    sizes = []
    for mod in m.features:
        if isinstance(mod, torch.nn.MaxPool2d):
            mod.register_forward_hook(lambda mod, i, o: sizes.append(tuple(o.shape[-2:])))
    with torch.no_grad():
        m(torch.randn(1, 1, 128, 43))
    h, w, want = 128, 43, []
    for _ in range(3):  # Keras MaxPooling2D((3, 3)), padding "valid": floor
        h, w = h // 3, w // 3
        want.append((h, w))
    assert sizes == want == [(42, 14), (14, 4), (4, 1)]


# ----------------------------------------------------------------- item 6: frames
def test_inception_frames_has_no_dropout_before_classifier():
    from avlib.models.inception_frames import InceptionFrames

    m = InceptionFrames(5).train()
    assert not any(isinstance(mod, torch.nn.Dropout) and mod.p > 0 for mod in m.modules())
    f = torch.randn(4, 2048, 2, 2)
    torch.testing.assert_close(m.forward_head(f), m.forward_head(f))  # train mode, deterministic


def test_uniform_frame_indices_span_a_long_video():
    idx = uniform_frame_indices(100, 50)  # 100 cached frames at 1 fps, k = 50
    assert len(idx) == 50 and np.all(np.diff(idx) > 0)
    assert idx[0] <= 1 and idx[-1] >= 98  # the whole video, not the first half
    np.testing.assert_array_equal(np.diff(idx), 2)
    np.testing.assert_array_equal(uniform_frame_indices(3, 5), [0, 1, 2])
    assert len(uniform_frame_indices(0, 4)) == 0
    assert uniform_frame_indices(200, 1).tolist() == [100]


def test_frame_scores_use_frames_from_the_whole_video_and_mark_missing():
    from avlib.experiments.icmr.visual import frame_scores

    class Probe(torch.nn.Module):  # logits = mean pixel of channel 0 -> the frame's index
        num_classes = 2

        def forward_features(self, x):
            return x

        def forward_head(self, x, pre_logits=False):
            v = x[:, 0].mean((1, 2))
            return torch.stack([v, -v], 1) if not pre_logits else v[:, None].repeat(1, 2048)

        def forward(self, x):
            return self.forward_head(x)

    long = np.stack([np.full((3, 8, 8), i, np.uint8) for i in range(100)])  # frame i has value i
    empty = np.zeros((0, 3, 8, 8), np.uint8)
    probs, feats = frame_scores(Probe(), [long, empty], n_frames=50)
    used = (feats[0, :, 0] + 1) * 127.5  # back from [-1, 1] to the frame index
    np.testing.assert_allclose(used, uniform_frame_indices(100, 50), atol=1e-3)
    assert used.max() > 90
    assert np.isnan(probs[1]).all() and np.isfinite(probs[0]).all()


# ----------------------------------------------------------------- item 7: late fusion
def test_late_fusion_default_is_reference_one_layer():
    from avlib.config.icmr import ICMRConfig
    from avlib.models.late_fusion import FUSION_HIDDEN, LateFusion

    ref = LateFusion(12, n_frames=50)
    text = LateFusion(12, n_frames=50, hidden=FUSION_HIDDEN["paper_text"])
    assert n_params(ref) == 106_128_396  # 106.1 M, reference code
    assert n_params(text) == 107_177_996  # 107.2 M, paper text
    assert ICMRConfig.for_scale("paper").fusion.hidden == FUSION_HIDDEN["reference"]
    assert "fusion.hidden = (1024, 1024)" in ICMRConfig.for_scale("paper").note()


# ----------------------------------------------------------------- item 2 (icmr part)
def test_metric_summary_reports_videos_without_scores_as_missing():
    from avlib.metrics.classification import classification_summary
    from avlib.experiments.icmr.scoring import metric_summary

    y = np.array([0, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [np.nan] * 3])
    out = metric_summary(y, p)
    assert out["n_missing"] == 1
    assert out["hit_at_1"] == classification_summary(y[:3], p[:3])["hit_at_1"] == 100.0
    allnan = metric_summary(y, np.full((4, 3), np.nan))
    assert allnan["n_missing"] == 4 and math.isnan(allnan["hit_at_1"])


def test_degradation_counts_videos_without_frames_as_missing():
    from avlib.experiments.icmr.robustness import degradation_table

    torch.manual_seed(0)
    from avlib.models.late_fusion import LateFusion
    from avlib.models.han2016 import Han2016

    n, k, C = 4, 2, 3
    fusion = LateFusion(C, n_frames=k).eval()
    audio = Han2016(C).eval()
    audio_x = [np.random.default_rng(i).standard_normal((1, 128, 43)).astype(np.float32) for i in range(n)]
    feats = np.random.default_rng(0).standard_normal((n, k, 2048)).astype(np.float32)

    def probs_fn(mask):  # like run_fusion_table's video_probs: NaN when no frame is kept
        out = np.full((n, C), np.nan)
        out[mask.any(1)] = 1.0 / C + np.eye(C)[0] * 0.1
        return out

    deg = degradation_table(fusion_model=fusion, audio_model=audio, audio_name="han2016", audio_x=audio_x,
                            frame_feats=feats, frame_probs_fn=probs_fn, labels=np.arange(n) % C, n_frames=k,
                            snr_db=(10.0,), keep_fractions=(1.0, 0.0), seed=0)
    none_kept = deg[(deg["condition"] == "frames kept") & (deg["level"] == 0.0) & (deg["model"] == "video only")]
    assert int(none_kept["n_missing"].iloc[0]) == n and none_kept["hit_at_1"].isna().all()
    clean = deg[(deg["condition"] == "clean") & (deg["model"] == "video only")]
    assert int(clean["n_missing"].iloc[0]) == 0


# ----------------------------------------------------------------- Grad-CAM layer names
@pytest.mark.parametrize("name, kwargs, shape", [
    ("han2016", {}, (1, 1, 128, 43)),
    ("choi2016", {"input_size": (96, 137)}, (1, 1, 96, 137)),
    ("xception_audio", {}, (1, 1, 96, 137)),
    ("inception_frames", {}, (1, 3, 80, 80)),
])
def test_gradcam_layer_names_resolve_to_the_last_spatial_block(name, kwargs, shape):
    from avlib.models import get_model

    m = get_model(name, num_classes=3, **kwargs).eval()
    layer = m.get_submodule(getattr(m, "gradcam_layer"))
    assert layer in dict(m.named_modules()).values()
    out = {}
    layer.register_forward_hook(lambda mod, i, o: out.__setitem__("y", o))
    with torch.no_grad():
        m(torch.randn(*shape))
    assert out["y"].ndim == 4 and min(out["y"].shape[-2:]) >= 1  # a spatial map
    if name == "inception_frames":
        assert m.gradcam_layer.endswith("Mixed_7c") and out["y"].shape[1] == 2048


def test_fidelity_options_say_which_variant_ran():
    from avlib.config.icmr import ICMRConfig
    from avlib.experiments.icmr.tables import fidelity_options

    paper = ICMRConfig.for_scale("paper")
    t = fidelity_options(paper).set_index("option")
    assert t.loc["log-mel scale", "this run"] == "power_squared"
    assert t.loc["late-fusion hidden layers", "this run"].startswith("reference: 1 x FC-1024")
    assert t.loc["Han et al. segment", "this run"].startswith("3 s")
    two = fidelity_options(paper.with_overrides({"fusion.hidden": [1024, 1024]})).set_index("option")
    assert two.loc["late-fusion hidden layers", "this run"].startswith("paper_text: 2 x")
    cpu = ICMRConfig.for_scale("cpu")
    assert fidelity_options(cpu).set_index("option").loc["frame backbone", "this run"] == "frozen"


# ----------------------------------------------------------------- the paper's F1
def test_metric_summary_f1_is_the_papers_weighted_f1_with_macro_beside_it():
    """The authors print scikit-learn's classification_report (experiments/evaluate.py), whose
    "avg / total" row was support-weighted in 2017: the tables' "f1" is the weighted F1."""
    from sklearn.metrics import f1_score

    from avlib.config.icmr import ICMRConfig
    from avlib.experiments.icmr.scoring import metric_summary
    from avlib.experiments.icmr.tables import fidelity_options

    y = np.array([0] * 6 + [1] * 3 + [2, 2])
    pred = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 2])
    p = np.eye(3)[pred] * 0.9 + 0.03
    p[-1] = np.nan  # a video without scores is still left out
    out = metric_summary(y, p)
    assert out["f1"] == pytest.approx(100 * f1_score(y[:-1], pred[:-1], average="weighted"))
    assert out["f1_macro"] == pytest.approx(100 * f1_score(y[:-1], pred[:-1], average="macro"))
    assert abs(out["f1"] - out["f1_macro"]) > 5 and out["n_missing"] == 1
    row = fidelity_options(ICMRConfig.for_scale("cpu")).set_index("option").loc["F1 average"]
    assert "weighted" in row["this run"] and "avg / total" in row["authors' code"]


def test_frame_scores_pass_each_frame_once_for_both_selections():
    """The run that feeds the fusion needs probabilities over ``eval_frames`` and features over
    ``fusion.frames``: one pass over the union of both selections gives what two passes gave."""
    from avlib.experiments.icmr.visual import frame_scores

    class Counting(torch.nn.Module):
        num_classes = 3

        def __init__(self):
            super().__init__()
            self.seen = 0
            self.w = torch.nn.Linear(2, 3)

        def forward_features(self, x):
            self.seen += len(x)
            return x

        def forward_head(self, x, pre_logits=False):
            f = torch.stack([x[:, 0].mean((1, 2)), x[:, 1].std((1, 2))], 1)
            return f.repeat(1, 1024) if pre_logits else self.w(f)

        def forward(self, x):
            return self.forward_head(self.forward_features(x))

    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, (n, 3, 6, 6), dtype=np.uint8) for n in (100, 37, 5, 0)]
    torch.manual_seed(0)
    model = Counting().eval()
    p_eval, _ = frame_scores(model, videos, n_frames=100, batch_size=16)
    _, f_fuse = frame_scores(model, videos, n_frames=50, batch_size=16)
    model.seen = 0
    p_one, f_one = frame_scores(model, videos, n_frames=100, feature_frames=50, batch_size=16)
    np.testing.assert_allclose(p_one, p_eval, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(f_one, f_fuse, rtol=1e-6)
    assert f_one.shape == (4, 50, 2048)
    # 100 + 37 + 5 frames: the 50 of the longest video are among its 100
    assert model.seen == 142
