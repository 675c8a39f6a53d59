"""Intervals and paired effects (against SciPy) and the Claims page's bookkeeping."""

import numpy as np
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


@pytest.mark.parametrize("lo,hi,expected", [
    (0.5, 3.0, "holds"), (-3.0, -0.1, "contradicted"), (-1.0, 2.0, "inconclusive on the stand-ins"),
    (float("nan"), float("nan"), "inconclusive on the stand-ins"), (0.0, 1.0, "inconclusive on the stand-ins"),
])
def test_verdict_follows_the_interval(lo, hi, expected):
    assert claims.verdict(lo, hi) == expected


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
    assert t.loc["icmr_fusion_beats_audio", "verdict"] == "holds"
    assert t.loc["icmr_uc_ge_cc", "verdict"] == "inconclusive on the stand-ins"
    assert t.loc["icmr_fusion_beats_video", "verdict"] == "contradicted"
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
    html = claims.style_claims(t).to_html()
    assert '<a href="xflow_crossval.html">' in html and "holds" in html and "not measured" in html
    ax = claims.plot_claims(t)
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["xflow_beats_baseline_digits_cnnxmlp"]


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
    np.testing.assert_allclose(q, stats.false_discovery_control([ev[0].p, ev[1].p]))
    assert np.isnan(t.loc["icmr_fusion_beats_audio", "q_bh"])   # not measured: no p-value
    assert "q (BH, all rows)" in claims.style_claims(t.reset_index()).to_html()
