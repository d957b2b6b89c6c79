"""The English–Spanish corpus: locate (or download), parse, validate and split.

The corpus is the Tatoeba / manythings.org `spa-eng.zip` the book downloads: one
`English<TAB>Spanish` pair per line (newer manythings.org files add a third,
attribution column, which is ignored).

Example (`locate_corpus()` with no argument finds the real corpus, or downloads it):
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "spa.txt")
>>> write_pairs([("Go.", "Ve."), ("Go.", "Vete."), ("Hi.", "Hola."), ("Run!", "¡Corre!"),
...              ("Wait.", "Espera."), ("Who?", "¿Quién?")], path)
>>> corpus = read_corpus(locate_corpus(path))
>>> len(corpus.pairs), corpus.num_sources
(6, 5)
>>> splits = split_corpus(corpus.pairs, seed=1337, mode="source", val_fraction=0.2,
...                       test_fraction=0.2)
>>> [len({english for english, _ in part}) for part in (splits.train, splits.val, splits.test)]
[3, 1, 1]
"""

import dataclasses
import hashlib
import io
import os
import random
import zipfile

from data.errors import NmtError

CORPUS_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
CORPUS_ENV = "SPA_ENG_PATH"
# sha256 of the book's spa-eng/spa.txt (118,964 pairs).
BOOK_SPA_TXT_SHA256 = "6ec60e212f812ee3430f7568ea6f33b6fb080e32193c5952e8da0ee8ba45574c"
SPLIT_MODES = ("source", "book")


class CorpusError(NmtError):
    """A corpus file that cannot be used: missing, empty or malformed (message names file and line)."""


@dataclasses.dataclass
class Corpus:
    """Parsed sentence pairs and what was learned while reading them."""

    pairs: list  # [(english, spanish), ...] in file order
    path: str  # the file read
    skipped: int = 0  # bad lines skipped with skip_bad_lines=True
    sha256: str = ""  # of the pairs file's bytes (spa.txt inside a zip)

    @property
    def is_book_corpus(self):
        return self.sha256 == BOOK_SPA_TXT_SHA256

    @property
    def num_sources(self):
        return len({english for english, _ in self.pairs})


# Locating the corpus.


def _keras_cache_candidates():
    """Where `keras.utils.get_file` leaves the book's archive (extracted or not)."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    datasets = os.path.join(base, "datasets")
    return [
        os.path.join(datasets, "spa-eng", "spa.txt"),
        os.path.join(datasets, "spa-eng_extracted", "spa-eng", "spa.txt"),
        os.path.join(datasets, "spa-eng.zip"),
    ]


def _find_spa_txt(path):
    """The `spa.txt` inside a folder that `get_file(extract=True)` returned, else `path`."""
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            if "spa.txt" in files:
                return os.path.join(root, "spa.txt")
        raise CorpusError(f"{path}: no spa.txt inside the downloaded archive")
    return path


def locate_corpus(path=None, download=True):
    """Find the corpus file: `path`, then `$SPA_ENG_PATH`, then the Keras cache, then download.

    Args:
        path: str or None. An explicit file (zip, `spa.txt`, or any TSV of pairs).
        download: bool. Whether to download the book's archive when nothing is found.

    Returns:
        The path of a zip or text file to give to `read_corpus`.
    """
    for given, origin in ((path, "--corpus"), (os.environ.get(CORPUS_ENV), f"${CORPUS_ENV}")):
        if given:
            if not os.path.exists(given):
                raise CorpusError(f"{given}: corpus file not found (from {origin})")
            return _find_spa_txt(given)
    for candidate in _keras_cache_candidates():
        if os.path.isfile(candidate):
            return candidate
    if not download:
        raise CorpusError(
            f"corpus not found: pass --corpus PATH or set {CORPUS_ENV} (download disabled)"
        )
    import keras  # Imported here: reading a local file should not need Keras.

    try:
        downloaded = keras.utils.get_file("spa-eng.zip", origin=CORPUS_URL, extract=True)
    except Exception as error:  # get_file raises bare Exceptions for network failures.
        raise CorpusError(
            f"could not download {CORPUS_URL} ({error}); pass --corpus PATH or set {CORPUS_ENV}"
        ) from None
    return _find_spa_txt(downloaded)


# Parsing and validating.


def _read_bytes(path):
    """The raw bytes of the pairs file: `spa.txt` (or the only .txt) inside a zip, else the file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".txt")]
            preferred = [n for n in names if os.path.basename(n) == "spa.txt"]
            others = [n for n in names if not os.path.basename(n).startswith("_")]
            chosen = preferred or others
            if len(chosen) != 1:
                raise CorpusError(f"{path}: expected one spa.txt in the archive, found {names}")
            return archive.read(chosen[0]), f"{path}:{chosen[0]}"
    with open(path, "rb") as f:
        return f.read(), path


def parse_pairs(raw, name, skip_bad_lines=False):
    """Parse `English<TAB>Spanish[<TAB>...]` lines; return (pairs, number skipped).

    Raises `CorpusError("name:line: reason")` on the first bad line unless `skip_bad_lines`.

    Example:
    >>> parse_pairs(b"Go.\\tVe.\\tCC-BY 2.0 (France)\\nno tab here\\n", "spa.txt",
    ...             skip_bad_lines=True)
    ([('Go.', 'Ve.')], 1)
    """
    pairs, skipped = [], 0
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Windows editors)
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # The newline that ends the last line.
    for number, line in enumerate(lines, start=1):
        line = line.rstrip(b"\r")
        reason = None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            text, reason = "", f"invalid UTF-8 ({error.reason} at byte {error.start})"
        if reason is None:
            fields = text.split("\t")
            if len(fields) < 2:
                reason = "no tab between English and Spanish"
            else:
                english, spanish = fields[0].strip(), fields[1].strip()
                if not english or not spanish:
                    reason = "empty English side" if not english else "empty Spanish side"
        if reason is not None:
            if skip_bad_lines:
                skipped += 1
                continue
            raise CorpusError(f"{name}:{number}: {reason} (use --skip-bad-lines to skip such lines)")
        pairs.append((english, spanish))
    if not pairs:
        raise CorpusError(f"{name}: no sentence pairs (empty file)")
    return pairs, skipped


def read_corpus(path, skip_bad_lines=False):
    """Read and validate a corpus file (zip, `spa.txt` or TSV) into a `Corpus`."""
    raw, name = _read_bytes(path)
    pairs, skipped = parse_pairs(raw, name, skip_bad_lines=skip_bad_lines)
    return Corpus(pairs=pairs, path=path, skipped=skipped, sha256=hashlib.sha256(raw).hexdigest())


def load_corpus(path=None, skip_bad_lines=False, download=True, verbose=True):
    """`locate_corpus` then `read_corpus`, printing the counts."""
    corpus = read_corpus(locate_corpus(path, download=download), skip_bad_lines=skip_bad_lines)
    if verbose:
        message = (
            f"corpus {corpus.path}: {len(corpus.pairs):,} pairs, "
            f"{corpus.num_sources:,} unique English sources"
        )
        if corpus.skipped:
            message += f", {corpus.skipped:,} bad lines skipped"
        print(message)
    return corpus


# Splitting.


@dataclasses.dataclass
class Splits:
    """Train / validation / test pairs."""

    train: list
    val: list
    test: list

    def sizes(self):
        return {name: len(getattr(self, name)) for name in ("train", "val", "test")}


def split_corpus(pairs, seed=1337, mode="source", val_fraction=0.15, test_fraction=0.15):
    """Split pairs deterministically into train / val / test (70/15/15 by default).

    Args:
        pairs: list of (english, spanish).
        seed: int. Same seed, same split.
        mode: "source" puts all translations of one English sentence in the same split (no
            leakage between train and test); "book" shuffles pairs like the book does.
        val_fraction, test_fraction: float fractions of sources ("source") or pairs ("book").

    Example:
    >>> pairs = [("Go.", "Ve."), ("Go.", "Vete."), ("Hi.", "Hola."), ("Run!", "¡Corre!"),
    ...          ("Who?", "¿Quién?")]
    >>> splits = split_corpus(pairs, seed=1337, val_fraction=0.25, test_fraction=0.25)
    >>> splits.sizes()  # 4 sources: 1 for validation, 1 for test, 2 (3 pairs) for training
    {'train': 3, 'val': 1, 'test': 1}
    >>> {name: [s for e, s in part if e == "Go."] for name, part in vars(splits).items()}
    {'train': ['Ve.', 'Vete.'], 'val': [], 'test': []}
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"mode={mode!r} is not one of {SPLIT_MODES}")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must leave training data"
        )
    rng = random.Random(seed)
    if mode == "book":
        # The book: shuffle the pairs, then the last 2 * 15% are validation and test.
        shuffled = list(pairs)
        rng.shuffle(shuffled)
        num_val = int(val_fraction * len(shuffled))
        num_test = int(test_fraction * len(shuffled))
        num_train = len(shuffled) - num_val - num_test
        return Splits(
            train=shuffled[:num_train],
            val=shuffled[num_train : num_train + num_val],
            test=shuffled[num_train + num_val :],
        )
    # By source: shuffle the unique English sentences (in first-seen order), then assign groups.
    groups = {}
    for english, spanish in pairs:
        groups.setdefault(english, []).append((english, spanish))
    sources = list(groups)
    rng.shuffle(sources)
    num_val = int(val_fraction * len(sources))
    num_test = int(test_fraction * len(sources))
    num_train = len(sources) - num_val - num_test
    parts = (sources[:num_train], sources[num_train : num_train + num_val], sources[num_train + num_val :])
    train, val, test = ([pair for source in part for pair in groups[source]] for part in parts)
    return Splits(train=train, val=val, test=test)


def group_references(pairs):
    """{english: [spanish, ...]} in first-seen order: every reference of each source."""
    references = {}
    for english, spanish in pairs:
        references.setdefault(english, []).append(spanish)
    return references


def write_pairs(pairs, path):
    """Write pairs as `English<TAB>Spanish` lines (used by tests and `nmt data --write`)."""
    with io.open(path, "w", encoding="utf-8") as f:
        for english, spanish in pairs:
            f.write(f"{english}\t{spanish}\n")
