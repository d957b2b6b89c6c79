"""Ablation of the training recipe: what each element is worth for the small Transformer.

Every variant trains the `small` Transformer sizes (embed 128, feed-forward 512, 4 heads) for the
same training time (validation excluded) on the same split, then translates the first
`--val-sources` validation sources (greedy) and is scored with BLEU and chrF against all their
references: book-normalised (lowercase, no punctuation; comparable between word and subword
models) and as-is (13a).

  recipe:   the `cpu-best` recipe at small size: WordPiece (8,000 per language, 24 pieces),
            label smoothing 0.1, AdamW (weight decay 0.01), warmup then 1/sqrt(step) decay,
            dropout 0.1 (embeddings, blocks, before the output layer), tied target/output
            embeddings, averaging of the last 3 checkpoints, batches of 128, one block each;
  -X:       the recipe with element X removed (set to what the book does);
  +X:       the recipe with X added (not in it by default);
  book:     the book's recipe at the same sizes (the `book-small` preset: words, Adam 1e-3,
            dropout 0.5, no smoothing, no schedule, batches of 64).

Each variant is one `nmt train` process (the project's CLI, so every number comes from the
same training path a user runs) with `--budget-minutes`, so training time, not epochs, is
equal (validation does not count against it). A "checkpoint" (validation, a snapshot for
averaging) is every `--chunk-steps` training steps (`--steps-per-epoch`). Then one
`nmt evaluate --split-name val` process scores it.

Run (about 6 minutes per variant with the defaults; 11 variants):
    python benchmarks/ablation.py [--minutes 4] [--variants recipe,-wordpiece,...]
        [--val-sources 1000] [--out reports/ablation]
Writes OUT/ablation.json and OUT/ablation.md (the table); the last line printed is the JSON.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # for the nmt processes

# The recipe at small size, as `nmt train` flags.
SMALL_SIZES = ["--embed-dim", "128", "--dense-dim", "512", "--num-heads", "4", "--num-layers", "1",
               "--precision", "float32"]  # float32: measured faster than bf16 at width 128
RECIPE = ["--preset", "cpu-best", *SMALL_SIZES, "--average-last", "3",
          "--warmup-steps", "300"]  # a warmup that fits a 4-minute run (cpu-best: 1,000)
# name: (what changes, flags added after RECIPE). "book" replaces the recipe entirely.
VARIANTS = {
    "recipe": ("every element of the recipe", []),
    "-wordpiece": ("the book's word tokenizer (15,000 words, 20 tokens)",
                   ["--tokenizer", "word", "--vocab-size", "15000", "--sequence-length", "20"]),
    "-label_smoothing": ("no label smoothing", ["--label-smoothing", "0"]),
    "-schedule": ("constant learning rate at the recipe's peak (no warmup, no decay)",
                  ["--lr-schedule", "constant", "--warmup-steps", "0"]),
    "-adamw": ("Adam, no weight decay", ["--optimizer", "adam", "--weight-decay", "0"]),
    "-dropout": ("the book's dropout (0.5 before the output layer, none elsewhere)",
                 ["--dropout", "0.5", "--block-dropout", "0"]),
    "-tied": ("a separate output layer (untied embeddings)", ["--no-tie-embeddings"]),
    "-averaging": ("no checkpoint averaging", ["--average-last", "0"]),
    "+pre_ln": ("pre-layer-norm blocks", ["--norm-first"]),
    "+2_layers": ("two encoder and two decoder blocks", ["--num-layers", "2"]),
    "book": ("the book's recipe (the book-small preset)", None),
}
BOOK = ["--preset", "book-small"]


def train_flags(variant, minutes, chunk_steps, seed):
    """`nmt train` arguments for `variant` (without --out)."""
    change = VARIANTS[variant][1]
    base = BOOK if change is None else RECIPE + change
    return ["--model", "transformer", *base, "--epochs", "10000", "--steps-per-epoch",
            str(chunk_steps), "--budget-minutes", str(minutes), "--seed", str(seed), "--quiet"]


def run(command, log_path):
    """Run `command` with its output in `log_path`; raise with the log's tail on failure."""
    with open(log_path, "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{tail}")


def trained_steps(run_dir):
    """Training steps actually taken (history.csv's epoch_steps, the last epoch cut short)."""
    with open(os.path.join(run_dir, "history.csv")) as f:
        return int(sum(float(row["epoch_steps"]) for row in csv.DictReader(f)))


def measure(variant, out, minutes, chunk_steps, val_sources, seed):
    """Train and score one variant; return its row."""
    run_dir = os.path.join(out, "runs", variant)
    nmt = [sys.executable, "-m", "nmt"]
    started = time.time()
    run(nmt + ["train", *train_flags(variant, minutes, chunk_steps, seed), "--out", run_dir,
               "--overwrite"], os.path.join(out, f"{variant}.train.log"))
    wall = time.time() - started
    report_path = os.path.join(run_dir, "eval_val.json")
    run(nmt + ["evaluate", "--run", run_dir, "--split-name", "val", "--limit", str(val_sources),
               "--json", report_path], os.path.join(out, f"{variant}.eval.log"))
    with open(report_path) as f:
        report = json.load(f)
    with open(os.path.join(run_dir, "train_state.json")) as f:
        state = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    return {
        "variant": variant, "change": VARIANTS[variant][0],
        "train_seconds": state["train_seconds"], "process_seconds": round(wall, 1),
        "steps": trained_steps(run_dir), "batch_size": config["batch_size"],
        "tokenizer": config["tokenizer"], "parameters": state["parameters"]["total"],
        "checkpoint_average": state.get("checkpoint_average", {}).get("used", "off"),
        "val_bleu": report["bleu"], "val_chrf": report["chrf"],
        "val_bleu_as_is": report["bleu_as_is"], "val_chrf_as_is": report["chrf_as_is"],
        "masked_accuracy": report["masked_accuracy"], "sources": report["sources"],
    }


def table(rows):
    """The markdown table, each BLEU also as the difference from the recipe's."""
    recipe = next((r["val_bleu"] for r in rows if r["variant"] == "recipe"), None)
    lines = ["| variant | change | steps | val BLEU | vs recipe | val chrF | BLEU as-is "
             "| chrF as-is | averaged |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        delta = "" if recipe is None or r["variant"] == "recipe" else \
            f"{r['val_bleu'] - recipe:+.2f}"
        lines.append(f"| {r['variant']} | {r['change']} | {r['steps']:,} x {r['batch_size']} "
                     f"| {r['val_bleu']:.2f} | {delta} | {r['val_chrf']:.2f} "
                     f"| {r['val_bleu_as_is']:.2f} | {r['val_chrf_as_is']:.2f} "
                     f"| {r['checkpoint_average']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="training time per variant (validation excluded; the same for all)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"from {list(VARIANTS)}")
    parser.add_argument("--val-sources", type=int, default=1000,
                        help="validation sources translated and scored per variant")
    parser.add_argument("--chunk-steps", type=int, default=500,
                        help="training steps per checkpoint (validation, averaging)")
    parser.add_argument("--seed", type=int, default=1337, help="split, weights and shuffling")
    parser.add_argument("--out", default=os.path.join(ROOT, "reports", "ablation"))
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if args.minutes <= 0 or args.val_sources < 1 or args.chunk_steps < 1:
        parser.error("--minutes, --val-sources and --chunk-steps must be positive")
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)

    rows = []
    for variant in variants:
        row = measure(variant, args.out, args.minutes, args.chunk_steps, args.val_sources,
                      args.seed)
        rows.append(row)
        print(f"{variant:18s} {row['steps']:>6,} steps  val BLEU {row['val_bleu']:6.2f}  "
              f"chrF {row['val_chrf']:6.2f}  as-is {row['val_bleu_as_is']:6.2f}  "
              f"({row['train_seconds']:.0f} s training)", flush=True)

    markdown = table(rows)
    print("\n" + markdown + "\n")
    result = {"minutes": args.minutes, "val_sources": args.val_sources,
              "chunk_steps": args.chunk_steps, "seed": args.seed, "rows": rows}
    with open(os.path.join(args.out, "ablation.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(args.out, "ablation.md"), "w") as f:
        f.write(f"Training time per variant: {args.minutes:g} min (validation excluded); "
                f"validation BLEU/chrF on the "
                f"first {args.val_sources:,} validation sources (greedy, all references).\n\n")
        f.write(markdown + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
