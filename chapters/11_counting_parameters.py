# %% [markdown]
"""
# 11 · Counting parameters

**What you learn:** where a Transformer's parameters are (attention, feed-forward, layer norm,
embeddings, output layer), how the formulas add up to what Keras counts for models built with
our layers, how they compare with the paper's Table 3, and why the two editions of the book
report different totals for the same sizes: the 2nd edition's Transformer (key_dim =
embed_dim, 19,960,216 parameters) and the 3rd edition's (key_dim = embed_dim // num_heads,
14,428,824), both built here side by side.

**Book:** *Deep Learning with Python*, 2nd ed. §11.4.2 "Multi-head attention", §11.4.3 "The
Transformer encoder", §11.5.2 "Sequence-to-sequence learning with RNNs", §11.5.3
"Sequence-to-sequence learning with Transformer"; 3rd ed. §15.2.2 "Sequence-to-sequence learning
with RNNs", §15.3.2 "Transformer encoder block", §15.3.4 "Sequence-to-sequence learning with a
Transformer", §15.3.5 "Embedding positional information".

**Run:** `python chapters/11_counting_parameters.py [--quick] [--out DIR]` (or open it as a
notebook: `make notebooks`).
"""

# %%
try:  # python -m chapters.11_counting_parameters
    from chapters.common import check, parse_args, pyplot, save_figure, section
except ImportError:  # python chapters/11_counting_parameters.py
    from common import check, parse_args, pyplot, save_figure, section

import keras

# resolve_config and the presets ("book": the 3rd edition's blocks, "book-2nd": the 2nd
# edition's) are in nmt/config.py, build_model in nmt/translator.py (it calls build_transformer
# of models/transformer.py or build_gru of models/rnn.py, through models/registry.py), and
# parameter_counts (per top-level layer) in models/registry.py.
from models.registry import parameter_counts
from nmt.config import resolve_config
from nmt.translator import build_model

args = parse_args("11 · Counting parameters")

# Settings.
paper_vocab = 37000  # the paper's shared English-German BPE vocabulary ("about 37000 tokens")
paper_models = {  # Vaswani et al. 2017, Table 3: N, d_model, d_ff, h, reported parameters
    "base": dict(num_layers=6, embed_dim=512, dense_dim=2048, num_heads=8, reported=65e6),
    "big": dict(num_layers=6, embed_dim=1024, dense_dim=4096, num_heads=16, reported=213e6),
}
build_vocab = paper_vocab  # vocabulary of the Keras models built at the paper's sizes
build_big = True  # building the big model takes ~1.2 GB of memory and some seconds
if args.quick:
    build_vocab, build_big = 1000, False  # formulas are still checked exactly at this vocabulary

# %% [markdown]
"""
## The formulas

A Keras `MultiHeadAttention(num_heads=h, key_dim=k)` on d-wide vectors has four projections:
queries, keys and values map d to h·k (each d·h·k weights + h·k biases), and the output maps h·k
back to d (h·k·d + d). With k = d / h, as in the paper and the 3rd edition's blocks, h·k = d and
the layer has 4·d² + 4·d parameters, whatever the number of heads. The feed-forward block is
Dense(d_ff, relu) then Dense(d); a layer norm has a gain and a bias per feature.
"""

# %%
section("The formulas")


def attention_params(d, width=None):
    """Multi-head attention on d-wide vectors whose heads total `width` = num_heads·key_dim.

    Q, K and V: d·width + width each; output: width·d + d. The default width is d (key_dim =
    d / h, the 3rd edition's and the paper's): 4·d² + 4·d, independent of the number of heads.
    """
    width = d if width is None else width
    return 3 * (d * width + width) + width * d + d


def feed_forward_params(d, d_ff):
    """Dense(d_ff, relu) then Dense(d): d·d_ff + d_ff and d_ff·d + d."""
    return 2 * d * d_ff + d_ff + d


def layer_norm_params(d):
    """A gain (gamma) and a bias (beta) per feature."""
    return 2 * d


def encoder_layer_params(d, d_ff, width=None):
    """Self-attention + feed-forward, each followed by a layer norm."""
    return attention_params(d, width) + feed_forward_params(d, d_ff) + 2 * layer_norm_params(d)


def decoder_layer_params(d, d_ff, width=None):
    """Causal self-attention + cross-attention + feed-forward, each followed by a layer norm."""
    return (2 * attention_params(d, width) + feed_forward_params(d, d_ff)
            + 3 * layer_norm_params(d))


def transformer_params(d, d_ff, num_layers, vocab, tying="none", positions=0, width=None):
    """Parameters of an encoder-decoder Transformer; returns {part: count}.

    tying: "none" (source embedding, target embedding and output layer each have their own
    vocab·d matrix; the output layer has a bias, as our Keras model), "embeddings" (one
    embedding matrix shared by both languages, a separate output layer) or "all" (the paper,
    section 3.4: one matrix for both embeddings and the pre-softmax projection).
    positions: learned positions per embedding (0 for the paper's sinusoids, which have none).
    width: num_heads·key_dim of every attention layer (default d).
    """
    embedding = vocab * d + positions * d
    parts = {
        "embeddings": {"none": 2, "embeddings": 1, "all": 1}[tying] * embedding,
        "encoder layers": num_layers * encoder_layer_params(d, d_ff, width),
        "decoder layers": num_layers * decoder_layer_params(d, d_ff, width),
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
check(all(attention_params(d) == 4 * d * d + 4 * d for d in (32, 256, 512, 1024)),
      "with num_heads·key_dim = d, attention has 4·d² + 4·d parameters")

# %% [markdown]
"""
## The formulas equal Keras' counts

Models built with the project's layers at the paper's sizes (without learned positions, as the
paper's sinusoids have no weights): each layer's count must equal its formula.
"""

# %%
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

# %% [markdown]
"""
## Against the paper's Table 3

The paper reports 65M parameters for its base model and 213M for its big one, with one shared
vocabulary of about 37,000 tokens. Three ways of sharing the embedding matrices give three
totals; the table below says which is closest.
"""

# %%
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

# %% [markdown]
"""
## The book's models, exactly

Both editions translate with the same sizes: 15,000 words per language, 20 tokens, embed_dim
256, one encoder and one decoder block with dense_dim 2048 and 8 heads, dropout 0.5 before a
Dense output layer; the GRU seq2seq has 256-wide embeddings and 1024 GRU units.

- The GRU seq2seq is the same in both editions (2nd ed. §11.5.2, 3rd ed. §15.2.2); the 3rd
  edition's model summary prints 34,869,912 parameters.
- The 3rd edition's Transformer (§15.3.4) uses plain `Embedding` layers (positions come in
  §15.3.5) and blocks with key_dim = embed_dim // num_heads: its summary prints 14,428,824
  (`nmt train --preset book --no-positional`).
- The 2nd edition's Transformer (§11.5.3) has learned positions from the start and blocks with
  `MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)`: Keras counts 19,960,216 for it
  (the total keras.io's English-to-Spanish example, the same code, prints;
  `nmt train --preset book-2nd`).
"""

# %%
section("The book's models, exactly")

config = resolve_config("gru", "book")
gru = build_model(config)
e, u, v = config.embed_dim, config.rnn_units, config.vocab_size
gru_formula = (2 * v * e  # source and target embeddings
               + 2 * gru_params(e, u)  # bidirectional encoder GRU
               + gru_params(e, u)  # decoder GRU
               + u * v + v)  # output layer
print(f"GRU seq2seq (both editions; embed {e}, units {u}, vocabulary {v:,}): Keras "
      f"{gru.count_params():,}, formula {gru_formula:,}")
for layer_name, count in parameter_counts(gru).items():
    print(f"  {layer_name:<18} {count:>12,}")
check(gru.count_params() == 34_869_912,
      "the GRU seq2seq has 34,869,912 parameters (the 3rd edition's §15.2.2 summary)")
check(gru_formula == gru.count_params(), "the GRU formula gives the same number")

third_config = resolve_config("transformer", "book", positional=False)
second_config = resolve_config("transformer", "book-2nd")
editions = {  # edition -> (config, model, formula)
    "3rd": third_config, "2nd": second_config,
}
models, formulas = {}, {}
for edition, config in editions.items():
    models[edition] = build_model(config)
    head_dim = models[edition].parts.encoders[0].head_dim
    formulas[edition] = transformer_params(
        config.embed_dim, config.dense_dim, config.num_layers, config.vocab_size,
        positions=config.sequence_length if config.positional else 0,
        width=config.num_heads * head_dim)
    print(f"\n{edition} edition's Transformer (preset {config.preset!r}: embed {config.embed_dim}, "
          f"dense {config.dense_dim}, {config.num_heads} heads of key_dim {head_dim}, "
          f"{'learned' if config.positional else 'no'} positions, vocabulary "
          f"{config.vocab_size:,}): Keras {models[edition].count_params():,}, formula "
          f"{formulas[edition]['total']:,}")
    for layer_name, count in parameter_counts(models[edition]).items():
        print(f"  {layer_name:<18} {count:>12,}")
    check(formulas[edition]["total"] == models[edition].count_params(),
          f"{edition} edition: the formula gives Keras' count")
third, second = (parameter_counts(models[edition]) for edition in ("3rd", "2nd"))
check(models["3rd"].count_params() == 14_428_824,
      "the 3rd edition's Transformer (§15.3.4, no positions) has 14,428,824 parameters")
check(third["encoder_0"] == 1_315_072 and third["decoder_0"] == 1_578_752,
      "its encoder block has 1,315,072 and its decoder block 1,578,752 (the 3rd edition's "
      "summary)")
check(models["2nd"].count_params() == 19_960_216,
      "the 2nd edition's Transformer (§11.5.3, key_dim = embed_dim) has 19,960,216 parameters")
check(second["encoder_0"] == 3_155_456,
      "its encoder block has 3,155,456 (keras.io's summary of the 2nd edition's code)")
d = third_config.embed_dim
with_positions = build_model(resolve_config("transformer", "book"))
print(f"\nthe 3rd edition's Transformer with the learned positions of §15.3.5 (2 x "
      f"{third_config.sequence_length} x {d} more): {with_positions.count_params():,}")
check(with_positions.count_params() - models["3rd"].count_params()
      == 2 * third_config.sequence_length * d, "positions add 2·sequence_length·embed_dim")
ratios = {edition: gru.count_params() / models[edition].count_params() for edition in models}
print(f"\nThe GRU seq2seq has {ratios['3rd']:.1f}x the 3rd edition's Transformer parameters and "
      f"{ratios['2nd']:.1f}x the 2nd edition's: its 1024-unit output layer alone has {u * v + v:,}.")
del gru
keras.backend.clear_session()

# %% [markdown]
"""
## Two editions, two Transformers

Same sizes, 5.5 million parameters apart. Two things differ:

1. **The width of each head.** The 2nd edition's blocks call
   `MultiHeadAttention(num_heads=8, key_dim=256)`: eight heads, each as wide as the token
   vectors, so the query, key and value projections map 256 to 8 x 256 = 2048 and the output
   projection maps 2048 back to 256. The 3rd edition's (and the paper's) use key_dim = 256 // 8
   = 32: the eight heads together are 256 wide, the four projections are 256 x 256. There are
   three attention layers (encoder self-attention, decoder self-attention, cross-attention).
2. **Learned positions.** The 2nd edition's model embeds 20 positions per language; the 3rd
   edition's §15.3.4 model has none (they come in §15.3.5).

The feed-forward blocks, layer norms, token embeddings and output layer are the same.
"""

# %%
section("Two editions, two Transformers")
h, k2, k3 = second_config.num_heads, second_config.key_dim, d // third_config.num_heads
wide, narrow = attention_params(d, h * k2), attention_params(d, h * k3)
print(f"{'one attention layer':<30} {'Q, K, V (each)':>16} {'output':>10} {'total':>11}")
for label, width in ((f"2nd ed.: {h} heads x {k2}", h * k2),
                     (f"3rd ed.: {h} heads x {k3}", h * k3)):
    print(f"{label:<30} {d * width + width:>16,} {width * d + d:>10,} "
          f"{attention_params(d, width):>11,}")
both = (models["3rd"], models["2nd"])
attention_layers = {  # name -> (3rd edition's layer, 2nd edition's layer)
    "encoder self-attention": [m.parts.encoders[0].attention for m in both],
    "decoder self-attention": [m.parts.decoders[0].self_attention for m in both],
    "cross-attention": [m.parts.decoders[0].cross_attention for m in both],
}
for name, (narrow_layer, wide_layer) in attention_layers.items():
    check(narrow_layer.count_params() == narrow and wide_layer.count_params() == wide,
          f"{name}: Keras counts {narrow:,} (3rd ed.) and {wide:,} (2nd ed.)")
positions = 2 * second_config.sequence_length * d
difference = models["2nd"].count_params() - models["3rd"].count_params()
print(f"\n2nd - 3rd edition: 3 x ({wide:,} - {narrow:,}) = {3 * (wide - narrow):,} in attention "
      f"+ 2 x {second_config.sequence_length} x {d} = {positions:,} in positions = "
      f"{3 * (wide - narrow) + positions:,}")
check(difference == 3 * (wide - narrow) + positions,
      f"the {difference:,} parameters between the editions are the wider attention "
      "projections and the learned positions, nothing else")
rest = {edition: models[edition].count_params()
        - sum(layer.count_params() for layer in layers)
        - (positions if edition == "2nd" else 0)
        for edition, layers in zip(("3rd", "2nd"), zip(*attention_layers.values()))}
check(rest["3rd"] == rest["2nd"], f"everything else is the same: {rest['3rd']:,} parameters")
print(f"the 2nd edition's attention layers hold {3 * wide / models['2nd'].count_params():.0%} "
      f"of its parameters, the 3rd edition's {3 * narrow / models['3rd'].count_params():.0%}")

# %% [markdown]
"""
## Figure: where the parameters are

Each bar is one model, split by part: the two editions' book Transformers and the paper's two
models (with its three-way weight sharing). The embeddings and the output layer dominate the
small book models; the paper's six-layer stacks dominate its models.
"""

# %%
section("Figure: where the parameters are")

rows = {
    "2nd ed. book Transformer\n(key_dim 256, positions)": formulas["2nd"],
    "3rd ed. book Transformer\n(key_dim 32, §15.3.4)": formulas["3rd"],
    "paper base\n(shared 37k)": transformer_params(512, 2048, 6, paper_vocab, tying="all"),
    "paper big\n(shared 37k)": transformer_params(1024, 4096, 6, paper_vocab, tying="all"),
}
parts = ("embeddings", "encoder layers", "decoder layers", "output layer")
for label, counts in rows.items():
    vocabulary_share = (counts["embeddings"] + counts["output layer"]) / counts["total"]
    print(f"{label.splitlines()[0]:<26} embeddings + output layer: {vocabulary_share:.0%}")
    check((vocabulary_share > 0.5) == label.startswith(("2nd", "3rd")),
          f"{label.splitlines()[0]}: the vocabulary-sized matrices hold "
          f"{'more' if vocabulary_share > 0.5 else 'less'} than half")
plt = pyplot()
fig, ax = plt.subplots(figsize=(8.5, 4.2))
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
ax.set_ylabel("model")
ax.set_title("Parameters by part: the book's two editions and the paper")
ax.set_xlim(0, max(c["total"] for c in rows.values()) / 1e6 * 1.15)
ax.legend(loc="upper right", title="part")
save_figure(fig, args.out, "11_parameter_breakdown.png")
plt.close(fig)

# %% [markdown]
"""
## What you learned

- With num_heads x key_dim = embed_dim (the 3rd edition and the paper), an attention layer has
  4·d² + 4·d parameters whatever the number of heads; the formulas equal Keras' counts layer by
  layer.
- The paper's Table 3 totals are closest to one matrix shared by both embeddings and the output
  layer (its section 3.4).
- The 3rd edition's book Transformer (§15.3.4, key_dim = embed_dim // num_heads, no positions)
  has 14,428,824 parameters; the 2nd edition's (§11.5.3, key_dim = embed_dim, learned positions)
  has 19,960,216. The difference is three attention layers whose projections are 8 times wider,
  plus 2 x 20 x 256 positions.
- The GRU seq2seq (the same in both editions) has 34,869,912, most of them in its 1024-unit
  output layer.

## Exercises

1. Build `resolve_config("transformer", "book-2nd", num_heads=4)`: how many parameters does it
   have, and why does the 3rd edition's model not change when you change its number of heads?
2. With `tie_embeddings=True` the output layer is the target embedding. Compute how many
   parameters each edition's book model saves, then check with `build_model`.
3. For the 2nd edition's model, which key_dim would give the 3rd edition's attention width? Try
   `--key-dim` with `nmt train --preset book-2nd --print-config`.
"""
