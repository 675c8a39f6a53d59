"""XFlow protocols and statistics: t-test vs SciPy, folds, paper vs clean protocol; the XFlow
experiment helpers (inputs, analyses, evidence, tables)."""
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from avlib.errors import ParameterError
from avlib.metrics.stats import mean_and_sem, moving_average, paired_ttest
from avlib.train.loop import TrainConfig
from avlib.train.protocols import (compare_protocols, crossval, holdout, speaker_kfold,
                                   standardize_features, subset, validation_split)

torch.set_num_threads(2)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_paired_ttest_matches_scipy(rng):
    a, b = rng.normal(0.8, 0.05, 10), rng.normal(0.75, 0.05, 10)
    for alt in ("two-sided", "greater", "less"):
        ours = paired_ttest(a, b, alternative=alt)
        ref = stats.ttest_rel(a, b, alternative=alt)
        assert ours.pvalue == pytest.approx(ref.pvalue)
        assert ours.statistic == pytest.approx(ref.statistic)
    assert paired_ttest(a, b).mean_difference == pytest.approx(np.mean(a - b))
    assert paired_ttest(a, b, alternative="greater").pvalue < paired_ttest(b, a, alternative="greater").pvalue


def test_paired_ttest_degenerate_and_bad_inputs():
    assert np.isnan(paired_ttest([0.5], [0.4]).pvalue)
    assert np.isnan(paired_ttest([0.5, 0.6], [0.4, 0.5]).pvalue)  # constant difference
    with pytest.raises(ParameterError):
        paired_ttest([1, 2, 3], [1, 2])
    with pytest.raises(ParameterError):
        paired_ttest([1, 2], [1, 2], alternative="bigger")


def test_moving_average_matches_pandas(rng):
    x = rng.normal(size=23)
    ref = pd.Series(x).rolling(5, min_periods=1).mean().to_numpy()
    assert np.allclose(moving_average(x, window=5), ref)
    assert np.allclose(moving_average(x, window=1), x)
    with pytest.raises(ParameterError):
        moving_average(x, window=0)
    m, s = mean_and_sem([1.0, 2.0, 3.0])
    assert m == 2.0 and s == pytest.approx(np.std([1, 2, 3], ddof=1) / np.sqrt(3))


def test_speaker_kfold_leave_one_out_and_groups():
    spk = np.repeat(np.arange(10), 6)
    folds = speaker_kfold(spk)
    assert len(folds) == 10
    covered = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(covered), np.arange(60))
    for tr, te in folds:
        assert len(np.intersect1d(tr, te)) == 0
        assert len(np.unique(spk[te])) == 1
        assert not np.isin(spk[tr], spk[te]).any()
    cuave = speaker_kfold(np.repeat(np.arange(36), 3), n_folds=9)
    assert len(cuave) == 9
    assert [sorted(set(np.repeat(np.arange(36), 3)[te])) for _, te in cuave][1] == [4, 5, 6, 7]
    with pytest.raises(ParameterError):
        speaker_kfold(spk, n_folds=11)


def test_validation_split_is_speaker_wise_and_disjoint():
    spk = np.repeat(np.arange(10), 6)
    tr, te = speaker_kfold(spk)[3]
    fit_idx, val_idx = validation_split(tr, speakers=spk, fraction=0.2, seed=0)
    assert len(np.intersect1d(fit_idx, val_idx)) == 0
    assert len(np.intersect1d(val_idx, te)) == 0
    assert np.array_equal(np.sort(np.concatenate([fit_idx, val_idx])), np.sort(tr))
    assert len(np.unique(spk[val_idx])) == 2
    assert not np.isin(spk[fit_idx], spk[val_idx]).any()


def test_standardize_uses_train_statistics_and_keeps_padding():
    x_tr = torch.randn(20, 4, 3) * 5 + 2
    mask_tr = torch.ones(20, 4, dtype=torch.bool)
    mask_tr[:, 3] = False
    x_tr[:, 3] = 0
    x_te = torch.randn(7, 4, 3)
    mask_te = torch.ones(7, 4, dtype=torch.bool)
    mask_te[0, 2:] = False
    x_te[0, 2:] = 0
    y = torch.zeros(20, dtype=torch.long)
    (tr, te) = standardize_features((x_tr, mask_tr, y), (x_te, mask_te, y[:7]), which=(0,),
                                    mask_index=1)
    valid = tr[0][mask_tr]
    assert torch.allclose(valid.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.all(tr[0][~mask_tr] == 0) and torch.all(te[0][~mask_te] == 0)


def _noise_problem(n_spk=6, per=16, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_spk * per, d, generator=g)
    y = torch.randint(0, 4, (n_spk * per,), generator=g)  # labels independent of x
    spk = np.repeat(np.arange(n_spk), per)
    return (x, y), spk


class _Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, seed):
        self.calls += 1
        return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))


def test_paper_protocol_is_optimistic_on_noise_labels():
    data, spk = _noise_problem(n_spk=5, per=24)
    folds = speaker_kfold(spk)
    cfg = TrainConfig(epochs=6, batch_size=48, lr=1e-2, monitor="val_acc")
    paper = crossval(_Counter(), data, folds, config=cfg, protocol="paper", runs=2)
    clean = crossval(_Counter(), data, folds, config=cfg, protocol="clean", speakers=spk)
    # best test epoch of the best of two runs >= any single choice on the same data
    cmp = compare_protocols(paper, clean)
    print(cmp)
    assert paper.mean > 0.25  # chance is 0.25: picking the best test epoch is optimistic
    assert cmp["gap"] > 0
    assert cmp["selection_optimism"] >= 0
    for r in clean.chosen:
        assert r.max_test_acc >= r.test_acc
        assert r.n_val > 0 and r.n_train + r.n_val + r.n_test == len(spk)
    assert len(paper.runs) == 2 * len(folds) and len(paper.chosen) == len(folds)
    for k, r in enumerate(paper.chosen):
        assert r.test_acc == max(x.test_acc for x in paper.runs if x.fold == k)
    df = paper.to_frame()
    assert df["chosen"].sum() == len(folds)


def test_fresh_model_per_fold_unless_carry_over():
    data, spk = _noise_problem(n_spk=4)
    folds = speaker_kfold(spk)
    cfg = TrainConfig(epochs=1, batch_size=32)
    fresh = _Counter()
    crossval(fresh, data, folds, config=cfg, protocol="clean", speakers=spk, runs=2)
    assert fresh.calls == 4 * 2
    carried = _Counter()
    crossval(carried, data, folds, config=cfg, protocol="paper", runs=2, carry_over=True)
    assert carried.calls == 2
    with pytest.raises(ParameterError):
        crossval(_Counter(), data, folds, config=cfg, protocol="clean", carry_over=True)
    with pytest.raises(ParameterError):
        crossval(_Counter(), data, folds, config=cfg, protocol="oracle")


def test_crossval_is_deterministic_and_holdout_runs():
    data, spk = _noise_problem(n_spk=4)
    folds = speaker_kfold(spk)
    cfg = TrainConfig(epochs=2, batch_size=16)
    a = crossval(_Counter(), data, folds, config=cfg, protocol="clean", speakers=spk, max_folds=2)
    b = crossval(_Counter(), data, folds, config=cfg, protocol="clean", speakers=spk, max_folds=2)
    assert np.array_equal(a.fold_scores, b.fold_scores) and len(a.chosen) == 2
    tr, te = folds[0]
    h = holdout(_Counter(), data, tr, te, config=cfg, protocol="paper")
    assert len(h.chosen) == 1 and 0.0 <= h.mean <= 1.0
    assert len(h.history(0)) == 2
    x, y = subset(data, te)
    assert len(x) == len(te)


def test_downsample_images_averages_blocks():
    from avlib.experiments.xflow.inputs import downsample_images

    x = torch.arange(2 * 3 * 8 * 6, dtype=torch.float32).reshape(2, 3, 8, 6)
    y = downsample_images(x, 2)
    assert y.shape == (2, 3, 4, 3)
    assert y[0, 0, 0, 0] == x[0, 0, :2, :2].mean()
    assert downsample_images(x, 1) is x
    with pytest.raises(ParameterError):
        downsample_images(x, 0)


def test_equation1_and_one_per_speaker_class():
    from avlib.experiments.xflow.analysis import (cluster_separation, one_per_speaker_class,
                                                  residual_differences)
    from avlib.models.xflow import CNNxMLPLSTM

    spk = np.repeat(["a", "b", "c"], 8)
    lab = np.tile([0, 1, 2, 3], 6)
    idx = one_per_speaker_class(spk, lab, seed=0)
    assert len(idx) == 12 and len({(spk[i], lab[i]) for i in idx}) == 12
    torch.manual_seed(0)
    m = CNNxMLPLSTM((32, 24), n_frames=6, n_mfcc=5, num_classes=4, variant="xflow").eval()
    seq = np.random.default_rng(0).normal(size=(6, 5))
    r = residual_differences(m, seq, kernels=[0, 3])
    with torch.no_grad():
        maps = m.r1d2d_1(torch.as_tensor(seq, dtype=torch.float32)).numpy()
    assert np.allclose(r["diff_mfcc"], ((seq[1:] - seq[:-1]) ** 2).sum(1))
    assert np.allclose(r["diff_img"][1], ((maps[1:, 3] - maps[:-1, 3]) ** 2).sum((1, 2)), rtol=1e-4)
    assert r["diff_img"].shape == (2, 5) and r["pearson"].shape == (2,)
    feats = np.concatenate([np.zeros((5, 3)), np.ones((5, 3)) * 10]) + np.random.default_rng(0).normal(size=(10, 3)) * 0.1
    assert cluster_separation(feats, [0] * 5 + [1] * 5) > 0.9


def test_max_train_subsamples_training_part_only():
    data, spk = _noise_problem(n_spk=4)
    folds = speaker_kfold(spk)
    res = crossval(_Counter(), data, folds, config=TrainConfig(epochs=1, batch_size=16),
                   protocol="clean", speakers=spk, max_folds=1, max_train=20)
    r = res.chosen[0]
    assert r.n_train + r.n_val == 20 and r.n_test == len(folds[0][1])


# --------------------------------------------------------------------- seeds, evidence, presets
def test_flattened_epoch_on_known_curves():
    from avlib.experiments.xflow.analysis import flattened_epoch

    rising = np.r_[np.linspace(0.1, 0.8, 20), np.full(30, 0.8)]
    # the 5-epoch average reaches 0.8 - 0.01 only when the window holds the plateau
    sm = moving_average(rising, window=5)
    assert flattened_epoch(rising) == int(np.flatnonzero(sm >= 0.79)[0]) + 1
    assert 20 <= flattened_epoch(rising) <= 24
    assert flattened_epoch(np.full(10, 0.5)) == 1
    with pytest.raises(ParameterError):
        flattened_epoch([])


def _seed_runs(seed, scores, max_scores):
    from avlib.train.protocols import CVResult, RunResult

    runs = [RunResult(fold=k, run=0, seed=seed + 1000 * k, protocol="clean", test_acc=s,
                      max_test_acc=m, val_acc=0.5, selected_epoch=1, seconds=0.0, n_train=8,
                      n_val=1, n_test=1, base_seed=seed)
            for k, (s, m) in enumerate(zip(scores, max_scores))]
    return CVResult("clean", runs, list(runs))


def test_merge_seeds_paper_rule_and_table4_with_intervals():
    from avlib.experiments.xflow.tables import table4_frame
    from avlib.train.protocols import merge_seeds, paper_rule

    b = merge_seeds([_seed_runs(0, [.5, .6, .7], [.6, .6, .8]),
                     _seed_runs(1, [.4, .6, .6], [.5, .7, .6])])
    x = merge_seeds([_seed_runs(0, [.6, .7, .9], [.7, .8, .9]),
                     _seed_runs(1, [.6, .6, .8], [.6, .7, .8])])
    assert b.n_seeds == 2 and b.n_folds == 3
    assert np.allclose(b.score_matrix(), [[.5, .6, .7], [.4, .6, .6]])
    assert np.allclose(b.fold_means(), [.45, .6, .65])
    # the paper's rule picks per (seed, fold), never across seeds
    assert np.allclose(paper_rule(b).fold_scores, [.6, .6, .8, .5, .7, .6])
    t4 = table4_frame({"digits": {("cnnxmlp", "baseline", "clean"): b,
                                  ("cnnxmlp", "xflow", "clean"): x}})
    row = t4.iloc[0]
    assert row.p_value == pytest.approx(stats.ttest_rel(x.fold_means(), b.fold_means()).pvalue)
    # folds are the unit: seeds averaged per fold, corrected resampled t (n_test/n_train = 1/8)
    d = x.fold_means() - b.fold_means()                      # [.15, .05, .2]
    se = np.sqrt(d.var(ddof=1) * (1 / 3 + 1 / 8))
    assert row.diff_pct == pytest.approx(100 * d.mean())
    assert row.diff_lo_pct == pytest.approx(100 * (d.mean() - stats.t.ppf(0.975, 2) * se))
    assert row.p_corrected == pytest.approx(2 * stats.t.sf(d.mean() / se, 2))
    assert row.p_corrected > row.p_value                      # the correction is conservative
    xm = x.fold_means()
    assert row.xflow_ci_lo_pct == pytest.approx(
        100 * (xm.mean() - stats.t.ppf(0.975, 2) * np.sqrt(xm.var(ddof=1) * (1 / 3 + 1 / 8))))
    with pytest.raises(ParameterError):
        merge_seeds([_seed_runs(0, [.5], [.5]), _seed_runs(1, [.5, .6], [.5, .6])])


def test_crossval_evidence_ids_and_orientation():
    from avlib.claims import load_claims
    from avlib.experiments.xflow.evidence import crossval_evidence, holdout_evidence
    from avlib.train.protocols import merge_seeds

    def pair(lo, hi):
        return merge_seeds([_seed_runs(s, [lo + .01 * s, lo, lo + .02], [hi] * 3) for s in (0, 1, 2)])

    res = {}
    for fam in ("cnnxmlp", "lstm"):
        res[(fam, "baseline", "clean")] = pair(.5, .6)
        res[(fam, "xflow", "clean")] = pair(.7, .8)
        res[(fam, "no_xconns", "clean")] = pair(.6, .8)
        res[(fam, "no_resconns", "clean")] = pair(.4, .8)
    ev = {e.claim: e for e in crossval_evidence({"digits": res}, ablation_datasets=["digits"])}
    known = set(load_claims()["id"])
    assert set(ev) <= known
    assert ev["xflow_beats_baseline_digits_cnnxmlp"].effect == pytest.approx(20.0)
    # 3 folds, 3 seeds each: the unit is the fold, not the 9 seed x fold pairs
    assert ev["xflow_beats_baseline_digits_lstm"].n == 3
    assert ev["xflow_beats_baseline_digits_lstm"].df == 2
    assert ev["xflow_beats_baseline_digits_lstm"].unit == "speaker fold"
    # residual-only minus cross-only, and residual-only minus both
    assert ev["xflow_connection_residual_lstm"].effect == pytest.approx(20.0)
    assert ev["xflow_residual_only_as_good_cnnxmlp"].effect == pytest.approx(-10.0)
    assert ev["xflow_paper_protocol_optimistic"].effect > 0
    ho = holdout_evidence({"cuave": {("lstm", "baseline", "clean"): pair(.5, .6),
                                     ("lstm", "xflow", "clean"): pair(.6, .6)}})
    assert ho[0].claim == "xflow_lstm_holdout_cuave" and ho[0].effect == pytest.approx(10.0)


def test_xflow_evidence_interval_is_the_hand_computed_corrected_t():
    """Known answer: per-fold means of 2 seeds, Nadeau-Bengio variance s^2 (1/k + n_test/n_train)."""
    from avlib.experiments.xflow.evidence import crossval_evidence
    from avlib.train.protocols import merge_seeds

    base = [[.50, .60, .55, .70], [.52, .58, .57, .66]]
    xfl = [[.56, .61, .62, .71], [.54, .66, .59, .70]]
    res = {("cnnxmlp", "baseline", "clean"): merge_seeds([_seed_runs(s, base[s], base[s]) for s in (0, 1)]),
           ("cnnxmlp", "xflow", "clean"): merge_seeds([_seed_runs(s, xfl[s], xfl[s]) for s in (0, 1)])}
    e = {x.claim: x for x in crossval_evidence({"cuave": res})}["xflow_beats_baseline_cuave_cnnxmlp"]
    d = 100 * (np.mean(xfl, 0) - np.mean(base, 0))            # [4, 4.5, 4.5, 2.5] points
    k, ratio = 4, 1 / 8
    se = np.sqrt(np.var(d, ddof=1) * (1 / k + ratio))
    half = stats.t.ppf(0.975, k - 1) * se
    assert e.n == 4 and e.effect == pytest.approx(d.mean())
    assert (e.lo, e.hi) == pytest.approx((d.mean() - half, d.mean() + half))
    assert e.se == pytest.approx(se)
    assert e.p == pytest.approx(2 * stats.t.sf(d.mean() / se, k - 1))
    # the paper's own test (plain paired t across the same folds) is shown beside it
    assert f"{stats.ttest_rel(np.mean(xfl, 0), np.mean(base, 0)).pvalue:.3g}" in e.test


def test_paper_numbers_come_out_on_the_paper_side_of_every_xflow_row():
    """Guard: Tables IV-VI's published numbers, fed through the rows' effect definitions,
    give an effect on the paper's side of each row's null (0, or -margin)."""
    from pathlib import Path

    import pandas as pd

    from avlib.claims import load_claims, null_value
    from avlib.experiments.xflow.evidence import crossval_evidence, holdout_evidence
    from avlib.train.protocols import merge_seeds

    ref = Path(__file__).parents[1] / "avlib" / "reference"
    t4 = pd.read_csv(ref / "xflow_table4_cv_accuracy.csv")
    t5 = pd.read_csv(ref / "xflow_table5_ablation.csv")
    t6 = pd.read_csv(ref / "xflow_table6_holdout.csv").set_index("model")
    fams = {"CNNxMLP": "cnnxmlp", "CNNxMLP-LSTM": "lstm"}
    rng = np.random.default_rng(0)

    def cv(pct):  # 5 folds whose mean is the published accuracy, small noise
        noise = rng.normal(0, 0.5, 5)
        f = (pct + noise - noise.mean()) / 100
        return merge_seeds([_seed_runs(0, f, f)])

    results = {}
    for _, r in t4.dropna(subset=["xflow_pct"]).iterrows():
        res = results.setdefault(r.dataset.lower(), {})
        res[(fams[r.model], "baseline", "clean")] = cv(r.baseline_pct)
    for _, r in t5.iterrows():
        res = results[r.dataset.lower()]
        for var, col in (("xflow", "both_pct"), ("no_xconns", "no_xconns_pct"), ("no_resconns", "no_resconns_pct")):
            res[(fams[r.model], var, "clean")] = cv(r[col])
    claims_df = load_claims().set_index("id")
    seen = set()
    for name in results:  # each dataset's ablation on its own: the paper's rows hold per dataset
        for e in crossval_evidence({name: results[name]}, ablation_datasets=[name]):
            if e.claim == "xflow_paper_protocol_optimistic":
                continue
            c = claims_df.loc[e.claim]
            assert e.effect > null_value(c.criterion, c.margin), (e.claim, name, e.effect)
            seen.add(e.claim)
    assert {"xflow_connection_residual_cnnxmlp", "xflow_connection_residual_lstm",
            "xflow_residual_only_as_good_lstm", "xflow_beats_baseline_avletters_cnnxmlp"} <= seen

    def ho(pct):
        return merge_seeds([_seed_runs(s, [pct / 100], [pct / 100]) for s in (0, 1)])

    for ds, col in (("avletters", "avletters_pct"), ("cuave", "cuave_pct")):
        e = holdout_evidence({ds: {("lstm", "baseline", "clean"): ho(t6.loc["CNNxMLP-LSTM baseline", col]),
                                   ("lstm", "xflow", "clean"): ho(t6.loc["CNNxMLP-LSTM XFlow", col])}})[0]
        assert e.effect > 0


def test_cpu_config_runs_all_folds_seeds_and_architectures():
    from avlib.config.xflow import CPU_FULL, XFlowConfig

    book = XFlowConfig.for_scale("cpu")
    for c in (book, book.with_overrides(CPU_FULL)):
        assert c.crossval.max_folds is None and set(c.crossval.datasets) == {"avletters", "digits", "cuave"}
        assert min(len(c.training.family(f).seeds) for f in ("cnnxmlp", "lstm")) >= 1
        assert len(c.holdout.seeds) >= 3 and set(c.crossval.families) == {"cnnxmlp", "lstm"}
    # the book's setting says what it changes and checks its convergence
    assert "convergence check" in book.note().lower() and book.training.lr_schedule == "onecycle"
    assert book.training.check_epochs_factor == 0.5
    half = {k: book.epochs(*k, factor=0.5) for k in book.training.epochs.as_dict()}
    assert half[("avletters", "cnnxmlp", "xflow")] == book.epochs("avletters", "cnnxmlp", "xflow") // 2
    assert min(half.values()) >= 1
    assert book.with_overrides(CPU_FULL).training.lr_schedule is None
    paper = XFlowConfig.for_scale("paper")
    assert paper.training.lr_schedule is None and paper.dtn.max_folds is None
    assert XFlowConfig.for_scale("smoke").with_overrides({"crossval.max_folds": 1}).crossval.max_folds == 1
    with pytest.raises(ParameterError):
        book.with_overrides({"no_such_key": 1})
    with pytest.raises(ParameterError):
        XFlowConfig.for_scale("gpu")


def test_summarize_cv_writes_plain_fold_numbers():
    # the per-fold column is written to CSV as text: plain numbers, not NumPy scalar reprs
    from avlib.experiments.xflow.tables import summarize_cv
    from avlib.train.protocols import CVResult, RunResult

    runs = [RunResult(fold=k, run=0, seed=k, protocol="clean", test_acc=a, max_test_acc=a + 0.1,
                      val_acc=0.5, selected_epoch=1, seconds=0.0, n_train=4, n_val=2, n_test=2)
            for k, a in enumerate([0.5, 0.25, 0.75])]
    res = CVResult(protocol="clean", runs=runs, chosen=runs)
    df = summarize_cv({"digits": {("cnnxmlp", "xflow", "clean"): res}})
    clean = df[df.protocol == "clean"].iloc[0]
    assert str(clean.fold_pct) == "[50.0, 25.0, 75.0]"
    assert clean.mean_pct == pytest.approx(50.0)
    assert set(df.protocol) == {"clean", "paper-rule"}


def test_training_seeds_lists_every_seed_of_the_crossvalidation():
    from avlib.config.xflow import XFlowConfig

    # the smoke cross-validation runs two seeds for the CNN x MLP: captions name both
    assert XFlowConfig.for_scale("smoke").training_seeds() == [0, 1]
    cfg = XFlowConfig.for_scale("cpu").with_overrides({"training.lstm.seeds": [4, 2]})
    assert cfg.training_seeds() == [0, 2, 4]
    assert cfg.with_overrides({"crossval.families": ["cnnxmlp"]}).training_seeds() == [0]


def test_run_curves_average_the_validation_histories_of_the_chosen_runs():
    import matplotlib

    matplotlib.use("Agg")
    from avlib.experiments.xflow.analysis import run_curves
    from avlib.experiments.xflow.figures import plot_run_curves
    from avlib.train.protocols import merge_seeds

    cvs = []
    for s in (0, 1):
        cv = _seed_runs(s, [.5, .6], [.5, .6])
        for k, run in enumerate(cv.chosen):  # fold k, seed s: val 0.1 * epoch + 0.01 * (k + s)
            run.history = [{"epoch": e, "val_acc": 0.1 * e + 0.01 * (k + s), "train_acc": 0.2 * e} for e in (1, 2, 3)]
        cvs.append(cv)
    res = {"digits": {("cnnxmlp", "xflow", "clean"): merge_seeds(cvs)}}
    c = run_curves(res)
    assert list(c.epoch) == [1, 2, 3] and set(c.runs) == {4}
    # mean over 2 folds x 2 seeds of 0.01 * (k + s) = 0.01
    assert c.val_acc.tolist() == pytest.approx([0.11, 0.21, 0.31])
    assert c.val_sd.iloc[0] == pytest.approx(np.std([0.10, 0.11, 0.11, 0.12], ddof=1))
    fig = plot_run_curves(c)
    assert fig.axes[0].get_ylabel() == "validation accuracy (%)"


def test_dataset_setting_reads_dicts_config_sections_and_plain_values():
    from avlib.config.xflow import PerDataset
    from avlib.experiments.xflow.inputs import chance_levels, dataset_setting

    assert dataset_setting(PerDataset(4, 6, 4), "Digits") == 6
    assert dataset_setting({"cuave": 3}, "cuave") == 3 and dataset_setting(2, "avletters") == 2
    with pytest.raises(ParameterError, match="digits"):
        dataset_setting({"cuave": 3}, "digits")
    assert chance_levels(["avletters", "cuave"]) == pytest.approx({"avletters": 1 / 26, "cuave": 0.1})


def test_run_tasks_keeps_the_task_order_in_worker_processes():
    from avlib.train.parallel import run_tasks, use_threads

    tasks = [-3, 1, -2, 5]
    assert run_tasks(abs, tasks) == [3, 1, 2, 5]
    assert run_tasks(abs, tasks, workers=2, cost=lambda t: t) == [3, 1, 2, 5]
    assert use_threads(None) >= 1
    with pytest.raises(ParameterError):
        use_threads(0)


def test_table6_and_protocol_gap_from_results():
    from avlib.experiments.xflow.evidence import with_convergence_check
    from avlib.experiments.xflow.tables import protocol_gap, summarize_cv, table6
    from avlib.train.protocols import merge_seeds

    def ho(acc):
        return merge_seeds([_seed_runs(s, [a], [a + 0.05]) for s, a in enumerate(acc)])

    res = {"cuave": {("lstm", "baseline", "clean"): ho([.5, .6]), ("lstm", "xflow", "clean"): ho([.7, .8])}}
    t6 = table6(res, ["cuave"])
    assert set(t6) == {"clean", "paper-rule"}
    clean = t6["clean"].set_index("model")
    assert clean.loc["CNNxMLP-LSTM XFlow", "cuave_pct (ours)"] == pytest.approx(75.0)
    assert clean.loc["CNNxMLP-LSTM XFlow", "cuave_pct (paper)"] == pytest.approx(96.9)
    assert clean.loc["CNNxMLP-LSTM baseline", "cuave_ci"].startswith("[")
    gap = protocol_gap(summarize_cv(res))
    assert gap["gap (paper-rule - clean)"].tolist() == pytest.approx([5.0, 5.0])
    assert with_convergence_check([], None, 0.5) is None


def test_a_subset_of_folds_with_their_numbers_repeats_exactly_those_folds_runs():
    """The convergence check on every other fold trains exactly the runs those folds have in a
    full cross-validation (seeds follow the fold's number), and select_folds picks the same folds
    out of the full result, seed by seed."""
    from avlib.train.protocols import merge_seeds, select_folds

    data, spk = _noise_problem(n_spk=5)
    folds = speaker_kfold(spk)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2)
    full = [crossval(_Counter(), data, folds, config=cfg, protocol="clean", speakers=spk, seed=s) for s in (0, 7)]
    ids = [0, 2, 4]
    part = [crossval(_Counter(), data, [folds[i] for i in ids], config=cfg, protocol="clean", speakers=spk, seed=s,
                     fold_ids=ids) for s in (0, 7)]
    for f, p in zip(full, part):
        assert [r.fold for r in p.chosen] == ids
        np.testing.assert_array_equal(p.fold_scores, f.fold_scores[ids])  # the same runs, bit for bit
    merged, merged_part = merge_seeds(full), merge_seeds(part)
    picked = select_folds(merged, ids)
    assert picked.n_seeds == 2 and picked.n_folds == 3
    np.testing.assert_array_equal(picked.score_matrix(), merged.score_matrix()[:, ids])
    np.testing.assert_array_equal(picked.fold_means(), merged_part.fold_means())
    assert {r.fold for r in picked.runs} == set(ids)
    with pytest.raises(ParameterError, match="fold_ids"):
        crossval(_Counter(), data, folds[:2], config=cfg, protocol="clean", speakers=spk, fold_ids=[0, 0])
    with pytest.raises(ParameterError, match="not in the result"):
        select_folds(picked, [1])


def test_the_cpu_check_trains_every_other_fold():
    from avlib.config.xflow import XFlowConfig

    cpu = XFlowConfig.for_scale("cpu")
    assert cpu.training.check_fold_step == 2 and XFlowConfig.for_scale("paper").training.check_fold_step == 1
    assert "every other speaker fold" in cpu.note()


def test_stored_runs_are_read_back_instead_of_trained_again(tmp_path):
    data, spk = _noise_problem(n_spk=4)
    folds = speaker_kfold(spk)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2)
    plain = crossval(_Counter(), data, folds, config=cfg, protocol="clean", speakers=spk, seed=3)
    first = _Counter()
    stored = crossval(first, data, folds, config=cfg, protocol="clean", speakers=spk, seed=3,
                      store_dir=tmp_path, store_key="k1")
    assert first.calls == 4 and len(list(tmp_path.glob("k1-f*-r0.json"))) == 4
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # checkpoints of finished runs are gone
    np.testing.assert_array_equal(stored.fold_scores, plain.fold_scores)  # storing changes nothing
    again = _Counter()
    (tmp_path / "k1-f2-r0.json").unlink()  # as if the run had stopped during fold 2
    back = crossval(again, data, folds, config=cfg, protocol="clean", speakers=spk, seed=3,
                    store_dir=tmp_path, store_key="k1")
    assert again.calls == 1  # only the missing fold trains
    np.testing.assert_array_equal(back.fold_scores, plain.fold_scores)
    def curves(res):  # the per-epoch numbers, without the wall-clock fields
        return [[{k: v for k, v in e.items() if k not in ("seconds", "examples_per_s")} for e in r.history]
                for r in res.chosen]

    assert curves(back) == curves(plain)
    other = _Counter()
    crossval(other, data, folds, config=cfg, protocol="clean", speakers=spk, seed=3, store_dir=tmp_path,
             store_key="k2")
    assert other.calls == 4  # another key (another setting) never reads these runs


def test_job_keys_follow_data_and_settings():
    from avlib.experiments.xflow.crossval import data_key, job_key

    data, spk = _noise_problem(n_spk=4)
    folds = speaker_kfold(spk)
    k = data_key(data, folds, spk)
    assert k == data_key((data[0].clone(), data[1].clone()), folds, spk)
    assert k != data_key((data[0] + 1, data[1]), folds, spk) and k != data_key(data, folds[:2], spk)
    job = dict(family="cnnxmlp", dataset="digits", variant="xflow", config=TrainConfig(epochs=2), seed=0,
               data_key=k, data=data, folds=folds, speakers=spk, device=None, store_dir="/x")
    assert job_key(job) == job_key({**job, "device": "cpu", "store_dir": "/y"})
    assert job_key(job) != job_key({**job, "config": TrainConfig(epochs=3)})
    assert job_key(job) != job_key({**job, "seed": 1}) and job_key(job) != job_key({**job, "data_key": "other"})
