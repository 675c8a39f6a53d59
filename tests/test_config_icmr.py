"""ICMRConfig: every scale gives exactly the settings the ICMR pages ran with before the
configuration object existed (the flat presets and the registry's per-notebook values), and
overrides are validated."""

import dataclasses
import json

import pytest

from avlib.config.icmr import ICMRConfig
from avlib.errors import ParameterError

AUDIO_MODELS = (("han2016", "UC"), ("choi2016", "CC"), ("choi2016", "UC"), ("xception_audio", "UC"))

#: dotted key -> (paper, cpu, smoke), written from the presets and the registry as they were.
EXPECTED = {
    "audio.models": (AUDIO_MODELS, AUDIO_MODELS, AUDIO_MODELS),
    "audio.choi_seconds": (29.12, 1.456, 1.456),
    "audio.han_segments": (10, 2, 2),
    "audio.han_segment_seconds": (3.0, 1.0, 1.0),
    "audio.han_dropout": ((0.25, 0.5), (0.0, 0.0), (0.25, 0.5)),
    "audio.logmel_scale": ("power_squared", "power_squared", "power_squared"),
    "audio.epochs": (100, 4, 1),
    "audio.epochs_override": ((), (), ()),
    "audio.lr_override": ((), (("han2016", 3e-4),), ()),
    "audio.batch": (16, 16, 8),
    "audio.lr": (1e-3, 1e-3, 1e-3),
    "audio.lr_step": (10, None, None),
    "audio.patience": (10, None, None),
    "audio.lr_schedule": (None, "onecycle", None),
    "check_epochs_factor": (None, 0.5, None),
    "check_seeds": (None, (0,), None),
    "visual.frame_resize": (256, 92, 84),
    "visual.frame_size": (224, 80, 75),
    "visual.frames_grid": ((20, 30, 50, 100), (2, 4), (1,)),
    "visual.pretrain_grid": ((False, True), (False, True), (False, True)),
    "visual.eval_frames": (100, 4, 2),
    "visual.epochs": (100, 30, 3),
    "visual.batch": (64, 64, 16),
    "visual.lr": (1e-4, 1e-3, 1e-2),
    "visual.optimizer": ("sgd", "adam", "sgd"),
    "visual.lr_step": (5, None, None),
    "visual.patience": (5, None, None),
    "visual.backbone": ("finetune", "frozen", "frozen"),
    "visual.pretrain_epochs": (30, 6, 1),
    "visual.pretrain_lr": (1e-3, 1e-3, 1e-3),
    "visual.pretrain_images_per_class": (None, None, 2),
    "fusion.frames": (50, 4, 2),
    "fusion.visual": ((50, True), (4, True), (1, True)),
    "fusion.epochs": (100, 5, 2),
    "fusion.batch": (32, 32, 32),
    "fusion.lr": (1e-3, 1e-3, 1e-3),
    "fusion.lr_step": (10, None, None),
    "fusion.patience": (10, None, None),
    "fusion.hidden": ((1024,), (1024,), (1024,)),
    "robustness.snr_db": ((20.0, 10.0, 0.0, -10.0), (20.0, 10.0, 0.0, -10.0), (10.0, -10.0)),
    "robustness.keep_fractions": ((1.0, 0.5, 0.25, 0.0), (1.0, 0.5, 0.25, 0.0), (1.0, 0.5, 0.0)),
    # the registry's notebook parameters: training seeds, audio worker processes, intra-op threads
    "seeds": ((0, 1, 2), (0, 1), (0,)),
    "workers": (1, 2, 1),
    "torch_threads": (8, 2, 2),
    "table1.include_embedded": (False, True, True),
}

#: The YouTube-8M page: 20 frames at the paper's scale, one seed and 2 audio epochs at cpu.
EXPECTED_YT8M = {
    "fusion.frames": (20, 4, 2),
    "fusion.visual": ((20, True), (4, True), (1, True)),
    "seeds": ((0, 1, 2), (0,), (0,)),
    "audio.epochs": (100, 2, 1),
}

SCALES = ("paper", "cpu", "smoke")


def _same(got, want):
    """Equal values of the same JSON type (1 and 1.0 differ: the keys hash the JSON)."""
    return json.dumps(got) == json.dumps(want)


@pytest.mark.parametrize("i, scale", list(enumerate(SCALES)))
def test_for_scale_reproduces_every_setting_field_by_field(i, scale):
    cfg = ICMRConfig.for_scale(scale)
    assert cfg.scale == scale
    bad = {k: (cfg.get(k), v[i]) for k, v in EXPECTED.items() if not _same(cfg.get(k), v[i])}
    assert not bad
    yt = cfg.for_youtube8m()
    bad = {k: (yt.get(k), v[i]) for k, v in EXPECTED_YT8M.items() if not _same(yt.get(k), v[i])}
    assert not bad
    # everything else of the YouTube-8M page is the scale's own setting
    assert {k for k in yt.changes(cfg)} <= set(EXPECTED_YT8M)


def test_the_table_covers_every_training_setting():
    """A setting added to the configuration must be added to the table above."""
    from avlib.config.base import flatten

    keys = set(flatten(ICMRConfig().to_dict()))
    untabled = keys - set(EXPECTED) - {"scale", "n_jobs"} - {k for k in keys if k.startswith("youtube8m.")}
    assert not untabled


def test_defaults_are_the_paper_and_the_scales_say_why_they_differ():
    assert ICMRConfig() == ICMRConfig.for_scale("paper")
    assert ICMRConfig.for_scale("paper").changes() == {}
    for scale in SCALES:
        note = ICMRConfig.for_scale(scale).note()
        assert note and "book budget" not in note and "shared machine" not in note
    assert "half its epochs" in ICMRConfig.for_scale("cpu").note()


def test_overrides_are_validated_and_unknown_keys_rejected():
    cfg = ICMRConfig.for_scale("cpu")
    three = cfg.with_overrides({"audio.epochs": 3})
    assert three.audio.epochs == 3 and cfg.audio.epochs == 4  # a copy; the original is unchanged
    assert three.changes(cfg) == {"audio.epochs": (4, 3)}
    with pytest.raises(ParameterError, match="epoch"):
        cfg.with_overrides({"audio.epoch": 3})
    with pytest.raises(ParameterError, match="frames_per_video"):
        cfg.with_overrides({"visual.frames_per_video": 3})
    with pytest.raises(ParameterError):
        cfg.with_overrides({"no_such_section.x": 1})
    with pytest.raises(ParameterError):
        cfg.with_overrides({"audio.epochs": "many"})
    with pytest.raises(ParameterError, match="unknown scale"):
        ICMRConfig.for_scale("laptop")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.audio.epochs = 1
    nested = cfg.with_overrides({"fusion": {"hidden": [1024, 1024]}, "seeds": [0, 1, 2]})
    assert nested.fusion.hidden == (1024, 1024) and nested.seeds == (0, 1, 2) and hash(nested)


def test_keys_follow_only_the_named_parts():
    cpu = ICMRConfig.for_scale("cpu")
    parts = ("audio.epochs", "audio.lr")
    assert cpu.key(*parts) == cpu.with_overrides({"seeds": [7], "fusion.epochs": 1}).key(*parts)
    assert cpu.key(*parts) != cpu.with_overrides({"audio.epochs": 5}).key(*parts)
    assert json.loads(cpu.to_json())["audio"]["lr_override"] == [["han2016", 3e-4]]
