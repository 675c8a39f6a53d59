"""ICMR metrics against hand-checked cases and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from avlib.errors import ParameterError
from avlib.metrics import classification_summary, confusion, hit_at_k, macro_f1, softmax, video_average

SCORES = np.array(
    [
        [0.7, 0.2, 0.1, 0.0],  # true 0: top1 hit
        [0.5, 0.3, 0.2, 0.0],  # true 1: top1 miss (pred 0), top3 hit
        [0.1, 0.2, 0.3, 0.4],  # true 0: top3 miss (rank 4)
        [0.0, 0.1, 0.6, 0.3],  # true 2: top1 hit
    ]
)
Y = np.array([0, 1, 0, 2])


def test_hit_at_k_hand_checked():
    assert hit_at_k(Y, SCORES, 1) == pytest.approx(50.0)
    assert hit_at_k(Y, SCORES, 3) == pytest.approx(75.0)
    assert hit_at_k(Y, SCORES, 4) == 100.0


def test_macro_f1_hand_checked():
    # predictions 0, 0, 3, 2. class 0: P=1/2, R=1/2, F1=.5; class 1: 0; class 2: 1; class 3: 0
    # macro over classes {0,1,2,3} present in y_true or y_pred = (0.5 + 0 + 1 + 0) / 4
    assert macro_f1(Y, SCORES) == pytest.approx(100 * 1.5 / 4)
    assert macro_f1(Y, SCORES.argmax(1)) == pytest.approx(macro_f1(Y, SCORES))


def test_macro_f1_matches_sklearn_random(rng=np.random.default_rng(0)):
    y = rng.integers(0, 6, 200)
    s = rng.normal(size=(200, 6))
    assert macro_f1(y, s) == pytest.approx(100 * f1_score(y, s.argmax(1), average="macro"))


# --------------------------------------------------------------------------- the paper's F1 is the weighted F1
# The authors print scikit-learn's classification_report, whose "avg / total" row was the
# support-weighted average in the 2017 versions (0.18/0.19); Tables 2-4 print that number.
Y_IMB = np.array([0] * 6 + [1] * 3 + [2])  # imbalanced: 6 / 3 / 1
P_IMB = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0, 0])
# class 0: TP 5, FP 2, FN 1 -> F1 10/13; class 1: TP 2, FP 1, FN 1 -> 2/3; class 2: TP 0 -> 0
F1_0, F1_1, F1_2 = 10 / 13, 2 / 3, 0.0


def test_weighted_f1_hand_checked_on_imbalanced_classes():
    from avlib.metrics.classification import weighted_f1

    weighted = 100 * (6 * F1_0 + 3 * F1_1 + 1 * F1_2) / 10
    macro = 100 * (F1_0 + F1_1 + F1_2) / 3
    assert weighted_f1(Y_IMB, P_IMB) == pytest.approx(weighted)  # 66.15
    assert macro_f1(Y_IMB, P_IMB) == pytest.approx(macro)  # 47.86
    assert abs(weighted - macro) > 15  # the case where the two differ


def test_weighted_f1_matches_sklearn_and_is_the_summarys_f1():
    from avlib.metrics.classification import f1_from_labels, weighted_f1

    assert weighted_f1(Y_IMB, P_IMB) == pytest.approx(100 * f1_score(Y_IMB, P_IMB, average="weighted"))
    rng = np.random.default_rng(5)
    y = rng.choice(6, 300, p=[0.5, 0.2, 0.1, 0.1, 0.07, 0.03])  # imbalanced, like YouTube-8M
    s = rng.normal(size=(300, 6)) + 1.5 * np.eye(6)[y]
    want_w = 100 * f1_score(y, s.argmax(1), average="weighted")
    want_m = 100 * f1_score(y, s.argmax(1), average="macro")
    assert abs(want_w - want_m) > 1
    assert weighted_f1(y, s) == pytest.approx(want_w)
    out = classification_summary(y, s)
    assert out["f1"] == pytest.approx(want_w) and out["f1_macro"] == pytest.approx(want_m)
    # the bincount version used by the bootstraps gives scikit-learn's numbers too
    assert f1_from_labels(y, s.argmax(1)) == pytest.approx(want_w)
    assert f1_from_labels(y, s.argmax(1), average="macro") == pytest.approx(want_m)
    pred = np.where(rng.random(300) < 0.3, 7, s.argmax(1))  # a class that is never true: weight 0
    assert f1_from_labels(y, pred) == pytest.approx(100 * f1_score(y, pred, average="weighted", zero_division=0))
    assert f1_from_labels(y, pred, average="macro") == pytest.approx(
        100 * f1_score(y, pred, average="macro", zero_division=0))


def test_weighted_f1_is_the_2017_classification_report_avg_total():
    """scikit-learn 0.18/0.19's "avg / total" = np.average(per-class F1, weights=support)."""
    from sklearn.metrics import precision_recall_fscore_support

    from avlib.metrics.classification import weighted_f1

    _, _, f, support = precision_recall_fscore_support(Y_IMB, P_IMB, zero_division=0)
    assert weighted_f1(Y_IMB, P_IMB) == pytest.approx(100 * np.average(f, weights=support))


def test_hit_at_1_equals_accuracy_and_is_monotone_in_k():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 12, 100)
    s = rng.normal(size=(100, 12))
    assert hit_at_k(y, s, 1) == pytest.approx(100 * np.mean(s.argmax(1) == y))
    hits = [hit_at_k(y, s, k) for k in range(1, 12)]
    assert all(a <= b for a, b in zip(hits, hits[1:]))


def test_confusion_rows_normalised():
    cm = confusion(Y, SCORES)
    assert cm.shape == (4, 4)
    np.testing.assert_allclose(cm[0], [0.5, 0, 0, 0.5])
    np.testing.assert_allclose(cm[1], [1, 0, 0, 0])
    np.testing.assert_allclose(cm[3], 0)  # class 3 has no sample
    counts = confusion(Y, SCORES, normalize=None)
    assert counts.sum() == 4


def test_video_average_groups_in_first_appearance_order():
    seg = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8], [0.6, 0.4]])
    ids, mean = video_average(seg, ["b", "a", "b", "a"])
    assert list(ids) == ["b", "a"]
    np.testing.assert_allclose(mean, [[0.6, 0.4], [0.3, 0.7]])


def test_video_average_softmax_of_logits():
    logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    _, mean = video_average(logits, [7, 7], apply_softmax=True)
    np.testing.assert_allclose(mean.sum(1), 1.0)
    np.testing.assert_allclose(mean, softmax(logits).mean(0, keepdims=True))


def test_summary_keys_and_bad_inputs():
    out = classification_summary(Y, SCORES)
    assert set(out) == {"hit_at_1", "hit_at_3", "f1", "f1_macro"}
    with pytest.raises(ParameterError):
        hit_at_k(Y[:3], SCORES)
    with pytest.raises(ParameterError):
        hit_at_k(np.array([0, 1, 0, 9]), SCORES)
    with pytest.raises(ParameterError):
        video_average(SCORES, [1, 2])


# --------------------------------------------------------------------------- one tie rule


def test_ties_break_toward_lower_index_in_every_metric():
    # y = [0, 0, 0], every row [1, 1, 0]: classes 0 and 1 tie; argmax (the F1/confusion basis)
    # picks 0, so Hit@1 must be 100 % as well (scikit-learn's top_k_accuracy_score gives 0 %).
    y = np.array([0, 0, 0])
    s = np.tile([1.0, 1.0, 0.0], (3, 1))
    pred = s.argmax(1)
    assert hit_at_k(y, s, 1) == pytest.approx(100 * np.mean(pred == y)) == pytest.approx(100.0)
    assert macro_f1(y, s) == pytest.approx(100.0)
    np.testing.assert_allclose(confusion(y, s, normalize=None)[0], [3, 0, 0])
    # uniform rows (a video without frames): every metric predicts class 0
    u = np.full((4, 5), 0.2)
    yu = np.array([0, 1, 2, 0])
    assert hit_at_k(yu, u, 1) == pytest.approx(50.0)
    assert hit_at_k(yu, u, 2) == pytest.approx(75.0)  # top-2 = {0, 1}
    assert macro_f1(yu, u) == pytest.approx(macro_f1(yu, np.zeros(4, int)))


def test_hit_at_1_agrees_with_argmax_on_random_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 6, 300)
    s = rng.integers(0, 3, size=(300, 6)).astype(float)  # many exact ties
    assert hit_at_k(y, s, 1) == pytest.approx(100 * np.mean(s.argmax(1) == y))
    from avlib.metrics.classification import predicted_labels, rank_classes

    np.testing.assert_array_equal(predicted_labels(s), s.argmax(1))
    top3 = rank_classes(s, 3)
    for row, t in zip(s, top3):  # ranked by score, ties in index order
        assert list(t) == sorted(range(6), key=lambda j: (-row[j], j))[:3]


@pytest.mark.parametrize("n_classes", [2, 5, 12])
def test_hit_at_k_matches_sklearn_without_ties(n_classes):
    from sklearn.metrics import top_k_accuracy_score

    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 150)
    s = rng.normal(size=(150, n_classes))  # continuous: no ties
    for k in range(1, n_classes):
        want = 100 * top_k_accuracy_score(y, s if n_classes > 2 else s[:, 1] - s[:, 0], k=k, labels=np.arange(n_classes))
        assert hit_at_k(y, s, k) == pytest.approx(want)


def test_nan_scores_rank_last():
    s = np.array([[np.nan, 0.1, 0.2], [0.5, np.nan, 0.5]])
    from avlib.metrics.classification import predicted_labels

    np.testing.assert_array_equal(predicted_labels(s), [2, 0])
    assert hit_at_k(np.array([2, 0]), s, 1) == pytest.approx(100.0)
