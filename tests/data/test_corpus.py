"""data/corpus.py: locating, parsing, validating and splitting the corpus."""

import zipfile

import pytest

from data.corpus import (CorpusError, group_references, locate_corpus, parse_pairs, read_corpus,
                         split_corpus, write_pairs)


def test_reads_tsv_with_third_attribution_column(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org\nHi.\tHola.\n",
                    encoding="utf-8")
    assert read_corpus(str(path)).pairs == [("Go.", "Ve."), ("Hi.", "Hola.")]


def test_reads_spa_txt_inside_zip_and_ignores_about_file(tmp_path, tiny_pairs):
    path = tmp_path / "spa-eng.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("spa-eng/_about.txt", "about this file\n")
        archive.writestr("spa-eng/spa.txt", "".join(f"{e}\t{s}\n" for e, s in tiny_pairs))
    corpus = read_corpus(str(path))
    assert corpus.pairs == tiny_pairs
    assert corpus.num_sources == 3


@pytest.mark.parametrize("line, reason", [
    (b"no tab here", "no tab"),
    (b"\tSolo espa\xc3\xb1ol", "empty English"),
    (b"Only English\t  ", "empty Spanish"),
    (b"bad \xff byte\tmalo", "invalid UTF-8"),
])
def test_bad_line_error_names_file_and_line(line, reason):
    raw = b"Go.\tVe.\n" + line + b"\nHi.\tHola.\n"
    with pytest.raises(CorpusError, match=rf"corpus.txt:2: {reason}"):
        parse_pairs(raw, "corpus.txt")


def test_skip_bad_lines_counts_what_it_skipped():
    pairs, skipped = parse_pairs(b"Go.\tVe.\nbroken\n\tx\nHi.\tHola.\r\n", "c.txt",
                                 skip_bad_lines=True)
    assert pairs == [("Go.", "Ve."), ("Hi.", "Hola.")]
    assert skipped == 2


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(CorpusError, match="empty"):
        read_corpus(str(path))


def test_explicit_path_wins_over_environment(tmp_path, monkeypatch, tiny_pairs):
    explicit, from_env = tmp_path / "a.txt", tmp_path / "b.txt"
    write_pairs(tiny_pairs, explicit)
    write_pairs(tiny_pairs, from_env)
    monkeypatch.setenv("SPA_ENG_PATH", str(from_env))
    assert locate_corpus(str(explicit)) == str(explicit)
    assert locate_corpus(None) == str(from_env)


def test_missing_corpus_without_download_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SPA_ENG_PATH", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(CorpusError, match="corpus not found"):
        locate_corpus(None, download=False)
    with pytest.raises(CorpusError, match="nope.txt: corpus file not found"):
        locate_corpus(str(tmp_path / "nope.txt"))


def _synthetic_pairs(num_sources=200, translations=3):
    return [(f"sentence {i}", f"frase {i} v{k}") for i in range(num_sources)
            for k in range(1 + i % translations)]


def test_source_split_keeps_every_translation_of_a_source_together():
    splits = split_corpus(_synthetic_pairs(), seed=3, mode="source")
    sources = [{e for e, _ in getattr(splits, name)} for name in ("train", "val", "test")]
    assert not sources[0] & sources[1] and not sources[0] & sources[2] and not sources[1] & sources[2]
    assert sum(splits.sizes().values()) == len(_synthetic_pairs())
    # 70/15/15 of the 200 sources.
    assert [len(s) for s in sources] == [140, 30, 30]


def test_same_seed_same_split_and_other_seed_other_split():
    pairs = _synthetic_pairs()
    assert split_corpus(pairs, seed=5) == split_corpus(pairs, seed=5)
    assert split_corpus(pairs, seed=5).test != split_corpus(pairs, seed=6).test


def test_book_split_shuffles_pairs_like_the_book():
    pairs = _synthetic_pairs()
    splits = split_corpus(pairs, seed=5, mode="book")
    num_val = int(0.15 * len(pairs))
    assert splits.sizes() == {"train": len(pairs) - 2 * num_val, "val": num_val, "test": num_val}


def test_group_references_collects_all_translations(tiny_pairs):
    refs = group_references(tiny_pairs)
    assert refs["Where is the station?"] == ["¿Dónde está la estación?", "¿Dónde queda la estación?"]


def test_real_corpus_counts_and_split_has_no_shared_source(corpus_path):
    corpus = read_corpus(corpus_path)
    assert len(corpus.pairs) == 118_964
    assert corpus.is_book_corpus
    splits = split_corpus(corpus.pairs, seed=1337, mode="source")
    train = {e for e, _ in splits.train}
    assert not train & {e for e, _ in splits.test}
    multi = sum(1 for refs in group_references(corpus.pairs).values() if len(refs) > 1)
    assert multi == 12_448
