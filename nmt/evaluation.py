"""Evaluation on held-out pairs: masked token accuracy, then BLEU and chrF against all
references (book-normalised and as written; see `nmt.scoring`).

Example:
>>> from nmt.config import resolve_config
>>> from nmt.translator import Translator, make_tokenizers
>>> pairs = [("I love AI.", "Me encanta la IA."), ("Go.", "Ve."), ("Go.", "Vete.")]
>>> config = resolve_config("gru", "tiny", vocab_size=40, sequence_length=8)
>>> translator = Translator.create(config, *make_tokenizers(config, pairs))
>>> report = evaluate_translator(translator, pairs)
>>> report["sources"], report["references"], sorted(report["by_length"])
(2, 3, ['1-5', '11-15', '16+', '6-10'])
"""

import json
import os
import sys
import time

from data.corpus import group_references
from data.pipeline import make_dataset
from data.vectorize import normalize_like_book
from nmt.scoring import book_normalised, corpus_scores, scores_by_length
from nmt.runs import RunError, read_history, read_state, write_text
from nmt.training import compile_model, prepare_splits, splits_sha256


def held_out_pairs(run, config, split_name="test", any_corpus=False, verbose=True):
    """The run's "val" or "test" pairs, from the corpus `config` names, checked to be the run's.

    The split of the corpus loaded now must have the fingerprint the run recorded at training
    (`train_state.json`), or the scores would not be held-out scores; with `any_corpus` another
    corpus is accepted. A corpus path that no longer exists (a run moved to another machine) is
    looked for in the usual places ($SPA_ENG_PATH, the Keras cache); the fingerprint decides.

    Returns:
        (pairs, same_split): same_split is True, False (another corpus, `any_corpus`), or None
        (a run too old to have recorded its split).
    """
    if config.corpus and not os.path.isfile(config.corpus):
        print(f"note: {config.corpus} (the run's corpus) is not there; looking for the corpus "
              "in the usual places", file=sys.stderr)
        config.corpus = ""
    splits = prepare_splits(config, verbose=verbose)
    expected = (read_state(run) or {}).get("split_sha256")
    same_split = None if expected is None else splits_sha256(splits) == expected
    if same_split is False and not any_corpus:
        raise RunError(f"{run}: this corpus does not give the split the run was trained on, so "
                       "its held-out sentences may have been trained on; use the run's corpus, "
                       "or --any-corpus to score anyway")
    return getattr(splits, split_name), same_split


def training_summary(run, config):
    """How much training the run folder `run` got: {"epochs": whole and partial epochs (an epoch
    a time budget cut short counts its share of batches), "steps", "train_minutes",
    "budget_minutes"} from its history.csv and train_state.json; None for a run without them.

    Example (the counts of a run of 2 full epochs of 20 batches and one of 5):
    >>> import tempfile
    >>> from nmt.config import resolve_config
    >>> from nmt.runs import write_history, write_state
    >>> folder = tempfile.mkdtemp()
    >>> write_history(folder, [{"epoch": 0, "epoch_steps": 20}, {"epoch": 1, "epoch_steps": 20},
    ...                        {"epoch": 2, "epoch_steps": 5}])
    >>> write_state(folder, completed=True, train_seconds=90.0, batches_per_epoch=20)
    >>> training_summary(folder, resolve_config("transformer", "tiny", budget_minutes=2))
    {'epochs': 2.25, 'steps': 45, 'train_minutes': 1.5, 'budget_minutes': 2.0}
    """
    state, rows = read_state(run) or {}, read_history(run)
    per_epoch = state.get("batches_per_epoch")
    if not rows or "train_seconds" not in state:
        return None
    steps = [row.get("epoch_steps") for row in rows]
    epochs = float(len(rows))
    if per_epoch and None not in steps:
        epochs = sum(min(1.0, count / per_epoch) for count in steps)
    return {"epochs": round(epochs, 2), "steps": int(sum(count or 0 for count in steps)),
            "train_minutes": round(state["train_seconds"] / 60, 2),
            "budget_minutes": float(config.budget_minutes)}


def masked_accuracy(translator, pairs, batch_size=256):
    """Next-token accuracy and loss over real (unpadded) target tokens, teacher forcing."""
    compile_model(translator.model, translator.config, token_loss=True)
    source, target = translator.vectorize(pairs)
    ds = make_dataset(source, target, batch_size, batching="bucket", shuffle=False)
    results = translator.model.evaluate(ds, verbose=0, return_dict=True)
    return {"masked_accuracy": round(float(results["accuracy"]), 4),
            "loss": round(float(results["token_loss"]), 4)}


def evaluate_translator(translator, pairs, limit=0, batch_size=256, progress=False,
                        return_texts=False, **decoding):
    """Accuracy on `pairs`, then translate each unique source and score it.

    With `limit`, only the first `limit` sources (and all their pairs) are evaluated.

    `decoding` options (decode, num_beams, alpha, temperature, top_k) go to the translator.

    With `return_texts`, returns `(report, texts)`: `texts` holds the scored `sources`, the
    `hypotheses` as the translator wrote them and the raw `references` (a list per source), what
    `write_scored_texts` saves so that the scores can be reproduced with sacrebleu.
    """
    grouped = group_references(pairs)
    sources = list(grouped)[: limit or None]
    if limit:  # the first `limit` sources, with all their pairs, for every number below
        kept = set(sources)
        pairs = [pair for pair in pairs if pair[0] in kept]
    report = {"pairs": len(pairs), "decode": decoding.get("decode", "greedy")}
    if report["decode"] == "beam":
        report["num_beams"] = decoding.get("num_beams", 4)
        report["alpha"] = decoding.get("alpha", 0.6)
    report.update(masked_accuracy(translator, pairs))
    started = time.time()
    hypotheses = translator.translate(sources, batch_size=batch_size, progress=progress, **decoding)
    seconds = time.time() - started
    # "[UNK]" would be split by sacrebleu's tokenizer into three tokens; score it as one
    # token that never matches a reference word.
    as_is = [h.replace("[UNK]", "UNK") for h in hypotheses]
    raw_references = [grouped[s] for s in sources]
    hypotheses, references = book_normalised(as_is, raw_references)
    report.update(corpus_scores(hypotheses, references, signatures=True))
    report.update(corpus_scores(as_is, raw_references, signatures=True, suffix="_as_is"))
    report.update({
        "sources": len(sources),
        "references": sum(len(r) for r in references),
        "normalisation": "book (lowercase, no punctuation; [UNK] scored as one unmatched token)",
        "decode_seconds": round(seconds, 2),
        "decode_sentences_per_s": round(len(sources) / max(seconds, 1e-9), 1),
    })
    # Source length in words (as the book's tokenizer counts them, whatever the model's).
    lengths = [len(text.split()) for text in normalize_like_book(sources, "english")]
    report["by_length"] = scores_by_length(sources, hypotheses, references, lengths)
    report["examples"] = [
        {"source": s, "translation": h, "references": grouped[s][:3]}
        for s, h in list(zip(sources, as_is))[:5]
    ]
    if return_texts:
        return report, {"sources": sources, "hypotheses": as_is, "references": raw_references}
    return report


def write_scored_texts(stem, texts):
    """Write what was scored, line-aligned, next to a report: `STEM.src.txt` (the English
    sources), `STEM.hyp.txt` (the translations as written) and `STEM.refs.jsonl` (a JSON list
    of every reference per source; sources have one to dozens of references, which sacrebleu's
    command line, with its fixed count per line, cannot take). Returns the three paths.

    Each file is written to a temporary name and then renamed. Reproduce the scores with
    sacrebleu's Python API: `nmt.scoring.corpus_scores(hyps, refs)` is
    `sacrebleu.metrics.BLEU().corpus_score(hyps, streams)` with `None` for missing references
    (the as-is scores; book-normalised ones first pass both through
    `nmt.scoring.book_normalised`).
    """
    paths = [f"{stem}.src.txt", f"{stem}.hyp.txt", f"{stem}.refs.jsonl"]
    for line in texts["sources"] + texts["hypotheses"]:
        if "\n" in line:  # one line per segment, or the files would not be aligned
            raise ValueError(f"a scored text holds a line break: {line!r}")
    contents = ["".join(f"{line}\n" for line in texts["sources"]),
                "".join(f"{line}\n" for line in texts["hypotheses"]),
                "".join(json.dumps(refs, ensure_ascii=False) + "\n"
                        for refs in texts["references"])]
    for path, content in zip(paths, contents):
        write_text(path, content)
    return paths
