"""`nmt`: train, translate, evaluate, compare, export and serve English->Spanish translators.

examples:
  nmt data                                            # find the corpus, verify it, print counts
  nmt train --model transformer --preset small --out runs/small
  nmt train --preset cpu-best --print-config          # the resolved settings, without training
  nmt translate --run runs/small "I love AI." "Where is the station?"
  nmt evaluate --run runs/small --decode beam --num-beams 4
  nmt compare --runs runs/small-rnn runs/small --out reports/compare
  nmt compare --train --preset small --budget-minutes 20 --out reports/compare
  nmt export --run runs/small --out exported/small
  nmt export --run runs/small --format ctranslate2 --quantization int8 --out exported/small-ct2-int8
  nmt translate --run exported/small-ct2-int8 "Where is the station?"   # CTranslate2 decodes
  nmt serve --run runs/small-rnn --run runs/small    # explore in the browser: 127.0.0.1:7860

Errors in arguments, the corpus or a run folder are one line on stderr and exit code 2; anything
else is a bug (exit code 1; NMT_DEBUG=1 shows the traceback).
"""

import argparse
import dataclasses
import json
import os
import sys


def _quiet_tensorflow():
    """Keep TensorFlow's start-up lines (absl, CUDA stubs, oneDNN notices) off stderr, unless
    NMT_DEBUG=1: its log levels are set before it is imported, and as some C++ lines print before
    any level is read, it is imported with file descriptor 2 on /dev/null, then 2 is restored
    (errors after the import reach stderr). Runs before the imports below, which import it."""
    if os.environ.get("NMT_DEBUG"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO, WARNING and ERROR lines
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" in sys.modules:  # imported already (by a test, a notebook): nothing to hide
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no stderr (2>&-): nothing to hide
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_quiet_tensorflow()

from data.corpus import SPLIT_MODES, group_references, load_corpus, split_corpus
from data.errors import NmtError
from nmt.compare import MODEL_ORDER, compare_runs, comparison_configs, train_and_compare
from nmt.ctranslate2 import QUANTIZATIONS, export_ctranslate2, is_export, load_translator
from nmt.config import (PRESET_CHOICES, Decoding, add_config_arguments, config_from_arguments,
                        decoding_from_arguments, presets_table)
from nmt.evaluation import (evaluate_translator, held_out_pairs, training_summary,
                            write_scored_texts)
from nmt.export import SIGNATURES, export_versioned
from nmt.hardware import cpu_description, use_logical_cpus
from nmt.plotting import plot_attention
from nmt.inputs import read_lines, typed_lines
from nmt.runs import write_text
from nmt.serve import DEFAULT_HOST, DEFAULT_MAX_CHARS, DEFAULT_PORT, serve
from nmt.training import train
from nmt.translator import Translator

EXIT_USAGE = 2
EXIT_BUG = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool its reader left


class CommandError(NmtError):
    """An error in the command's arguments, printed as one line (exit 2)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows "(default: X)" after a flag's help when it has a default and does not say it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" not in text and action.default not in (None, False, argparse.SUPPRESS) \
                and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _add_corpus_arguments(parser):
    parser.add_argument("--corpus", help="corpus file: spa-eng.zip, spa.txt or an English<TAB>Spanish "
                        "file (default: $SPA_ENG_PATH, the Keras cache, else download)")
    parser.add_argument("--skip-bad-lines", action="store_true",
                        help="skip malformed corpus lines (and report how many) instead of failing")


XLA_HELP = ("XLA-compile the decoder (a Keras run): on a CPU it decodes faster (greedy at batch "
            "32: 2.5x here, benchmarks/README.md) after compiling for several seconds per batch "
            "shape; its rounding may change a rare output")


def build_parser():
    parser = argparse.ArgumentParser(prog="nmt", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, help, epilog=None):
        return commands.add_parser(name, help=help, description=help, epilog=epilog,
                                   formatter_class=HelpFormatter)

    data = command("data", "locate or download the corpus, verify it, print counts")
    _add_corpus_arguments(data)
    data.add_argument("--split", choices=SPLIT_MODES, default="source", help="how to split")
    data.add_argument("--seed", type=int, default=1337, help="seed of the split")

    train = command("train", "train a translator into a run folder (an interrupted run resumes)",
                    epilog="presets:\n" + presets_table())
    train.add_argument("--preset", choices=PRESET_CHOICES, default="small",
                       help="starting values (the presets table at the end says what each sets): "
                       "tiny (tests), small (the CPU default and the demo), book-small (the "
                       "book's recipe at small sizes, for the lessons), book (the book's sizes "
                       "with the 3rd edition's attention), book-2nd (the 2nd edition's "
                       "Transformer: key_dim = embed_dim), cpu-best (the best recipe for 2 CPU "
                       "cores in 2 hours); every flag below overrides the preset's value "
                       "(default: small)")
    train.add_argument("--out", help="run folder (created; resumed if unfinished); required "
                       "unless --print-config")
    train.add_argument("--overwrite", action="store_true", help="delete the run folder first")
    train.add_argument("--print-config", action="store_true",
                       help="print the resolved config as JSON and exit without training")
    train.add_argument("--cpu-devices", type=int,
                       help="split the CPU into N logical devices (to try --strategy mirrored "
                       "without GPUs)")
    train.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bar")
    add_config_arguments(train)

    translate = command("translate", "translate sentences with a trained run (typed one at a "
                        "time when standard input is a terminal)")
    translate.add_argument("--run", required=True,
                           help="run folder, or a CTranslate2 export (nmt export --format "
                           "ctranslate2), which CTranslate2 decodes")
    translate.add_argument("sentences", nargs="*",
                           help="sentences (default: --input, else standard input: piped lines, "
                           "or at a terminal a prompt that translates each line typed; Ctrl-D "
                           "quits)")
    translate.add_argument("--input", help="file with one English sentence per line ('-' = "
                           "stdin); a progress bar on stderr when that is a terminal")
    translate.add_argument("--format", choices=("text", "jsonl"), default="text",
                           help="text: one translation per line | jsonl: one JSON object per "
                           "input line: source, translation, score (beam: log-probability / "
                           "GNMT length penalty; greedy and sample: the sum of the tokens' "
                           "log-probabilities) and, with --nbest, nbest: [{translation, "
                           "score}, ...]")
    translate.add_argument("--nbest", type=int, metavar="N",
                           help="the N best translations of each input from beam search (implied), "
                           "best first: in text, one 'SCORE<TAB>TRANSLATION' line each and an "
                           "empty line after each input's block (as Marian's and fairseq's n-best "
                           "lists; score as in --format jsonl); N <= --num-beams, which it raises "
                           "when not given (default: 0 = the best only, no score)")
    Decoding.add_arguments(translate)
    translate.add_argument("--jit-compile", action="store_true", help=XLA_HELP)
    translate.add_argument("--plot-attention", metavar="DIR",
                           help="save one cross-attention heatmap PNG per sentence in DIR")
    translate.add_argument("--head", type=int, help="plot this attention head (default: mean)")

    evaluate = command("evaluate", "accuracy, BLEU and chrF on the test split")
    evaluate.add_argument("--run", required=True, help="run folder")
    _add_corpus_arguments(evaluate)
    Decoding.add_arguments(evaluate)
    evaluate.add_argument("--jit-compile", action="store_true", help=XLA_HELP)
    evaluate.add_argument("--limit", type=int, default=0, help="score only the first N sources")
    evaluate.add_argument("--split-name", choices=("test", "val"), default="test")
    evaluate.add_argument("--json", help="write the report here (default: RUN/eval_SPLIT.json)")
    evaluate.add_argument("--any-corpus", action="store_true",
                          help="score on a corpus whose split is not the run's (the test "
                          "sentences may have been trained on); the report says so and goes "
                          "to RUN/eval_SPLIT_other-corpus.json")

    compare = command("compare", "compare trained runs (or train gru, rnn, transformer first) "
                      "in a report")
    compare.add_argument("--runs", nargs="+", help="run folders to compare")
    compare.add_argument("--train", action="store_true",
                         help="train the models first (same preset, data and budget) into OUT/runs")
    compare.add_argument("--models", default=",".join(MODEL_ORDER),
                         help="with --train: comma-separated models")
    compare.add_argument("--preset", choices=PRESET_CHOICES, default="small",
                         help="with --train: the preset of every model")
    compare.add_argument("--budget-minutes", type=float,
                         help="with --train: training-time budget for each model (validation excluded)")
    compare.add_argument("--epochs", type=int, help="with --train: epochs for each model")
    compare.add_argument("--max-pairs", type=int, help="with --train: use a random N-pair sample")
    compare.add_argument("--steps-per-epoch", type=int, help="with --train: cap batches per epoch")
    compare.add_argument("--out", required=True, help="report folder")
    compare.add_argument("--corpus", help="corpus file (default: $SPA_ENG_PATH, cache, download)")
    compare.add_argument("--any-corpus", action="store_true",
                         help="compare on a corpus whose split is not the runs' (the report "
                         "says so)")
    compare.add_argument("--limit", type=int, default=0, help="score only the first N test sources")
    compare.add_argument("--num-beams", type=int, default=4, help="beams for the beam-search scores")
    compare.add_argument("--print-config", action="store_true",
                         help="with --train: print each model's resolved config (JSON) and stop")

    export = command("export", "write a TensorFlow SavedModel for TensorFlow Serving (strings "
                     "-> strings, greedy (signature translate) and beam (translate_beam)), or "
                     "a CTranslate2 model of a Transformer run (--format ctranslate2) that nmt "
                     "translate and nmt serve load")
    export.add_argument("--run", required=True, help="run folder")
    export.add_argument("--out", required=True,
                        help="savedmodel: model folder, the SavedModel goes to OUT/1 (or the next "
                        "free version, OUT/2, ...), the layout TensorFlow Serving watches | "
                        "ctranslate2: the new (or empty) folder of the CTranslate2 model")
    export.add_argument("--format", choices=("savedmodel", "ctranslate2"), default="savedmodel",
                        help="savedmodel: TensorFlow SavedModel | ctranslate2: a CTranslate2 "
                        "model (Transformer runs; docs/ctranslate2.md)")
    export.add_argument("--quantization", choices=QUANTIZATIONS,
                        help="with --format ctranslate2: the weights' type (int8: 8-bit matrix "
                        "products, about 4x smaller; default: float32, the same numbers as "
                        "the run)")
    export.add_argument("--decode", choices=("greedy", "beam"),
                        help="with --format savedmodel: which of the two signatures is also "
                        "serving_default (default: greedy)")
    export.add_argument("--num-beams", type=int,
                        help="with --format savedmodel: beams of translate_beam (default: 4)")
    export.add_argument("--alpha", type=float,
                        help="with --format savedmodel: GNMT length penalty of translate_beam "
                        "(0 = none; default: 0.6)")

    serve = command("serve", "a translation and attention explorer in the browser")
    serve.add_argument("--run", required=True, action="append", dest="runs", metavar="RUN",
                       help="run folder or CTranslate2 export; give --run twice to compare two "
                       "runs side by side")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help="address to listen on (0.0.0.0: every network, no login)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    serve.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                       help="the longest input accepted, in characters")
    return parser


def cmd_data(args):
    corpus = load_corpus(args.corpus, skip_bad_lines=args.skip_bad_lines)
    print(f"sha256 {corpus.sha256}: " + ("the book's spa.txt, verified" if corpus.is_book_corpus
                                          else "not the book's spa.txt (another version or file)"))
    splits = split_corpus(corpus.pairs, seed=args.seed, mode=args.split)
    print(f"split '{args.split}' (seed {args.seed}):")
    for name in ("train", "val", "test"):
        pairs = getattr(splits, name)
        print(f"  {name:5s} {len(pairs):>8,} pairs  {len({e for e, _ in pairs}):>8,} English sources")
    multi = sum(1 for refs in group_references(corpus.pairs).values() if len(refs) > 1)
    print(f"English sentences with several translations: {multi:,}")


def train_config(args):
    """The resolved `Config` of parsed `nmt train` arguments (the preset, then the flags given)."""
    return config_from_arguments(args, args.preset)


def cmd_train(args):
    config = train_config(args)
    if args.print_config:
        print(config.to_json())
        return
    if args.out is None:
        raise CommandError("--out RUN_FOLDER is required to train (only --print-config goes "
                           "without it)")
    if args.cpu_devices is not None:
        if args.cpu_devices < 1:
            raise CommandError(f"--cpu-devices {args.cpu_devices} must be >= 1")
        print("logical CPU devices:", ", ".join(use_logical_cpus(args.cpu_devices)))
    train(config, args.out, overwrite=args.overwrite, verbose=2 if args.quiet else 1)


def _read_inputs(args):
    """The sentences to translate; None for the interactive mode (none given, no --input, and
    standard input is a terminal)."""
    if args.sentences:
        if args.input:
            raise CommandError("give sentences or --input, not both")
        return list(args.sentences)
    if args.input is None and sys.stdin is not None and sys.stdin.isatty():
        return None
    return read_lines(args.input)


PROMPT = "en> "


def cmd_translate(args):
    decoding = decoding_from_arguments(args)
    if args.plot_attention and os.path.exists(args.plot_attention) and \
            not os.path.isdir(args.plot_attention):
        raise CommandError(f"--plot-attention {args.plot_attention}: is a file; give a folder")
    sentences = _read_inputs(args)
    translator = load_translator(args.run)
    _use_xla(args, translator)
    if args.plot_attention and getattr(translator, "attention_note", None):
        raise CommandError(f"--plot-attention: {args.run}: {translator.attention_note}")
    translator.check_decoding(decoding)
    if sentences is None:
        _translate_typed_lines(args, translator, decoding)
        return
    progress = bool(args.input) and sys.stderr is not None and sys.stderr.isatty()
    _translate_lines(args, translator, decoding, sentences, progress=progress)


def _use_xla(args, translator):
    """--jit-compile: the translator's decoders are XLA-compiled (`Translator.jit_compile`)."""
    if not args.jit_compile:
        return
    if is_export(args.run):
        raise CommandError(f"--jit-compile: {args.run} is a CTranslate2 export, which decodes "
                           "with its own engine")
    translator.jit_compile = True


def _translate_typed_lines(args, translator, decoding):
    """The interactive mode: a prompt on stderr, each line typed translated on stdout as it
    comes, with the model loaded once; Ctrl-D quits (exit 0), Ctrl-C interrupts (exit 130)."""
    print(f"nmt translate: {args.run} ({translator.config.model}): type an English sentence and "
          "Enter; Ctrl-D quits", file=sys.stderr)
    try:
        for number, line in enumerate(typed_lines(PROMPT), 1):
            # Another seed per line: retyping a sentence draws anew, as lines of a file would.
            typed = dataclasses.replace(decoding, seed=decoding.seed + number - 1)
            _translate_lines(args, translator, typed, [line], first=number)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise


def _translate_lines(args, translator, decoding, sentences, first=1, progress=False):
    """Translate `sentences` (numbered from `first` in messages), write them in `args.format`,
    and plot their attention if asked."""
    for i in translator.overlong(sentences):
        unit = "words" if translator.config.tokenizer == "word" else "tokens"
        print(f"warning: input line {first + i} is longer than {translator.config.sequence_length} "
              f"{unit} and was truncated", file=sys.stderr)
    found = translator.hypotheses(sentences, decoding, scores=args.format == "jsonl",
                                  progress=progress)
    sys.stdout.write("".join(_formatted(args.format, sentence, hypotheses, decoding.nbest)
                             for sentence, hypotheses in zip(sentences, found)))
    sys.stdout.flush()
    if args.plot_attention:
        for i, (sentence, hypotheses) in enumerate(zip(sentences, found)):
            row = hypotheses[0].ids if hypotheses else None
            if row is None:
                continue
            attention = translator.attention(sentence, row)
            if attention is None:
                raise CommandError(f"model '{translator.config.model}' has no attention to plot")
            weights, source_tokens, target_tokens = attention
            path = os.path.join(args.plot_attention, f"attention_{first + i:03d}.png")
            if args.head is not None and not 0 <= args.head < weights.shape[0]:
                raise CommandError(f"--head {args.head}: this model has heads 0 to "
                                   f"{weights.shape[0] - 1}")
            plot_attention(weights, source_tokens, target_tokens, path, head=args.head,
                           title=f"{sentence[:60]}")
            print(f"attention plot: {path}", file=sys.stderr)


def _formatted(output_format, sentence, hypotheses, nbest):
    """The output for one input: its translation line, its n-best block ('SCORE<TAB>TEXT' lines
    and an empty line), or its JSON line."""
    def score(value):
        return None if value is None else round(value, 4)

    if output_format == "jsonl":
        best = hypotheses[0] if hypotheses else None
        entry = {"source": sentence, "translation": best.translation if best else "",
                 "score": score(best.score) if best else None}
        if nbest:
            entry["nbest"] = [{"translation": h.translation, "score": score(h.score)}
                              for h in hypotheses]
        return json.dumps(entry, ensure_ascii=False) + "\n"
    if nbest:
        return "".join(f"{h.score:.4f}\t{h.translation}\n" for h in hypotheses) + "\n"
    return hypotheses[0].translation + "\n"


def cmd_evaluate(args):
    decoding = decoding_from_arguments(args)
    if args.limit < 0:
        raise CommandError(f"--limit {args.limit} must be >= 0")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        raise CommandError(f"--json {args.json}: its folder does not exist")
    if is_export(args.run):
        raise CommandError(f"--run {args.run}: a CTranslate2 export; evaluate the run folder it "
                           "was exported from (masked accuracy needs the Keras model), or score "
                           "nmt translate's output")
    translator = Translator.load(args.run)
    _use_xla(args, translator)
    config = translator.config
    if args.corpus:
        config.corpus = args.corpus
    if args.skip_bad_lines:
        config.skip_bad_lines = True
    pairs, same_split = held_out_pairs(args.run, config, args.split_name,
                                       any_corpus=args.any_corpus)
    report, texts = evaluate_translator(translator, pairs, limit=args.limit,
                                        batch_size=decoding.batch_size,
                                        progress=sys.stdout.isatty(), return_texts=True,
                                        seed=decoding.seed, **decoding.options())
    report["run"] = args.run
    report["split"] = args.split_name
    report["corpus_split_is_the_runs"] = same_split
    report["training"] = training_summary(args.run, config)
    report["cpu"] = cpu_description()  # where decode sentences/s was measured
    rows = [("masked accuracy", f"{report['masked_accuracy']:.4f}"), ("loss", f"{report['loss']:.4f}"),
            ("BLEU", f"{report['bleu']:.2f}"), ("chrF", f"{report['chrf']:.2f}"),
            ("BLEU as-is (13a)", f"{report['bleu_as_is']:.2f}"),
            ("chrF as-is", f"{report['chrf_as_is']:.2f}"),
            ("sources / references", f"{report['sources']:,} / {report['references']:,}"),
            ("decode sentences/s", f"{report['decode_sentences_per_s']:.1f}")]
    print(f"{args.run} on {args.split_name} ({report['decode']}, {report['normalisation']}):")
    trained = report["training"]
    if trained:
        budget = (f", budget {trained['budget_minutes']:g} min" if trained["budget_minutes"]
                  else "")
        print(f"  trained {trained['epochs']:g} epochs ({trained['steps']:,} steps) in "
              f"{trained['train_minutes']:.1f} min of training{budget}")
    print(f"  evaluated on {report['cpu']}")
    for name, value in rows:
        print(f"  {name:22s} {value}")
    print("  BLEU by source length (words):")
    for bucket, entry in report["by_length"].items():
        scores = f"BLEU {entry['bleu']:6.2f}  chrF {entry['chrf']:6.2f}" if entry["sources"] else "-"
        print(f"    {bucket:6s} {entry['sources']:>7,} sources  {scores}")
    for example in report["examples"][:3]:
        print(f"  {example['source']!r} -> {example['translation']!r}")
    if same_split is False:
        print("  note: this corpus does not give the split the run was trained on "
              "(--any-corpus); these scores are not the run's held-out scores")
    print("  sacrebleu signatures (book-normalised = the same after lowercasing and removing "
          "punctuation):")
    print(f"    BLEU {report['bleu_signature']}")
    print(f"    chrF {report['chrf_signature']}")
    suffix = "_other-corpus" if same_split is False else ""
    path = args.json or os.path.join(args.run, f"eval_{args.split_name}{suffix}.json")
    stem = path[:-len(".json")] if path.endswith(".json") else path
    report["scored_texts"] = [os.path.basename(p) for p in write_scored_texts(stem, texts)]
    write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"report written to {path}; what was scored: {', '.join(report['scored_texts'])} "
          "beside it")


def cmd_compare(args):
    if args.train == bool(args.runs):
        raise CommandError("give either --runs RUN [RUN ...] or --train")
    if args.runs and args.print_config:
        raise CommandError("--print-config is for --train (the configs it would train)")
    if args.runs:
        compare_runs(args.runs, args.out, corpus=args.corpus, limit=args.limit,
                     num_beams=args.num_beams, any_corpus=args.any_corpus)
        return
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODEL_ORDER]
    if unknown or not models:
        raise CommandError(f"--models {args.models}: choose from {','.join(MODEL_ORDER)}")
    if not args.budget_minutes and not args.epochs:
        raise CommandError("with --train, give --budget-minutes M or --epochs N")
    overrides = {k: v for k, v in (("max_pairs", args.max_pairs),
                                   ("steps_per_epoch", args.steps_per_epoch)) if v}
    if args.print_config:
        configs = comparison_configs(models, args.preset, args.budget_minutes, corpus=args.corpus,
                                     epochs=args.epochs, overrides=overrides)
        print(json.dumps({model: dataclasses.asdict(config) for model, config in configs.items()},
                         indent=2, sort_keys=True))
        return
    train_and_compare(models, args.preset, args.budget_minutes, args.out, corpus=args.corpus,
                      epochs=args.epochs, overrides=overrides, limit=args.limit,
                      num_beams=args.num_beams)


def cmd_export(args):
    if args.format == "ctranslate2":
        _export_ctranslate2(args)
        return
    if args.quantization:
        raise CommandError(f"--quantization {args.quantization} is for --format ctranslate2 (a "
                           "SavedModel keeps the run's weights)")
    args.decode = args.decode or "greedy"
    args.num_beams = 4 if args.num_beams is None else args.num_beams
    args.alpha = 0.6 if args.alpha is None else args.alpha
    if args.num_beams < 1:
        raise CommandError(f"--num-beams {args.num_beams} must be >= 1")
    if args.alpha < 0:
        raise CommandError(f"--alpha {args.alpha} must be >= 0")
    translator = Translator.load(args.run)
    path = export_versioned(translator, args.out, strategy=args.decode,
                            num_beams=args.num_beams, alpha=args.alpha)
    version = os.path.basename(path)
    print(f"SavedModel version {version} written to {path}: signatures translate (greedy) and "
          f"translate_beam (beam {args.num_beams}, alpha {args.alpha:g}), serving_default = "
          f"{SIGNATURES[args.decode]}; input 'english', output 'spanish' (strings).\n"
          f"In Python: tf.saved_model.load({path!r}).translate(tf.constant([...]))['spanish'] "
          "(import tensorflow_text first for a WordPiece run)")


def _export_ctranslate2(args):
    given = [flag for flag, value in (("--decode", args.decode), ("--num-beams", args.num_beams),
                                      ("--alpha", args.alpha)) if value is not None]
    if given:
        raise CommandError(f"{given[0]} is for --format savedmodel; a CTranslate2 export takes "
                           "the decoding options of nmt translate when it translates")
    quantization = args.quantization or "float32"
    translator = Translator.load(args.run)
    path = export_ctranslate2(translator, args.out, quantization=quantization, run=args.run)
    print(f"CTranslate2 model ({quantization}) written to {path}: nmt translate --run {path} "
          f"... and nmt serve --run {path} decode with it; in Python, "
          f"nmt.ctranslate2.load_translator({path!r}).translate([...]), or "
          f"ctranslate2.Translator({path!r}) with this project's tokenizers in {path}/run")


def cmd_serve(args):
    if args.max_chars < 1:
        raise CommandError(f"--max-chars {args.max_chars} must be >= 1")
    serve(args.runs, host=args.host, port=args.port, max_chars=args.max_chars)


COMMANDS = {"data": cmd_data, "train": cmd_train, "translate": cmd_translate,
            "evaluate": cmd_evaluate, "compare": cmd_compare, "export": cmd_export,
            "serve": cmd_serve}


def main(argv=None):
    args = build_parser().parse_args(argv)
    if sys.stdout is None:  # started with stdout closed (>&-)
        print(f"nmt {args.command}: error: standard output is closed", file=sys.stderr)
        return EXIT_USAGE
    try:
        COMMANDS[args.command](args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`nmt translate ... | head -1`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except NmtError as error:
        if os.environ.get("NMT_DEBUG"):
            raise
        print(f"nmt {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"nmt {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: say so in one line, or show it with NMT_DEBUG=1
        if os.environ.get("NMT_DEBUG"):
            raise
        print(f"nmt {args.command}: internal error: {type(error).__name__}: {error} "
              "(this is a bug; NMT_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_BUG
    return 0


if __name__ == "__main__":
    sys.exit(main())
