"""Translation speed on CPU: our TF decoder vs CTranslate2 float32 and int8, same run, same sources.

The run is exported twice (`nmt export --format ctranslate2`, float32 and int8, into a temporary
folder), then each engine translates the same test sources through the same
`Translator.hypotheses` call that `nmt translate` makes (tokenization and detokenization
included, sentences sorted by length and decoded `batch` at a time), greedy and beam 4
(alpha 0.6), at batch sizes 1 and 32. Each timing follows a warm-up call on the first batch
(TF traces its decoder once per decoding; CTranslate2 loads lazily), or, for the TF decoder
XLA-compiled (`tf-xla`: `Translator.jit_compile`, which compiles once per batch shape), a whole
untimed pass (its compile time is reported as the warm-up). Reported per row:
sentences/s, target tokens/s (tokens generated, [end] included), the speed-up over TF at the same
decoding and batch, and the fraction of outputs identical to TF's. Then BLEU (book-normalised and
as written, `nmt.scoring`) of each engine at batch 32 against every reference of the sources,
and int8 minus float32.

Run:
    python benchmarks/ctranslate2_speed.py --run runs/ct2-small [--sources 1000] [--quick]
The run must be a Transformer run (e.g. `nmt train --preset small --budget-minutes 3 --out
runs/ct2-small`); `--quick` translates 8 sources (a test). The CPU's model and the flags that
matter for these kernels (avx2, avx512f, avx512_bf16, avx512_vnni, amx) are printed first. The
last line printed is one JSON object.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from benchmarks.serve_load import cpu_model  # noqa: E402
from data.corpus import group_references  # noqa: E402
from nmt.config import Decoding  # noqa: E402
from nmt.ctranslate2 import CTranslate2Translator, export_ctranslate2  # noqa: E402
from nmt.scoring import book_normalised, corpus_scores  # noqa: E402
from nmt.training import prepare_splits  # noqa: E402
from nmt.translator import Translator  # noqa: E402

DEFAULT_RUN = os.path.join(ROOT, "runs", "ct2-small")
# "tf-xla": the same TF decoder XLA-compiled (`Translator.jit_compile`), where the TF gap is.
ENGINES = ("tf", "tf-xla", "ct2-float32", "ct2-int8")
DECODINGS = {"greedy": dict(decode="greedy"), "beam4": dict(decode="beam", num_beams=4, alpha=0.6)}
BATCH_SIZES = (1, 32)
# --isa: the name each library's limit takes.
ISA_NAMES = {"avx2": "AVX2"}
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")


def cpu_flags():
    """The flags of FLAGS this CPU has (from /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            line = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        line = ""
    present = set(line.partition(":")[2].split())
    return [flag for flag in FLAGS if flag in present]


def generated_tokens(hypothesis, end_id):
    """Tokens a hypothesis generated after [start], [end] included (0 for a blank input)."""
    if hypothesis.ids is None:
        return 0
    ids = [int(i) for i in hypothesis.ids[1:]]
    if end_id in ids:
        return ids.index(end_id) + 1
    return sum(1 for i in ids if i)


def timed(translator, sources, decoding):
    """(seconds, outputs, target tokens, warm-up seconds) of translating `sources`, after a
    warm-up: the first batch, or with XLA every batch (it compiles once per shape)."""
    started = time.perf_counter()
    translator.hypotheses(sources if translator.jit_compile else
                          sources[: decoding.batch_size], decoding)
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    found = translator.hypotheses(sources, decoding)
    seconds = time.perf_counter() - started
    end_id = translator.target_tokenizer.end_id
    return (seconds, [h[0].translation for h in found],
            sum(generated_tokens(h[0], end_id) for h in found), warm_up)


def bleu(outputs, references):
    """Book-normalised BLEU and as-is BLEU (13a) against every reference."""
    return {"bleu": corpus_scores(*book_normalised(outputs, references))["bleu"],
            "bleu_as_is": corpus_scores(outputs, references)["bleu"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=DEFAULT_RUN, help="a Transformer run folder")
    parser.add_argument("--sources", type=int, default=1000, help="test sources to translate")
    parser.add_argument("--ct2-threads", type=int, default=1,
                        help="CTranslate2 intra_threads (1: nmt's default; 0: CTranslate2's, "
                        "one per core)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"comma-separated, from {','.join(ENGINES)} (tf is always run: the "
                        "reference)")
    parser.add_argument("--quick", action="store_true", help="8 sources: a smoke test")
    parser.add_argument("--isa", choices=["avx2"],
                        help="limit TensorFlow's oneDNN kernels, XLA and CTranslate2 to AVX2 "
                        "(ONEDNN_MAX_CPU_ISA, --xla_cpu_max_isa, CT2_FORCE_CPU_ISA; the script "
                        "starts again with them set): how an AVX2-only CPU's kernels run, on "
                        "this one")
    args = parser.parse_args(argv)
    if args.isa and os.environ.get("CT2_FORCE_CPU_ISA") != ISA_NAMES[args.isa]:
        # Read when TensorFlow and CTranslate2 load, which this module has done: start again.
        name = ISA_NAMES[args.isa]
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA=name, CT2_FORCE_CPU_ISA=name,
                   XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_max_isa={name}".strip())
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__),
                                   *(sys.argv[1:] if argv is None else argv)], env)
    chosen = set(args.engines.split(",")) | {"tf"}
    if chosen - set(ENGINES):
        parser.error(f"--engines {args.engines}: choose from {','.join(ENGINES)}")
    engine_names = [engine for engine in ENGINES if engine in chosen]
    count = 8 if args.quick else args.sources

    translator = Translator.load(args.run)
    splits = prepare_splits(translator.config, verbose=False)
    grouped = group_references(splits.test)
    sources = list(grouped)[:count]
    references = [grouped[source] for source in sources]
    flags = cpu_flags()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; flags: "
          f"{' '.join(flags) or 'none of ' + ', '.join(FLAGS)}"
          + ("" if any(f.startswith("amx") for f in flags) else " (no AMX)")
          + (f"; kernels limited to {ISA_NAMES[args.isa]} (--isa)" if args.isa else ""))
    print(f"run: {args.run} ({translator.config.model}, {translator.config.tokenizer}, "
          f"precision {translator.config.precision}); {len(sources):,} test sources; "
          f"TensorFlow {tf.__version__}, CTranslate2 intra_threads: {args.ct2_threads}")

    folder = tempfile.mkdtemp(prefix="ct2-speed-")
    try:
        engines = {"tf": translator}
        if "tf-xla" in chosen:
            engines["tf-xla"] = Translator.load(args.run)
            engines["tf-xla"].jit_compile = True
        for quantization in [q for q in ("float32", "int8") if f"ct2-{q}" in chosen]:
            path = export_ctranslate2(translator, os.path.join(folder, quantization),
                                      quantization=quantization, run=args.run)
            engines[f"ct2-{quantization}"] = CTranslate2Translator.load(
                path, intra_threads=args.ct2_threads)
        rows, outputs = [], {}
        for decoding_name, options in DECODINGS.items():
            for batch in BATCH_SIZES:
                decoding = Decoding(batch_size=batch, **options)
                for engine in engine_names:
                    seconds, texts, tokens, warm_up = timed(engines[engine], sources, decoding)
                    outputs[engine, decoding_name, batch] = texts
                    reference = outputs["tf", decoding_name, batch]
                    rows.append({"engine": engine, "decoding": decoding_name, "batch": batch,
                                 "seconds": round(seconds, 3), "warm_up_seconds": round(warm_up, 2),
                                 "sentences_per_s": round(len(sources) / seconds, 1),
                                 "tokens_per_s": round(tokens / seconds, 1),
                                 "identical_to_tf": round(sum(a == b for a, b in
                                                              zip(texts, reference))
                                                          / len(sources), 4)})
                    print(f"  timed {engine} {decoding_name} batch {batch}: {seconds:.1f} s "
                          f"(warm-up {warm_up:.1f} s)",
                          file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    speed = {(r["decoding"], r["batch"]): r["sentences_per_s"] for r in rows if r["engine"] == "tf"}
    print(f"\n{'engine':12s} {'decoding':8s} {'batch':>5s} {'sentences/s':>12s} {'tokens/s':>10s}"
          f" {'vs TF':>7s} {'identical to TF':>16s}")
    for r in rows:
        r["speedup_vs_tf"] = round(r["sentences_per_s"] / speed[r["decoding"], r["batch"]], 2)
        print(f"{r['engine']:12s} {r['decoding']:8s} {r['batch']:>5d} {r['sentences_per_s']:>12,.1f}"
              f" {r['tokens_per_s']:>10,.1f} {r['speedup_vs_tf']:>6.2f}x"
              f" {100 * r['identical_to_tf']:>15.1f}%")
    scores = {f"{engine} {name}": bleu(outputs[engine, name, 32], references)
              for name in DECODINGS for engine in engine_names}
    print(f"\nBLEU at batch 32 ({len(sources):,} sources, every reference; book-normalised / as "
          "written):")
    for key, value in scores.items():
        print(f"  {key:22s} {value['bleu']:6.2f} / {value['bleu_as_is']:6.2f}")
    int8_delta, ratio = {}, {}
    if {"ct2-int8", "ct2-float32"} <= chosen:
        int8_delta = {name: round(scores[f"ct2-int8 {name}"]["bleu"]
                                  - scores[f"ct2-float32 {name}"]["bleu"], 2) for name in DECODINGS}
        print("  int8 - float32 (book-normalised): "
              + ", ".join(f"{name} {delta:+.2f}" for name, delta in int8_delta.items()))
    if "ct2-float32" in chosen:
        ratio = {f"{name} batch {batch}": round(speed[name, batch] / next(
            r["sentences_per_s"] for r in rows if r["engine"] == "ct2-float32"
            and r["decoding"] == name and r["batch"] == batch), 3)
            for name in DECODINGS for batch in BATCH_SIZES}
        print("  TF sentences/s over CTranslate2 float32's: "
              + ", ".join(f"{key} {value:.2f}" for key, value in ratio.items()))
    print(json.dumps({"cpu": cpu_model(), "cores": os.cpu_count(), "flags": flags,
                      "isa": args.isa,
                      "run": args.run, "sources": len(sources), "rows": rows, "bleu": scores,
                      "int8_minus_float32_bleu": int8_delta, "tf_over_ct2_float32": ratio}))


if __name__ == "__main__":
    main()
