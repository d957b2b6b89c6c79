"""
Title: Counting parameters
What you learn: where a Transformer's parameters are (attention 4·d² + 4·d, feed-forward
    2·d·d_ff + d_ff + d, layer norm 2·d, embeddings and the output layer), how the formulas add up
    to the counts Keras reports for models built with our layers, how they compare with the
    paper's Table 3 (base 65M, big 213M), and the book's exact counts for its GRU seq2seq
    (34,869,912) and its Transformer (14,428,824).
Run: python chapters/11_counting_parameters.py [--quick] [--out DIR]
"""

try:  # python -m chapters.11_counting_parameters
    from chapters.common import check, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/11_counting_parameters.py
    from common import check, parse_args, pyplot, save_figure, section

import keras

# resolve_config and the presets are in nmt/config.py, build_model in nmt/translator.py
# (it calls build_transformer of models/transformer.py or build_gru of models/rnn.py, through
# models/registry.py), and parameter_counts (per top-level layer) in models/registry.py.
from nmt.config import resolve_config
from models.registry import parameter_counts
from nmt.translator import build_model

args = parse_args(__doc__.strip().splitlines()[0])

# Settings.
paper_vocab = 37000  # the paper's shared English-German BPE vocabulary ("about 37000 tokens")
paper_models = {  # Vaswani et al. 2017, Table 3: N, d_model, d_ff, h, reported parameters
    "base": dict(num_layers=6, embed_dim=512, dense_dim=2048, num_heads=8, reported=65e6),
    "big": dict(num_layers=6, embed_dim=1024, dense_dim=4096, num_heads=16, reported=213e6),
}
book_vocab = 15000  # the book's vocabulary (both languages)
build_vocab = paper_vocab  # vocabulary of the Keras models built at the paper's sizes
build_big = True  # building the big model takes ~1.2 GB of memory and some seconds
if args.quick:
    build_vocab, build_big = 1000, False  # formulas are still checked exactly at this vocabulary

"""## The formulas"""
section("The formulas")


def attention_params(d):
    """Multi-head attention with key_dim = d / h: Q, K, V and output projections, each d·d + d.

    The number of heads does not appear: h heads of width d/h have as many weights as one head
    of width d.
    """
    return 4 * d * d + 4 * d


def feed_forward_params(d, d_ff):
    """Dense(d_ff, relu) then Dense(d): d·d_ff + d_ff and d_ff·d + d."""
    return 2 * d * d_ff + d_ff + d


def layer_norm_params(d):
    """A gain (gamma) and a bias (beta) per feature."""
    return 2 * d


def encoder_layer_params(d, d_ff):
    """Self-attention + feed-forward, each followed by a layer norm."""
    return attention_params(d) + feed_forward_params(d, d_ff) + 2 * layer_norm_params(d)


def decoder_layer_params(d, d_ff):
    """Causal self-attention + cross-attention + feed-forward, each followed by a layer norm."""
    return 2 * attention_params(d) + feed_forward_params(d, d_ff) + 3 * layer_norm_params(d)


def transformer_params(d, d_ff, num_layers, vocab, tying="none", positions=0):
    """Parameters of an encoder-decoder Transformer; returns {part: count}.

    tying: "none" (source embedding, target embedding and output layer each have their own
    vocab·d matrix; the output layer has a bias, as our Keras model), "embeddings" (one
    embedding matrix shared by both languages, a separate output layer) or "all" (the paper,
    section 3.4: one matrix for both embeddings and the pre-softmax projection).
    positions: learned positions per embedding (0 for the paper's sinusoids, which have none).
    """
    embedding = vocab * d + positions * d
    parts = {
        "embeddings": {"none": 2, "embeddings": 1, "all": 1}[tying] * embedding,
        "encoder layers": num_layers * encoder_layer_params(d, d_ff),
        "decoder layers": num_layers * decoder_layer_params(d, d_ff),
        "output layer": 0 if tying == "all" else d * vocab + vocab,
    }
    parts["total"] = sum(parts.values())
    return parts


def gru_params(input_dim, units):
    """A Keras GRU (reset_after=True): 3 gates, each input·units + units·units + 2 biases."""
    return 3 * (input_dim * units + units * units + 2 * units)


for d, d_ff in ((512, 2048), (1024, 4096)):
    print(f"d_model={d}, d_ff={d_ff}: attention {attention_params(d):,}, feed-forward "
          f"{feed_forward_params(d, d_ff):,}, layer norm {layer_norm_params(d):,}, "
          f"encoder layer {encoder_layer_params(d, d_ff):,}, "
          f"decoder layer {decoder_layer_params(d, d_ff):,}")

"""## The formulas equal Keras' counts"""
section("The formulas equal Keras' counts")


def keras_model(embed_dim, dense_dim, num_heads, num_layers, vocab):
    """A Transformer built with our layers (models/transformer.py), no learned positions."""
    config = resolve_config("transformer", "book", embed_dim=embed_dim, dense_dim=dense_dim,
                            num_heads=num_heads, num_layers=num_layers, vocab_size=vocab,
                            positional=False)
    return build_model(config)


keras_counts = {}
for name, spec in paper_models.items():
    if name == "big" and not build_big:
        print("big: not built in --quick mode (the formulas are the same code as for base)")
        continue
    d, d_ff, n = spec["embed_dim"], spec["dense_dim"], spec["num_layers"]
    model = keras_model(d, d_ff, spec["num_heads"], n, build_vocab)
    counts = parameter_counts(model)
    formula = transformer_params(d, d_ff, n, build_vocab, tying="none")
    keras_counts[name] = counts["total"]
    print(f"{name} (N={n}, d_model={d}, d_ff={d_ff}, h={spec['num_heads']}, vocabulary "
          f"{build_vocab:,} per language): Keras {counts['total']:,}, formula {formula['total']:,}")
    check(counts["encoder_0"] == encoder_layer_params(d, d_ff),
          f"{name}: one encoder layer has {encoder_layer_params(d, d_ff):,} parameters")
    check(counts["decoder_0"] == decoder_layer_params(d, d_ff),
          f"{name}: one decoder layer has {decoder_layer_params(d, d_ff):,} parameters")
    check(counts["source_embedding"] == build_vocab * d, f"{name}: an embedding is vocab·d")
    check(counts["output"] == d * build_vocab + build_vocab,
          f"{name}: the output layer is d·vocab + vocab")
    check(counts["total"] == formula["total"], f"{name}: formula total equals model.count_params()")
    del model
    keras.backend.clear_session()

"""## Against the paper's Table 3"""
section("Against the paper's Table 3")

print(f"vocabulary: one shared BPE vocabulary of {paper_vocab:,} tokens for both languages\n")
print(f"{'assumption':<44} {'base':>13} {'gap to 65M':>12} {'big':>13} {'gap to 213M':>12}")
gaps = {}
for tying, label in (("none", "separate embeddings and output (our Keras)"),
                     ("embeddings", "shared embeddings, separate output"),
                     ("all", "embeddings = pre-softmax weights (paper)")):
    row = f"{label:<44}"
    for name, spec in paper_models.items():
        total = transformer_params(spec["embed_dim"], spec["dense_dim"], spec["num_layers"],
                                   paper_vocab, tying=tying)["total"]
        gap = total - spec["reported"]
        gaps[(tying, name)] = gap
        row += f" {total:>13,} {gap / 1e6:>+10.2f}M"
    print(row)
if build_big and build_vocab == paper_vocab:
    check(keras_counts["base"] == transformer_params(512, 2048, 6, paper_vocab)["total"]
          and keras_counts["big"] == transformer_params(1024, 4096, 6, paper_vocab)["total"],
          "the first row is what Keras counts for our layers at the paper's sizes")
for name in paper_models:
    closest = min(("none", "embeddings", "all"), key=lambda t: abs(gaps[(t, name)]))
    check(closest == "all", f"{name}: three-way weight sharing (paper section 3.4) is the closest")
    relative = gaps[("all", name)] / paper_models[name]["reported"]
    check(abs(relative) < 0.05, f"{name}: within 5% of Table 3 ({relative:+.1%})")
for name, spec in paper_models.items():
    layers = transformer_params(spec["embed_dim"], spec["dense_dim"], spec["num_layers"], 0,
                                tying="all")["total"]
    exact = (spec["reported"] - layers) / spec["embed_dim"]
    print(f"{name}: the encoder and decoder layers alone have {layers:,}; Table 3's "
          f"{spec['reported'] / 1e6:.0f}M would need a vocabulary of {exact:,.0f}")
print("Table 3 rounds to millions and the vocabulary is 'about' 37,000, so a gap of a few percent"
      "\nis all the precision the comparison has.")

"""## The book's models, exactly"""
section("The book's models, exactly")

config = resolve_config("gru", "book")
gru = build_model(config)
e, u, v = config.embed_dim, config.rnn_units, config.vocab_size
gru_formula = (2 * v * e  # source and target embeddings
               + 2 * gru_params(e, u)  # bidirectional encoder GRU
               + gru_params(e, u)  # decoder GRU
               + u * v + v)  # output layer
print(f"GRU seq2seq (embed {e}, units {u}, vocabulary {v:,}): Keras {gru.count_params():,}, "
      f"formula {gru_formula:,}")
for layer_name, count in parameter_counts(gru).items():
    print(f"  {layer_name:<18} {count:>12,}")
check(gru.count_params() == 34_869_912, "the book's GRU seq2seq has 34,869,912 parameters")
check(gru_formula == gru.count_params(), "the GRU formula gives the same number")

config = resolve_config("transformer", "book", positional=False)
transformer = build_model(config)
book_formula = transformer_params(config.embed_dim, config.dense_dim, config.num_layers,
                                  config.vocab_size)
print(f"\nTransformer (embed {config.embed_dim}, dense {config.dense_dim}, heads "
      f"{config.num_heads}, 1 layer each, vocabulary {config.vocab_size:,}): Keras "
      f"{transformer.count_params():,}, formula {book_formula['total']:,}")
for layer_name, count in parameter_counts(transformer).items():
    print(f"  {layer_name:<18} {count:>12,}")
check(transformer.count_params() == 14_428_824,
      "the book's Transformer has 14,428,824 parameters (token embeddings only)")
check(book_formula["total"] == transformer.count_params(), "the formula gives the same number")
with_positions = transformer_params(config.embed_dim, config.dense_dim, config.num_layers,
                                    config.vocab_size, positions=config.sequence_length)["total"]
positional = build_model(resolve_config("transformer", "book"))
print(f"with learned positions (2 x {config.sequence_length} x {config.embed_dim} more): "
      f"{positional.count_params():,}")
check(positional.count_params() == with_positions, "positions add 2·sequence_length·d")
print(f"\nThe GRU seq2seq has {gru.count_params() / transformer.count_params():.1f}x the "
      "Transformer's parameters: its 1024-unit output layer alone has "
      f"{u * v + v:,}.")

"""## Figure: where the parameters are"""
section("Figure: where the parameters are")

rows = {
    "book Transformer\n(vocab 15k)": book_formula,
    "paper base\n(shared 37k)": transformer_params(512, 2048, 6, paper_vocab, tying="all"),
    "paper big\n(shared 37k)": transformer_params(1024, 4096, 6, paper_vocab, tying="all"),
}
parts = ("embeddings", "encoder layers", "decoder layers", "output layer")
plt = pyplot()
fig, ax = plt.subplots(figsize=(8, 3.6))
for row, (label, counts) in enumerate(rows.items()):
    left = 0.0
    for part, color in zip(parts, ("#4c72b0", "#55a868", "#c44e52", "#8172b2")):
        width = counts[part] / 1e6
        ax.barh(row, width, left=left, color=color, label=part if row == 0 else None)
        left += width
    ax.text(left + 2, row, f"{counts['total'] / 1e6:.1f}M", va="center")
ax.set_yticks(range(len(rows)), list(rows))
ax.invert_yaxis()
ax.set_xlabel("parameters (millions)")
ax.set_title("Where a Transformer's parameters are")
ax.set_xlim(0, max(c["total"] for c in rows.values()) / 1e6 * 1.15)
ax.legend(loc="upper right")
save_figure(fig, args.out, "11_parameter_breakdown.png")
