"""XFlowConfig: the scales' values key by key, dotted overrides with wildcards, rejected keys."""

import json

import pytest

from avlib.config.xflow import CPU_FULL, DATASETS, FAMILIES, VARIANT_NAMES, XFlowConfig, expand_wildcards
from avlib.errors import ParameterError

_ALL = ["avletters", "digits", "cuave"]

# Every setting of each scale, in the flat form the XFlow pages read before the configuration
# object existed: per-model settings keyed "<family>" (or "<dataset>/<family>[/<variant>]" for
# the epochs, the most specific key winning), per-dataset ones as dicts or one value for all.
EXPECTED = {
    "smoke": dict(
        datasets=["digits"], ablation_datasets=["digits"], families=["cnnxmlp", "lstm"],
        protocols=["clean"], max_folds=2, max_train={}, downsample=4, time_stride=2,
        epochs={"cnnxmlp": 2, "lstm": 1}, batch_size={"cnnxmlp": 64, "lstm": 32},
        lr={"cnnxmlp": 3e-3, "lstm": 3e-3}, runs={"cnnxmlp": 1, "lstm": 1},
        seeds={"cnnxmlp": [0, 1], "lstm": [0]}, carry_over=False, n_jobs=1,
        dtn_epochs=1, dtn_pretrain_epochs=1, dtn_downsample=4, dtn_seeds=[0],
        dtn_batch_size=128, dtn_lr=1e-3, curve_dataset="digits",
        holdout_datasets=["cuave"], holdout_epochs=1, holdout_seeds=[0, 1], check_epochs_factor=None,
        analysis_dataset="digits", tsne_epochs=1, residual_epochs=1, lr_schedule=None, dtn_max_folds=2),
    "cpu": dict(
        datasets=_ALL, ablation_datasets=["avletters"], families=["cnnxmlp", "lstm"], protocols=["clean"],
        max_folds=None, max_train={"cuave": 600}, downsample={"avletters": 4, "digits": 6, "cuave": 4},
        time_stride=4,
        epochs={"avletters/cnnxmlp/baseline": 24, "avletters/cnnxmlp": 40, "avletters/lstm": 30,
                "digits/cnnxmlp": 20, "digits/lstm": 20, "cuave/cnnxmlp": 20, "cuave/lstm": 20,
                "cnnxmlp": 30, "lstm": 24},
        check_epochs_factor=0.5, batch_size={"cnnxmlp": 64, "lstm": 64}, lr={"cnnxmlp": 1e-2, "lstm": 1e-2},
        lr_schedule="onecycle", runs={"cnnxmlp": 1, "lstm": 1}, seeds={"cnnxmlp": [0], "lstm": [0]},
        carry_over=False, n_jobs=2, dtn_epochs=15, dtn_pretrain_epochs=5,
        dtn_downsample={"avletters": 4, "digits": 6, "cuave": 4}, dtn_seeds=[0], dtn_max_folds=2,
        dtn_batch_size=128, dtn_lr=1e-3, curve_dataset="avletters", holdout_datasets=["avletters", "cuave"],
        holdout_epochs=30, holdout_seeds=[0, 1, 2], analysis_dataset="digits", tsne_epochs=10,
        residual_epochs=10),
    "paper": dict(
        datasets=_ALL, ablation_datasets=_ALL, families=["cnnxmlp", "lstm"], protocols=["clean", "paper"],
        max_folds=None, max_train={}, downsample=1, time_stride=1, epochs={"cnnxmlp": 300, "lstm": 300},
        batch_size={"cnnxmlp": 128, "lstm": 32}, lr={"cnnxmlp": 1e-3, "lstm": 1e-3},
        runs={"cnnxmlp": 5, "lstm": 1}, seeds={"cnnxmlp": [0], "lstm": [0]}, carry_over=True,
        check_epochs_factor=None, n_jobs=1, dtn_epochs=300, dtn_pretrain_epochs=100, dtn_downsample=2,
        dtn_seeds=[0], dtn_batch_size=128, dtn_lr=1e-3, curve_dataset="avletters",
        holdout_datasets=["avletters", "cuave"], holdout_epochs=300, holdout_seeds=[0],
        analysis_dataset="digits", tsne_epochs=300, residual_epochs=300, lr_schedule=None,
        dtn_max_folds=None),
}


def _per_model(value, dataset, family, variant):
    if not isinstance(value, dict):
        return value
    for key in (f"{dataset}/{family}/{variant}", f"{dataset}/{family}", f"{family}/{variant}", family):
        if key in value:
            return value[key]
    raise KeyError((dataset, family, variant))


def _per_dataset(value, dataset):
    return value.get(dataset) if isinstance(value, dict) else value


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_for_scale_reproduces_every_setting_of_the_scale(scale):
    e, c = EXPECTED[scale], XFlowConfig.for_scale(scale)
    assert c.scale == scale
    cv, t, d = c.crossval, c.training, c.data
    assert (list(cv.datasets), list(cv.ablation_datasets), list(cv.families), list(cv.protocols)) == \
        (e["datasets"], e["ablation_datasets"], e["families"], e["protocols"])
    assert (cv.max_folds, cv.carry_over, cv.curve_dataset) == (e["max_folds"], e["carry_over"], e["curve_dataset"])
    assert (d.time_stride, t.lr_schedule, t.check_epochs_factor, t.workers) == \
        (e["time_stride"], e["lr_schedule"], e["check_epochs_factor"], e["n_jobs"])
    for ds in DATASETS:
        assert d.downsample.of(ds) == _per_dataset(e["downsample"], ds)
        assert d.max_train.of(ds) == e["max_train"].get(ds)
        assert c.dtn.downsample.of(ds) == _per_dataset(e["dtn_downsample"], ds)
        for fam in FAMILIES:
            for var in VARIANT_NAMES:
                assert c.epochs(ds, fam, var) == _per_model(e["epochs"], ds, fam, var), (ds, fam, var)
    for fam in FAMILIES:
        ft = t.family(fam)
        assert (ft.batch_size, ft.lr, ft.runs, list(ft.seeds)) == \
            (e["batch_size"][fam], e["lr"][fam], e["runs"][fam], e["seeds"][fam])
    dtn = c.dtn
    assert (dtn.epochs, dtn.pretrain_epochs, list(dtn.seeds), dtn.batch_size, dtn.lr, dtn.max_folds) == \
        (e["dtn_epochs"], e["dtn_pretrain_epochs"], e["dtn_seeds"], e["dtn_batch_size"], e["dtn_lr"],
         e["dtn_max_folds"])
    assert (dtn.eta, dtn.gamma, t.val_fraction) == (1e-6, 1e-2, 0.2)
    assert (list(c.holdout.datasets), c.holdout.epochs, list(c.holdout.seeds)) == \
        (e["holdout_datasets"], e["holdout_epochs"], e["holdout_seeds"])
    a = c.analysis
    assert (a.dataset, a.tsne_epochs, a.residual_epochs, a.n_kernels) == \
        (e["analysis_dataset"], e["tsne_epochs"], e["residual_epochs"], 6)
    assert c.torch_threads == 2
    assert (c.note() != "") == (scale != "paper")


def test_a_dotted_override_changes_one_model_only():
    base = XFlowConfig.for_scale("cpu")
    cfg = base.with_overrides({"training.epochs.avletters.cnnxmlp.baseline": 3})
    assert cfg.epochs("avletters", "cnnxmlp", "baseline") == 3
    assert cfg.changes(base) == {"training.epochs.avletters.cnnxmlp.baseline": (24, 3)}
    assert cfg.key("training") != base.key("training") and cfg.key("holdout") == base.key("holdout")
    assert json.loads(cfg.to_json())["training"]["epochs"]["avletters"]["cnnxmlp"]["baseline"] == 3


def test_wildcards_set_many_models_and_the_specific_key_wins():
    cfg = XFlowConfig.for_scale("smoke").with_overrides({"training.epochs.*.*.*": 5})
    assert set(cfg.training.epochs.as_dict().values()) == {5}
    cfg = XFlowConfig().with_overrides({"training.epochs.avletters.lstm.xflow": 7,
                                        "training.epochs.*.lstm.*": 9,
                                        "training.*.seeds": [1, 2]})
    assert cfg.epochs("avletters", "lstm", "xflow") == 7 and cfg.epochs("cuave", "lstm", "baseline") == 9
    assert cfg.epochs("cuave", "cnnxmlp", "baseline") == 300
    assert cfg.training.cnnxmlp.seeds == (1, 2) == cfg.training.lstm.seeds
    assert expand_wildcards(cfg, {"data.downsample.*": 2}) == {f"data.downsample.{d}": 2 for d in DATASETS}
    full = XFlowConfig.for_scale("cpu").with_overrides(CPU_FULL)
    assert (full.epochs("avletters", "cnnxmlp", "baseline"), full.epochs("avletters", "cnnxmlp", "xflow"),
            full.epochs("digits", "cnnxmlp", "baseline"), full.epochs("cuave", "cnnxmlp", "xflow"),
            full.epochs("digits", "lstm", "xflow")) == (65, 75, 50, 20, 60)


def test_unknown_keys_and_wrong_types_are_rejected():
    cfg = XFlowConfig.for_scale("cpu")
    with pytest.raises(ParameterError, match="baseline"):
        cfg.with_overrides({"training.epochs.avletters.cnnxmlp.basline": 3})
    with pytest.raises(ParameterError, match="epochs"):
        cfg.with_overrides({"training.epoch": 3})
    with pytest.raises(ParameterError, match="timit"):
        cfg.with_overrides({"training.epochs.timit.*.*": 3})
    with pytest.raises(ParameterError, match="matches nothing"):
        cfg.with_overrides({"*.no_such_key": 3})
    with pytest.raises(ParameterError, match="Integer"):
        cfg.with_overrides({"holdout.epochs": "many"})
    with pytest.raises(ParameterError, match="given twice"):
        cfg.with_overrides({"holdout.epochs": 3, "holdout": {"epochs": 4}})
    with pytest.raises(ParameterError, match="unknown dataset"):
        cfg.epochs("timit", "lstm", "xflow")


def test_epochs_factor_rounds_and_keeps_at_least_one():
    cfg = XFlowConfig.for_scale("cpu")
    assert cfg.epochs("avletters", "cnnxmlp", "baseline", 0.5) == 12
    assert cfg.holdout_epochs(0.5) == 15
    assert XFlowConfig.for_scale("smoke").epochs("digits", "lstm", "xflow", 0.5) == 1
