"""Vocabularies and the concept index: format, bad lists, padding equivalence, cache round trip, neighbours."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.concepts.index import ConceptIndex
from explorer.concepts.vocabularies import (Shelf, Vocabulary, available_vocabularies, builtin_vocabulary, load_upload,
                                            load_vocabulary, parse_vocabulary, resolve_vocabulary, tokenizer_vocabulary)
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.text.encoding import encode_pooled

WORDS = ["a red fox", "a blue whale", "an oak tree", "snow", "the desert at noon", "a violin", "rust", "marble",
         "an astronaut", "a lighthouse at dawn", "fog", "a cat", "a dog", "copper", "gold", "velvet"]


def small_vocabulary(name="small"):
    return Vocabulary(name, WORDS, ["things"] * 8 + ["more"] * 8)


def fresh(model):
    """Forget the in-memory indexes so the next call must read the disk cache (as bench/bench_map.py does)."""
    model.concept_indexes.clear()
    assert len(model.concept_indexes) == 0


def test_format_comments_blank_lines_and_categories():
    text = "# Materials: a comment\nbrushed steel\n\n  white marble  \n[fabrics]\nvelvet\n# not #inline\nsilk # kept\n"
    vocab = parse_vocabulary(text, "materials")
    assert vocab.entries == ["brushed steel", "white marble", "velvet", "silk # kept"]
    assert vocab.categories == ["materials", "materials", "fabrics", "fabrics"]


def test_hash_depends_on_content_not_name():
    a, b = small_vocabulary("a"), small_vocabulary("b")
    assert a.hash == b.hash and len(a.hash) == 64
    assert Vocabulary("a", WORDS[:-1], ["x"] * 15).hash != a.hash


@pytest.mark.parametrize("text,message", [
    ("# only a comment\n\n", "at least one entry"),
    ("cat\nCat\n", "duplicate"),
    ("a  red fox\na red   fox\n", "duplicate"),
])
def test_bad_vocabularies_are_refused(tmp_path, text, message):
    path = tmp_path / "mine.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_vocabulary(path)


def test_too_large_and_missing_and_binary(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("\n".join(f"word{i}" for i in range(30)))
    with pytest.raises(InputError, match="at most 20 entries"):
        load_vocabulary(path, limit=20)
    with pytest.raises(InputError, match="existing UTF-8 text file"):
        load_vocabulary(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(InputError, match="UTF-8"):
        load_vocabulary(tmp_path / "bin.txt")


def test_builtin_and_tokenizer_vocabularies(tiny_model):
    builtin = builtin_vocabulary(tiny_model)
    assert len(builtin) >= 3000 and len(builtin.category_names) >= 8
    assert len({e.lower() for e in builtin.entries}) == len(builtin)
    tokens = tokenizer_vocabulary(tiny_model)
    assert len(tokens) > 30000 and all(t.isalpha() and t.islower() for t in tokens.entries)
    assert {"cat", "winter", "painting"} <= set(tokens.entries)
    assert available_vocabularies()[:2] == ["concepts", "tokenizer"]


def test_a_users_list_is_on_their_shelf_only(tiny_model):
    shared = Shelf(max_lists=1)
    shared.add(small_vocabulary("class list"))
    alice, bob = Shelf(max_lists=2, shared=shared), Shelf(max_lists=2, shared=shared)
    name = alice.add(small_vocabulary("my words"))
    assert name in alice.names() and name not in bob.names()
    assert "class list" in alice.names() and "class list" in bob.names()         # shared lists: everyone, read-only
    assert resolve_vocabulary(tiny_model, name, alice).entries == WORDS
    with pytest.raises(InputError, match="vocabulary: expected one of concepts, tokenizer, class list"):
        resolve_vocabulary(tiny_model, name, bob)                                # bob cannot name alice's list
    for bad in ("concepts", "class list", "../../../x", "", None, "x" * 10_000, "a\nb"):
        with pytest.raises(InputError, match="vocabulary name"):
            alice.add(small_vocabulary(bad))
    alice.add(small_vocabulary("second"))
    with pytest.raises(InputError, match="at most 2 lists"):
        alice.add(small_vocabulary("third"))
    alice.add(small_vocabulary("my words"))                                      # replacing one's own list is fine


def test_uploads_are_bounded(tmp_path):
    config = ExplorerConfig(max_upload_bytes=2_000, max_upload_entries=10, max_entry_chars=20)
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS[:10]))
    vocabulary = load_upload(path, "mine", config)
    assert len(vocabulary) == 10 and vocabulary.cache is False                    # kept in memory, not on disk
    path.write_text("\n".join(WORDS))
    with pytest.raises(InputError, match="at most 10 entries"):
        load_upload(path, "mine", config)
    path.write_text("x" * 5_000)
    with pytest.raises(InputError, match="at most 2,000 bytes"):
        load_upload(path, "mine", config)
    path.write_text("a phrase far longer than twenty characters")
    with pytest.raises(InputError, match="entries of at most 20 characters"):
        load_upload(path, "mine", config)


def test_dynamic_padding_equals_77_token_padding(tiny_model):
    prompts = ["a", "a red fox", "a lighthouse at dawn, oil painting by an old master, dramatic light"]
    dynamic = encode_pooled(tiny_model, prompts)                                   # padded to the longest
    tokenizer, encoder = tiny_model.tokenizer, tiny_model.text_encoder
    ids = tokenizer(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    with torch.no_grad():
        padded = encoder(ids["input_ids"]).pooler_output                          # (3, d) at 77 tokens
    torch.testing.assert_close(dynamic, padded, atol=1e-5, rtol=1e-5)


def test_index_build_and_cache_round_trip(tiny_model, tmp_path):
    fresh(tiny_model)
    calls = []
    built = ConceptIndex.for_model(tiny_model, small_vocabulary(), cache_dir=tmp_path,
                                   progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (16, 16) and "Encoded 16 entries" in built.note and built.path.is_file()
    assert built.embeddings.shape == (16, tiny_model.text_encoder.config.hidden_size)
    assert built.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(built.embeddings, axis=1), 1.0, atol=1e-5)
    # rows follow the vocabulary order even though encoding batches by length
    expected = encode_pooled(tiny_model, [WORDS[5]])[0].numpy()
    np.testing.assert_allclose(built.embeddings[5], expected / np.linalg.norm(expected), atol=1e-5)
    assert ConceptIndex.for_model(tiny_model, small_vocabulary(), cache_dir=tmp_path) is built   # memoised
    fresh(tiny_model)
    loaded = ConceptIndex.for_model(tiny_model, small_vocabulary("renamed"), cache_dir=tmp_path)
    assert loaded is not built and "from the disk cache" in loaded.note
    np.testing.assert_array_equal(loaded.embeddings, built.embeddings)


@pytest.mark.parametrize("damage", [b"not a zip file", b""])
def test_corrupt_cache_is_rebuilt_and_said(tiny_model, tmp_path, damage):
    fresh(tiny_model)
    built = ConceptIndex.for_model(tiny_model, small_vocabulary(), cache_dir=tmp_path)
    built.path.write_bytes(damage)
    fresh(tiny_model)
    rebuilt = ConceptIndex.for_model(tiny_model, small_vocabulary(), cache_dir=tmp_path)
    assert "unreadable" in rebuilt.note and "rebuilt" in rebuilt.note
    np.testing.assert_allclose(rebuilt.embeddings, built.embeddings, atol=1e-6)
    fresh(tiny_model)
    assert "from the disk cache" in ConceptIndex.for_model(tiny_model, small_vocabulary(), cache_dir=tmp_path).note


def test_vocabulary_over_the_configured_limit(tiny_model, tmp_path):
    config = ExplorerConfig(cache_dir=tmp_path, max_vocabulary=10)
    fresh(tiny_model)
    with pytest.raises(InputError, match="at most 10 entries"):
        ConceptIndex.for_model(tiny_model, small_vocabulary(), config=config)


def test_nearest_matches_brute_force(tiny_model, tmp_path):
    rng = np.random.default_rng(0)
    n, d = 500, 24
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    vocab = Vocabulary("random", [f"entry {i}" for i in range(n)], ["c"] * n)
    index = ConceptIndex(vocab, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    queries = rng.normal(size=(3, d)).astype(np.float32)
    results = index.nearest(queries, k=7)
    assert len(results) == 3
    for query, found in zip(queries, results):
        cosine = [float(v @ query / np.linalg.norm(v) / np.linalg.norm(query)) for v in vectors]   # brute force
        expected = sorted(range(n), key=lambda i: -cosine[i])[:7]
        assert [nb.label for nb in found] == [f"entry {i}" for i in expected]
        np.testing.assert_allclose([nb.score for nb in found], [cosine[i] for i in expected], atol=1e-5)
    single = index.nearest(torch.from_numpy(queries[0]), k=3, exclude=[results[0][0].label.upper()])
    assert [nb.label for nb in single] == [nb.label for nb in results[0][1:4]]


@pytest.mark.parametrize("k", [0, -1, 501, 2.5, True, "3"])
def test_bad_k_and_shapes(k):
    index = ConceptIndex(small_vocabulary(), np.eye(16, dtype=np.float32))
    with pytest.raises(InputError, match="k: expected an integer"):
        index.nearest(np.ones(16), k=k)


def test_bad_query_vectors():
    index = ConceptIndex(small_vocabulary(), np.eye(16, dtype=np.float32))
    with pytest.raises(InputError, match="shape"):
        index.nearest(np.ones(15))
    with pytest.raises(InputError, match="non-zero"):
        index.nearest(np.zeros(16))


def _received(call):
    with pytest.raises(InputError) as caught:
        call()
    return caught.value.received


def test_what_a_refusal_received_is_said_by_key(tmp_path):
    """The received values the library describes in words are keyed (issue 27, item 3): English as before, a German
    page's from the key (no pattern catalogue translates plain English)."""
    from explorer.concepts.projection import check_k, concept_map
    from explorer.messages import is_keyed, render

    index = ConceptIndex(small_vocabulary(), np.eye(16, dtype=np.float32))
    (tmp_path / "bin.txt").write_bytes(b"ab\xff")
    (tmp_path / "long.txt").write_text("x" * 30 + "\nok\n")
    shelf = Shelf(max_lists=1)
    shelf.add(small_vocabulary("one"))
    cases = [
        (lambda: Vocabulary("mine", [], []).check(), "'mine': 0 entries", "'mine': 0 Einträge"),
        (lambda: Vocabulary("x", ["a"], ["c", "d"]), "1 entries, 2 categories", "1 Einträge, 2 Kategorien"),
        (lambda: Vocabulary("x", ["a", "A"], ["c", "c"]).check(), "1 duplicate(s) in 'x': 'A'",
         "1 Duplikat(e) in 'x': 'A'"),
        (lambda: check_k(5, 1, 1000), "1 entries", "1 Einträge"),
        (lambda: load_vocabulary(tmp_path / "bin.txt"), "undecodable bytes at 2",
         "nicht decodierbare Bytes an Position 2"),
        (lambda: load_upload(tmp_path / "long.txt", None, ExplorerConfig(max_entry_chars=20)),
         "1 longer entry, e.g. '" + "x" * 30 + "'…", "1 längerer Eintrag, z. B. '" + "x" * 30 + "'…"),
        (lambda: shelf.add(small_vocabulary("two")), "a list number 2", "eine Liste Nummer 2"),
        (lambda: index.nearest(np.ones(15)), "shape (1, 15)", "Form (1, 15)"),
        (lambda: index.nearest(np.zeros(16)), "a zero or non-finite vector",
         "ein Nullvektor oder ein nicht endlicher Vektor"),
        (lambda: concept_map(index, []), "none", "keiner"),
    ]
    for call, english, german in cases:
        received = _received(call)
        assert received == english and is_keyed(received), english
        assert render(received, "de") == german


def test_float16_first_pass_is_exact_on_a_large_index():
    """Above HALF_MIN_ENTRIES the index scores in float16 first; the top k must equal brute force."""
    import numpy as np

    from explorer.concepts.index import HALF_MIN_ENTRIES, ConceptIndex
    from explorer.concepts.vocabularies import Vocabulary

    rng = np.random.default_rng(0)
    n, d = HALF_MIN_ENTRIES + 1000, 64
    centers = rng.standard_normal((20, d)).astype(np.float32)      # clusters make near-ties common
    emb = centers[rng.integers(0, 20, n)] + 0.2 * rng.standard_normal((n, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    index = ConceptIndex(Vocabulary("big", [f"w{i}" for i in range(n)], ["c"] * n), emb)
    for query in rng.standard_normal((20, d)).astype(np.float32) + centers[:20]:
        exact = np.argsort(-(emb @ (query / np.linalg.norm(query))), kind="stable")[:15]
        assert [nb.index for nb in index.nearest(query, k=15)] == exact.tolist()
