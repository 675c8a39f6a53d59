"""ISMIRConfig: every scale gives exactly the settings the ISMIR page ran with before the
configuration object existed (the flat presets of the old training module plus the registry's
per-scale notebook parameters), its ICMR section is the ICMR configuration of the same scale,
and overrides are validated."""

import dataclasses
import json

import pytest

from avlib.config import ICMRConfig, ISMIRConfig, XFlowConfig
from avlib.config.base import flatten
from avlib.errors import ParameterError

SCALES = ("paper", "cpu", "smoke")

#: dotted key -> (paper, cpu, smoke), written from the old presets and the registry as they were:
#: presets (audio_model, n_frames, joint_*, k_audio, k_visual, groups, analysis_split, alpha,
#: correction, strong, gradcam_per_category, separate, importance, audio_seconds, visual_lr) and the
#: registry entry (seeds, joint_seeds, audio_model, n_frames, joint_epochs, gradcam_per_category).
EXPECTED = {
    "seeds": ((0, 1, 2), (0, 1), (0,)),
    "network.audio_model": ("xception_audio", "choi2016", "choi2016"),
    "network.n_frames": (1, 1, 1),
    "feature_extraction.subnetworks": ("train", "icmr_store", "train"),
    "joint.seeds": (None, None, (0,)),
    "joint.epochs": (100, 8, 1),
    "joint.batch": (32, 16, 8),
    "joint.lr": (1e-3, 1e-3, 1e-3),
    "joint.lr_step": (10, None, None),
    "joint.patience": (10, None, None),
    "joint.max_train": (None, 300, None),
    "joint.train_frames": ("random", "random", "random"),
    "analysis.importance": ("linear", "linear", "linear"),
    "analysis.k_audio": (10, 10, 10),
    "analysis.k_visual": (20, 20, 20),
    "analysis.groups": ("predicted", "predicted", "predicted"),
    "analysis.split": ("all", "all", "all"),
    "analysis.alpha": (0.05, 0.05, 0.05),
    "analysis.correction": ("fdr_bh", "fdr_bh", "fdr_bh"),
    "analysis.strong": (0.5, 0.5, 0.5),
    "analysis.gradcam_per_category": (3, 1, 1),
    # the notebook set two intra-op threads below the paper's scale and left PyTorch's default there
    "torch_threads": (None, 2, 2),
    "n_jobs": (None, None, None),
    # audio_seconds (paper: 1 s, else the ICMR input) and visual_lr (smoke: 1e-3) now live in the
    # ICMR section the run uses
    "icmr.audio.choi_seconds": (1.0, 1.456, 1.456),
    "icmr.visual.lr": (1e-4, 1e-3, 1e-3),
}

#: Settings the old code did not have (the Grad-CAM figure); not part of the comparison above.
NEW = {
    "analysis.gradcam_categories": (4, 4, 4),
    "analysis.gradcam_frame_px": (None, 299, 299),
    "check_epochs_factor": (None, 0.5, None),
    "check_seeds": (None, (0,), None),
}

#: Where the ICMR section departs from ICMRConfig.for_scale(scale) (the old audio_seconds and
#: visual_lr); everything else of it is the ICMR configuration of the same scale.
ICMR_DEPARTURES = {"paper": {"audio.choi_seconds"}, "cpu": set(), "smoke": {"visual.lr"}}


def _same(got, want):
    """Equal values of the same JSON type (1 and 1.0 differ: the stored keys hash the JSON)."""
    return json.dumps(got) == json.dumps(want)


@pytest.mark.parametrize("i, scale", list(enumerate(SCALES)))
def test_for_scale_reproduces_every_setting_field_by_field(i, scale):
    cfg = ISMIRConfig.for_scale(scale)
    assert cfg.scale == scale and cfg.icmr.scale == scale
    table = {**EXPECTED, **NEW}
    bad = {k: (cfg.get(k), v[i]) for k, v in table.items() if not _same(cfg.get(k), v[i])}
    assert not bad


@pytest.mark.parametrize("scale", SCALES)
def test_icmr_section_is_the_icmr_configuration_of_the_same_scale(scale):
    from avlib.config.ismir import ICMR_PARTS

    cfg = ISMIRConfig.for_scale(scale)
    icmr = ICMRConfig.for_scale(scale)
    read = {k for k in cfg.icmr.changes(icmr) if k.split(".")[0] in ICMR_PARTS}
    assert read == ICMR_DEPARTURES[scale]
    # the parts the ISMIR run does not read keep their defaults (no ICMR seeds on this page)
    assert {k.split(".")[0] for k in cfg.icmr.changes(ICMRConfig())} <= {"scale", *ICMR_PARTS}
    if not ICMR_DEPARTURES[scale]:
        # the stored ICMR runs are found by the hash of these parts: the same JSON, the same key
        for part in ICMR_PARTS:
            assert json.dumps(cfg.icmr.to_dict()[part]) == json.dumps(icmr.to_dict()[part])
        assert cfg.icmr.key(*ICMR_PARTS) == icmr.key(*ICMR_PARTS)


def test_the_table_covers_every_setting():
    """A setting added to the configuration must be added to the tables above."""
    keys = {k for k in flatten(ISMIRConfig().to_dict()) if not k.startswith("icmr.")}
    assert keys - set(EXPECTED) - set(NEW) == {"scale"}


def test_defaults_are_the_paper_and_the_scales_say_why_they_differ():
    assert ISMIRConfig() == ISMIRConfig.for_scale("paper")
    assert ISMIRConfig.for_scale("paper").changes() == {}
    for scale in SCALES:
        note = ISMIRConfig.for_scale(scale).note()
        assert note and len(note) < 900
        assert "book budget" not in note and "shared machine" not in note
    assert "300" in ISMIRConfig.for_scale("cpu").note()


def test_overrides_are_validated_and_unknown_keys_rejected():
    cfg = ISMIRConfig.for_scale("cpu")
    more = cfg.with_overrides({"joint.epochs": 3, "icmr.fusion.epochs": 2})
    assert more.joint.epochs == 3 and more.icmr.fusion.epochs == 2 and cfg.joint.epochs == 8
    assert more.changes(cfg) == {"joint.epochs": (8, 3), "icmr.fusion.epochs": (5, 2)}
    with pytest.raises(ParameterError, match="epoch"):
        cfg.with_overrides({"joint.epoch": 3})
    with pytest.raises(ParameterError):
        cfg.with_overrides({"joint_epochs": 3})  # the old flat name
    with pytest.raises(ParameterError):
        cfg.with_overrides({"joint.epochs": "many"})
    with pytest.raises(ParameterError, match="unknown scale"):
        ISMIRConfig.for_scale("gpu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.joint.epochs = 1
    for key, value in (("analysis.groups", "truth"), ("analysis.importance", "saliency"),
                       ("analysis.split", "holdout"), ("feature_extraction.subnetworks", "download"),
                       ("joint.train_frames", "last"), ("network.n_frames", 0),
                       ("analysis.gradcam_frame_px", 40), ("network.audio_model", "han2016")):
        with pytest.raises(ParameterError):
            cfg.with_overrides({key: value})
    ok = cfg.with_overrides({"analysis.importance": "gradient", "joint.seeds": [0]})
    assert ok.analysis.importance == "gradient" and ok.joint.seeds == (0,) and hash(ok)


def test_joint_seeds_and_training_schedule():
    from avlib.experiments.ismir.schemes import joint_seeds, joint_train_config

    cpu = ISMIRConfig.for_scale("cpu")
    assert joint_seeds(cpu) == [0, 1]
    assert joint_seeds(ISMIRConfig.for_scale("smoke")) == [0]
    t = joint_train_config(cpu, seed=1)
    assert (t.epochs, t.batch_size, t.lr, t.optimizer, t.lr_step, t.patience, t.seed) == (8, 16, 1e-3, "adam",
                                                                                          None, None, 1)
    # a reader's override reaches the training schedule
    assert joint_train_config(cpu.with_overrides({"joint.epochs": 2}), seed=0).epochs == 2


def test_the_package_exports_every_configuration():
    assert {ICMRConfig.__name__, ISMIRConfig.__name__, XFlowConfig.__name__} == {
        "ICMRConfig", "ISMIRConfig", "XFlowConfig"}


def test_the_choices_are_the_analysis_modules_choices():
    from avlib.analysis import correlation, importance
    from avlib.config import ismir

    assert ismir.IMPORTANCE_VARIANTS == importance.IMPORTANCE_VARIANTS
    assert set(ismir.CORRECTIONS) == set(correlation.CORRECTIONS)


def test_the_convergence_check_halves_every_training_and_reuses_the_icmr_pages_shorter_runs():
    from avlib.experiments.icmr import audio as icmr_audio
    from avlib.experiments.icmr import seeds as icmr_seeds
    from avlib.experiments.ismir import schemes

    cpu = ISMIRConfig.for_scale("cpu")
    assert cpu.check_epochs_factor == 0.5
    short = schemes.check_config(cpu)
    assert (short.icmr.audio.epochs, short.icmr.visual.epochs, short.icmr.fusion.epochs, short.joint.epochs) == \
        (2, 15, 2, 4)
    assert short.check_epochs_factor is None and short.seeds == (0,) and short.check_seeds is None
    # the separate subnetworks of the check are the ICMR pages' own shorter runs (same store keys)
    icmr_short = icmr_seeds.check_config(ICMRConfig.for_scale("cpu"))
    for s in cpu.seeds:
        assert icmr_audio.audio_run_key(short.icmr, "choi2016", "UC", s) == \
            icmr_audio.audio_run_key(icmr_short, "choi2016", "UC", s)
    visual_keys = ("visual.frame_size", "visual.frame_resize", "visual.epochs", "visual.batch", "visual.lr")
    assert short.icmr.key(*visual_keys) == icmr_short.key(*visual_keys)
    assert "joint scheme 4 instead of 8 (seed 0)" in schemes.check_description(cpu)
    assert schemes.check_config(ISMIRConfig.for_scale("smoke")) is None


def test_the_convergence_check_marks_each_claim_row(tmp_path, monkeypatch):
    """The check runs the first seed again and compares it with the same seed at full length."""
    from types import SimpleNamespace

    from avlib import claims
    from avlib.experiments.icmr.store import CHECK_SUB
    from avlib.experiments.ismir import evidence

    rows = [claims.from_values("ismir_strong_intra", [10.0, 12.0, 14.0], unit="seed", detail=""),
            claims.from_values("ismir_joint_vs_fe", [1.0, 2.0, 3.0], unit="seed", detail="")]
    calls, seen = [], []

    def fake_runs(bench, data, cfg, **kw):
        calls.append((cfg.joint.epochs, cfg.icmr.audio.epochs, kw["store_sub"], tuple(cfg.seeds)))
        return {}

    def fake_evidence(cors, **kw):
        seen.append(sorted(cors))
        if cors == {"check": True}:  # the first seed at half the epochs
            return [claims.from_values("ismir_strong_intra", [9.0], unit="seed", detail=""),
                    claims.from_values("ismir_joint_vs_fe", [-9.0], unit="seed", detail="")]
        # the first seed at full length: the first effect moved by 1, the second by 10
        return [claims.from_values("ismir_strong_intra", [10.0], unit="seed", detail=""),
                claims.from_values("ismir_joint_vs_fe", [1.0], unit="seed", detail="")]

    monkeypatch.setattr(evidence, "run_schemes_seeds", fake_runs)
    monkeypatch.setattr(evidence, "analyse_seeds", lambda runs, categories, cfg: {"check": True})
    monkeypatch.setattr(evidence, "claim_evidence", fake_evidence)
    data = SimpleNamespace(categories=["a", "b"])
    main = {("feature extraction", 0): "fe0", ("feature extraction", 1): "fe1", ("joint", 0): "j0", ("joint", 1): "j1"}
    cpu = ISMIRConfig.for_scale("cpu")
    table = evidence.convergence_check(None, data, cpu, rows, data_root=tmp_path, main=main)
    assert calls == [(4, 2, CHECK_SUB, (0,))]  # half the epochs, the first seed only
    assert seen[1] == [("feature extraction", 0), ("joint", 0)]  # compared with the same seed
    assert list(table["converged"]) == ["yes", "no"] and list(table["change"]) == [1.0, 10.0]
    assert [r.converged for r in rows] == ["yes", "no"]
    with pytest.raises(ParameterError, match="main="):
        evidence.convergence_check(None, data, cpu, rows, data_root=tmp_path)
    assert evidence.convergence_check(None, data, ISMIRConfig.for_scale("smoke"), rows, data_root=tmp_path) is None
