"""Text featurization: TfIdfVectorizer (n-gram counts over a pool of int or string n-grams)."""

from __future__ import annotations

import numpy as np

from .registry import kernel


def _ngram_table(pool: list, ngram_counts: list[int], ngram_indexes: list[int], min_n: int,
                 max_n: int) -> dict[tuple, int]:
    """Pool n-grams of length min_n..max_n as tuple -> output index. `ngram_counts[i]` is where
    the (i+1)-grams start in the pool; `ngram_indexes` gives each pool n-gram's output slot, in
    pool order (n-grams of every length are numbered, also those outside min_n..max_n)."""
    table: dict[tuple, int] = {}
    gram_id = 0
    for i, start in enumerate(ngram_counts):
        n = i + 1
        end = ngram_counts[i + 1] if i + 1 < len(ngram_counts) else len(pool)
        if end < start or (end - start) % n:
            raise ValueError(f"TfIdfVectorizer: ngram_counts {ngram_counts} does not split a pool of "
                             f"{len(pool)} items into whole {n}-grams")
        for j in range(start, end, n):
            if gram_id >= len(ngram_indexes):
                raise ValueError(f"TfIdfVectorizer: ngram_indexes has {len(ngram_indexes)} entries, "
                                 f"fewer than the pool's n-grams")
            if min_n <= n <= max_n:
                table[tuple(pool[j:j + n])] = ngram_indexes[gram_id]
            gram_id += 1
    return table


@kernel("TfIdfVectorizer", since=9)
def TfIdfVectorizer(x: np.ndarray, *, max_gram_length: int, min_gram_length: int, max_skip_count: int,
                    mode: str, ngram_counts: list[int], ngram_indexes: list[int],
                    pool_int64s: list[int] | None = None, pool_strings: list[str] | None = None,
                    weights: list[float] | None = None) -> np.ndarray:
    """TfIdfVectorizer-9: count, in each row of x ([C] or [N, C]), the pool n-grams of length
    min..max_gram_length whose items are 1..max_skip_count+1 apart (unigrams once), then weight:
    TF the counts, IDF the weight (default 1) where the count is positive, TFIDF count * weight."""
    if mode not in ("TF", "IDF", "TFIDF"):
        raise ValueError(f"TfIdfVectorizer: mode must be TF, IDF or TFIDF, not {mode!r}")
    if (pool_int64s is None) == (pool_strings is None):
        raise ValueError("TfIdfVectorizer: exactly one of pool_int64s and pool_strings must be given")
    if not 1 <= min_gram_length <= max_gram_length or max_skip_count < 0:
        raise ValueError(f"TfIdfVectorizer: need 1 <= min_gram_length ({min_gram_length}) <= max_gram_length "
                         f"({max_gram_length}) and max_skip_count ({max_skip_count}) >= 0")
    if x.ndim > 2:
        raise ValueError(f"TfIdfVectorizer: input must have shape [C] or [N, C], got {x.shape}")
    if pool_strings is not None:
        if x.dtype.kind not in "OUS":
            raise ValueError(f"TfIdfVectorizer: the pool is strings but the input has dtype {x.dtype}")
        pool: list = list(pool_strings)
        rows = [[v.decode() if isinstance(v, bytes) else str(v) for v in r] for r in np.atleast_2d(x)]
    else:
        if x.dtype.kind not in "iu":
            raise ValueError(f"TfIdfVectorizer: the pool is int64 but the input has dtype {x.dtype}")
        pool = [int(v) for v in pool_int64s]
        rows = np.atleast_2d(x).tolist()
    size = max(ngram_indexes) + 1 if ngram_indexes else 0
    if weights is not None and len(weights) < size:
        raise ValueError(f"TfIdfVectorizer: weights has {len(weights)} entries, the output has {size}")
    table = _ngram_table(pool, list(ngram_counts), list(ngram_indexes), min_gram_length, max_gram_length)
    counts = np.zeros((len(rows), size), dtype=np.float32)
    for r, row in enumerate(rows):
        c = len(row)
        for n in range(min_gram_length, max_gram_length + 1):
            for d in range(1, 2 if n == 1 else max_skip_count + 2):
                span = (n - 1) * d
                if span >= c:
                    break
                for gram in zip(*(row[k * d:c - span + k * d] for k in range(n))):
                    slot = table.get(gram)
                    if slot is not None:
                        counts[r, slot] += 1
    w = np.ones(size, np.float32) if weights is None else np.asarray(weights[:size], np.float32)
    if mode == "IDF":
        out = np.where(counts > 0, w, np.float32(0)).astype(np.float32)
    elif mode == "TFIDF":
        out = counts * w
    else:
        out = counts
    return out if x.ndim == 2 else out.reshape(size)
