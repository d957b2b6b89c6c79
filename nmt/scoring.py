"""Scores: BLEU and chrF (sacrebleu) against every reference, book-normalised or as written.

BLEU and chrF are scored per unique English source against **every** Spanish translation of it,
two ways:
- book-normalised (`bleu`, `chrf`): hypotheses and references lowercased, punctuation removed,
  as the book's word-level models output; comparable across tokenizers;
- as-is (`bleu_as_is`, `chrf_as_is`): the output exactly as a user sees it against the
  references as written (sacrebleu's default 13a tokenization, case-sensitive). A word-level
  model, which cannot produce capitals or punctuation, scores much lower here.

Example:
>>> book_bleu(["¿Dónde está la estación?"], [["Dónde está la estación", "¿Dónde queda?"]])
{'bleu': 100.0, 'chrf': 100.0}
>>> bucket_name(16, None)
'16+'
"""

import sacrebleu

from data.vectorize import normalize_like_book


def corpus_scores(hypotheses, references, signatures=False, suffix=""):
    """BLEU and chrF of `hypotheses` against a list of reference lists (any count per source).

    With `signatures`, also sacrebleu's signatures of both (`bleu_signature`, `chrf_signature`:
    "nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"), which say how to reproduce
    the scores with sacrebleu. `suffix` follows each metric's name in the keys (`"_as_is"`:
    `bleu_as_is`, `bleu_as_is_signature`, ...)."""
    most = max((len(refs) for refs in references), default=0)
    # sacrebleu takes reference streams; None marks a missing reference for that segment.
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(most)]
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    scores = {}
    for name, metric in (("bleu", bleu), ("chrf", chrf)):
        scores[name + suffix] = round(metric.corpus_score(hypotheses, streams).score, 2)
        if signatures:
            scores[f"{name}{suffix}_signature"] = str(metric.get_signature())
    return scores


def book_normalised(hypotheses, references):
    """Raw hypotheses and lists of raw references, lowercased without punctuation (the book's
    output); "[UNK]" becomes "UNK", one token that never matches a reference word (sacrebleu's
    tokenizer would split "[UNK]" into three)."""
    hypotheses = normalize_like_book([h.replace("[UNK]", "UNK") for h in hypotheses], "spanish")
    return hypotheses, [normalize_like_book(refs, "spanish") for refs in references]


def book_bleu(hypotheses, references):
    """Book-normalised BLEU and chrF of raw `hypotheses` against lists of raw references."""
    return corpus_scores(*book_normalised(hypotheses, references))


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
