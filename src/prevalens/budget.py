"""The memory budget of the interval stage (the ``max_memory`` option).

An audit's intervals hold the B x K replicate tables and evaluate every derived statistic on
them; with thousands of classes that is where memory goes. The engine sizes its working pieces
from one budget: the replicates it evaluates at a time, the classes whose intervals it computes at
a time, and the blocks a leave-one-out array is densified in (:class:`MemoryPlan`). None of them
changes a number: replicates are evaluated row by row and intervals column by column (at least
two columns at a time, where numpy sums in the same order as over the whole array), so results
are byte-identical whatever the budget, and the budget is not recorded in ``run.config``.

By default the budget is a quarter of the machine's physical memory (``os.sysconf``, else
``/proc/meminfo``; 4 GB when neither answers).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from .exceptions import ConfigError

__all__ = [
    "parse_size",
    "format_size",
    "physical_memory",
    "default_max_memory",
    "MemoryPlan",
    "MIN_MAX_MEMORY",
]

#: The share of physical memory used when ``max_memory`` is not given.
DEFAULT_SHARE = 0.25
#: The budget when the physical memory cannot be read.
FALLBACK_BYTES = 4 * 1000**3
#: The smallest budget accepted (the engine's fixed costs are of this order).
MIN_MAX_MEMORY = 16 * 1000**2

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e(\d+))?\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(value, *, name: str = "max_memory") -> int:
    """Bytes of a size: a whole number of bytes, or a number with a unit (``"4GB"``,
    ``"500 MB"``, ``"1.5GiB"``; KB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB of 1024).

    >>> parse_size("4GB"), parse_size("500MB"), parse_size("1GiB"), parse_size(2**25)
    (4000000000, 500000000, 1073741824, 33554432)
    """
    if isinstance(value, bool):
        raise ConfigError(f"`{name}` must be a size such as '4GB' or '500MB'; got {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and math.isfinite(value) and value == int(value):
        n = int(value)
    elif isinstance(value, str):
        m = _SIZE.match(value)
        unit = m.group(3).lower() if m else ""
        if m is None or unit not in _UNITS:
            raise ConfigError(
                f"`{name}` must be a size such as '4GB', '500MB' or '1.5GiB' (or a number of "
                f"bytes); got {value!r}"
            )
        number = float(m.group(1)) * (10 ** int(m.group(2)) if m.group(2) else 1)
        n = int(number * _UNITS[unit])
    else:
        raise ConfigError(f"`{name}` must be a size such as '4GB' or '500MB'; got {value!r}")
    if n < MIN_MAX_MEMORY:
        raise ConfigError(
            f"`{name}` must be at least {format_size(MIN_MAX_MEMORY)}; got {value!r} "
            f"({format_size(n)})"
        )
    return n


def format_size(n: float) -> str:
    """``"1.5 GB"``: bytes in decimal units, three significant digits."""
    for unit, size in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None when it cannot be read."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages) * int(size)
    except (AttributeError, OSError, ValueError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


#: The share of physical memory a comparison of models may use when ``max_memory`` is not given:
#: it does not chunk its paired replicates and jackknife, so the budget is a ceiling it refuses
#: to exceed (with the reason) rather than be killed by the kernel without a word.
COMPARE_SHARE = 0.75


def default_max_memory(share: float = DEFAULT_SHARE) -> int:
    """``share`` of the physical memory (default a quarter; the comparison's ceiling:
    :data:`COMPARE_SHARE`), 4 GB when it cannot be read."""
    total = physical_memory()
    if total is None:
        return FALLBACK_BYTES
    return max(MIN_MAX_MEMORY, int(total * share))


#: float64 (B, K) arrays alive while a statistic is evaluated on a chunk of replicates: the four
#: tables, the per-class metrics it reads, and numpy's temporaries.
_ARRAYS_PER_CHUNK = 24
#: ... and while intervals are computed for a block of columns (sorted copy, masks, moments).
_ARRAYS_PER_INTERVAL = 12
#: Replicate cells drawn at a time, at most (about 24 bytes each while they are added up).
_MAX_DRAW_CELLS = 4_000_000


@dataclass(frozen=True)
class MemoryPlan:
    """How the interval stage of one audit fits ``budget`` bytes.

    Attributes
    ----------
    budget : int
    held : int
        Bytes held throughout: the replicate tables (B x K values of tp and of the predicted
        counts, and of the supports under simple resampling) and one derived per-class statistic
        (B x K).
    chunk_rows : int
        Replicates a statistic is evaluated on at a time (B when it fits: one evaluation).
    block_columns : int
        Classes whose intervals are computed at a time.
    loo_block_cells : int
        Cells of a dense block of a leave-one-out array (:mod:`prevalens.loo`).
    draw_cells : int
        Replicate cells drawn at a time when drawing the replicates.
    """

    budget: int
    held: int
    chunk_rows: int
    block_columns: int
    loo_block_cells: int
    draw_cells: int

    @classmethod
    def of(cls, budget: int, n_resamples: int, k: int, *, simple: bool = False) -> MemoryPlan:
        """The plan for B = ``n_resamples`` replicates of K = ``k`` classes; a ConfigError
        when the budget cannot hold the replicate tables."""
        b, k = max(int(n_resamples), 1), max(int(k), 1)
        row = 8 * k  # one replicate's values of one per-class quantity
        held = row * b * ((3 if simple else 2) + 2)
        free = budget - held
        if free < 4 * _ARRAYS_PER_CHUNK * row:
            need = held + 4 * _ARRAYS_PER_CHUNK * row
            raise ConfigError(
                f"`max_memory` of {format_size(budget)} cannot hold the replicates of this audit "
                f"({n_resamples:,} replicates of {k:,} classes need about {format_size(need)}); "
                "raise --max-memory or lower --n-resamples"
            )
        chunk_rows = int(min(b, max(2, free // 2 // (_ARRAYS_PER_CHUNK * row))))
        block_columns = int(min(k, max(2, free // 2 // (_ARRAYS_PER_INTERVAL * 8 * b))))
        loo_block_cells = int(max(2, free // 2 // (8 * 8)))
        # drawing more cells at a time gains nothing (the rows of a group are drawn on a few
        # threads): at most _MAX_DRAW_CELLS, about 100 MB
        draw_cells = int(max(2, min(_MAX_DRAW_CELLS, free // 4 // (3 * 8))))
        return cls(budget, held, chunk_rows, block_columns, loo_block_cells, draw_cells)
