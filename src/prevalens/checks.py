"""Plausibility checks of the input: data that is probably not what the user meant.

An audit computes whatever the labels and scores say; these checks say when what they say is
unlikely to be what the user meant. Each returns :class:`~prevalens.results.Note` objects that the
audit records (``AuditResult.notes``, the report's limitations) and emits as
:class:`~prevalens.InputWarning`; data that cannot be right raises :class:`~prevalens.InputError`.

Every check works on the K x K confusion matrix (O(K^2)) or on one pass over the scores in blocks
of rows (O(N) time, O(N) memory at most, no (N, K) temporary), and is deterministic. The
thresholds are set so that ordinary data, good or bad models alike, give no warning:

* **Scores that disagree with y_pred** (``scores-disagree``): when ``y_pred`` is given (not derived
  from the scores) and on more than half of the rows the predicted class does not have the
  highest score (a row where it shares the highest score is not counted). A model's own
  ``predict`` is the argmax of its probabilities; a tuned threshold or a cost-sensitive rule
  moves a minority of rows, never most of them. When most disagreeing rows are off by the same
  number of places in class order, or follow one permutation, the message says so.
* **Shifted or permuted labels** (``labels-shifted``, ``labels-permuted``): most rows (>= 50%,
  and more than on the diagonal) lie on one shifted diagonal ``cm[i, i + s]``, and for at least
  two true classes that cell is the most frequent prediction (a constant predictor fills one
  cell only). Otherwise: each class's most frequent prediction defines a map; when it is
  one-to-one, moves at least two classes, and those moved cells hold >= 2/3 of the rows, the
  labels look permuted (for two classes: swapped). A chance-level binary classifier puts about
  half of its rows off the diagonal, hence 2/3 rather than 1/2; no real classifier is worse than
  chance on most classes in a one-to-one pattern.
* **Label sets that overlap poorly** (``labels-mismatch``): most rows are errors, at least a third
  of the rows belong to classes with 10 or more true samples that are never predicted, and at
  least a third are predicted as classes (10 or more times) that are never true. Two codings
  miss on both sides, and for whole classes; a weak model on a long tail (even with more
  classes than samples) misses and invents classes one or two rows at a time. When y_true and
  y_pred (given as labels) share no label at all, with two or more labels on each side, every
  prediction is wrong by construction: InputError.

A pattern (rows on a shifted diagonal, a permutation, unshared labels, disagreeing scores) is
claimed only when it holds at least :data:`MIN_ROWS` (10) rows: in a handful of rows such
patterns arise by chance.
* **Likely typos** (``likely-typo``, string labels only): a tiny class (1 or 2 true samples, or
  fewer than ``min_support`` and never predicted; or predicted at most twice and never true)
  whose label equals a class with at least 5 and 3 times as many rows once case and surrounding
  or repeated whitespace are ignored, or is one edit from it (a substitution, insertion,
  deletion or swap of adjacent characters) with both labels at least 4 characters long and no
  digit in the edit (codes such as 'E11.8' and 'E11.9' are different classes); a class only in
  y_true one edit from a class only in y_pred, whatever their sizes; and any two labels that
  differ only by surrounding or repeated whitespace.
* **Hard scores** (``hard-scores``): every row gives one value to one class and one common value
  to all others, the same two values in every row (one-hot scores, or a constant confidence):
  the scores hold no more than a hard prediction.
* **A single true class** (``single-true-class``): every sample has the same true class; there is
  nothing rare or common to compare. Not an error: the class's recall and the classes it is
  mistaken for are still measured (e.g. an audit of one subgroup's data). Only when there is a
  single class in all (truth, predictions, scores and ``labels``) is there genuinely nothing to
  audit, every prediction being right by construction: InputError.

Notes on probabilities (no warning, except where a number disappears): scores accepted as
probabilities although their rows sum to 1 only within the tolerance (``scores-rounded``),
scores renormalised on request (``scores-renormalized``), and log loss dominated by rows that
give their true class probability 0 (``log-loss-infinite``, the log loss is then undefined) or
partly so (``log-loss-clipped``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .counts import cells_of, col_sums, is_sparse, row_sums
from .exceptions import InputError, ProbabilityWarning
from .io import Predictions
from .ranking import PROBABILITY_ATOL
from .results import Estimate, Note

__all__ = [
    "ScoreStats",
    "check_labels",
    "score_stats",
    "check_scores",
    "probability_notes",
    "qualify_losses",
    "Renormalization",
]

#: A pattern (rows on a shifted diagonal, a permutation, unshared labels, disagreeing scores) is
#: claimed only when it holds at least this many rows: in a handful of rows it arises by chance.
MIN_ROWS = 10
#: More than this share of rows whose predicted class lacks the highest score: scores-disagree.
DISAGREE_SHARE = 0.5
#: At least this share of rows on a shifted diagonal or a permutation: labels-shifted/-permuted.
CODING_SHARE = 0.5
#: A one-to-one map of classes to other classes holding at least this share: labels-permuted
#: (a chance-level binary classifier puts about half of the rows off the diagonal).
PERMUTED_SHARE = 2 / 3
#: Rows with a true label never predicted, and rows with a predicted label never true, each at
#: least this share (and most rows wrong): labels-mismatch.
MISMATCH_SHARE = 1 / 3
#: A log loss more than this share of which comes from clipped rows (p_true < eps) is undefined.
CLIPPED_SHARE = 0.5
#: Row sums off by more than this (and within PROBABILITY_ATOL) are said in a note.
ROUNDING_NOTE = 1e-6
#: Labels longer than this are compared for typos only after normalisation (no edit distance).
_MAX_TYPO_LENGTH = 64
_EPS = float(np.finfo(np.float64).eps)
_SHOW = 5  # pairs or classes named in one message


# ------------------------------------------------------------------------------------------------
# formatting of messages (the core does not import prevalens.formatting)


def _pct(k: float, n: float) -> str:
    """A share as a percentage that shows 0% and 100% only when exact."""
    if n <= 0:
        return "-"
    if k <= 0:
        return "0%"
    if k >= n:
        return "100%"
    x = 100.0 * k / n
    return f"{min(max(x, 0.1), 99.9):.1f}%"


def _names(labels, limit: int = _SHOW) -> str:
    labels = list(labels)
    shown = ", ".join(repr(x) for x in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _plural(k: int, word: str) -> str:
    if k == 1:
        return f"{k} {word}"
    return f"{k} {word}" + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def _column(pred: Predictions, role: str) -> str:
    return str(pred.columns.get(role) or role)


def _score_column(pred: Predictions, j: int) -> str:
    label = pred.classes[j]
    return str((pred.columns.get("scores") or {}).get(str(label), f"score_{label}"))


# ------------------------------------------------------------------------------------------------
# labels: the confusion matrix


def check_labels(pred: Predictions, cm: np.ndarray, *, min_support: int) -> list[Note]:
    """Checks of the labels alone, on the confusion matrix: a single true class, shifted or
    permuted labels, label sets that overlap poorly, likely typos.

    Raises
    ------
    InputError
        When there is only one class (nothing to audit: every prediction is right by
        construction), or ``y_pred`` is given, both columns use two or more labels, and they
        share none.
    """
    cm = cm if is_sparse(cm) else np.asarray(cm)
    support = row_sums(cm)
    predicted = col_sums(cm)
    n = int(cm.sum())
    notes: list[Note] = []
    if n == 0:
        return notes
    if pred.n_classes == 1:
        source = pred.inputs[0].path if pred.inputs and pred.inputs[0].path else None
        raise InputError(
            (f"{source}: " if source else "")
            + f"only one class, {pred.classes[0]!r}, in '{_column(pred, 'y_true')}', the "
            "predictions and `labels`: every prediction is right by construction and there is "
            "nothing to audit; give data with two or more classes, or list the model's classes "
            "in `labels`"
        )
    true_set = np.flatnonzero(support > 0)
    pred_set = np.flatnonzero(predicted > 0)
    given = pred.pred_source != "argmax"
    shared = ((support > 0) & (predicted > 0)).any()
    if given and len(true_set) >= 2 and len(pred_set) >= 2 and not shared:
        raise InputError(_disjoint_message(pred, true_set, pred_set))

    single = _single_true_class(pred, cm, support)
    if single is not None:
        notes.append(single)
    else:
        # unshared labels first: two codings can also look like a shift once sorted together
        coding = (
            _mismatch(pred, cm, support, predicted)
            or _shifted(pred, cm, support)
            or _permuted(pred, cm, support)
        )
        if coding is not None:
            notes.append(coding)
    typos = _typos(pred, support, predicted, min_support)
    if typos is not None:
        notes.append(typos)
    return notes


def _disjoint_message(pred: Predictions, true_set, pred_set) -> str:
    source = pred.inputs[0].path if pred.inputs and pred.inputs[0].path else None
    yt, yp = _column(pred, "y_true"), _column(pred, "y_pred")
    t_labels = [pred.classes[i] for i in true_set]
    p_labels = [pred.classes[j] for j in pred_set]
    hint = ""
    norm_t = {_normal(str(x)) for x in t_labels}
    if sum(_normal(str(x)) in norm_t for x in p_labels) * 2 > len(p_labels):
        hint = " (they match when case and surrounding spaces are ignored)"
    return (
        (f"{source}: " if source else "")
        + f"'{yt}' and '{yp}' share no label: {yt} uses {_names(t_labels, 3)}; {yp} uses "
        f"{_names(p_labels, 3)}{hint}, so every prediction is wrong by construction; give both "
        "columns in the same coding (the same names, or the same codes from the same start)"
    )


def _single_true_class(pred: Predictions, cm, support) -> Note | None:
    present = np.flatnonzero(support > 0)
    if len(present) != 1 or pred.n_classes < 2:
        return None
    j = int(present[0])
    label = pred.classes[j]
    others = pred.n_classes - 1
    return Note(
        "single-true-class",
        f"every sample has the same true class, {label!r} (column '{_column(pred, 'y_true')}'): "
        f"recall and ROC AUC of the other {_plural(others, 'class')} are undefined, and the "
        "macro averages, the macro-micro gap, the strata and the trend compare that one class "
        "with classes that have no samples: they are artefacts, not evidence about rare "
        f"classes. Only the results for {label!r} (its recall, the classes it is mistaken for) "
        "are meaningful; audit data with several true classes to compare rare and common ones",
        (label,),
    )


def _shifted(pred: Predictions, cm, support) -> Note | None:
    """Most rows on one shifted diagonal cm[i, i + s], spread over two or more classes."""
    k = cm.shape[0]
    n = int(cm.sum())
    if k < 3:
        return None
    diag = _trace(cm)
    best_s, best = 0, -1
    if is_sparse(cm):  # every shifted diagonal's total from the non-zero cells at once
        r, c, v = cells_of(cm)
        traces = np.bincount(c - r + (k - 1), weights=v, minlength=2 * k - 1).astype(np.int64)
        traces[k - 1] = -1  # s = 0 is not a shift
        best_s, best = int(np.argmax(traces)) - (k - 1), int(traces.max())
    else:
        for s in range(-(k - 1), k):
            if s != 0:
                d = int(np.trace(cm, offset=s))
                if d > best:
                    best_s, best = s, d
    if best < max(CODING_SHARE * n, MIN_ROWS) or best <= diag:
        return None
    rows = np.arange(max(0, -best_s), min(k, k - best_s))
    cells = _cells_at(cm, rows, rows + best_s)
    dominant = rows[(cells > 0) & (cells == _row_max(cm, rows))]
    if len(dominant) < 2:
        return None
    s = best_s
    i = int(dominant[np.argmax(_cells_at(cm, dominant, dominant + s))])
    example = f"e.g. true {pred.classes[i]!r} predicted as {pred.classes[i + s]!r}"
    ints = all(isinstance(c, int) for c in pred.classes)
    if ints and all(pred.classes[r + s] - pred.classes[r] == s for r in dominant):
        how = f"y_pred = y_true {'+' if s > 0 else '-'} {abs(s)}"
    else:
        how = (
            f"the predicted class is the one {_plural(abs(s), 'place')} "
            f"{'after' if s > 0 else 'before'} the true one in class order"
        )
    predicted = col_sums(cm)
    only_true = [pred.classes[j] for j in np.flatnonzero((support > 0) & (predicted == 0))]
    only_pred = [pred.classes[j] for j in np.flatnonzero((support == 0) & (predicted > 0))]
    extra = ""
    if only_true:
        extra += f"; only in y_true: {_names(only_true, 3)}"
    if only_pred:
        extra += f"; only in y_pred: {_names(only_pred, 3)}"
    return Note(
        "labels-shifted",
        f"the labels look shifted by {s:+d}: on {_pct(best, n)} of rows {how} ({example}), "
        f"while only {_pct(diag, n)} are correct{extra}. Check that '{_column(pred, 'y_true')}' "
        f"and '{_column(pred, 'y_pred')}' use the same coding (e.g. 0-based against 1-based "
        "codes, or a label list off by one)",
        tuple(pred.classes[r] for r in dominant[:_SHOW]),
    )


def _permuted(pred: Predictions, cm, support) -> Note | None:
    """Each class's most frequent prediction, a one-to-one map that moves >= 2 classes holding
    most rows."""
    n = int(cm.sum())
    present = np.flatnonzero(support > 0)
    if len(present) < 2:
        return None
    target = _row_argmax(cm, present)
    if len(np.unique(target)) != len(target):
        return None
    moved = target != present
    cells = _cells_at(cm, present[moved], target[moved])
    mass = int(cells.sum())
    if moved.sum() < 2 or mass < max(PERMUTED_SHARE * n, MIN_ROWS):
        return None
    src, dst = present[moved], target[moved]
    order = np.argsort(-cells, kind="stable")
    pairs = [
        f"{pred.classes[src[o]]!r} as {pred.classes[dst[o]]!r} ({cells[o]} of {support[src[o]]})"
        for o in order[:_SHOW]
    ]
    more = f" and {len(order) - _SHOW} more" if len(order) > _SHOW else ""
    swapped = len(src) == 2 and src[0] == dst[1] and src[1] == dst[0]
    return Note(
        "labels-permuted",
        f"the labels look {'swapped' if swapped else 'permuted'}: {_pct(mass, n)} of rows are "
        f"predicted as another class, always the same one: {'; '.join(pairs)}{more}. Check "
        f"that '{_column(pred, 'y_true')}' and '{_column(pred, 'y_pred')}' use the same label "
        "coding",
        tuple(pred.classes[i] for i in src),
    )


def _mismatch(pred: Predictions, cm, support, predicted) -> Note | None:
    n = int(cm.sum())
    only_true = np.flatnonzero((support > 0) & (predicted == 0))
    only_pred = np.flatnonzero((support == 0) & (predicted > 0))
    if not len(only_true) or not len(only_pred):
        return None
    correct = _trace(cm)
    # rows of classes with MIN_ROWS true samples that are never predicted, and rows predicted as
    # classes (predicted MIN_ROWS times) that are never true: both sides, as when the columns use
    # two codings. A weak model on a long tail misses classes and predicts absent ones, but one
    # or two rows each (a model predicts a class it knows with 10 samples at least once).
    true_side = int(support[only_true][support[only_true] >= MIN_ROWS].sum())
    pred_side = int(predicted[only_pred][predicted[only_pred] >= MIN_ROWS].sum())
    if correct * 2 >= n or min(true_side, pred_side) < max(MISMATCH_SHARE * n, MIN_ROWS):
        return None
    unshared = true_side + pred_side - _block_sum(cm, only_true, only_pred)
    t_labels = [pred.classes[i] for i in only_true]
    p_labels = [pred.classes[j] for j in only_pred]
    return Note(
        "labels-mismatch",
        f"y_true and y_pred overlap poorly: {_pct(unshared, n)} of rows carry a label that the "
        f"other column never uses ({_names(t_labels, 3)} only in '{_column(pred, 'y_true')}', "
        f"{_names(p_labels, 3)} only in '{_column(pred, 'y_pred')}') and only "
        f"{_pct(correct, n)} of rows are correct. Check that both columns use the same label "
        "coding",
        tuple(t_labels[:_SHOW] + p_labels[:_SHOW]),
    )


def _trace(cm) -> int:
    """The diagonal's total (correct rows) of a dense or sparse matrix."""
    return int(cm.diagonal().sum()) if is_sparse(cm) else int(np.trace(cm))


def _cells_at(cm, rows, cols) -> np.ndarray:
    """``cm[rows, cols]`` for a dense or sparse matrix."""
    if not is_sparse(cm):
        return cm[rows, cols]
    picked = cm[np.asarray(rows), np.asarray(cols)]
    # a sparse array's fancy index is itself a (1-d) sparse array in recent SciPy
    if is_sparse(picked):
        picked = picked.toarray()
    return np.asarray(picked).reshape(-1).astype(np.int64)


def _row_max(cm, rows) -> np.ndarray:
    """The largest cell of each row in ``rows``."""
    if not is_sparse(cm):
        return cm[rows].max(axis=1)
    return np.asarray(cm[np.asarray(rows)].max(axis=1).toarray()).reshape(-1)


def _row_argmax(cm, rows) -> np.ndarray:
    """The column of each row's largest cell (the first on ties), rows in ``rows``."""
    if not is_sparse(cm):
        return cm[rows].argmax(axis=1)
    out = np.empty(len(rows), dtype=np.int64)
    for o, r in enumerate(rows):
        lo, hi = cm.indptr[r], cm.indptr[r + 1]
        idx, data = cm.indices[lo:hi], cm.data[lo:hi]
        top = data.max()
        # the first column holding the maximum (a row of positive support has one > 0)
        out[o] = int(idx[data == top].min())
    return out


def _block_sum(cm, rows, cols) -> int:
    """The total of ``cm[np.ix_(rows, cols)]``."""
    if not is_sparse(cm):
        return int(cm[np.ix_(rows, cols)].sum())
    r, c, v = cells_of(cm)
    return int(v[np.isin(r, rows) & np.isin(c, cols)].sum())


# likely typos ------------------------------------------------------------------------------------


def _normal(label: str) -> str:
    """Case-folded, without surrounding whitespace, inner whitespace runs as one space."""
    return " ".join(label.split()).casefold()


def _spaced(label: str) -> str:
    return " ".join(label.split())


def _one_edit(a: str, b: str) -> str | None:
    """The characters involved when ``a`` and ``b`` are one substitution, insertion, deletion
    or swap of adjacent characters apart (optimal string alignment distance 1); else None.
    O(len): no dynamic programming is needed for distance 1."""
    la, lb = len(a), len(b)
    if a == b or abs(la - lb) > 1:
        return None
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return a[i] + b[i]
        if i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]:
            return a[i] + a[i + 1]
        return None
    longer, shorter = (a, b) if la > lb else (b, a)
    return longer[i] if longer[i + 1 :] == shorter[i:] else None


def _deletions(s: str):
    yield s
    if len(s) <= _MAX_TYPO_LENGTH:
        for i in range(len(s)):
            yield s[:i] + s[i + 1 :]


def _typo_relation(a: str, b: str) -> str | None:
    """How labels ``a`` and ``b`` (different) look like one label, or None."""
    if _spaced(a) == _spaced(b):
        return "whitespace"
    na, nb = _normal(a), _normal(b)
    if na == nb:
        return "case"
    if min(len(na), len(nb)) < 4 or max(len(na), len(nb)) > _MAX_TYPO_LENGTH:
        return None
    edit = _one_edit(na, nb)
    if edit is None or any(ch.isdigit() for ch in edit):
        return None
    return "edit"


def _typos(pred: Predictions, support, predicted, min_support: int) -> Note | None:
    labels = pred.classes
    if not labels or not all(isinstance(c, str) for c in labels):
        return None
    k = len(labels)
    count = support + predicted
    # never predicted with 1 or 2 true samples, or fewer than min_support; or never true and
    # predicted once or twice
    tiny = (support > 0) & (predicted == 0) & (support < max(3, min_support))
    tiny |= (support == 0) & (predicted > 0) & (predicted <= 2)
    only_true = (support > 0) & (predicted == 0)
    only_pred = (support == 0) & (predicted > 0)
    pairs: dict[tuple[int, int], str] = {}

    # labels that differ only by whitespace: never two classes, whatever their sizes
    by_spaced: dict[str, int] = {}
    for j, label in enumerate(labels):
        other = by_spaced.setdefault(_spaced(label), j)
        if other != j:
            pairs[_ordered(other, j, count)] = "whitespace"

    # tiny classes (and classes only in y_true) against larger ones (and classes only in
    # y_pred): a deletion index finds every pair one edit apart in O(K * length)
    queries = np.flatnonzero(tiny | only_true)
    if len(queries):
        index: dict[str, list[int]] = {}
        for j in range(k):
            if count[j] >= 5 or only_pred[j]:
                for key in dict.fromkeys(_deletions(_normal(labels[j]))):
                    index.setdefault(key, []).append(j)
        for t in map(int, queries):
            seen: set[int] = set()
            for key in dict.fromkeys(_deletions(_normal(labels[t]))):
                for u in index.get(key, ()):
                    if u == t or u in seen:
                        continue
                    seen.add(u)
                    larger = tiny[t] and count[u] >= max(5, 3 * count[t])
                    crossed = only_true[t] and only_pred[u]
                    if not (larger or crossed):
                        continue
                    relation = _typo_relation(labels[t], labels[u])
                    if relation is not None:
                        pairs.setdefault(_ordered(t, u, count), relation)
    if not pairs:
        return None

    def side(j: int) -> str:
        if support[j] and predicted[j]:
            return f"{support[j]} true, predicted {predicted[j]} times"
        if support[j]:
            return f"{_plural(int(support[j]), 'true sample')}, never predicted"
        return f"never true, predicted {_plural(int(predicted[j]), 'time')}"

    items = sorted(pairs.items(), key=lambda p: (count[p[0][0]], p[0]))
    texts = []
    for (small, large), relation in items[:_SHOW]:
        how = {
            "whitespace": "differs only by whitespace from",
            "case": "differs only in case from",
            "edit": "is one typing error away from",
        }[relation]
        texts.append(f"{labels[small]!r} ({side(small)}) {how} {labels[large]!r} ({side(large)})")
    more = f"; and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    involved = []
    for (small, large), _ in items:
        involved += [labels[small], labels[large]]
    return Note(
        "likely-typo",
        f"class labels that look like typos: {'; '.join(texts)}{more}. Each is audited as a "
        "class of its own; correct the labels, or give the list of classes (`labels`) so that "
        "any other label is refused",
        tuple(dict.fromkeys(involved)),
    )


def _ordered(a: int, b: int, count) -> tuple[int, int]:
    """(smaller class, larger class) by rows, then by class order."""
    return (a, b) if (count[a], a) <= (count[b], b) else (b, a)


# ------------------------------------------------------------------------------------------------
# scores: one pass in blocks of rows


@dataclass(frozen=True)
class ScoreStats:
    """What the score checks need, from one pass over the scores.

    Attributes
    ----------
    n : int
    max_deviation : float
        Largest ``|row sum - 1|``.
    worst_row : int
        Its (0-based) row.
    disagree : int
        Rows where the predicted class's score is below the row's highest (ties not counted).
    argmax_correct : int
        Rows whose first highest-scoring class is the true class.
    shift_counts : ndarray (K,)
        Over disagreeing rows, how often ``y_pred - argmax`` is each value modulo K.
    pairs : ndarray (m, 3)
        Over disagreeing rows, distinct ``(argmax, y_pred, count)``.
    hard_rows : int
        Rows that give one value to one class and one common value to every other class.
    top_range, bottom_range : (float, float)
        Smallest and largest row maximum, and row minimum.
    clipped : int
        Rows whose true class has a score below eps (log loss clips it to eps).
    clipped_loss, total_loss : float
        Sum over those rows, and over all rows, of ``-log(clip(p_true, eps, 1 - eps))``.
    signed_deviation : float
        The worst row's ``sum - 1``.
    """

    n: int
    max_deviation: float
    worst_row: int
    disagree: int
    argmax_correct: int
    shift_counts: np.ndarray
    pairs: np.ndarray
    hard_rows: int
    top_range: tuple[float, float]
    bottom_range: tuple[float, float]
    clipped: int
    clipped_loss: float
    total_loss: float
    signed_deviation: float


def score_stats(pred: Predictions, *, block: int = 1 << 20) -> ScoreStats | None:
    """One pass over ``pred.y_score`` in blocks of about ``block`` scores; None without scores.
    Counted predictions carry the same statistics, counted by their engine."""
    s = pred.y_score
    if s is None:
        return getattr(pred, "score_checks", None)
    n, k = s.shape
    rows = max(1, block // max(k, 1))
    max_dev, worst, signed = -1.0, 0, 0.0
    disagree = argmax_correct = hard = clipped = 0
    clipped_loss = total_loss = 0.0
    shift = np.zeros(k, dtype=np.int64)
    codes = []
    top = [math.inf, -math.inf]
    bottom = [math.inf, -math.inf]
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        b = s[lo:hi]
        r = np.arange(hi - lo)
        yt, yp = pred.y_true[lo:hi], pred.y_pred[lo:hi]
        total = b.sum(axis=1)
        dev = np.abs(total - 1.0)
        i = int(np.argmax(dev))
        if dev[i] > max_dev:
            max_dev, worst, signed = float(dev[i]), lo + i, float(total[i] - 1.0)
        top_score = b.max(axis=1)
        low_score = b.min(axis=1)
        arg = b.argmax(axis=1)
        argmax_correct += int(np.count_nonzero(arg == yt))
        off = b[r, yp] < top_score
        disagree += int(np.count_nonzero(off))
        if off.any():
            shift += np.bincount((yp[off] - arg[off]) % k, minlength=k)
            codes.append(arg[off].astype(np.int64) * k + yp[off])
        # sum of the non-maximal scores minus (K - 1) times the smallest: 0 exactly when they
        # are all equal; a tolerance for scores written with 6 decimals
        spread = total - top_score - (k - 1) * low_score
        hard += int(np.count_nonzero(spread <= 1e-6 * k))
        top = [min(top[0], float(top_score.min())), max(top[1], float(top_score.max()))]
        bottom = [min(bottom[0], float(low_score.min())), max(bottom[1], float(low_score.max()))]
        p_true = b[r, yt]
        small = p_true < _EPS
        clipped += int(np.count_nonzero(small))
        losses = -np.log(np.clip(p_true, _EPS, 1 - _EPS))
        clipped_loss += float(losses[small].sum())
        total_loss += float(losses.sum())
    if codes:
        distinct, counts = np.unique(np.concatenate(codes), return_counts=True)
        pairs = np.stack([distinct // k, distinct % k, counts], axis=1)
    else:
        pairs = np.zeros((0, 3), dtype=np.int64)
    return ScoreStats(
        n=n,
        max_deviation=max(max_dev, 0.0),
        worst_row=worst,
        disagree=disagree,
        argmax_correct=argmax_correct,
        shift_counts=shift,
        pairs=pairs,
        hard_rows=hard,
        top_range=(top[0], top[1]),
        bottom_range=(bottom[0], bottom[1]),
        clipped=clipped,
        clipped_loss=clipped_loss,
        total_loss=total_loss,
        signed_deviation=signed,
    )


def _is_hard(stats: ScoreStats) -> bool:
    return (
        stats.hard_rows == stats.n
        and stats.top_range[1] - stats.top_range[0] <= 1e-6
        and stats.bottom_range[1] - stats.bottom_range[0] <= 1e-6
    )


def _log_loss_infinite(stats: ScoreStats) -> bool:
    return stats.clipped > 0 and stats.clipped_loss > CLIPPED_SHARE * stats.total_loss


def check_scores(pred: Predictions, stats: ScoreStats | None, cm: np.ndarray) -> list[Note]:
    """Checks of the scores: scores that disagree with y_pred, hard scores."""
    if stats is None or stats.n == 0:
        return []
    notes = []
    disagree = stats.disagree > DISAGREE_SHARE * stats.n and stats.disagree >= MIN_ROWS
    if pred.pred_source != "argmax" and disagree:
        notes.append(_disagree_note(pred, stats, cm))
    if _is_hard(stats):
        notes.append(_hard_note(pred, stats, cm))
    return notes


def _columns_span(pred: Predictions) -> str:
    k = pred.n_classes
    if k <= 3:
        return ", ".join(f"'{_score_column(pred, j)}'" for j in range(k))
    return f"'{_score_column(pred, 0)}' ... '{_score_column(pred, k - 1)}'"


def _disagree_note(pred: Predictions, stats: ScoreStats, cm) -> Note:
    n, k = stats.n, pred.n_classes
    correct = _trace(cm)
    text = (
        f"the score columns ({_columns_span(pred)}) disagree with '{_column(pred, 'y_pred')}': "
        f"on {stats.disagree} of {n} rows ({_pct(stats.disagree, n)}) the predicted class does "
        f"not have the highest score (ties not counted); y_pred is right on "
        f"{_pct(correct, n)} of rows, the highest score on {_pct(stats.argmax_correct, n)}. "
    )
    r = int(np.argmax(stats.shift_counts))
    pairs = stats.pairs
    if stats.shift_counts[r] >= 0.9 * stats.disagree:
        a = int(pairs[np.argmax(pairs[:, 2]), 0]) if len(pairs) else 0
        where = (
            f"{_plural(r, 'place')} after" if 2 * r <= k else f"{_plural(k - r, 'place')} before"
        )
        text += (
            f"On {_pct(int(stats.shift_counts[r]), stats.disagree)} of them y_pred is the class "
            f"{where} the highest-scoring one in class order: the score columns look rotated "
            f"(e.g. '{_score_column(pred, a)}' holds the scores of "
            f"{pred.classes[(a + r) % k]!r}). "
        )
    else:
        # each highest-scoring class's most frequent prediction among the disagreeing rows
        best: dict[int, tuple[int, int]] = {}
        for a, p, c in pairs.tolist():
            if a not in best or c > best[a][1]:
                best[a] = (p, c)
        covered = sum(c for _, c in best.values())
        one_to_one = len({p for p, _ in best.values()}) == len(best)
        if one_to_one and covered >= 0.9 * stats.disagree:
            shown = sorted(best.items(), key=lambda kv: -kv[1][1])[:3]
            moves = "; ".join(
                f"'{_score_column(pred, a)}' holds the scores of {pred.classes[p]!r}"
                for a, (p, _) in shown
            )
            text += f"The score columns look permuted ({moves}). "
    text += (
        "Check the order of the score columns, and that the scores come from the same model "
        "as y_pred (or whether y_pred comes from a rule other than the highest score, e.g. a "
        "tuned threshold); ROC AUC, log loss and the other score metrics are computed from "
        "the score columns as given"
    )
    return Note("scores-disagree", text, ())


def _hard_note(pred: Predictions, stats: ScoreStats, cm) -> Note:
    k = pred.n_classes
    top, bottom = stats.top_range[1], stats.bottom_range[0]
    columns = _columns_span(pred)
    if top - bottom <= 1e-6:
        what = f"every row gives the same score to every class ({columns})"
    elif top >= 1 - 1e-6 and bottom <= 1e-6:
        what = (
            f"the scores are one-hot: every row gives 1 to one class and 0 to the other "
            f"{k - 1} ({columns})"
        )
    else:
        what = (
            f"every row gives {top:.6g} to one class and {bottom:.6g} to each of the other "
            f"{k - 1} ({columns})"
        )
    text = (
        f"{what}, so the scores hold no more than a hard prediction: ROC AUC and average "
        "precision describe hard predictions, not a ranking"
    )
    if pred.scores_are_probabilities and _log_loss_infinite(stats):
        text += (
            f"; the log loss is infinite ({stats.clipped} of {stats.n} rows give their true "
            "class probability 0) and reported as undefined"
        )
    if pred.scores_are_probabilities:
        text += "; the Brier score is that of hard predictions" + (
            " (twice the error rate)" if top >= 1 - 1e-6 and bottom <= 1e-6 else ""
        )
    text += ". Give the model's probabilities (e.g. predict_proba) for meaningful score metrics"
    return Note("hard-scores", text, ())


# ------------------------------------------------------------------------------------------------
# probabilities: tolerance, renormalisation, log loss


@dataclass(frozen=True)
class Renormalization:
    """What ``renormalize_scores`` did: the largest ``|row sum - 1|`` before, and its row."""

    max_deviation: float
    worst_row: int


def probability_notes(
    pred: Predictions, stats: ScoreStats | None, renormalized: Renormalization | None
) -> list[tuple[Note, type[Warning] | None]]:
    """Notes about the scores as probabilities, each with the warning to emit (or None):
    scores that are not probabilities (a ProbabilityWarning), accepted within the tolerance,
    renormalised, or whose log loss is infinite."""
    out: list[tuple[Note, type[Warning] | None]] = []
    if stats is None:
        return out
    row = stats.worst_row + 1
    if renormalized is not None:
        out.append(
            (
                Note(
                    "scores-renormalized",
                    "scores renormalised on request (`renormalize_scores`): each row was divided "
                    f"by its sum before every score metric; the furthest row from 1, row "
                    f"{renormalized.worst_row + 1}, was off by {renormalized.max_deviation:.3g}",
                ),
                None,
            )
        )
    elif not pred.scores_are_probabilities:
        out.append(
            (
                Note(
                    "scores-not-probabilities",
                    f"scores are not probabilities (row {row} sums to "
                    f"{1 + stats.signed_deviation:.6g}; rows must be non-negative and "
                    f"sum to 1 within {PROBABILITY_ATOL:g}), so log loss and Brier score are not "
                    "computed; ranking metrics (ROC AUC, average precision, top-k accuracy) are. "
                    "Set `renormalize_scores` to divide each row by its sum",
                ),
                ProbabilityWarning,
            )
        )
    elif stats.max_deviation > ROUNDING_NOTE:
        out.append(
            (
                Note(
                    "scores-rounded",
                    f"score rows sum to 1 only within rounding: the furthest, row {row}, is off "
                    f"by {stats.max_deviation:.2g} (tolerance {PROBABILITY_ATOL:g}); they are "
                    "used as probabilities as given (`renormalize_scores` divides each row by "
                    "its sum first)",
                ),
                None,
            )
        )
    if pred.scores_are_probabilities and stats.clipped:
        share = stats.clipped_loss / stats.total_loss if stats.total_loss > 0 else 1.0
        if stats.clipped < stats.n:
            # every other row adds at least -log(1 - eps) > 0: never 100%, even when the sum
            # rounds the others' tiny losses away
            share = min(share, 0.999)
        if _log_loss_infinite(stats):
            out.append(
                (
                    Note(
                        "log-loss-infinite",
                        f"log loss is reported as undefined: {stats.clipped} of {stats.n} rows "
                        "give their true class a probability of 0 (below eps), so it is "
                        "infinite; the clipped value scikit-learn reports, "
                        f"{stats.total_loss / stats.n:.4g}, comes for {_pct(share, 1.0)} from "
                        "those rows at -log(eps) each and measures the clipping constant, not "
                        "the model",
                    ),
                    None if _is_hard(stats) else ProbabilityWarning,
                )
            )
        else:
            out.append(
                (
                    Note(
                        "log-loss-clipped",
                        f"{stats.clipped} of {stats.n} rows give their true class a probability "
                        "below eps (2.2e-16), clipped to eps in the log loss; they make up "
                        f"{_pct(share, 1.0)} of it",
                    ),
                    None,
                )
            )
    return out


def qualify_losses(
    overall: dict, pred: Predictions, stats: ScoreStats | None, renormalized
) -> dict:
    """Log loss and Brier score with what the checks found: undefined when the log loss is
    infinite, notes for hard scores, clipping and renormalisation."""
    if stats is None or not pred.scores_are_probabilities:
        return overall
    out = dict(overall)
    extra: dict[str, list[str]] = {"log_loss": [], "brier": []}
    if renormalized is not None:
        for name in extra:
            extra[name].append(
                "on renormalised scores (`renormalize_scores`: each row divided by its sum; "
                f"largest correction {renormalized.max_deviation:.3g})"
            )
    if _is_hard(stats):
        extra["brier"].append(
            "the scores are hard predictions: this is the Brier score of hard predictions"
        )
    if _log_loss_infinite(stats):
        out["log_loss"] = Estimate(
            math.nan,
            status="undefined",
            note=f"infinite: {stats.clipped} of {stats.n} rows give their true class a "
            "probability of 0 (the clipped value would measure the clipping constant)",
        )
    elif stats.clipped:
        share = stats.clipped_loss / stats.total_loss if stats.total_loss > 0 else 1.0
        extra["log_loss"].append(
            f"{_plural(stats.clipped, 'row')} with a true-class probability below eps, clipped "
            "to eps "
            f"({_pct(share, 1.0)} of the value)"
        )
    for name, texts in extra.items():
        e = out.get(name)
        if e is None or not texts or not e.defined:
            continue
        note = "; ".join(([e.note] if e.note else []) + texts)
        out[name] = replace(e, note=note)
    return out
