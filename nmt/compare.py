"""Compare trained translators on the same test set: one folder with report.md, report.json, PNGs.

For each run: parameters (total and by part), training time per epoch and target tokens per
second, learning curves, test masked accuracy / BLEU / chrF with greedy and beam decoding, BLEU
by source length, batched translation speed and single-sentence latency, 20 fixed test
sentences side by side, and cross-attention heatmaps of one sentence.

Use: `compare_runs(["runs/small-rnn", "runs/small-transformer"], "reports/cmp")` on trained
runs, or `train_and_compare(["gru", "rnn", "transformer"], "small", 20, "reports/cmp")` to train
them first (20 minutes each).

Example:
>>> pick_sentences(["a b c", "a", "a b", "a b c d"], count=2)
['a', 'a b c d']
"""

import json
import os
import statistics
import time

import numpy as np

from data.corpus import group_references
from models.registry import MODEL_CHOICES, MODELS, parameter_parts
from nmt.config import resolve_config, resume_differences
from nmt.evaluation import evaluate_translator, held_out_pairs
from nmt.plotting import plot_attention
from nmt.runs import RunError, load_config, read_history, read_state, write_text
from nmt.scoring import LENGTH_BUCKETS, bucket_name
from nmt.training import train
from nmt.translator import Translator
from nmt.verdicts import TOO_LITTLE, rank_scores

# Config fields that must agree for runs to be compared on the same test set (runs trained by
# this version also record a fingerprint of their exact split, which is checked first).
SPLIT_FIELDS = ("split", "seed", "val_fraction", "test_fraction", "max_pairs")
MODEL_ORDER = MODEL_CHOICES  # the report's default order


def training_speed(history, state):
    """Seconds per full epoch and real target tokens per second of training (validation
    excluded), from the per-epoch `epoch_seconds` / `epoch_steps` that training logs; a
    budget-shortened last epoch counts for the steps it ran. None where not recorded."""
    seconds = sum(row.get("epoch_seconds", 0.0) for row in history)
    steps = sum(row.get("epoch_steps", 0.0) for row in history)
    per_batch, batches = state.get("target_tokens_per_batch"), state.get("batches_per_epoch")
    if not (seconds and steps and per_batch and batches):
        return {"seconds_per_epoch": None, "train_tokens_per_s": None}
    return {"seconds_per_epoch": round(batches * seconds / steps, 1),
            "train_tokens_per_s": round(per_batch * steps / seconds, 1)}


def _latency_ms(translator, sentence, repeats=10):
    translator.translate([sentence])  # compiled already; one more warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        translator.translate([sentence])
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def pick_sentences(sources, count=20):
    """`count` test sources spread over the length range (deterministic)."""
    ordered = sorted(sources, key=lambda s: (len(s.split()), s))
    if len(ordered) <= count:
        return ordered
    return [ordered[round(i * (len(ordered) - 1) / (count - 1))] for i in range(count)]


def _name(run):
    return os.path.basename(os.path.normpath(run))


def compare_runs(runs, out, corpus=None, limit=0, num_beams=4, verbose=True, any_corpus=False):
    """Evaluate every run on the shared test split and write the report into `out`."""
    if not runs:
        raise RunError("compare needs at least one run folder")
    translators = {_name(run): Translator.load(run) for run in runs}
    if len(translators) != len(runs):
        raise RunError("run folders must have different names")
    configs = [t.config for t in translators.values()]
    first = configs[0]
    fingerprints = {(read_state(run) or {}).get("split_sha256") for run in runs}
    if len(fingerprints) > 1 and None not in fingerprints:
        raise RunError("runs were trained on different data (their splits differ); "
                       "compare runs trained on the same corpus with the same data settings")
    for config in configs[1:]:
        different = [f for f in SPLIT_FIELDS if getattr(config, f) != getattr(first, f)]
        if different:
            raise RunError(f"runs were trained on different splits ({', '.join(different)}); "
                           "compare runs trained with the same data settings")
    if corpus:
        first.corpus = corpus
    os.makedirs(out, exist_ok=True)
    test, same_split = held_out_pairs(runs[0], first, "test", any_corpus=any_corpus,
                                      verbose=verbose)
    grouped = group_references(test)
    sources = list(grouped)[: limit or None]
    kept = set(sources)
    test = [pair for pair in test if pair[0] in kept]
    showcase = pick_sentences(sources)

    results = {}
    for (name, translator), run in zip(translators.items(), runs):
        if verbose:
            print(f"evaluating {name} ({translator.config.model}) on {len(sources):,} sources")
        history = read_history(run)
        state = read_state(run) or {}
        speed = training_speed(history, state)
        greedy = evaluate_translator(translator, test)
        beam = evaluate_translator(translator, test, decode="beam", num_beams=num_beams)
        translations = translator.translate(showcase)
        results[name] = {
            "run": run,
            "model": translator.config.model,
            "label": MODELS[translator.config.model].label,
            "preset": translator.config.preset,
            "parameters": parameter_parts(translator.model),
            "epochs": len(history),
            "train_seconds": state.get("train_seconds"),
            **speed,
            "history": {key: [row.get(key) for row in history]
                        for key in ("val_loss", "val_accuracy", "loss", "accuracy")},
            "greedy": {k: greedy[k] for k in ("masked_accuracy", "loss", "bleu", "chrf",
                                              "decode_sentences_per_s")},
            "beam": {k: beam[k] for k in ("bleu", "chrf", "decode_sentences_per_s")},
            "by_length": greedy["by_length"],
            "latency_ms": round(_latency_ms(translator, showcase[len(showcase) // 2]), 1),
            "translations": translations,
        }
    report = {"test_sources": len(sources), "test_pairs": len(test), "num_beams": num_beams,
              "split": {f: getattr(first, f) for f in SPLIT_FIELDS},
              "sentences": [{"source": s, "references": grouped[s]} for s in showcase],
              "runs": results, "corpus_split_is_the_runs": same_split}
    figures = write_figures(report, translators, showcase, out)
    write_text(os.path.join(out, "report.json"), json.dumps(report, indent=2, ensure_ascii=False))
    write_text(os.path.join(out, "report.md"), render_markdown(report, figures))
    if verbose:
        print(summary_table(report))
        print(f"report written to {os.path.join(out, 'report.md')}")
    return report


def write_figures(report, translators, showcase, out):
    """Learning curves, BLEU by length, attention heatmaps; return {kind: [file names]}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = report["runs"]
    figures = {}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in runs.items():
        epochs = range(1, len(r["history"]["val_loss"]) + 1)
        axes[0].plot(epochs, r["history"]["val_loss"], marker="o", label=f"{name} ({r['label']})")
        axes[1].plot(epochs, r["history"]["val_accuracy"], marker="o", label=f"{name} ({r['label']})")
    axes[0].set(title="Validation loss per epoch", xlabel="epoch",
                ylabel="loss (Keras: mean of per-batch token means)")
    axes[1].set(title="Validation masked accuracy per epoch", xlabel="epoch",
                ylabel="next-token accuracy (real tokens)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs
    fig.tight_layout()
    fig.savefig(os.path.join(out, "learning_curves.png"), dpi=110)
    plt.close(fig)
    figures["learning_curves"] = ["learning_curves.png"]

    buckets = [bucket_name(low, high) for low, high in LENGTH_BUCKETS]
    counts = [next(iter(runs.values()))["by_length"][b]["sources"] for b in buckets]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    width = 0.8 / max(len(runs), 1)
    for ax, metric, label in zip(axes, ("bleu", "chrf"), ("BLEU", "chrF")):
        values = {name: [r["by_length"][b].get(metric, 0.0) for b in buckets]
                  for name, r in runs.items()}
        for i, (name, r) in enumerate(runs.items()):
            positions = np.arange(len(buckets)) + (i - (len(runs) - 1) / 2) * width
            ax.bar(positions, values[name], width, label=f"{name} ({r['label']})")
        ax.set_xticks(range(len(buckets)),
                      [f"{b} words\n({n:,} sources)" for b, n in zip(buckets, counts)])
        ax.set(title=f"Test {label} by source length (greedy, book-normalised)",
               xlabel="source length", ylabel=label)
        # Models trained for seconds score about 0 everywhere: say so rather than show no bars.
        verdict = rank_scores({name: max(v) for name, v in values.items()}, metric=label)
        if verdict.outcome == "too little training":
            ax.set_ylim(0, 5)
            ax.text(0.5, 0.5, f"every {label} is below 1:\n{TOO_LITTLE}", ha="center",
                    va="center", transform=ax.transAxes, fontsize=11)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bleu_by_length.png"), dpi=110)
    plt.close(fig)
    figures["bleu_by_length"] = ["bleu_by_length.png"]

    # The same sentence for every model with attention: the longest showcase sentence of <= 12 words.
    candidates = [s for s in showcase if len(s.split()) <= 12] or showcase
    sentence = candidates[-1]
    figures["attention"] = []
    for name, translator in translators.items():
        _, ids = translator.translate([sentence], return_ids=True)
        found = translator.attention(sentence, ids[0])
        if found is None:
            continue
        weights, source_tokens, target_tokens = found
        file = f"attention_{name}.png"
        plot_attention(weights, source_tokens, target_tokens, os.path.join(out, file),
                       title=f"{name} ({runs[name]['label']}): cross-attention, mean over heads")
        figures["attention"].append(file)
    report["attention_sentence"] = sentence
    return figures


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def summary_table(report):
    header = ("| run | model | parameters | s/epoch | train tokens/s | test acc | BLEU greedy | "
              f"BLEU beam{report['num_beams']} | chrF greedy | chrF beam | sentences/s | latency ms |")
    lines = [header, "|" + "---|" * 12]
    for name, r in report["runs"].items():
        lines.append(
            f"| {name} | {r['label']} | {r['parameters']['total']:,} | "
            f"{_fmt(r['seconds_per_epoch'], '.0f')} | {_fmt(r['train_tokens_per_s'], ',.0f')} | "
            f"{r['greedy']['masked_accuracy']:.4f} | {r['greedy']['bleu']:.2f} | "
            f"{r['beam']['bleu']:.2f} | {r['greedy']['chrf']:.2f} | {r['beam']['chrf']:.2f} | "
            f"{r['greedy']['decode_sentences_per_s']:,.0f} | {r['latency_ms']:.1f} |")
    return "\n".join(lines)


def render_markdown(report, figures):
    runs = report["runs"]
    split = report["split"]
    out = ["# RNN vs Transformer: comparison report", "",
           f"Test set: {report['test_sources']:,} English sources ({report['test_pairs']:,} pairs), "
           f"split '{split['split']}' with seed {split['seed']}; every source is scored against all "
           "of its reference translations (sacrebleu, book-normalised: lowercase, no punctuation).",
           *(["", "**Another corpus than the runs' (`--any-corpus`): its test sentences may have "
               "been trained on; these are not held-out scores.**"]
             if report.get("corpus_split_is_the_runs") is False else []),
           "", "## Summary", "", summary_table(report), "",
           "Masked accuracy is next-token accuracy with teacher forcing over real target tokens. "
           "Sentences/s: batched greedy decoding of the whole test set; latency: one sentence "
           "alone (median of 10).", "", "## Parameters", "",
           "| run | embeddings | encoder | decoder | output | total |", "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        p = r["parameters"]
        out.append(f"| {name} | {p['embeddings']:,} | {p['encoder']:,} | {p['decoder']:,} | "
                   f"{p['output']:,} | {p['total']:,} |")
    out += ["", "## Training", "",
            "Seconds per epoch and tokens/s count training only (validation excluded).", "",
            "| run | preset | epochs | seconds per epoch | target tokens/s | total training s |",
            "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        out.append(f"| {name} | {r['preset']} | {r['epochs']} | {_fmt(r['seconds_per_epoch'], '.0f')} "
                   f"| {_fmt(r['train_tokens_per_s'], ',.0f')} | {_fmt(r['train_seconds'], '.0f')} |")
    out += ["", "## Learning curves", "", "![learning curves](learning_curves.png)", "",
            "## Test scores", "",
            f"| run | masked accuracy | loss | BLEU greedy | BLEU beam ({report['num_beams']}) | "
            "chrF greedy | chrF beam |", "|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        g, b = r["greedy"], r["beam"]
        out.append(f"| {name} | {g['masked_accuracy']:.4f} | {g['loss']:.4f} | {g['bleu']:.2f} | "
                   f"{b['bleu']:.2f} | {g['chrf']:.2f} | {b['chrf']:.2f} |")
    buckets = [bucket_name(low, high) for low, high in LENGTH_BUCKETS]
    out += ["", "## BLEU by source length", "", "![BLEU by source length](bleu_by_length.png)", "",
            "| run | " + " | ".join(f"{b} words" for b in buckets) + " |",
            "|---|" + "---|" * len(buckets)]
    for name, r in runs.items():
        out.append(f"| {name} | " + " | ".join(
            _fmt(r["by_length"][b].get("bleu"), ".2f") for b in buckets) + " |")
    out += ["", "## Speed", "", "| run | sentences/s greedy (batched) | sentences/s beam | "
            "latency, one sentence (ms) |", "|---|---|---|---|"]
    for name, r in runs.items():
        out.append(f"| {name} | {r['greedy']['decode_sentences_per_s']:,.0f} | "
                   f"{r['beam']['decode_sentences_per_s']:,.0f} | {r['latency_ms']:.1f} |")
    out += ["", "## Translations", "", "| source | references | " + " | ".join(runs) + " |",
            "|---|---|" + "---|" * len(runs)]
    for i, entry in enumerate(report["sentences"]):
        refs = " / ".join(entry["references"][:3]).replace("|", "\\|")
        cells = [r["translations"][i].replace("|", "\\|") for r in runs.values()]
        out.append(f"| {entry['source'].replace('|', chr(92) + '|')} | {refs} | " + " | ".join(cells) + " |")
    out += ["", "## Cross-attention", "",
            f"Sentence: *{report.get('attention_sentence', '')}* (models without attention have no map)",
            ""]
    out += [f"![{file}]({file})" for file in figures.get("attention", [])]
    return "\n".join(out) + "\n"


def comparison_configs(models, preset, budget_minutes, corpus=None, epochs=None, overrides=None):
    """{model: the `Config` that `train_and_compare` trains it with}: the same preset, data and
    training-time budget (or epochs) for each."""
    configs = {}
    for model in models:
        values = dict(overrides or {}, corpus=corpus)
        if budget_minutes:
            # Train until the budget is spent (epochs is only an upper bound then).
            values.update(budget_minutes=budget_minutes, epochs=epochs or 1000)
        elif epochs:
            values["epochs"] = epochs
        configs[model] = resolve_config(model, preset, **values)
    return configs


def train_and_compare(models, preset, budget_minutes, out, corpus=None, epochs=None,
                      overrides=None, limit=0, num_beams=4, verbose=True):
    """Train each model (same preset, data and training-time budget or epochs), then compare.

    Runs go to `out/runs/<model>`; an existing finished run there is reused when it was trained
    with the same settings (else RunError), an interrupted one resumes.
    """
    runs = []
    configs = comparison_configs(models, preset, budget_minutes, corpus=corpus, epochs=epochs,
                                 overrides=overrides)
    for model, config in configs.items():
        run = os.path.join(out, "runs", model)
        state = read_state(run) or {}
        if state.get("completed"):
            changed = resume_differences(load_config(run), config, finished=True)
            if changed:
                raise RunError(f"{run}: a finished run with other settings ({', '.join(changed)}) "
                               "is there; remove it, or compare into another folder")
        else:
            train(config, run, verbose=2 if verbose else 0)
        runs.append(run)
    return compare_runs(runs, out, corpus=corpus, limit=limit, num_beams=num_beams,
                        verbose=verbose)
