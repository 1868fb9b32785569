"""The jackknife of a confusion matrix without its (J, K) tables.

BCa's acceleration uses the J distinct leave-one-out confusion matrices (deleting any of the
``cm[i, j]`` rows of cell (i, j) gives ``cm - e_ij``). A member differs from the full data in at
most two classes: deleting a row of cell (i, j) lowers ``fn_i`` and ``fp_j`` (``tp_i`` when
i = j), and every class's ``tn`` by one, since N falls by one. So every per-class value of every
member is one of

* the class's *untouched* value, the same for all members that do not touch the class (for recall,
  the full-data value; for specificity, the value with one sample fewer), or
* one of the (at most) two values of the classes the member touches.

:class:`LooArray` stores a (J, K) array of that form as a row of K untouched values and a (J, 2)
array of the touched values, O(J + K) numbers instead of J K (at K = 10,000 and J = 2e5 cells, 16
GB per array). Element-wise arithmetic (ufuncs, :func:`numpy.where`) keeps the form, a sum over
the classes is O(J + K) (the untouched sum with each member's two corrections), and a per-member
column added or subtracted (a class's value minus the member's macro average) is kept as an
offset. BCa's acceleration of every column is computed from per-stratum moments of the offset,
corrected where a member touches the column (:meth:`LooArray.bca_acceleration`): O(J + K) for
all K columns, where the (J, K) array costs O(J K).

Anything else falls back to :class:`LooExpr`, a lazy (J, K) expression evaluated in blocks of
columns whose size follows the memory budget: the same numbers as the dense array, column by
column, without holding it.

With a cluster column a member leaves out a whole cluster, which touches every class its rows
hold, and N falls by the cluster's size: :class:`SparseDeltaArray` holds such a table as K base
values less a sparse (J, K) delta (and, for tn, a per-member offset), evaluated in blocks of
columns like the fallback.

The analyses never see the difference: they state a statistic once, as a function of a
:class:`~prevalens.uncertainty.Stats`, and the same function applied to the jackknife's Stats
(whose per-class arrays are :class:`LooArray`) gives the jackknife values in this form.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

__all__ = [
    "LooPattern",
    "LooArray",
    "LooExpr",
    "SparseDeltaArray",
    "is_loo",
    "DENSE_GUARD_CELLS",
]

#: Densifying a leave-one-out array of more cells than this (np.asarray) is refused: it is the
#: (J, K) blow-up this module exists to avoid (400 MB of float64).
DENSE_GUARD_CELLS = 50_000_000

#: Relative size below which a column's second-moment sum is rounding, i.e. zero.
_ZERO = 1e-12


def is_loo(x) -> bool:
    """Whether ``x`` is a leave-one-out array of this module (structured or lazy)."""
    return isinstance(x, _Loo)


class LooPattern:
    """Which classes each of the J distinct leave-one-out members touches.

    ``slots`` (J, 2): the column of the member's true class and of its predicted class (-1 when
    the member is on the diagonal, or when a column subset leaves the class out).
    ``block_cells``: the number of cells a dense block of columns may hold (the memory budget
    of the fallback).
    """

    __slots__ = ("slots", "n_columns", "block_cells", "_subsets", "_safe")

    def __init__(self, slots: np.ndarray, n_columns: int, block_cells: int = 4_000_000):
        self.slots = np.asarray(slots, dtype=np.int64)
        self.n_columns = int(n_columns)
        self.block_cells = int(block_cells)
        self._subsets: dict = {}
        self._safe = np.where(self.slots >= 0, self.slots, 0)

    @classmethod
    def shape_only(cls, j: int, k: int, block_cells: int) -> LooPattern:
        """A pattern of J members and K columns touching no column: the shape and block size of
        a lazily evaluated array (which reads no slots)."""
        return cls(np.full((j, 2), -1), k, block_cells)

    @classmethod
    def of_cells(cls, rows, cols, k: int, *, block_cells: int = 4_000_000) -> LooPattern:
        """The pattern of the members ``cm - e_ij`` for the cells ``(rows[m], cols[m])``."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        return cls(np.stack([rows, np.where(rows == cols, -1, cols)], axis=1), k, block_cells)

    @property
    def n_members(self) -> int:
        return self.slots.shape[0]

    def subset(self, idx: np.ndarray) -> LooPattern:
        """The pattern of the columns ``idx`` (distinct), in that order; memoised, so that two
        arrays subset alike share one pattern."""
        key = idx.tobytes()
        found = self._subsets.get(key)
        if found is None:
            inv = np.full(self.n_columns + 1, -1, dtype=np.int64)  # the last entry serves -1
            inv[idx] = np.arange(idx.size)
            found = LooPattern(inv[self.slots], idx.size, self.block_cells)
            self._subsets[key] = found
        return found

    def block_width(self) -> int:
        """Columns per dense block: within the budget, and never one alone (a single column is
        summed in another order by numpy than the same column within a block)."""
        return max(2, self.block_cells // max(self.n_members, 1))

    def blocks(self):
        """Column slices of at least two columns (unless there is one) covering every column."""
        k = self.n_columns
        w = self.block_width()
        starts = list(range(0, k, w))
        if len(starts) > 1 and k - starts[-1] < 2:
            starts.pop()
        ends = starts[1:] + [k]
        return [slice(s, e) for s, e in zip(starts, ends)]


class _Loo(NDArrayOperatorsMixin):
    """What both forms share: the shape (J, K), lazy element-wise arithmetic, column blocks."""

    pattern: LooPattern

    @property
    def shape(self) -> tuple[int, int]:
        return (self.pattern.n_members, self.pattern.n_columns)

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return self.pattern.n_members

    def block(self, cols) -> np.ndarray:  # pragma: no cover - abstract
        """The dense (J, w) values of the columns ``cols`` (a slice or an index array)."""
        raise NotImplementedError

    def toarray(self) -> np.ndarray:
        j, k = self.shape
        if j * k > DENSE_GUARD_CELLS:
            raise MemoryError(
                f"refusing to densify a leave-one-out array of {j} x {k} cells: evaluate it in "
                "blocks of columns (LooArray.block) instead"
            )
        return self.block(slice(0, k))

    def __array__(self, dtype=None, copy=None):
        out = self.toarray()
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype):
        return LooExpr(lambda a: a.astype(dtype), (self,), self.pattern)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        return LooExpr(lambda *a: ufunc(*a, **kwargs), inputs, self.pattern)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and len(args) == 3 and not kwargs:
            return LooExpr(np.where, args, self.pattern)
        if func is np.broadcast_to:
            shape = args[1] if len(args) > 1 else kwargs["shape"]
            if tuple(shape) == self.shape:
                return self
        if func is np.sum:
            return args[0].sum(*args[1:], **kwargs)
        if func is np.nan_to_num:
            return LooExpr(lambda a: np.nan_to_num(a, **kwargs), args[:1], self.pattern)
        return NotImplemented

    def __getitem__(self, key):
        idx = _column_key(key, self.shape[1])
        if isinstance(idx, (int, np.integer)):
            return self._column(int(idx))
        return _take(self, idx)

    def _column(self, c: int) -> np.ndarray:
        return self.block(np.array([c, c]))[:, 0]

    def sum(self, axis=None, dtype=None, keepdims=False):
        """Sum over the classes, column after column from the first: the same order whatever
        the blocks (so whatever the memory budget), and the dense sum to rounding."""
        if axis not in (-1, 1):
            raise NotImplementedError("a leave-one-out array is summed over its classes only")
        out = None
        for cols in self.pattern.blocks():
            b = self.block(cols)
            if dtype is not None:
                b = b.astype(dtype, copy=False)
            elif b.dtype.kind in "biu" and b.dtype.itemsize < 8:
                b = b.astype(np.int64)  # as numpy sums booleans and small integers
            b = np.asfortranarray(b)  # each column contiguous: added at memory speed
            for i in range(b.shape[1]):
                if out is None:
                    out = b[:, i].copy()
                else:
                    out += b[:, i]
        if out is None:
            out = np.zeros(self.pattern.n_members, dtype=dtype or np.float64)
        return out[:, None] if keepdims else out

    def bca_acceleration(self, weights, strata, dense: Callable) -> np.ndarray:
        """BCa's acceleration of every column: ``dense(block, weights, strata)`` (the dense
        computation of :mod:`prevalens.intervals`) over blocks of columns."""
        parts = [dense(self.block(cols), weights, strata) for cols in self.pattern.blocks()]
        return np.concatenate(parts)


def _column_key(key, k: int):
    """The columns selected by ``x[..., key]`` or ``x[:, key]``: an int or an index array."""
    if isinstance(key, tuple):
        if len(key) != 2 or not (key[0] is Ellipsis or key[0] == slice(None)):
            raise IndexError("a leave-one-out array is indexed by its columns only: x[..., idx]")
        key = key[1]
    if isinstance(key, (int, np.integer)):
        return int(key) % k
    if isinstance(key, slice):
        return np.arange(k)[key]
    idx = np.asarray(key)
    if idx.dtype == bool:
        return np.flatnonzero(idx)
    return idx.astype(np.int64) % k


def _take(x: _Loo, idx: np.ndarray):
    """``x[..., idx]``: in form for distinct columns of a :class:`LooArray`, else lazily."""
    if isinstance(x, LooArray) and np.unique(idx).size == idx.size:
        return x._subset(idx)
    shape = LooPattern.shape_only(x.pattern.n_members, idx.size, x.pattern.block_cells)
    return LooExpr(None, (), shape, cols=(x, idx))


class LooExpr(_Loo):
    """A lazy (J, K) expression over leave-one-out arrays: ``fn`` applied to the dense blocks of
    its arguments, evaluated one block of columns at a time (the fallback for what
    :class:`LooArray` cannot keep in its form)."""

    def __init__(self, fn, args, pattern: LooPattern, cols=None):
        self.fn = fn
        self.args = tuple(args)
        self.pattern = pattern
        self._cols = cols  # (source, idx): this expression is source[..., idx]

    def block(self, cols) -> np.ndarray:
        if self._cols is not None:
            source, idx = self._cols
            return source.block(idx[cols])
        # evaluated later than the code that stated it, outside its np.errstate: the metrics
        # divide by zero on purpose (an undefined value is NaN), so warnings are not raised here
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.fn(*(_arg_block(a, cols, self.pattern) for a in self.args))


def _arg_block(a, cols, pattern: LooPattern):
    """The block of argument ``a`` (a leave-one-out array, a scalar, a row of K values, a
    column of J values or a dense (J, K) array) at columns ``cols``."""
    if isinstance(a, _Loo):
        return a.block(cols)
    arr = np.asarray(a)
    if arr.ndim == 0:
        return arr
    j, k = pattern.n_members, pattern.n_columns
    if arr.ndim == 1 and arr.shape[0] == k:
        return arr[cols]
    if arr.ndim == 2 and arr.shape == (1, k):
        return arr[:, cols]
    if arr.ndim == 2 and arr.shape[1] == 1 and arr.shape[0] in (1, j):
        return arr
    if arr.shape == (j, k):
        return arr[:, cols]
    raise ValueError(f"cannot broadcast an array of shape {arr.shape} against ({j}, {k})")


class SparseDeltaArray(_Loo):
    """A (J, K) array ``base[c] + offset[m] + delta[m, c]`` with ``delta`` a sparse (J, K) matrix:
    the leave-one-*cluster*-out tables, where a member touches every class its cluster holds
    (not at most two) and N falls by the cluster's size (``offset``, for tn).

    Held as O(K + J + nnz(delta)) numbers; element-wise arithmetic, sums over the classes and
    the jackknife intervals evaluate it in dense blocks of columns (:class:`LooExpr`), whose
    size follows the memory budget (``block_cells``; the last block is kept, for the next
    statistic that reads it). Each block's values are those of the dense (J, K) array, integer
    for integer.
    """

    def __init__(self, base, delta, offset=None, *, block_cells: int = 4_000_000):
        self.base = np.asarray(base)
        self.delta = delta.tocsc()  # column blocks are slices of its columns
        self.offset = None if offset is None else np.asarray(offset)
        j, k = self.delta.shape
        if self.base.shape != (k,):
            raise ValueError(f"base of shape {self.base.shape} for a delta of {k} columns")
        self.pattern = LooPattern.shape_only(j, k, block_cells)
        self._last: tuple | None = None  # the last block evaluated: (columns, values)

    @property
    def dtype(self):
        parts = [self.base, self.delta.dtype] + ([self.offset] if self.offset is not None else [])
        return np.result_type(*parts)

    def block(self, cols) -> np.ndarray:
        k = self.pattern.n_columns
        idx = np.arange(k)[cols] if isinstance(cols, slice) else np.asarray(cols, dtype=np.int64)
        key = idx.tobytes()
        if self._last is not None and self._last[0] == key:
            # the statistics of one block of columns read the same tables one after another
            return self._last[1]
        out = self.delta[:, idx].toarray(order="C").astype(self.dtype, copy=False)
        out += self.base[idx][None]
        if self.offset is not None:
            out += self.offset[:, None]
        out.flags.writeable = False  # shared by the readers of the kept block
        self._last = (key, out)
        return out


class LooArray(_Loo):
    """A (J, K) array of leave-one-out values: ``base[c]`` for a member that does not touch
    class c, ``at[m, s]`` at the member's touched column ``pattern.slots[m, s]``, plus
    ``offset[m]`` (if any) on every column of member m.

    ``at[m, s]`` where the slot is empty (-1) holds a value of another column (never read), so
    that element-wise arithmetic on it stays quiet.
    """

    def __init__(self, pattern: LooPattern, base, at, offset=None):
        self.pattern = pattern
        self.base = np.asarray(base)
        self.at = np.asarray(at)
        self.offset = None if offset is None else np.asarray(offset)

    @property
    def dtype(self):
        return np.result_type(self.base, self.at)

    def astype(self, dtype):
        off = None if self.offset is None else self.offset.astype(dtype)
        return LooArray(self.pattern, self.base.astype(dtype), self.at.astype(dtype), off)

    # -- dense blocks ---------------------------------------------------------------------------

    def block(self, cols) -> np.ndarray:
        k = self.pattern.n_columns
        idx = np.arange(k)[cols] if isinstance(cols, slice) else np.asarray(cols, dtype=np.int64)
        uniq, inv = np.unique(idx, return_inverse=True)
        if uniq.size != idx.size:  # a column asked for twice
            return self.block(uniq)[:, inv.reshape(-1)]
        out = np.repeat(self.base[idx][None], self.pattern.n_members, axis=0)
        pos = np.full(k + 1, -1, dtype=np.int64)  # the last entry serves the empty slot (-1)
        pos[idx] = np.arange(idx.size)
        for s in range(2):
            where = pos[self.pattern.slots[:, s]]
            m = np.flatnonzero(where >= 0)
            out[m, where[m]] = self.at[m, s]
        if self.offset is not None:
            out = out + self.offset[:, None]
        return out

    def _column(self, c: int) -> np.ndarray:
        out = np.full(self.pattern.n_members, self.base[c], dtype=self.dtype)
        for s in range(2):
            hit = self.pattern.slots[:, s] == c
            out[hit] = self.at[hit, s]
        return out if self.offset is None else out + self.offset

    def _subset(self, idx: np.ndarray) -> LooArray:
        return LooArray(self.pattern.subset(idx), self.base[idx], self.at, self.offset)

    # -- element-wise arithmetic that keeps the form --------------------------------------------

    def _operand(self, x):
        """``(kind, base part, at part, offset part)`` of an operand of an element-wise
        function: kind is ``"loo"``, ``"const"`` (scalar or row of K), ``"column"`` (a
        per-member value) or None (a form this class cannot keep)."""
        p = self.pattern
        if isinstance(x, LooArray):
            if x.pattern is not p and not np.array_equal(x.pattern.slots, p.slots):
                return None, None, None, None
            return "loo", x.base, x.at, x.offset
        if isinstance(x, _Loo):
            return None, None, None, None
        a = np.asarray(x)
        j, k = p.n_members, p.n_columns
        if a.ndim == 0:
            return "const", a, a, None
        if a.ndim == 1 and a.shape[0] == k or a.shape == (1, k):
            row = a.reshape(k)
            return "const", row, row[p._safe], None
        if a.ndim == 2 and a.shape == (j, 1):
            col = a[:, 0]
            first = col[0] if j else 0
            if j == 0 or np.all(col == first) or np.all(np.isnan(col.astype(np.float64))):
                v = np.asarray(first, dtype=a.dtype)
                return "const", v, v, None
            return "column", None, None, col
        return None, None, None, None

    def _elementwise(self, fn, inputs, kwargs, linear: str | None):
        ops = [self._operand(x) for x in inputs]
        if any(o[0] is None for o in ops):
            return None
        offsets = [o[3] for o in ops]
        if all(off is None for off in offsets):
            base = fn(*(o[1] for o in ops), **kwargs)
            at = fn(*(o[2] for o in ops), **kwargs)
            return LooArray(self.pattern, base, at)
        # a per-member offset survives only a sum or difference, or scaling by a constant
        if linear is None:
            return None
        zero = np.zeros(())
        base = fn(*(o[1] if o[0] != "column" else zero for o in ops), **kwargs)
        at = fn(*(o[2] if o[0] != "column" else zero for o in ops), **kwargs)
        if linear == "scale":
            scale = [o[1] for o in ops if o[0] == "const"]
            if len(scale) != 1 or scale[0].ndim != 0:
                return None
            loo = [off for off in offsets if off is not None]
            off = (
                fn(loo[0], scale[0], **kwargs)
                if ops[0][0] != "const"
                else fn(scale[0], loo[0], **kwargs)
            )
            return LooArray(self.pattern, base, at, off)
        off = fn(*(np.zeros(()) if o is None else o for o in offsets), **kwargs)
        return LooArray(self.pattern, base, at, off)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and kwargs.get("out") is None:
            linear = None
            if ufunc in (np.add, np.subtract, np.negative, np.positive):
                linear = "sum"
            elif ufunc in (np.multiply, np.true_divide) and len(inputs) == 2:
                # offset * c or offset / c only (c / offset is not linear in the offset)
                first_const = not isinstance(inputs[0], _Loo) and np.ndim(inputs[0]) == 0
                linear = "scale" if ufunc is np.multiply or not first_const else None
            out = self._elementwise(ufunc, inputs, kwargs, linear)
            if out is not None:
                return out
        return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and len(args) == 3 and not kwargs:
            out = self._elementwise(np.where, args, {}, None)
            if out is not None:
                return out
        if func is np.nan_to_num:
            out = self._elementwise(np.nan_to_num, args[:1], kwargs, None)
            if out is not None:
                return out
        return super().__array_function__(func, types, args, kwargs)

    # -- the sum over classes -------------------------------------------------------------------

    def sum(self, axis=None, dtype=None, keepdims=False):
        """Sum over the classes (axis -1) of every member: the untouched sum with each member's
        corrections at its touched columns; NaN and infinities counted apart so that a member
        that replaces an undefined class's value is summed as the dense array would be."""
        if axis not in (-1, 1):
            raise NotImplementedError("a leave-one-out array is summed over its classes only")
        base, at = self.base, self.at
        if dtype is not None:
            base, at = base.astype(dtype), at.astype(dtype)
        slots = self.pattern.slots
        used = slots >= 0
        safe = self.pattern._safe
        if base.dtype.kind in "biu":
            total = base.sum(dtype=np.int64 if base.dtype.kind == "b" else None)
            corr = np.where(used, at.astype(total.dtype) - base[safe].astype(total.dtype), 0)
            out = total + corr.sum(axis=1)
        else:
            fin_b = np.isfinite(base)
            fin_a = np.isfinite(at)
            total = np.where(fin_b, base, 0).sum()
            corr = np.where(used, np.where(fin_a, at, 0) - np.where(fin_b, base, 0)[safe], 0)
            out = total + corr.sum(axis=1)
            counts = []
            for bad in (np.isnan, np.isposinf, np.isneginf):
                nb = int(bad(base).sum())
                counts.append(
                    nb + np.where(used, bad(at).astype(np.int64) - bad(base)[safe], 0).sum(axis=1)
                )
            n_nan, n_pos, n_neg = counts
            out = np.where(n_pos > 0, np.inf, out)
            out = np.where(n_neg > 0, -np.inf, out)
            out = np.where((n_nan > 0) | ((n_pos > 0) & (n_neg > 0)), np.nan, out)
        if self.offset is not None:
            out = out + self.pattern.n_columns * self.offset
        return out[:, None] if keepdims else out

    # -- BCa's acceleration of every column ----------------------------------------------------

    def bca_acceleration(self, weights, strata, dense: Callable) -> np.ndarray:
        """The acceleration of every column, as :func:`prevalens.intervals.bca_interval`
        computes it from the dense (J, K) array, in O(J + K).

        A column's untouched values are its untouched value plus the member's offset; BCa's
        acceleration does not change when a constant is added to a column, so every column is
        the offset (the same (J,) vector for all columns) except at the members that touch it.
        The moments of the offset are computed once per stratum; a column's moments are those,
        with the members that touch it taken out and put back with their own values (the
        parallel-moments formulas of Chan, Golub & LeVeque 1979). A stratum that every member
        leaves intact contributes the same to every column.
        """
        base = np.asarray(self.base, dtype=np.float64)
        at = np.asarray(self.at, dtype=np.float64)
        j, k = self.shape
        w_all = np.asarray(weights, dtype=np.float64).reshape(j)
        y0 = (
            np.zeros(j)
            if self.offset is None
            else np.asarray(self.offset, dtype=np.float64).reshape(j)
        )
        stratified = strata is not None
        g_raw = np.asarray(strata) if stratified else np.zeros(j, dtype=np.int64)
        _, g = np.unique(g_raw, return_inverse=True)
        g = g.reshape(j)
        n_groups = int(g.max()) + 1 if j else 0

        v0 = ~np.isnan(y0)
        w0 = np.where(v0, w_all, 0.0)
        y0z = np.where(v0, y0, 0.0)
        grp = _Moments.of(g, n_groups, w0, y0z)
        n_g = np.bincount(g, weights=w_all, minlength=n_groups)
        if stratified:
            with np.errstate(invalid="ignore", divide="ignore"):
                c2 = np.where(n_g >= 2, (n_g - 1) ** 2 / n_g**2, 0.0)
                c3 = np.where(n_g >= 2, (n_g - 1) ** 3 / n_g**3, 0.0)
        else:
            c2 = c3 = np.ones(n_groups)
        num_g = -c3 * grp.m3
        den_g = c2 * grp.m2

        # the touched entries: (column, member) with the member's value there
        slots = self.pattern.slots
        mem, slot = np.nonzero(slots >= 0)
        col = slots[mem, slot]
        finite_col = np.isfinite(base)
        if not np.all(finite_col | np.isnan(base)):  # an infinite column: dense, on its own
            return _with_dense_columns(
                self, weights, strata, dense, ~np.isfinite(base) & ~np.isnan(base)
            )
        fin = finite_col[col]
        shift = np.where(fin, base[col], 0.0)
        yt = (at[mem, slot] - shift) + y0[mem]
        vt = ~np.isnan(yt)
        wt = np.where(vt, w_all[mem], 0.0)
        ytz = np.where(vt, yt, 0.0)
        gm = g[mem]
        pair_key = col * max(n_groups, 1) + gm
        pairs, pair = np.unique(pair_key, return_inverse=True)
        pair = pair.reshape(-1)
        n_pairs = pairs.size
        pair_col = pairs // max(n_groups, 1)
        pair_g = pairs % max(n_groups, 1)
        touched = _Moments.of(pair, n_pairs, wt, ytz)
        # the same members with their untouched values (only where the column has one)
        wr = np.where(fin, w0[mem], 0.0)
        removed = _Moments.of(pair, n_pairs, wr, y0z[mem])
        pair_fin = finite_col[pair_col]
        rest = _Moments(
            grp.w[pair_g] * pair_fin, grp.mean[pair_g], grp.m2[pair_g], grp.m3[pair_g]
        ).without(removed)
        merged = rest.merged(touched)
        num_p = -c3[pair_g] * merged.m3 - np.where(pair_fin, num_g[pair_g], 0.0)
        den_p = c2[pair_g] * merged.m2 - np.where(pair_fin, den_g[pair_g], 0.0)
        num = np.where(finite_col, num_g.sum(), 0.0) + np.bincount(
            pair_col, weights=num_p, minlength=k
        )
        den = np.where(finite_col, den_g.sum(), 0.0) + np.bincount(
            pair_col, weights=den_p, minlength=k
        )
        # A column whose values are all equal within every stratum has no acceleration (the
        # dense computation's 0/0 is rounding noise there); a column's sums are the strata's
        # less the touched ones, so "zero" is judged relative to the terms that entered it.
        scale = np.where(finite_col, np.abs(den_g).sum(), 0.0) + np.bincount(
            pair_col, weights=np.abs(c2[pair_g] * merged.m2) + np.abs(den_p), minlength=k
        )
        den = np.where(den > _ZERO * scale, den, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            den6 = 6.0 * den**1.5
            return np.where(den6 > 0, num / den6, 0.0)


def _with_dense_columns(x: LooArray, weights, strata, dense, which) -> np.ndarray:
    """The acceleration with the columns ``which`` computed densely and the others in form."""
    keep = np.flatnonzero(~which)
    out = np.zeros(x.shape[1])
    if keep.size:
        out[keep] = x._subset(keep).bca_acceleration(weights, strata, dense)
    for c in np.flatnonzero(which):
        out[c] = dense(x.block(np.array([c, c])), weights, strata)[0]
    return out


class _Moments:
    """Weighted count, mean and central second and third moment sums of groups of values."""

    __slots__ = ("w", "mean", "m2", "m3")

    def __init__(self, w, mean, m2, m3):
        self.w, self.mean, self.m2, self.m3 = w, mean, m2, m3

    @classmethod
    def of(cls, group, n, w, y) -> _Moments:
        """Two passes: the means, then the sums of powers of the deviations."""
        tot = np.bincount(group, weights=w, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(tot > 0, np.bincount(group, weights=w * y, minlength=n) / tot, 0.0)
        d = y - mean[group]
        wd = w * d
        s1 = np.bincount(group, weights=wd, minlength=n)
        s2 = np.bincount(group, weights=wd * d, minlength=n)
        s3 = np.bincount(group, weights=wd * d * d, minlength=n)
        # the first sum is 0 but for rounding: correct the others for it
        with np.errstate(invalid="ignore", divide="ignore"):
            e = np.where(tot > 0, s1 / tot, 0.0)
        m2 = s2 - s1 * e
        m3 = s3 - 3 * e * s2 + 2 * tot * e**3
        return cls(tot, mean + e, m2, m3)

    def merged(self, other: _Moments) -> _Moments:
        """The moments of the union of two disjoint sets (Chan, Golub & LeVeque)."""
        na, nb = self.w, other.w
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            d = other.mean - self.mean
            mean = np.where(n > 0, self.mean + d * nb / n, 0.0)
            m2 = self.m2 + other.m2 + d * d * na * nb / n
            m3 = (
                self.m3
                + other.m3
                + d**3 * na * nb * (na - nb) / n**2
                + 3 * d * (na * other.m2 - nb * self.m2) / n
            )
        only_a, only_b = nb == 0, na == 0
        return _Moments(
            n,
            np.where(only_b, other.mean, np.where(only_a, self.mean, mean)),
            np.where(only_b, other.m2, np.where(only_a, self.m2, m2)),
            np.where(only_b, other.m3, np.where(only_a, self.m3, m3)),
        )

    def without(self, part: _Moments) -> _Moments:
        """The moments of this set with the subset ``part`` taken out (the inverse of
        :meth:`merged`)."""
        n, nr = self.w, part.w
        na = n - nr
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_a = np.where(na > 0, (n * self.mean - nr * part.mean) / na, 0.0)
            d = part.mean - mean_a
            m2 = self.m2 - part.m2 - d * d * na * nr / n
            m3 = (
                self.m3
                - part.m3
                - d**3 * na * nr * (na - nr) / n**2
                - 3 * d * (na * part.m2 - nr * m2) / n
            )
        empty = na <= 0
        intact = nr == 0
        return _Moments(
            np.where(empty, 0.0, na),
            np.where(intact, self.mean, np.where(empty, 0.0, mean_a)),
            np.where(intact, self.m2, np.where(empty, 0.0, np.maximum(m2, 0.0))),
            np.where(intact, self.m3, np.where(empty, 0.0, m3)),
        )
