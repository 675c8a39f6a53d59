"""Tests of the ISMIR 2017 analyses: importance formula, top-k, Spearman matrix, summary,
Grad-CAM wrappers and the two training schemes (tiny inputs, seeded rng, no network)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from avlib.analysis import correlation as corr
from avlib.analysis import gradcam as gc
from avlib.analysis import importance as imp
from avlib.errors import ParameterError

torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- importance


def _brute_importance(x, a_rows, pred, num_classes):
    """L^c_i by explicit loops, straight from the paper's formula."""
    n, k = x.shape
    out = np.full((num_classes, k), np.nan)
    for c in range(num_classes):
        members = [d for d in range(n) if pred[d] == c]
        if not members:
            continue
        for i in range(k):
            out[c, i] = sum(max(a_rows[d][i] * x[d, i], 0.0) for d in members) / len(members)
    return out


def test_linear_importance_matches_brute_force(rng):
    n, k, c = 23, 7, 4
    x = rng.normal(size=(n, k))
    w = rng.normal(size=(c, k))
    pred = rng.integers(0, c - 1, size=n)  # category c-1 never predicted
    got = imp.linear_importance(x, w, pred)
    want = _brute_importance(x, [w[p] for p in pred], pred, c)
    assert got.shape == (c, k)
    assert np.all(np.isnan(got[c - 1]))
    np.testing.assert_allclose(got[: c - 1], want[: c - 1], rtol=1e-12)
    assert np.all(got[: c - 1] >= 0)


def test_importance_known_answer():
    # two examples predicted 0, one predicted 1; w = [[1, -1], [2, 0]]
    x = np.array([[1.0, 2.0], [3.0, -4.0], [5.0, 6.0]])
    w = np.array([[1.0, -1.0], [2.0, 0.0]])
    pred = np.array([0, 0, 1])
    # class 0: feature 0: (max(1,0)+max(3,0))/2 = 2; feature 1: (max(-2,0)+max(4,0))/2 = 2
    # class 1: feature 0: 10; feature 1: 0
    np.testing.assert_allclose(imp.linear_importance(x, w, pred), [[2.0, 2.0], [10.0, 0.0]])


def test_gradient_importance_equals_weight_for_dense_head(rng):
    torch.manual_seed(0)
    n, ka, kv, c = 17, 5, 6, 3
    head = nn.Linear(ka + kv, c)
    audio = rng.normal(size=(n, ka)).astype(np.float32)
    visual = rng.normal(size=(n, kv)).astype(np.float32)
    (ga, gv), pred = imp.decision_gradients(lambda a, v: head(torch.cat([a, v], 1)), [audio, visual], batch_size=5)
    w = head.weight.detach().numpy()
    np.testing.assert_allclose(ga, w[pred, :ka], rtol=1e-6)
    np.testing.assert_allclose(gv, w[pred, ka:], rtol=1e-6)
    logits = head(torch.cat([torch.from_numpy(audio), torch.from_numpy(visual)], 1)).detach().numpy()
    np.testing.assert_array_equal(pred, logits.argmax(1))
    np.testing.assert_allclose(
        imp.category_importance(audio, ga, pred, num_classes=c),
        imp.linear_importance(audio, w[:, :ka], pred),
        rtol=1e-6,
    )


def test_gradient_importance_nonlinear_head_matches_finite_differences(rng):
    torch.manual_seed(1)
    head = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = rng.normal(size=(6, 4))
    pred = np.array([0, 1, 2, 0, 1, 2])
    (g,), p = imp.decision_gradients(lambda t: head(t.double()), [x], predictions=pred)
    np.testing.assert_array_equal(p, pred)
    eps = 1e-5
    for d in range(6):
        for i in range(4):
            xp, xm = x[d].copy(), x[d].copy()
            xp[i] += eps
            xm[i] -= eps
            with torch.no_grad():
                fd = (head(torch.from_numpy(xp))[pred[d]] - head(torch.from_numpy(xm))[pred[d]]) / (2 * eps)
            assert abs(g[d, i] - fd.item()) < 1e-4


def test_importance_bad_inputs(rng):
    x = rng.normal(size=(5, 3))
    with pytest.raises(ParameterError):
        imp.linear_importance(x, rng.normal(size=(2, 4)), np.zeros(5, int))
    with pytest.raises(ParameterError):
        imp.linear_importance(x, rng.normal(size=(2, 3)), np.array([0, 1, 2, 0, 1]))  # class 2 of 2
    with pytest.raises(ParameterError):
        imp.category_importance(x, x[:4], np.zeros(5, int))
    with pytest.raises(ParameterError):
        imp.category_importance(x, x, np.zeros(5))  # float predictions


def test_top_k_selection(rng):
    scores = np.array([[0.1, 0.5, 0.5, 0.0, 0.9], [np.nan] * 5, [3, 2, 1, 0, -1]], dtype=float)
    top = imp.top_k_features(scores, 3)
    np.testing.assert_array_equal(top[0], [4, 1, 2])  # tie 1 vs 2 -> lower index first
    np.testing.assert_array_equal(top[2], [0, 1, 2])
    assert top.shape == (3, 3)
    big = rng.random((12, 1024))
    t10 = imp.top_k_features(big, 10)
    for c in range(12):
        assert set(t10[c]) == set(np.argsort(big[c])[-10:])
        assert np.all(np.diff(big[c, t10[c]]) <= 0)
    with pytest.raises(ParameterError):
        imp.top_k_features(scores, 6)
    with pytest.raises(ParameterError):
        imp.top_k_features(scores, 0)
    sel = imp.select_features(rng.random((3, 32)), rng.random((3, 64)), k_audio=10, k_visual=20)
    assert sorted(sel) == [0, 1, 2]
    assert sel[1]["audio"].shape == (10,) and sel[1]["visual"].shape == (20,)


# --------------------------------------------------------------------------- correlation


def _brute_spearman(x):
    n, p = x.shape
    ranks = np.column_stack([stats.rankdata(x[:, j]) for j in range(p)])
    rho = np.eye(p)
    pv = np.zeros((p, p))
    for i, j in itertools.combinations(range(p), 2):
        ri, rj = ranks[:, i] - ranks[:, i].mean(), ranks[:, j] - ranks[:, j].mean()
        r = float((ri * rj).sum() / np.sqrt((ri**2).sum() * (rj**2).sum()))
        t = r * np.sqrt((n - 2) / max(1e-300, (1 - r) * (1 + r)))
        q = 2 * stats.t.sf(abs(t), n - 2)
        rho[i, j] = rho[j, i] = r
        pv[i, j] = pv[j, i] = q
    return rho, pv


@pytest.mark.parametrize("ties", [False, True])
def test_spearman_matrix_matches_brute_force(rng, ties):
    x = rng.normal(size=(15, 6))
    if ties:
        x = np.round(x)  # many ties -> average ranks
    rho, pv = corr.spearman_matrix(x)
    want_rho, want_p = _brute_spearman(x)
    np.testing.assert_allclose(rho, want_rho, atol=1e-12)
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(pv[off], want_p[off], rtol=1e-8)
    np.testing.assert_allclose(rho, rho.T)


def test_spearman_matrix_edge_cases(rng):
    x = rng.normal(size=(10, 3))
    x[:, 1] = 0.0  # a ReLU feature that never fires
    rho, pv = corr.spearman_matrix(x)
    assert np.all(np.isnan(rho[1])) and np.all(np.isnan(pv[:, 1]))
    assert np.isfinite(rho[0, 2])
    rho2, _ = corr.spearman_matrix(x[:, [0, 2]])  # p == 2 gives scalars in SciPy
    assert rho2.shape == (2, 2) and rho2[0, 1] == pytest.approx(rho[0, 2])
    mono = np.column_stack([np.arange(8.0), np.exp(np.arange(8.0)), -np.arange(8.0)])
    r, _ = corr.spearman_matrix(mono)
    np.testing.assert_allclose(r, [[1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    with pytest.raises(ParameterError):
        corr.spearman_matrix(x[:2])


def test_adjust_pvalues_against_definitions(rng):
    p = rng.random(12) ** 3
    m = len(p)
    order = np.argsort(p)
    # Benjamini-Hochberg by its definition: min over j >= i of m p_(j) / j
    bh = np.empty(m)
    for rank, idx in enumerate(order, start=1):
        bh[idx] = min(1.0, min(m * p[order[j - 1]] / j for j in range(rank, m + 1)))
    np.testing.assert_allclose(corr.adjust_pvalues(p, "fdr_bh"), bh, rtol=1e-10)
    # Holm: max over j <= i of (m - j + 1) p_(j)
    holm = np.empty(m)
    for rank, idx in enumerate(order, start=1):
        holm[idx] = min(1.0, max((m - j + 1) * p[order[j - 1]] for j in range(1, rank + 1)))
    np.testing.assert_allclose(corr.adjust_pvalues(p, "holm"), holm, rtol=1e-10)
    np.testing.assert_allclose(corr.adjust_pvalues(p, "bonferroni"), np.minimum(p * m, 1))
    with_nan = np.r_[p, np.nan]
    out = corr.adjust_pvalues(with_nan, "fdr_bh")
    assert np.isnan(out[-1]) and np.allclose(out[:-1], bh)
    with pytest.raises(ParameterError):
        corr.adjust_pvalues(p, "sidak")


def test_summary_detects_intra_and_inter_structure(rng):
    n = 60
    za, zv = rng.normal(size=(n, 1)), rng.normal(size=(n, 1))
    audio = za + 0.3 * rng.normal(size=(n, 12))
    visual = zv + 0.3 * rng.normal(size=(n, 25))
    sel = {0: {"audio": np.arange(10), "visual": np.arange(20)}}
    (res,) = corr.category_correlations(audio, visual, np.zeros(n, int), sel, names=["sax"])
    assert res.rho.shape == (30, 30) and res.labels[0] == "A0" and res.labels[10] == "V0"
    row = corr.modality_summary(res)
    assert row["n_pairs_intra"] == 45 + 190 and row["n_pairs_inter"] == 200
    assert row["mean_abs_rho_intra"] > 0.7 and row["mean_abs_rho_inter"] < 0.3
    assert row["intra_strong"] and row["inter_not_significant"] and row["claim_holds"]
    # a shared factor across the modalities breaks the claim, and the test says so
    visual2 = za + 0.3 * rng.normal(size=(n, 25))
    (res2,) = corr.category_correlations(audio, visual2, np.zeros(n, int), sel)
    row2 = corr.modality_summary(res2)
    assert row2["n_sig_inter"] > 100 and not row2["claim_holds"]
    df = corr.summarize_correlations([res, res2])
    assert list(df["claim_holds"]) == [True, False]


def _two_modalities(rng, n, *, na=10, nv=20, noise_a=0.5, noise_v=0.5, coupled_pairs=0, factor_corr=0.0):
    """``n`` videos: audio and visual features, each modality driven by its own factor (strong
    intra-modal correlation: |rho| about 0.75 at noise 0.5), the two factors independent (no
    inter-modal relation) unless ``factor_corr`` > 0 (the factors correlate: every inter-modal
    pair does) or ``coupled_pairs`` > 0 (audio feature ``i`` and visual feature ``i`` share a
    strong extra component for ``i < coupled_pairs``)."""
    za = rng.normal(size=(n, 1))
    zv = factor_corr * za + np.sqrt(1 - factor_corr**2) * rng.normal(size=(n, 1))
    audio = za + noise_a * rng.normal(size=(n, na))
    visual = zv + noise_v * rng.normal(size=(n, nv))
    for i in range(coupled_pairs):
        shared = 3.0 * rng.normal(size=n)
        audio[:, i] += shared
        visual[:, i] += shared
    return audio, visual


def _one_category(rng, n, **kw):
    audio, visual = _two_modalities(rng, n, **kw)
    return corr.feature_correlation(audio, visual, np.arange(audio.shape[1]), np.arange(visual.shape[1]))


def test_inter_family_keeps_false_positive_rate_near_alpha():
    """Independent modalities, strong intra-modal correlation, no inter-modal dependence (the
    paper's situation): a category shows a "significant" inter-modal pair in at most about
    alpha of the draws with the claim's family (the 200 inter-modal pairs), but in about 40 %
    with one family of all 435 pairs, whose many tiny intra-modal p-values make
    Benjamini-Hochberg lenient for the inter-modal pairs (the flaw this test documents)."""
    rng = np.random.default_rng(2017)
    draws, any_sig = 300, {"inter": 0, "all": 0}
    n_sig_intra = []
    for _ in range(draws):
        res = _one_category(rng, 150)
        for fam in any_sig:
            row = corr.modality_summary(res, alpha=0.05, family=fam)
            any_sig[fam] += row["n_sig_inter"] > 0
            if fam == "inter":
                n_sig_intra.append(row["n_sig_intra"])
                assert row["family"] == "inter" and row["n_pairs_inter"] == 200
    rate = {k: v / draws for k, v in any_sig.items()}
    assert rate["inter"] <= 0.10, rate  # nominal 0.05 (BH under the complete null = family-wise)
    assert rate["all"] > 0.25, rate  # the old all-pairs family: about 0.4
    # the intra-modal pairs are still tested, in their own family: all 235 strong pairs found
    assert np.median(n_sig_intra) == 235
    with pytest.raises(ParameterError):
        corr.modality_summary(res, family="pairs")


def test_intra_strong_needs_both_modalities():
    """"Audio and visual features have strong intra-modal correspondence": both blocks must be
    strong; a pooled mean (190 visual-visual pairs, 45 audio-audio) would pass a matrix whose
    audio features are nearly uncorrelated."""
    rng = np.random.default_rng(5)
    res = _one_category(rng, 150, noise_a=4.0, noise_v=0.5)
    row = corr.modality_summary(res, strong=0.5)
    assert row["mean_abs_rho_intra"] >= 0.5  # pooled: looks strong
    assert row["mean_abs_rho_intra_audio"] < 0.2 and row["mean_abs_rho_intra_visual"] > 0.7
    assert row["intra_strength"] == pytest.approx(row["mean_abs_rho_intra_audio"])
    assert not row["intra_strong"] and not row["claim_holds"]
    ok = corr.modality_summary(_one_category(rng, 150), strong=0.5)
    assert ok["intra_strong"] and ok["intra_strength"] >= 0.5


def _simulated_cors(rng, seeds, *, n=60, categories=12, scheme="feature extraction", p_coupled=0.0, **kw):
    """``{(scheme, seed): Correspondence}`` of simulated categories, the way
    :func:`avlib.experiments.ismir.correspondence.analyse_seeds` returns them; each category is coupled across the
    modalities (one strongly correlated audio-visual pair) with probability ``p_coupled``;
    ``kw`` go to :func:`_two_modalities`."""
    from avlib.experiments.ismir.correspondence import Correspondence

    settings = {"alpha": 0.05, "strong": 0.5, "correction": "fdr_bh"}
    out = {}
    for sd in seeds:
        res = []
        for c in range(categories):
            coupled = int(rng.random() < p_coupled)
            r = _one_category(rng, n, coupled_pairs=coupled, **kw)
            r.category, r.name = c, f"cat{c}"
            res.append(r)
        summary = corr.summarize_correlations(res, alpha=0.05, strong=0.5)
        summary.insert(0, "scheme", scheme)
        out[(scheme, sd)] = Correspondence(scheme, None, None, {}, res, summary, settings)
    return out


def _verdicts(tmp_path, cors):
    """The ISMIR rows of :func:`avlib.experiments.ismir.evidence.claim_evidence` as the Claims page judges them."""
    from avlib import claims
    from avlib.experiments.ismir import evidence
    from avlib.report import Provenance

    page = tmp_path / "cpu" / "ismir_correspondence"
    page.mkdir(parents=True, exist_ok=True)
    ev = evidence.claim_evidence(cors)
    claims.record(page, ev, Provenance("simulated", "cpu", sorted({k[1] for k in cors})))
    t = claims.claims_table(tmp_path, "cpu").set_index("id")
    return t.loc[[e.claim for e in ev]], {e.claim: e for e in ev}


def test_claim_rows_hold_in_the_papers_situation(tmp_path):
    """Strong intra-modal and zero inter-modal correlation in every category (what the paper
    reports), 10 seeds: both ISMIR rows come out *holds*; joint training that couples the
    modalities gives a positive joint-minus-feature-extraction row."""
    rng = np.random.default_rng(11)
    seeds = range(10)
    cors = _simulated_cors(rng, seeds)
    cors.update(_simulated_cors(rng, seeds, scheme="joint", factor_corr=0.5))
    t, ev = _verdicts(tmp_path, cors)
    assert t.loc["ismir_strong_intra", "verdict"] == "holds", t.loc["ismir_strong_intra"].to_dict()
    assert t.loc["ismir_strong_intra", "effect"] > 10  # weakest category about 0.7 > 0.5
    row = t.loc["ismir_no_significant_inter"]
    assert row["criterion"] == "non_inferiority" and row["null"] == -row["margin"]
    assert row["verdict"] == "holds", row.to_dict()
    assert -row["margin"] < row["lo"] <= row["effect"] <= 0  # share of clean categories near 100 %
    assert ev["ismir_no_significant_inter"].unit == "seed" and ev["ismir_no_significant_inter"].n == 10
    assert "against -15" in ev["ismir_no_significant_inter"].test
    assert t.loc["ismir_joint_vs_fe", "effect"] > 0 and t.loc["ismir_joint_vs_fe", "verdict"] == "holds"
    assert all(e.unit == "seed" for e in ev.values())


def test_claim_rows_go_against_the_paper_when_the_data_do(tmp_path):
    """Contrary situations. (a) About half the categories have one strongly correlated
    audio-visual pair: few significant pairs overall (under 5 % of all inter-modal pairs on
    average, which the old pair-share effect counted as *holds*), but the paper's criterion, no
    significant pair in a category, fails in half of them: *contradicted*. (b) Intra-modal
    correlation weak (mean |rho| about 0.3 < 0.5) though above the inter-modal one (the old
    intra-minus-inter effect was positive): *contradicted*."""
    from avlib.experiments.ismir import tables
    from avlib.experiments.ismir.correspondence import seed_stats

    rng = np.random.default_rng(3)
    cors = _simulated_cors(rng, range(5), p_coupled=0.5)
    st = [seed_stats(c.summary) for c in cors.values()]
    assert np.mean([x["pct_sig_inter"] for x in st]) < 5.0  # old effect, 95 % - % pairs significant: > 0
    t, _ = _verdicts(tmp_path / "a", cors)
    assert t.loc["ismir_no_significant_inter", "verdict"] == "contradicted"
    assert t.loc["ismir_no_significant_inter", "hi"] < -t.loc["ismir_no_significant_inter", "margin"]
    assert t.loc["ismir_strong_intra", "verdict"] == "holds"

    weak = _simulated_cors(rng, range(5), noise_a=1.5, noise_v=1.5)
    st = [seed_stats(c.summary) for c in weak.values()]
    assert all(x["intra"] > x["inter"] + 0.15 for x in st)
    t, _ = _verdicts(tmp_path / "b", weak)
    assert t.loc["ismir_strong_intra", "verdict"] == "contradicted"
    assert t.loc["ismir_strong_intra", "hi"] < 0
    table = tables.claim_seed_table(weak)
    assert len(table) == 5 and (table["weakest intra minus 0.5 (x 100)"] < 0).all()


def test_category_correlations_groups_and_min_samples(rng):
    audio, visual = rng.normal(size=(9, 4)), rng.normal(size=(9, 5))
    groups = np.array([0] * 6 + [1] * 2 + [2])
    sel = {c: {"audio": np.arange(2), "visual": np.arange(3)} for c in range(3)}
    out = corr.category_correlations(audio, visual, groups, sel)
    assert [r.category for r in out] == [0] and out[0].n_samples == 6
    direct, _ = corr.spearman_matrix(np.c_[audio[:6, :2], visual[:6, :3]])
    np.testing.assert_allclose(out[0].rho, direct)


# --------------------------------------------------------------------------- Grad-CAM


class _TinyAudio(nn.Module):
    """A timm-contract audio CNN small enough for tests."""

    def __init__(self, num_classes=3, width=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 2 * width
        self.fc = nn.Linear(2 * width, num_classes)

    def forward_features(self, x):
        return self.features(x)

    def forward_head(self, x, pre_logits=False):
        x = self.pool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


def test_find_target_layers_picks_last_block():
    m = _TinyAudio()
    layers = gc.find_target_layers(m, torch.zeros(1, 1, 8, 12))
    assert layers == [m.features]  # outermost module producing the last 4-D map
    assert _hooks(m) == 0


def test_audio_gradcam_maps_and_hook_release():
    torch.manual_seed(0)
    m = _TinyAudio().train()
    x = torch.randn(2, 1, 8, 12)
    with gc.audio_gradcam(m, input_shape=(1, 8, 12)) as cam:
        assert _hooks(m) > 0
        maps = cam(x, [0, 2])
    assert maps.shape == (2, 8, 12) and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert _hooks(m) == 0 and m.training  # hooks released, mode restored
    # the map equals Grad-CAM computed by hand: ReLU(sum_k mean(dy/dA_k) A_k), upsampled
    m.eval()
    acts = m.features(x[:1]).detach().requires_grad_(True)
    y = m.forward_head(acts)[0, 0]
    (g,) = torch.autograd.grad(y, acts)
    raw = torch.relu((g.mean(dim=(2, 3), keepdim=True) * acts).sum(1))[0].detach().numpy()
    assert np.corrcoef(maps[0][::2, ::2].ravel(), raw.ravel())[0, 1] > 0.9 or raw.max() == 0


def test_gradcam_frozen_model_and_errors_propagate():
    m = _TinyAudio()
    for p in m.parameters():
        p.requires_grad_(False)
    with gc.audio_gradcam(m, input_shape=(1, 8, 12)) as cam:
        maps = cam(torch.randn(3, 1, 8, 12))
    assert maps.shape == (3, 8, 12)
    with pytest.raises(ParameterError):
        with gc.audio_gradcam(m, input_shape=(1, 8, 12)) as cam:
            cam(torch.randn(2, 1, 8, 12), [0])
    assert _hooks(m) == 0


class _TinyFrames(_TinyAudio):
    def __init__(self, num_classes=3):
        super().__init__(num_classes, width=4)
        self.features[0] = nn.Conv2d(3, 4, 3, padding=1)


def _tiny_av(num_classes=3, k=2):
    from avlib.models.audiovisual import AudioVisualNet

    torch.manual_seed(0)
    audio = _TinyAudio(num_classes, width=4)  # 8 features
    visual = _TinyFrames(num_classes)  # 8 features -> use a projection to 2 * 8 = 16
    visual.forward_head = lambda x, pre_logits=False: torch.cat([visual.pool(x).flatten(1)] * 2, 1)
    fusion = nn.Sequential(nn.Flatten(), nn.Linear((2 * k + 1) * 8, num_classes))
    return AudioVisualNet(audio, visual, fusion)


def test_multimodal_gradcam_both_modalities():
    net = _tiny_av(k=2).eval()
    audio = torch.randn(3, 1, 8, 12)
    frames = torch.randint(0, 255, (3, 2, 3, 10, 10), dtype=torch.uint8)
    logits = net(audio, frames.float() / 127.5 - 1)
    assert logits.shape == (3, 3)
    with gc.multimodal_gradcam(net, "audio", audio_shape=(1, 8, 12)) as cam:
        a_maps = cam(audio, frames.float() / 127.5 - 1, [0, 1, 2])
    with gc.multimodal_gradcam(net, "frames", frame_shape=(3, 10, 10)) as cam:
        f_maps = cam(audio, frames, [0, 1, 2])
        # batching videos gives the same maps as one video at a time
        one = cam(audio[1:2], frames[1:2], [1])
    assert a_maps.shape == (3, 8, 12) and f_maps.shape == (3, 2, 10, 10)
    np.testing.assert_allclose(one[0], f_maps[1], atol=1e-5)
    assert _hooks(net) == 0 and not net.training
    with pytest.raises(ParameterError):
        gc.multimodal_gradcam(net, "video")


def test_audiovisual_net_layout_and_freeze():
    net = _tiny_av(k=2)
    a = torch.randn(4, 1, 8, 12)
    f = torch.randn(4, 2, 3, 10, 10)
    feats = net.forward_features(a, f)
    assert feats.audio.shape == (4, 8) and feats.frames.shape == (4, 2, 16)
    x = net.fusion_input(feats.audio, feats.frames)
    assert x.shape == (4, 5, 8)
    torch.testing.assert_close(x[:, 4], feats.audio)  # audio row last
    torch.testing.assert_close(x[:, 2:4].reshape(4, 16), feats.frames[:, 1])  # frame 1 = rows 2, 3
    net.freeze_subnetworks()
    net.train()
    assert not net.audio.training and net.fusion.training
    assert all(not p.requires_grad for p in net.audio.parameters())
    net(a, f).sum().backward()
    assert all(p.grad is None for p in net.visual.parameters())
    assert all(p.grad is not None for p in net.fusion.parameters())


# --------------------------------------------------------------------------- schemes


@pytest.fixture(scope="module")
def tiny_av_data():
    from avlib.experiments.ismir.data import AVData

    rng = np.random.default_rng(0)
    n, C = 12, 3
    labels = np.arange(n) % C
    audio = rng.normal(size=(n, 1, 96, 26)).astype(np.float32) + labels[:, None, None, None]
    frames = [rng.integers(0, 255, size=(3, 3, 75, 75), dtype=np.uint8) for _ in range(n)]
    split = np.array(["train"] * 7 + ["val"] * 2 + ["test"] * 3)
    return AVData(audio, frames, labels, split, np.array([f"v{i}" for i in range(n)]), ["a", "b", "c"])


def test_schemes_end_to_end_tiny(tiny_av_data):
    from avlib.experiments.ismir import correspondence, gradcam, schemes, tables
    from avlib.train.loop import TrainConfig

    data = tiny_av_data
    cfg = TrainConfig(epochs=1, batch_size=4, lr=1e-3, seed=0)
    fe = schemes.train_feature_extraction_scheme(
        data, n_frames=1, audio_name="choi2016", fusion_config=TrainConfig(epochs=2, batch_size=4, seed=0),
        fusion_hidden=(16,), audio_config=cfg, visual_config=TrainConfig(epochs=1, batch_size=4, seed=0))
    assert fe.audio_features.shape == (12, 1024) and fe.frame_features.shape == (12, 1, 2048)
    assert fe.logits.shape == (12, 3) and np.isfinite(fe.logits).all()
    assert all(not p.requires_grad for p in fe.model.audio.parameters())
    # the stored logits are those of the assembled network
    _, _, again = schemes.extract_av_features(fe.model, data, k=1)
    np.testing.assert_allclose(again, fe.logits, rtol=1e-4, atol=1e-4)

    before = [p.detach().clone() for p in fe.model.visual.parameters()][:3]
    joint = schemes.train_joint_scheme(data, n_frames=1, audio_name="choi2016", config=cfg, fusion_hidden=(16,))
    assert joint.frame_features.shape == (12, 1, 2048)
    assert all(p.requires_grad for p in joint.model.visual.parameters())
    assert joint.model.visual is not fe.model.visual
    assert all(torch.equal(a, b) for a, b in zip(before, list(fe.model.visual.parameters())[:3]))
    acc = tables.accuracy_table([fe, joint], paper={"feature extraction": {"hit_at_1": 88.28}})
    assert list(acc["scheme"]) == ["feature extraction", "joint"] and acc["Hit@1 (paper)"].iloc[0] == 88.28

    for res in (fe, joint):
        cor = correspondence.analyse_correspondence(res, data.categories, k_audio=3, k_visual=4, groups="label")
        assert cor.importance_audio.shape == (3, 1024) and cor.importance_visual.shape == (3, 2048)
        assert np.all(np.nan_to_num(cor.importance_audio) >= 0)
        assert len(cor.correlations) == 3 and cor.correlations[0].rho.shape == (7, 7)
        assert set(cor.summary["scheme"]) == {res.scheme}
    claims = tables.claim_table([cor.summary])
    assert claims.shape[0] == 1
    view = tables.claim_view(claims)
    assert list(view.columns) == ["", "paper", "joint"] and len(view) == 3

    ex = gradcam.gradcam_examples(joint, data, per_category=1)
    assert ex and ex[0]["audio_map"].shape == (96, 26) and ex[0]["frame_map"].shape == (75, 75)
    assert all(0 <= e["audio_map"].min() and e["audio_map"].max() <= 1 + 1e-6 for e in ex)
    assert {e["frame_px"] for e in ex} == {75} and {e["frame_cells"] for e in ex} == {(1, 1)}
    # the heat maps come from the layers the models name
    from avlib.models.choi2016 import Choi2016

    assert {e["frame_layer"] for e in ex} == {"backbone.Mixed_7c"}
    assert {e["audio_layer"] for e in ex} == {gc.gradcam_layer_name(joint.model.audio)}
    assert ex[0]["audio_layer"].endswith(Choi2016.gradcam_layer)

    # small frames enlarged for the Grad-CAM pass: Mixed_7c gets 8 x 8 cells, the maps localise,
    # and the network's own features and logits are untouched
    logits = joint.logits.copy()
    big = gradcam.gradcam_examples(joint, data, per_category=1, n_categories=2, frame_px=299)
    assert {e["category"] for e in big} <= {"a", "b"} and len(big) >= 2
    assert {e["frame_px"] for e in big} == {299} and {e["frame_cells"] for e in big} == {(8, 8)}
    assert all(e["frame_map"].shape == (299, 299) and e["frame"].shape == (3, 75, 75) for e in big)
    assert any(e["frame_map"].std() > 1e-3 for e in big)
    assert all(0 <= e["pred_at_frame_px"] < 3 for e in big)
    np.testing.assert_array_equal(joint.logits, logits)
    # the page's compact figure: one row per category, legible at the page width
    from avlib.experiments.ismir import figures

    fig = figures.plot_gradcam_examples(big, categories=data.categories)
    w, h = fig.get_size_inches() * fig.dpi
    assert w <= 900 and h < 700
    # every heat layer (drawn over a background, so semi-transparent) uses a colour-blind-safe scale
    heat = [im.get_cmap().name for ax in fig.axes for im in ax.get_images() if im.get_alpha() is not None]
    assert heat and set(heat) <= {"viridis", "cividis", "inferno", "magma", "plasma"}
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_visual_importance_is_gradient_of_frame_mean():
    """a^v = sum over frames of the frame gradients equals d y / d mean(frames)."""
    from avlib.models.audiovisual import AudioVisualNet

    torch.manual_seed(0)
    k, da = 3, 4
    fusion = nn.Sequential(nn.Flatten(), nn.Linear((2 * k + 1) * da, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    fuse = lambda a, f: fusion(AudioVisualNet.fusion_input(a, f))  # noqa: E731
    a = torch.randn(2, da, dtype=torch.float64)
    f = torch.randn(2, k, 2 * da, dtype=torch.float64)
    (ga, gf), pred = imp.decision_gradients(lambda x, y: fuse(x.double(), y.double()), [a.numpy(), f.numpy()])
    resid = f - f.mean(1, keepdim=True)
    v = f.mean(1).clone().requires_grad_(True)
    y = fuse(a, resid + v[:, None])
    (gv,) = torch.autograd.grad(y.gather(1, torch.as_tensor(pred)[:, None]).sum(), v)
    np.testing.assert_allclose(gf.sum(1), gv.numpy(), rtol=1e-5, atol=1e-7)


def test_joint_scheme_starts_every_seed_from_the_shared_frozen_backbone(monkeypatch, tmp_path):
    """With the ICMR frozen-backbone setting the joint scheme of any seed loads the one seed-0
    image-bank pre-training from the shared folder (no per-seed pre-training), and trains with
    the configuration's joint schedule."""
    from avlib.config.ismir import ISMIRConfig
    from avlib.experiments.icmr import store as icmr_store
    from avlib.experiments.icmr import visual as icmr_visual
    from avlib.experiments.ismir import schemes

    calls, got = [], []

    def fake_pretrained(bench, preset, *, seed, store, weights=None, device=None):
        calls.append((seed, None if store is None else store.root.name))
        return {"w": torch.full((1,), float(seed))}, "image bank", 0.0, True

    def fake_train(data, **kw):
        got.append((kw["backbone_state"]["w"].item(), kw["config"].epochs, kw["config"].seed))
        return schemes.SchemeResult("joint", None, None, None, None, None, None, {}, 0.0, {}, {})

    monkeypatch.setattr(icmr_visual, "pretrained_backbone", fake_pretrained)
    monkeypatch.setattr(schemes, "train_joint_scheme", fake_train)
    cfg = ISMIRConfig.for_scale("smoke").with_overrides({"joint.epochs": 3})
    assert cfg.icmr.visual.backbone == "frozen" and cfg.icmr.fusion.visual[1]
    for seed in (1, 2):
        store = icmr_store.FeatureStore(tmp_path / "icmr" / "embedded" / "smoke" / f"seed{seed}-abc")
        schemes.run_joint_scheme(None, None, cfg, seed=seed, store=store)
    assert calls == [(0, "frozen_backbone-abc"), (0, "frozen_backbone-abc")]
    assert got == [(0.0, 3, 1), (0.0, 3, 2)]
