"""Decoding speed: the book's loop vs the batched, cached greedy decoder, same trained model.

(a) The book's loop: one sentence at a time; for every new token, re-vectorize the whole
    decoded prefix to the full length and run the whole model on it (`decode_sequence` in the
    book). Timed on a sample of the sentences and extrapolated to all of them.
(b) `Translator.translate`: batches of sentences, one compiled `tf.while_loop`, key/value cache
    (Transformer) or carried GRU state (RNN), stops when every sentence has ended.

Then the cost per token at output lengths 10, 20 and 40 (a model of the same sizes with room for
40 positions, decoding a fixed number of tokens): with a cache it stays about flat.

Run:
    python benchmarks/decode_speed.py --run runs/book-small-transformer [--run runs/small-rnn]
Without --run it trains the `book-small` Transformer into runs/book-small-transformer first.
The last line printed is one JSON object (the first run's figures at top level, every run under
"runs").
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from data.vectorize import START_TOKEN  # noqa: E402
from nmt.config import resolve_config  # noqa: E402
from models.decoding import decode  # noqa: E402
from nmt.training import prepare_splits, train  # noqa: E402
from nmt.translator import Translator, build_model  # noqa: E402


def book_decode_sequence(translator, sentence):
    """The book's decode loop (2nd ed. ch. 11), written against our vectorizers and model."""
    model = translator.model
    target = translator.target_tokenizer
    source = translator.source_tokenizer.encode([sentence])
    decoded = START_TOKEN
    for i in range(translator.config.sequence_length):
        prefix = target.encode([decoded])[:, :-1]
        predictions = model({"english": source, "spanish": prefix})
        token = target.tokens([int(np.argmax(predictions[0, i, :]))])[0]
        decoded += " " + token
        if token == "[end]":
            break
    return decoded


def time_book_loop(translator, sentences):
    book_decode_sequence(translator, sentences[0])  # warm-up
    started = time.perf_counter()
    for sentence in sentences:
        book_decode_sequence(translator, sentence)
    return len(sentences) / (time.perf_counter() - started)


def time_cached_greedy(translator, sentences, batch_size):
    translator.translate(sentences[:batch_size], batch_size=batch_size)  # compile once
    started = time.perf_counter()
    translator.translate(sentences, batch_size=batch_size)
    return len(sentences) / (time.perf_counter() - started)


def time_per_token(config, lengths, batch_size, repeats=3):
    """Seconds per generated token at each output length (fixed number of steps, no early end)."""
    config = resolve_config(config.model, config.preset, **{
        **{k: v for k, v in config.__dict__.items() if k not in ("model", "preset")},
        "sequence_length": max(lengths) + 1})
    model = build_model(config)
    translator = Translator(config, model, None, None)
    steps = translator.steps
    source = tf.constant(np.random.default_rng(0).integers(1, config.vocab_size, (batch_size, 8)))
    results = {}
    for length in lengths:
        @tf.function
        def run(source):
            cache = steps.init_cache(steps.encode(source), length)
            start = tf.fill([tf.shape(source)[0]], tf.constant(2, tf.int64))
            return decode(steps.next_fn, start, cache, length, end_id=-1)  # never ends

        run(source)  # trace and warm up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            run(source).numpy()
            best = min(best, time.perf_counter() - started)
        results[length] = best
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", help="trained run folder (repeatable)")
    parser.add_argument("--sentences", type=int, default=1000, help="test sentences to translate")
    parser.add_argument("--book-sample", type=int, default=25,
                        help="sentences timed with the book's loop (then extrapolated)")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    runs = args.run
    if not runs:
        runs = [os.path.join(ROOT, "runs", "book-small-transformer")]
        if not os.path.isfile(os.path.join(runs[0], "model.keras")):
            train(resolve_config("transformer", "book-small"), runs[0], verbose=2)

    results = {}
    for run in runs:
        translator = Translator.load(run)
        splits = prepare_splits(translator.config, verbose=False)
        sentences = list(dict.fromkeys(e for e, _ in splits.test))[: args.sentences]
        book = time_book_loop(translator, sentences[: args.book_sample])
        cached = time_cached_greedy(translator, sentences, args.batch_size)
        per_length = time_per_token(translator.config, (10, 20, 40), args.batch_size)
        name = os.path.basename(os.path.normpath(run))
        results[name] = {
            "model": translator.config.model,
            "sentences": len(sentences),
            "book_loop_sentences_per_s": round(book, 2),
            "book_loop_sample": args.book_sample,
            "cached_greedy_sentences_per_s": round(cached, 1),
            "speedup": round(cached / book, 1),
            "seconds_per_token": {str(k): round(v / k, 5) for k, v in per_length.items()},
            "len40_over_len20": round(per_length[40] / per_length[20], 2),
        }

    print(f"\n{'run':24s} {'model':12s} {'book loop':>12s} {'cached greedy':>14s} {'speedup':>8s}"
          f" {'ms/token @10/20/40':>22s} {'t40/t20':>8s}")
    for name, r in results.items():
        per = "/".join(f"{1000 * r['seconds_per_token'][k]:.2f}" for k in ("10", "20", "40"))
        print(f"{name:24s} {r['model']:12s} {r['book_loop_sentences_per_s']:>9.2f} s/s"
              f" {r['cached_greedy_sentences_per_s']:>10.1f} s/s {r['speedup']:>7.1f}x"
              f" {per:>22s} {r['len40_over_len20']:>8.2f}")
    print(f"(book loop timed on {args.book_sample} sentences, cached greedy on "
          f"{args.sentences} test sentences in batches of {args.batch_size}; s/s = sentences/s)")
    first = results[next(iter(results))]
    summary = {key: first[key] for key in ("book_loop_sentences_per_s",
                                           "cached_greedy_sentences_per_s", "speedup",
                                           "len40_over_len20")}
    summary["runs"] = results
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
