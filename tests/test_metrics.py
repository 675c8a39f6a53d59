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
    assert set(out) == {"hit_at_1", "hit_at_3", "f1"}
    with pytest.raises(ParameterError):
        hit_at_k(Y[:3], SCORES)
    with pytest.raises(ParameterError):
        hit_at_k(np.array([0, 1, 0, 9]), SCORES)
    with pytest.raises(ParameterError):
        video_average(SCORES, [1, 2])


# --------------------------------------------------------------------------- one tie rule (issue 11, item 2)


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
