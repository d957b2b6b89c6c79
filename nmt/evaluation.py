"""Evaluation on held-out pairs: masked token accuracy, BLEU and chrF against all references.

BLEU and chrF come from sacrebleu, scored per unique English source against **every** Spanish
translation of it in the split, two ways:
- book-normalised (`bleu`, `chrf`): hypotheses and references lowercased, punctuation removed,
  as the book's word-level models output; comparable across tokenizers;
- as-is (`bleu_as_is`, `chrf_as_is`): the output exactly as a user sees it against the
  references as written (sacrebleu's default 13a tokenization, case-sensitive). A word-level
  model, which cannot produce capitals or punctuation, scores much lower here.

Example:
>>> report = evaluate_translator(translator, splits.test)      # doctest: +SKIP
>>> report["bleu"], report["chrf"], report["masked_accuracy"]   # doctest: +SKIP
"""

import time

import keras
import sacrebleu

from data.corpus import group_references
from data.pipeline import make_dataset
from data.vectorize import normalize_like_book


def corpus_scores(hypotheses, references):
    """BLEU and chrF of `hypotheses` against a list of reference lists (any count per source)."""
    most = max((len(refs) for refs in references), default=0)
    # sacrebleu takes reference streams; None marks a missing reference for that segment.
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(most)]
    bleu = sacrebleu.corpus_bleu(hypotheses, streams)
    chrf = sacrebleu.corpus_chrf(hypotheses, streams)
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2)}


def book_normalised(hypotheses, references):
    """Raw hypotheses and lists of raw references, lowercased without punctuation (the book's
    output); "[UNK]" becomes "UNK", one token that never matches a reference word (sacrebleu's
    tokenizer would split "[UNK]" into three)."""
    hypotheses = normalize_like_book([h.replace("[UNK]", "UNK") for h in hypotheses], "spanish")
    return hypotheses, [normalize_like_book(refs, "spanish") for refs in references]


def book_bleu(hypotheses, references):
    """Book-normalised BLEU and chrF of raw `hypotheses` against lists of raw references."""
    return corpus_scores(*book_normalised(hypotheses, references))


class ValidationBleu(keras.callbacks.Callback):
    """After each epoch, translate `sources` validation sources (greedy) and log `val_bleu`
    and `val_chrf` (book-normalised, against all their references).

    Placed before the loggers and `EarlyStopping(monitor="val_bleu", mode="max")`, it lets
    training stop on, and keep the weights of, the best validation BLEU.

    Args:
        translator: the `Translator` being trained (its model shares the trained weights).
        pairs: list of (English, Spanish) validation pairs.
        sources: int. How many unique English sources (the first ones) to score.
    """

    def __init__(self, translator, pairs, sources):
        super().__init__()
        if sources < 1:
            raise ValueError(f"sources={sources} must be >= 1")
        grouped = group_references(pairs)
        self.translator = translator
        self.sources = list(grouped)[:sources]
        self.references = [grouped[s] for s in self.sources]

    def on_epoch_end(self, epoch, logs=None):
        scores = book_bleu(self.translator.translate(self.sources), self.references)
        if logs is not None:
            logs["val_bleu"], logs["val_chrf"] = scores["bleu"], scores["chrf"]


def masked_accuracy(translator, pairs, batch_size=256):
    """Next-token accuracy and loss over real (unpadded) target tokens, teacher forcing."""
    from nmt.training import compile_model, vectorize_pairs

    compile_model(translator.model, translator.config, token_loss=True)
    source, target = vectorize_pairs(translator, pairs)
    ds = make_dataset(source, target, batch_size, batching="bucket", shuffle=False)
    results = translator.model.evaluate(ds, verbose=0, return_dict=True)
    return {"masked_accuracy": round(float(results["accuracy"]), 4),
            "loss": round(float(results["token_loss"]), 4)}


LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 15), (16, None))


def bucket_name(low, high):
    return f"{low}-{high}" if high else f"{low}+"


def scores_by_length(sources, hypotheses, references, lengths):
    """BLEU / chrF per source-length bucket (words): 1-5, 6-10, 11-15, 16+."""
    table = {}
    for low, high in LENGTH_BUCKETS:
        members = [i for i, n in enumerate(lengths) if n >= low and (high is None or n <= high)]
        entry = {"sources": len(members)}
        if members:
            entry.update(corpus_scores([hypotheses[i] for i in members],
                                       [references[i] for i in members]))
        table[bucket_name(low, high)] = entry
    return table


def evaluate_translator(translator, pairs, limit=0, batch_size=256, progress=False, **decoding):
    """Accuracy on `pairs`, then translate each unique source and score it.

    With `limit`, only the first `limit` sources (and all their pairs) are evaluated.

    `decoding` options (strategy, num_beams, alpha, temperature, top_k) go to the translator.
    """
    grouped = group_references(pairs)
    sources = list(grouped)[: limit or None]
    if limit:  # the first `limit` sources, with all their pairs, for every number below
        kept = set(sources)
        pairs = [pair for pair in pairs if pair[0] in kept]
    report = {"pairs": len(pairs), "decode": decoding.get("strategy", "greedy")}
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
    report.update(corpus_scores(hypotheses, references))
    report.update({f"{name}_as_is": value for name, value in
                   corpus_scores(as_is, raw_references).items()})
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
    return report
