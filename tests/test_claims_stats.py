"""Intervals and paired effects (against SciPy) and the Claims page's bookkeeping."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from avlib import claims
from avlib.errors import ParameterError
from avlib.metrics.stats import bootstrap_ci, mean_ci, paired_effect
from avlib.report import Provenance


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([52.3, 48.1, 55.0, 50.2, 47.7])
    ci = mean_ci(x)
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert ci.mean == pytest.approx(x.mean())
    assert (ci.lo, ci.hi) == pytest.approx((lo, hi))
    assert ci.n == 5
    wider = mean_ci(x, confidence=0.99)
    assert wider.lo < ci.lo and wider.hi > ci.hi


def test_mean_ci_bounds_truncate_only_outside_the_range():
    near_ceiling = np.array([100.0, 96.0, 100.0])
    free = mean_ci(near_ceiling)
    assert free.hi > 100  # the plain t interval passes the ceiling
    ci = mean_ci(near_ceiling, bounds=(0, 100))
    assert ci.hi == 100.0 and ci.lo == pytest.approx(free.lo) and ci.mean == pytest.approx(free.mean)
    mid = np.array([52.3, 48.1, 55.0])
    assert mean_ci(mid, bounds=(0, 100)) == mean_ci(mid)
    with pytest.raises(ParameterError):
        mean_ci([1.5, 1.7], bounds=(0, 1))


def test_mean_ci_single_value_and_bad_input():
    ci = mean_ci([3.0])
    assert ci.mean == 3.0 and np.isnan(ci.lo) and np.isnan(ci.hi)
    with pytest.raises(ParameterError):
        mean_ci([])
    with pytest.raises(ParameterError):
        mean_ci([1.0, np.nan])
    with pytest.raises(ParameterError):
        mean_ci([1.0, 2.0], confidence=1.5)


def test_paired_effect_matches_ttest_rel():
    rng = np.random.default_rng(3)
    a = rng.normal(60, 5, 12)
    b = a - rng.normal(2, 3, 12)
    e = paired_effect(a, b)
    ref = stats.ttest_rel(a, b)
    assert e.mean == pytest.approx(np.mean(a - b))
    assert e.t == pytest.approx(ref.statistic) and e.p == pytest.approx(ref.pvalue)
    lo, hi = stats.t.interval(0.95, 11, loc=np.mean(a - b), scale=stats.sem(a - b))
    assert (e.lo, e.hi) == pytest.approx((lo, hi))
    with pytest.raises(ParameterError):
        paired_effect([1, 2, 3], [1, 2])


def test_paired_effect_constant_difference_has_no_test():
    e = paired_effect([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert e.mean == e.lo == e.hi == pytest.approx(2.0)
    assert np.isnan(e.p)


def test_bootstrap_ci_is_seeded_and_matches_a_manual_resampling():
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 80)
    pred = np.where(rng.random(80) < 0.7, y, (y + 1) % 4)
    ci = bootstrap_ci(y, pred, accuracy_score, n_boot=300, seed=5)
    again = bootstrap_ci(y, pred, accuracy_score, n_boot=300, seed=5)
    assert ci == again
    r = np.random.default_rng(5)
    boots = [accuracy_score(y[i], pred[i]) for i in (r.integers(0, 80, 80) for _ in range(300))]
    assert (ci.lo, ci.hi) == pytest.approx(tuple(np.percentile(boots, [2.5, 97.5])))
    assert ci.mean == pytest.approx(accuracy_score(y, pred))
    assert ci.lo <= ci.mean <= ci.hi
    with pytest.raises(ParameterError):
        bootstrap_ci(y, pred[:10], accuracy_score)


@pytest.mark.parametrize("lo,hi,q,null,expected", [
    (0.5, 3.0, 0.01, 0.0, "holds"), (-3.0, -0.1, 0.01, 0.0, "contradicted"),
    (-1.0, 2.0, 0.01, 0.0, "inconclusive on the stand-ins"),
    (float("nan"), float("nan"), 0.01, 0.0, "inconclusive on the stand-ins"),
    (0.0, 1.0, 0.01, 0.0, "inconclusive on the stand-ins"),
    # the interval alone is not enough: the page's BH-adjusted q must be below 0.05 too
    (0.5, 3.0, 0.06, 0.0, "inconclusive on the stand-ins"),
    (-3.0, -0.1, float("nan"), 0.0, "inconclusive on the stand-ins"),
    # non-inferiority with a margin of 2: the null is -2
    (-1.5, 1.0, 0.01, -2.0, "holds"), (-4.0, -2.5, 0.01, -2.0, "contradicted"),
    (-2.5, 1.0, 0.01, -2.0, "inconclusive on the stand-ins"),
])
def test_verdict_follows_the_interval_and_q(lo, hi, q, null, expected):
    assert claims.verdict(lo, hi, q=q, null=null) == expected


def test_p_against_a_null_matches_scipy():
    # t with 4 df: (1.2 - (-2)) / 0.8 = 4
    assert claims.p_against(1.2, 0.8, 4, -2.0) == pytest.approx(2 * stats.t.sf(4.0, 4))
    assert claims.p_against(1.2, 0.8, float("inf"), 0.0) == pytest.approx(2 * stats.norm.sf(1.5))
    assert claims.p_against(1.2, float("nan"), 4, 0.0, fallback_p=0.3) == 0.3
    assert np.isnan(claims.p_against(1.2, float("nan"), 4, -2.0, fallback_p=0.3))
    assert np.isnan(claims.p_against(1.2, 0.0, 4, 0.0))
    assert claims.null_value("non_inferiority", 2.0) == -2.0 and claims.null_value("superiority") == 0.0
    with pytest.raises(ParameterError):
        claims.null_value("non_inferiority", float("nan"))


def test_corrected_resampled_effect_known_answer():
    from avlib.metrics.stats import corrected_resampled_effect

    a = np.array([[70.0, 72.0, 75.0, 68.0, 71.0], [72.0, 70.0, 77.0, 70.0, 69.0]])
    b = np.array([[69.0, 70.0, 71.0, 69.0, 70.0], [69.0, 70.0, 73.0, 67.0, 68.0]])
    # by hand: seeds averaged per fold -> differences [2, 1, 4, 1, 1], mean 1.8, s^2 = 1.7
    e = corrected_resampled_effect(a, b, test_train_ratio=0.25)
    se = np.sqrt(1.7 * (1 / 5 + 0.25))
    assert e.n == 5 and e.df == 4 and e.mean == pytest.approx(1.8)
    assert e.se == pytest.approx(se)
    assert (e.lo, e.hi) == pytest.approx((1.8 - stats.t.ppf(0.975, 4) * se, 1.8 + stats.t.ppf(0.975, 4) * se))
    assert e.p == pytest.approx(2 * stats.t.sf(1.8 / se, 4))
    assert e.p_plain == pytest.approx(stats.ttest_rel(a.mean(0), b.mean(0)).pvalue)
    assert e.p > e.p_plain
    with pytest.raises(ParameterError):
        corrected_resampled_effect(a, b[:, :3], test_train_ratio=0.25)
    with pytest.raises(ParameterError):
        corrected_resampled_effect(a, b, test_train_ratio=0.0)


def test_two_level_bootstrap_matches_a_manual_resampling():
    from sklearn.metrics import accuracy_score

    from avlib.metrics.stats import two_level_bootstrap

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 40)
    pa = np.stack([np.where(rng.random(40) < 0.8, y, (y + 1) % 3) for _ in range(3)])
    pb = np.stack([np.where(rng.random(40) < 0.6, y, (y + 2) % 3) for _ in range(3)])
    e = two_level_bootstrap(y, pa, pb, accuracy_score, n_boot=200, seed=7)
    r = np.random.default_rng(7)
    reps = []
    for _ in range(200):
        s = r.integers(0, 3, 3)
        i = r.integers(0, 40, 40)
        reps.append(np.mean([accuracy_score(y[i], pa[k][i]) - accuracy_score(y[i], pb[k][i]) for k in s]))
    np.testing.assert_allclose(e.replicates, reps)
    assert e.mean == pytest.approx(np.mean([accuracy_score(y, pa[k]) - accuracy_score(y, pb[k]) for k in range(3)]))
    assert (e.lo, e.hi) == pytest.approx(tuple(np.percentile(reps, [2.5, 97.5])))
    assert e.se == pytest.approx(np.std(reps, ddof=1))
    # both sources: wider than resampling the videos of one fixed seed
    one = two_level_bootstrap(y, pa[:1].repeat(3, 0), pb[:1].repeat(3, 0), accuracy_score, n_boot=200, seed=7)
    assert e.n_seeds == 3 and e.n_items == 40 and np.isfinite(one.se)
    with pytest.raises(ParameterError):
        two_level_bootstrap(y, pa[:, :10], pb, accuracy_score)
    ev = claims.from_bootstrap("icmr_uc_ge_cc", 100 * e.mean, 100 * e.replicates, detail="d", unit="3 seeds x 40 videos")
    assert ev.se == pytest.approx(100 * e.se) and ev.df == float("inf")


def test_claims_yaml_is_complete_and_pages_exist():
    df = claims.load_claims()
    assert df["id"].is_unique
    for col in ("paper", "wording", "paper_effect", "effect", "page"):
        assert df[col].astype(str).str.len().gt(0).all(), col
    from pathlib import Path

    reg = yaml.safe_load((Path(__file__).parents[1] / "notebooks" / "registry.yaml").read_text())
    names = {nb["name"] for nb in reg["notebooks"]}
    assert set(df["page"]) <= names
    for needed in ("icmr_fusion_beats_audio", "icmr_pretraining_helps", "xflow_paper_protocol_optimistic",
                   "ismir_strong_intra", "ismir_joint_vs_fe", "xflow_lstm_holdout_cuave"):
        assert needed in set(df["id"])


def test_record_and_claims_table_round_trip(tmp_path):
    page = tmp_path / "cpu" / "icmr_fusion"
    page.mkdir(parents=True)
    ev = [
        claims.from_paired("icmr_fusion_beats_audio", [50, 55, 61], [30, 31, 35], detail="fusion - audio"),
        claims.from_values("icmr_uc_ge_cc", [1.0, -2.0, 0.5], detail="UC - CC"),
        claims.from_paired("icmr_fusion_beats_video", [10, 11, 12], [20, 22, 25], detail="fusion - video"),
    ]
    claims.record(page, ev, Provenance("embedded benchmark", "cpu", [0, 1, 2]))
    t = claims.claims_table(tmp_path, "cpu").set_index("id")
    # n = 3 seeds: fusion - audio = [20, 24, 26] -> t = 7.2, p = 0.019; two rows' BH q = 0.028
    assert t.loc["icmr_fusion_beats_audio", "verdict"] == "holds"
    assert t.loc["icmr_uc_ge_cc", "verdict"] == "inconclusive on the stand-ins"
    assert t.loc["icmr_fusion_beats_video", "verdict"] == "contradicted"
    assert t.loc["icmr_fusion_beats_audio", "q_bh"] < 0.05
    assert t.loc["icmr_choi_ge_han", "verdict"] == "not measured"
    assert t.loc["icmr_fusion_beats_audio", "measured_on"] == "icmr_fusion"
    assert t.loc["icmr_fusion_beats_audio", "source"] == "embedded benchmark"
    assert t.loc["icmr_fusion_beats_audio", "effect"] == pytest.approx(np.mean([20, 24, 26]))


def test_record_rejects_unknown_claim(tmp_path):
    with pytest.raises(ParameterError, match="unknown claim"):
        claims.record(tmp_path, [claims.Evidence("no_such_claim", 1.0, 0.0, 2.0, 3)],
                      Provenance("embedded benchmark", "smoke", 0))


def test_claims_page_table_links_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    page = tmp_path / "smoke" / "xflow_crossval"
    page.mkdir(parents=True)
    claims.record(page, [claims.from_paired("xflow_beats_baseline_digits_cnnxmlp", [80, 82, 85], [70, 75, 71],
                                            detail="XFlow - baseline")],
                  Provenance("embedded benchmark", "smoke", [0, 1, 2]))
    t = claims.claims_table(tmp_path, "smoke")
    compact = claims.style_claims(t)
    html = compact.to_html()
    assert '<a href="xflow_crossval.html">XFlow beats the baseline: Digits, CNN×MLP</a>' in html
    assert "holds" in html and "not measured" in html
    # four columns that fit the page: the claim in words, the paper's number, ours, the verdict
    assert list(compact.data.columns) == ["claim", "paper", "ours [95 % interval]", "verdict"]
    assert "xflow_beats_baseline" not in html.replace("xflow_crossval.html", "")  # no snake_case ids shown
    details = claims.style_claims(t, details=True).data
    assert {"must show", "q (BH)", "converged (half the epochs)"} <= set(details.columns)
    text = claims.style_claims(t, details="text").data
    assert {"the paper says", "our effect measures", "tests"} <= set(text.columns)
    # each of the three tables fits the page
    from avlib.bookcheck import check_pages

    page = tmp_path / "html" / "book" / "p.html"
    page.parent.mkdir(parents=True)
    page.write_text("<article>" + "".join(claims.style_claims(t, details=d).to_html() for d in (False, True, "text"))
                    + "</article>")
    assert not [p for p in check_pages(tmp_path / "html") if "wide" in p]
    ax = claims.plot_claims(t)
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["XFlow beats the baseline: Digits, CNN×MLP (paper +11.5)"]
    assert ax.get_legend() is not None and "percentage points" in ax.get_xlabel()


def test_bh_adjusted_matches_a_hand_computation_and_skips_missing_p():
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.5])
    q = claims.bh_adjusted(p)
    # Benjamini-Hochberg by hand on the 4 finite p: sorted 0.01, 0.03, 0.04, 0.5 -> p * m / rank,
    # then the running minimum from the largest rank down
    raw = np.array([0.01 * 4 / 1, 0.03 * 4 / 2, 0.04 * 4 / 3, 0.5 * 4 / 4])
    expected = np.minimum.accumulate(raw[::-1])[::-1]
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 3, 2, 4]], expected)
    assert np.all(q[~np.isnan(q)] >= p[~np.isnan(p)])
    assert np.isnan(claims.bh_adjusted([np.nan, np.nan])).all()


def test_claims_table_adjusts_p_over_its_rows(tmp_path):
    page = tmp_path / "cpu" / "icmr_audio"
    page.mkdir(parents=True)
    ev = [claims.from_paired("icmr_choi_ge_han", [50, 55, 61, 58], [30, 31, 35, 40], detail="Choi - Han"),
          claims.from_paired("icmr_uc_ge_cc", [50, 52, 49, 51], [50, 50, 50, 50], detail="UC - CC")]
    claims.record(page, ev, Provenance("embedded benchmark", "cpu", [0, 1, 2, 3]))
    t = claims.claims_table(tmp_path, "cpu").set_index("id")
    q = t.loc[["icmr_choi_ge_han", "icmr_uc_ge_cc"], "q_bh"].to_numpy()
    crit = t.loc[["icmr_choi_ge_han", "icmr_uc_ge_cc"], "criterion"]
    p = [claims.p_against(e.effect, e.se, e.df, claims.null_value(c, m))
         for e, c, m in zip(ev, crit, t.loc[["icmr_choi_ge_han", "icmr_uc_ge_cc"], "margin"])]
    np.testing.assert_allclose(q, stats.false_discovery_control(p))
    assert np.isnan(t.loc["icmr_fusion_beats_audio", "q_bh"])   # not measured: no p-value
    assert "q (BH)" in claims.style_claims(t.reset_index(), details=True).to_html()


def test_non_inferiority_row_is_tested_against_its_margin(tmp_path):
    page = tmp_path / "cpu" / "xflow_crossval"
    page.mkdir(parents=True)
    # residual-only minus both: about -0.5 points, tight: as good as both within 2 points
    ev = [claims.from_values("xflow_residual_only_as_good_cnnxmlp", [-0.4, -0.6, -0.5, -0.3, -0.7], detail="d",
                             unit="speaker fold")]
    claims.record(page, ev, Provenance("embedded benchmark", "cpu", [0]))
    t = claims.claims_table(tmp_path, "cpu").set_index("id")
    row = t.loc["xflow_residual_only_as_good_cnnxmlp"]
    assert row.criterion == "non_inferiority" and row.null == -row.margin
    assert row.p_null == pytest.approx(stats.ttest_1samp([-0.4, -0.6, -0.5, -0.3, -0.7], -row.margin).pvalue)
    assert row.verdict == "holds"   # as a superiority row (null 0) it would be contradicted


def test_mark_convergence_flags_a_moving_effect_and_the_page_withholds_its_verdict(tmp_path):
    full = [claims.Evidence("xflow_beats_baseline_digits_lstm", 6.0, 4.0, 8.0, 15, se=1.0, df=14),
            claims.Evidence("xflow_beats_baseline_cuave_lstm", 6.0, 4.0, 8.0, 9, se=1.0, df=8)]
    short = [claims.Evidence("xflow_beats_baseline_digits_lstm", 5.5, 3.0, 8.0, 15),   # moved 0.5 < 2
             claims.Evidence("xflow_beats_baseline_cuave_lstm", 1.0, -1.0, 3.0, 9)]    # moved 5 > 2
    tab = claims.mark_convergence(full, short)
    assert list(tab.converged) == ["yes", "no"]
    assert tab.change.tolist() == pytest.approx([0.5, 5.0]) and tab.half_width.tolist() == pytest.approx([2.0, 2.0])
    page = tmp_path / "cpu" / "xflow_crossval"
    page.mkdir(parents=True)
    claims.record(page, full, Provenance("embedded benchmark", "cpu", [0]))
    t = claims.claims_table(tmp_path, "cpu").set_index("id")
    assert t.loc["xflow_beats_baseline_digits_lstm", "verdict"] == "holds"
    assert t.loc["xflow_beats_baseline_cuave_lstm", "verdict"] == claims.NOT_CONVERGED


def test_compact_claims_table_says_which_rows_were_checked_for_convergence(tmp_path):
    page = tmp_path / "cpu" / "xflow_crossval"
    page.mkdir(parents=True)
    ev = [claims.Evidence("xflow_beats_baseline_digits_lstm", 6.0, 4.0, 8.0, 15, se=1.0, df=14, converged="yes"),
          claims.Evidence("xflow_beats_baseline_cuave_lstm", 6.0, 4.0, 8.0, 9, se=1.0, df=8)]
    claims.record(page, ev, Provenance("embedded benchmark", "cpu", [0]))
    t = claims.claims_table(tmp_path, "cpu")
    shown = claims.style_claims(t, details=True).data["converged (half the epochs)"].set_axis(t["id"])
    assert shown["xflow_beats_baseline_digits_lstm"] == "yes"
    assert shown["xflow_beats_baseline_cuave_lstm"] == "not checked"
    assert shown["icmr_uc_ge_cc"] == ""   # not measured


def test_every_claim_has_its_short_wording_and_paper_number(tmp_path, monkeypatch):
    table = claims.load_claims()
    assert table["claim"].str.len().max() <= 80 and table["paper_value"].str.len().max() <= 24
    # a claims file without the short fields is refused, naming them
    broken = tmp_path / "claims.yaml"
    broken.write_text("- id: x\n  paper: XFlow\n  wording: w\n  paper_effect: e\n  effect: m\n  page: p\n")

    class _Files:
        def joinpath(self, _):
            return broken

    monkeypatch.setattr(claims.resources, "files", lambda _: _Files())
    with pytest.raises(ParameterError, match="claim.*paper_value"):
        claims.load_claims()


def test_convergence_on_part_of_the_units_compares_the_same_units():
    """A check that retrains only the first seed (or every other fold) compares it with the same
    seed (folds) at full length, against the full interval's half-width."""
    from avlib.claims import Evidence, mark_convergence

    def ev(effect, lo=float("nan"), hi=float("nan")):
        return Evidence("c", effect, lo, hi, 2, "", "t", 0.01, 1.0, 10.0, "seed")

    full = ev(5.0, 3.0, 7.0)  # half-width 2
    table = mark_convergence([full], [ev(1.5)], matched=[ev(2.0)])
    assert full.converged == "yes" and table["change"].iloc[0] == pytest.approx(0.5)  # 2.0 - 1.5 on seed 0
    assert table["effect_matched"].iloc[0] == 2.0 and "on the checked units" in full.test
    full = ev(5.0, 3.0, 7.0)
    mark_convergence([full], [ev(1.5)])  # without matched the whole effect is compared: 5.0 - 1.5 > 2
    assert full.converged == "no"
    full = ev(5.0, 3.0, 7.0)
    mark_convergence([full], [ev(1.5)], matched=[ev(4.0)])  # 4.0 - 1.5 = 2.5 > 2 on the same seed
    assert full.converged == "no"


def test_the_claims_page_reports_the_recorded_floating_point_path_check(tmp_path):
    """The page says how many verdicts a second floating-point path changed and lists those rows
    in words; without a record it says that none exists. The shipped record is readable."""
    import json

    import pandas as pd

    from avlib.claims import FP_PATHS_FILE, fp_path_record, fp_path_text, load_claims

    ids = load_claims()["id"].tolist()[:3]
    table = pd.DataFrame({"id": ids, "verdict (reference)": ["holds", "inconclusive on the stand-ins", "holds"],
                          "verdict (other path)": ["inconclusive on the stand-ins", "inconclusive on the stand-ins", "holds"],
                          "effect change": [-2.5, 0.4, 0.1], "half-width (reference)": [8.0, 5.0, 4.0]})
    table["verdict changed"] = table["verdict (reference)"] != table["verdict (other path)"]
    path = tmp_path / FP_PATHS_FILE
    path.parent.mkdir(parents=True)
    table.to_csv(path, index=False)
    path.with_suffix(".json").write_text(json.dumps({
        "page rerun": "xflow_crossval", "scale": "cpu", "largest effect change / half-width": 0.31,
        "other path numerics": {"torch_cpu_capability": "AVX2"}, "other path commit": "abcdef123",
        "reference commit": "1234567890", "reference numerics": {"torch_cpu_capability": "AVX512"}}))
    text = fp_path_text(fp_path_record(tmp_path))
    assert "**1 of 3 verdicts changed**" in text and "AVX2" in text and "AVX512" in text
    claim_words = load_claims().set_index("id").loc[ids[0], "claim"]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "claim |" not in line]
    assert rows == [f"| {claim_words} | holds | inconclusive on the stand-ins | -2.5 | 8.0 |"]
    assert fp_path_record(tmp_path / "elsewhere") is None
    assert "No check" in fp_path_text(None)
    shipped = fp_path_record()
    assert shipped is not None and set(shipped[1]["id"]) <= set(load_claims()["id"])


def test_the_claims_page_names_the_path_it_ran_on_and_the_recorded_machines():
    from avlib.claims import fingerprint_records, fingerprint_text, fp_path_text

    held = fp_path_text(None, current={"fp_path": "portable (AVX2)"})
    assert held.startswith("This build ran on the **portable (AVX2)** path") and "No check" in held
    assert "can differ on another machine" in fp_path_text(None, current={"fp_path": "native"})

    versions = {"torch": "2.14.1", "numpy": "2.4.6"}
    hashes = {"numpy": "a", "torch": "b", "mfcc": "c"}
    held = {"MKL_CBWR": "COMPATIBLE"}
    records = [dict(cpu_model="Xeon", fp_path="portable (AVX2)", fp_env=held, versions=versions, hashes=hashes),
               dict(cpu_model="EPYC", fp_path="portable (AVX2)", fp_env=held, versions=versions,
                    hashes={**hashes, "conv": "d"}),
               dict(cpu_model="Xeon", fp_path="native", versions=versions, hashes={**hashes, "torch": "x", "mfcc": "y"}),
               dict(cpu_model="EPYC", fp_path="portable (AVX2)", fp_env={"MKL_CBWR": "AVX2"}, versions=versions,
                    hashes=hashes)]
    text = fingerprint_text(records)
    assert "| portable (AVX2), MKL COMPATIBLE | Xeon; EPYC | yes |" in text  # on the parts both recorded
    assert "| portable (AVX2), MKL AVX2 | EPYC | only one machine recorded |" in text
    assert "| native | Xeon | only one machine recorded |" in text
    assert "Between the paths native and portable (AVX2), MKL AVX2, 2 of the 3 parts" in text
    records[1] = {**records[1], "hashes": {**hashes, "numpy": "z"}}
    assert "| portable (AVX2), MKL COMPATIBLE | Xeon; EPYC | **no**: numpy differ |" in fingerprint_text(records)
    assert "No machine" in fingerprint_text([])
    shipped = fingerprint_records()
    assert shipped and all({"cpu_model", "fp_path", "versions", "hashes"} <= set(r) for r in shipped)


def test_the_claims_page_lists_the_verdicts_two_machines_gave_differently(tmp_path):
    from avlib.claims import MACHINES_FILE, load_claims, machines_record, machines_text

    ids = list(load_claims()["id"][:3])
    table = pd.DataFrame({"id": ids,
                          "effect_1": [5.0, -10.0, 1.0], "lo_1": [1.0, -16.0, -2.0], "hi_1": [9.0, -4.0, 4.0],
                          "verdict_1": ["holds", "contradicted", "inconclusive"],
                          "effect_2": [4.0, -1.0, 1.5], "lo_2": [-1.0, -5.0, -1.5], "hi_2": [9.0, 3.0, 4.5],
                          "verdict_2": ["inconclusive", "inconclusive", "inconclusive"]})
    path = tmp_path / MACHINES_FILE
    path.parent.mkdir(parents=True)
    table.to_csv(path, index=False)
    path.with_suffix(".json").write_text(json.dumps({"machine 1": "X: one CPU", "machine 2": "Y: another"}))
    text = machines_text(machines_record(tmp_path))
    assert "**2 of 3 verdicts differ**" in text and "| claim | machine X | machine Y |" in text
    words = load_claims().set_index("id")["claim"]
    assert f"| {words[ids[0]]} | holds, +5.0 [+1.0, +9.0] | inconclusive, +4.0 [-1.0, +9.0] |" in text
    assert words[ids[2]] not in text  # the same verdict on both machines: not listed
    # -10 -> -1 moved 9 points, more than either half-width (6 and 4): named as an interval too narrow
    assert f"1 effect(s) moved" in text and f"`{ids[1]}`" in text and f"`{ids[0]}`" not in text.split("moved")[1]
    assert "No two machines" in machines_text(machines_record(tmp_path / "elsewhere"))
    shipped = machines_record()
    assert shipped is not None and set(shipped[1]["id"]) == set(load_claims()["id"])
