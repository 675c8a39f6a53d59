"""The paper dry run: the paper's settings with only the training budget cut, the batch cap of
every training, the parameters each notebook gets and the stand-in data links."""

import dataclasses
import os

import numpy as np
import pytest
import torch
from torch import nn

from avlib.config.datasheets import SpeechDatasheetConfig
from avlib.config.icmr import ICMRConfig
from avlib.config.ismir import ISMIRConfig
from avlib.config.xflow import XFlowConfig
from avlib.errors import ParameterError
from avlib.run import dryrun, load_registry, plan
from avlib.train.loop import TrainConfig, fit
from avlib.utils import BATCHES_ENV

CONFIGS = [ICMRConfig, ISMIRConfig, XFlowConfig, SpeechDatasheetConfig]


def _budget_key(key: str, budget) -> bool:
    return any(part == word or part.endswith("_" + word) for part in key.split(".") for word in budget)


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_a_dry_run_changes_only_how_much_is_trained(cls):
    paper, dry = cls.for_scale("paper"), cls.for_dry_run()
    changed = dry.changes(paper)
    assert changed, "a dry run must cut the training budget"
    outside = sorted(k for k in changed if not _budget_key(k, cls.DRY_RUN_BUDGET))
    assert not outside, f"the dry run changes more than the budget: {outside}"


def test_the_dry_run_keeps_the_papers_inputs_models_and_schedules():
    icmr = ICMRConfig.for_dry_run()
    assert icmr.audio.choi_seconds == 29.12 and icmr.audio.han_segments == 10
    assert icmr.visual.frame_size == 224 and icmr.visual.eval_frames == 100
    assert set(icmr.visual.frames_grid) >= {icmr.fusion.visual[0], 100} and icmr.visual.backbone == "finetune"
    assert icmr.visual.pretrain_grid == (False, True)
    assert icmr.visual.optimizer == "sgd" and icmr.audio.lr_step == 10 and icmr.fusion.frames == 50
    assert icmr.audio.models == ICMRConfig().audio.models
    ismir = ISMIRConfig.for_dry_run()
    assert ismir.network.audio_model == "xception_audio" and ismir.icmr.audio.choi_seconds == 1.0
    xflow = XFlowConfig.for_dry_run()
    paper = XFlowConfig()
    assert xflow.data == paper.data and xflow.training.lr_schedule is None
    # batch sizes are budget (two small batches per epoch), as for ICMR; the optimiser is the paper's
    assert xflow.training.cnnxmlp.lr == paper.training.cnnxmlp.lr and xflow.training.lstm.lr == paper.training.lstm.lr
    assert xflow.training.cnnxmlp.batch_size < paper.training.cnnxmlp.batch_size
    assert xflow.crossval.protocols == ("clean", "paper") and xflow.crossval.datasets == paper.crossval.datasets


def test_the_ismir_dry_run_reuses_the_icmr_dry_runs_settings():
    """The ISMIR page reads the ICMR pages' stored runs: both must be trained with the same settings."""
    ismir = ISMIRConfig.for_dry_run()
    icmr = ICMRConfig.for_dry_run()
    for key in ICMRConfig.DRY_RUN:
        assert ismir.icmr.get(key) == icmr.get(key), key


class _Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.lin(x)


def test_max_batches_caps_every_epoch_of_training_and_validation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=100)
    model = _Counting()
    history = fit(model, (x, y), (x[:50], y[:50]), config=TrainConfig(epochs=3, batch_size=10, max_batches=2),
                  progress_bar=False, device=torch.device("cpu"))
    assert len(history.epochs) == 3
    # 3 epochs x (2 training + 2 validation batches); fit may evaluate the kept weights once more
    assert 12 <= model.calls <= 12 + 5
    uncapped = _Counting()
    fit(uncapped, (x, y), (x[:50], y[:50]), config=TrainConfig(epochs=3, batch_size=10, max_batches=None),
        progress_bar=False, device=torch.device("cpu"))
    assert uncapped.calls >= 3 * (10 + 1)  # every training batch and at least one validation batch


def test_the_batch_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(BATCHES_ENV, raising=False)
    assert TrainConfig().max_batches is None
    monkeypatch.setenv(BATCHES_ENV, "2")
    assert TrainConfig().max_batches == 2
    assert TrainConfig(max_batches=5).max_batches == 5
    for bad in ("0", "two"):
        monkeypatch.setenv(BATCHES_ENV, bad)
        with pytest.raises(ValueError, match=BATCHES_ENV):
            TrainConfig()
    with pytest.raises(ParameterError):
        TrainConfig(max_batches=0)


def test_each_notebook_gets_its_dry_run_parameters_and_the_command_line_wins():
    registry = load_registry()
    overrides = {"config": {"audio.epochs": 2}}
    plans = plan(scale="paper", only=["icmr_audio", "run_manifest"], overrides=overrides, registry=registry)
    out = {e.name: dryrun.dry_run_parameters(e, p, overrides, "paper") for e, p in plans}
    speech_overrides = {"config": {"calibration_max_folds": 3}}
    (entry, params), = plan(scale="paper", only=["data_speech"], overrides=speech_overrides, registry=registry)
    out["data_speech"] = dryrun.dry_run_parameters(entry, params, speech_overrides, "paper")
    cfg = out["icmr_audio"]["config"]
    assert cfg["audio.epochs"] == 2  # -p wins over DRY_RUN
    assert cfg["seeds"] == [0] and cfg["visual.epochs"] == 1
    assert out["data_speech"]["config"] == {"baseline_max_folds": 2, "calibration_max_folds": 3}
    assert out["run_manifest"]["manifest_path"].startswith("_build/dry_run/")
    # without any -p the configuration notebooks still get the budget (nothing in their presets)
    for entry, params in plan(scale="paper", only=["icmr_audio", "xflow_crossval", "ismir_correspondence", "data_speech"],
                              registry=registry):
        assert "config" not in params
        got = dryrun.dry_run_parameters(entry, params, {}, "paper")["config"]
        assert got == dict(dryrun.config_class(entry).DRY_RUN)
    bad = {"config": {"audio.epoch": 2}}
    entry, params = plan(scale="paper", only=["icmr_audio"], registry=registry)[0]
    params = {**params, "config": {"audio.epoch": 2}}
    with pytest.raises(ParameterError, match="audio.epoch"):
        dryrun.dry_run_parameters(entry, params, bad, "paper")


def test_a_dry_run_is_for_the_paper_scale_only():
    from avlib import run as runner

    with pytest.raises(ParameterError, match="--scale paper"):
        runner.run(scale="smoke", dry_run=True, only=["xflow_params"], log=lambda m: None)


def test_stand_ins_are_linked_into_the_real_layouts(tmp_path, monkeypatch):
    made = {}

    def fake_ensure(name, root, *, scale):
        assert scale == "smoke"
        folder = tmp_path / "data" / "embedded" / scale / name
        folder.mkdir(parents=True, exist_ok=True)
        made[name] = folder
        return folder

    monkeypatch.setattr(dryrun, "ensure", fake_ensure)
    data = dryrun.prepare_data(tmp_path / "dry", tmp_path / "data", log=lambda m: None)
    for real_name, stand_in in dryrun.STAND_INS.items():
        link = data / "real" / real_name
        assert link.is_symlink() and link.resolve() == made[stand_in].resolve()
    # again: the links are kept; a folder that is not a link is refused
    dryrun.prepare_data(tmp_path / "dry", tmp_path / "data", log=lambda m: None)
    os.unlink(data / "real" / "cuave")
    (data / "real" / "cuave").mkdir()
    with pytest.raises(ParameterError, match="not a link"):
        dryrun.prepare_data(tmp_path / "dry", tmp_path / "data", log=lambda m: None)


def test_dry_run_budget_words_name_real_fields():
    """Every word of the budget is the name (or the end of the name) of some field."""
    names = set()

    def walk(node):
        for f in dataclasses.fields(node):
            names.add(f.name)
            value = getattr(node, f.name)
            if dataclasses.is_dataclass(value):
                walk(value)

    for cls in CONFIGS:
        walk(cls())
    for word in ICMRConfig.DRY_RUN_BUDGET:
        assert any(n == word or n.endswith("_" + word) for n in names), word


def test_ci_runs_the_paper_dry_run_after_the_smoke_book():
    from pathlib import Path

    lines = [ln.strip() for ln in (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().splitlines()]
    dry = lines.index(".venv/bin/python -m avlib.run --scale paper --dry-run")
    assert lines.index("make book SCALE=smoke") < dry and lines.index("make test") < dry
