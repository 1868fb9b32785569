"""Reference values for tests/test_paired.py: the Stuart-Maxwell test of marginal homogeneity.

Run with statsmodels installed (not a dependency of prevalens; any throwaway environment will do):
``python tests/reference/stuart_maxwell.py``; its output is copied into tests/test_paired.py, so
that the default run does not need statsmodels.

statsmodels' ``SquareTable(t).homogeneity("stuart_maxwell")`` drops the last category and inverts
the (K-1) x (K-1) covariance; ``shift_zeros=False``, as by default it replaces every zero cell by
1/2 when the table has one. That covariance is singular when a category has no discordant pair (or
when the discordant pairs fall into separate groups of categories): there the reference is
statsmodels on the table without the category, or the sum over the separate groups, as printed
below.
"""

import warnings

import numpy as np
from scipy import stats


def sm(table):
    from statsmodels.stats.contingency_tables import SquareTable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = SquareTable(np.asarray(table), shift_zeros=False).homogeneity("stuart_maxwell")
    return float(r.statistic), float(r.pvalue), int(r.df)


def show(name, table, ref=None):
    stat, p, df = sm(table) if ref is None else ref
    print(f"{name}: statistic={stat!r} p={p!r} df={df}")


def main():
    import statsmodels

    print(f"statsmodels {statsmodels.__version__}")
    three = [[20, 15, 3], [4, 30, 12], [2, 3, 25]]
    show("3x3", three)
    # Stuart (1955): unaided distance vision of 7477 women (grade of right eye x left eye)
    vision = [[1520, 266, 124, 66], [234, 1512, 432, 78], [117, 362, 1772, 205], [36, 82, 179, 492]]
    show("vision 4x4", vision)
    # category 2 (0-based) has no discordant pair: its row and column are zero off the diagonal
    zero_mid = [[10, 3, 0, 2], [5, 12, 0, 1], [0, 0, 7, 0], [1, 4, 0, 9]]
    show("zero_mid 4x4, statsmodels on the full table", zero_mid)
    reduced = np.delete(np.delete(np.array(zero_mid), 2, 0), 2, 1)
    show("zero_mid 4x4 without category 2", reduced)
    zero_last = [[10, 3, 2, 0], [5, 12, 1, 0], [1, 4, 9, 0], [0, 0, 0, 7]]
    show("zero_last 4x4, statsmodels on the full table", zero_last)
    show("zero_last 4x4 without category 3", np.array(zero_last)[:3, :3])
    # discordant pairs only within {0, 1} and within {2, 3}: two separate McNemar tables
    split = [[10, 4, 0, 0], [1, 8, 0, 0], [0, 0, 6, 3], [0, 0, 7, 5]]
    show("split 4x4, statsmodels on the full table", split)
    s1, _, d1 = sm([[10, 4], [1, 8]])
    s2, _, d2 = sm([[6, 3], [7, 5]])
    total = (s1 + s2, float(stats.chi2.sf(s1 + s2, d1 + d2)), d1 + d2)
    show("split 4x4, sum over the two blocks", None, total)
    show("2x2 (b=7, c=2)", [[40, 7], [2, 25]])


# statsmodels is imported only when run: the test run imports this file (doctest collection)
if __name__ == "__main__":
    main()
