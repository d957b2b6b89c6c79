"""Conclusions computed from numbers: who is ahead, a tie within noise, or too little training.

A comparison prints a conclusion only when its numbers support it. `rank_scores` takes one
score per model and says, by these rules:
- "too little training": every score is below `floor` (e.g. BLEU under 1.0: models trained for
  seconds), so nothing can be compared;
- "tie": the best score and at least one other are within `noise` of each other (absolute, or a
  fraction of the best with `relative=True`), so the data cannot tell them apart;
- "ahead": the best score beats every other by more than `noise`.
Its `Verdict` carries a sentence to print. `compare_scores` is the two-model case and
`rank_table` applies the rules per column of a table (e.g. BLEU per length bucket).

Noise for BLEU is a stated tolerance, not a significance test: `bleu_noise(sources)` is 1.0 BLEU,
widened to 25 / sqrt(sources) for small test sets (a rule of thumb: BLEU on a hundred sentences
moves by a few points when the sentences are resampled). A paired bootstrap needs every
sentence's translation, which a comparison report does not keep.

Example:
>>> v = compare_scores(37.91, 37.87, ("rnn", "transformer"), metric="BLEU", noise=1.0)
>>> v.outcome, v.leaders
('tie', ('rnn', 'transformer'))
>>> print(v.sentence)
tie (within noise) on BLEU between rnn (37.91) and transformer (37.87): they differ by 1 or less
>>> print(rank_scores({"gru": 0.0, "rnn": 0.2, "transformer": 0.1}, metric="BLEU").sentence)
too little training to compare: every BLEU is below 1 (gru 0.00, rnn 0.20, transformer 0.10)
>>> print(rank_scores({"gru": 6.53, "rnn": 25.25, "transformer": 18.06}, metric="BLEU",
...                   noise=2.4).sentence)
rnn has the highest BLEU: 25.25, against transformer 18.06, gru 6.53 (differences of 2.4 or less count as ties)
>>> rank_scores({"gru": 160.0, "transformer": 106.5}, metric="seconds per epoch",
...             higher_is_better=False, noise=0.1, relative=True, floor=None).leader
'transformer'
"""

import dataclasses
import math

TOO_LITTLE = "too little training to compare"
TIE = "tie (within noise)"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of a comparison and the sentence that says it.

    Attributes:
        outcome: str. "ahead", "tie", "too little training" or "no data".
        leaders: tuple of str. The model ahead (one name), the models tied at the top (several),
            or () when nothing can be compared.
        sentence: str. The conclusion, with the numbers it rests on.
        scores: dict. The scores compared, {name: value}.
    """

    outcome: str
    leaders: tuple
    sentence: str
    scores: dict

    @property
    def leader(self):
        """The one model ahead, or None (tie, too little training, no data)."""
        return self.leaders[0] if self.outcome == "ahead" else None

    def is_behind(self, name):
        """Whether `name` is measurably behind the top (outside the leaders of a real ranking)."""
        return self.outcome in ("ahead", "tie") and name in self.scores and name not in self.leaders


def bleu_noise(sources):
    """The BLEU difference that counts as a tie on `sources` test sentences: 1.0, widened to
    25 / sqrt(sources) below 625 sentences (a stated rule of thumb, not a significance test)."""
    if sources <= 0:
        raise ValueError(f"sources={sources} must be positive")
    return round(max(1.0, 25.0 / math.sqrt(sources)), 1)


def _fmt(value, digits):
    return f"{value:,.{digits}f}"


def rank_scores(scores, metric="score", noise=1.0, floor=1.0, higher_is_better=True,
                relative=False, digits=2):
    """Which of `scores` ({name: value}) is ahead, tied at the top, or too little trained.

    Args:
        scores: dict. One number per model; None values (no data) are left out.
        metric: str. The name used in the sentence ("BLEU", "ms per step").
        noise: float. Differences up to this much are ties (a fraction of the best value with
            `relative=True`).
        floor: float or None. When every score is below it, the verdict is "too little
            training"; None disables the check (timings).
        higher_is_better: bool. False for times and losses.
        relative: bool. Whether `noise` is a fraction of the best value.
        digits: int. Decimals printed.

    Returns:
        A `Verdict`.
    """
    if noise < 0:
        raise ValueError(f"noise={noise} must be >= 0")
    values = {name: float(v) for name, v in scores.items() if v is not None}
    if not values:
        return Verdict("no data", (), f"no {metric} to compare", values)
    listed = ", ".join(f"{name} {_fmt(v, digits)}" for name, v in values.items())
    if floor is not None and all(v < floor for v in values.values()):
        return Verdict("too little training", (),
                       f"{TOO_LITTLE}: every {metric} is below {floor:g} ({listed})", values)
    if len(values) == 1:
        (name, value), = values.items()
        return Verdict("no data", (), f"only {name} has a {metric} ({_fmt(value, digits)})", values)
    order = sorted(values, key=values.get, reverse=higher_is_better)
    best = values[order[0]]
    tolerance = noise * abs(best) if relative else noise
    tolerance_text = f"{noise:.0%} of the best" if relative else f"{noise:g}"
    leaders = tuple(name for name in order if abs(values[name] - best) <= tolerance)
    others = [name for name in order if name not in leaders]
    rest = ", ".join(f"{name} {_fmt(values[name], digits)}" for name in others)
    if len(leaders) > 1:
        named = [f"{name} ({_fmt(values[name], digits)})" for name in leaders]
        tied = ", ".join(named[:-1]) + " and " + named[-1]
        sentence = f"{TIE} on {metric} between {tied}: they differ by {tolerance_text} or less"
        if others:
            side = "above" if higher_is_better else "below"
            sentence += f"; {'both' if len(leaders) == 2 else 'all'} {side} {rest}"
        return Verdict("tie", leaders, sentence, values)
    word = "highest" if higher_is_better else "lowest"
    sentence = (f"{order[0]} has the {word} {metric}: {_fmt(best, digits)}, against {rest} "
                f"(differences of {tolerance_text} or less count as ties)")
    return Verdict("ahead", leaders, sentence, values)


def compare_scores(a, b, names=("a", "b"), **options):
    """`rank_scores` for two models: `a` is `names[0]`'s score, `b` is `names[1]`'s.

    >>> compare_scores(30.0, 20.0, ("x", "y"), metric="BLEU").leader
    'x'
    """
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names={names!r} must be two different names")
    return rank_scores({names[0]: a, names[1]: b}, **options)


def rank_table(table, columns, noise=1.0, **options):
    """`rank_scores` per column of `table` ({name: {column: value}}): {column: Verdict}.

    `noise` is one number or {column: number} (e.g. `bleu_noise` of each bucket's size);
    a model without a value in a column is left out of that column.

    >>> table = {"gru": {"1-5": 36.05, "16+": 6.53}, "rnn": {"1-5": 43.42, "16+": 25.25}}
    >>> {c: v.outcome for c, v in rank_table(table, ["1-5", "16+"], metric="BLEU").items()}
    {'1-5': 'ahead', '16+': 'ahead'}
    """
    verdicts = {}
    for column in columns:
        column_noise = noise[column] if isinstance(noise, dict) else noise
        options_here = dict(options)
        if "metric" in options_here:
            options_here["metric"] = f"{options_here['metric']} ({column})"
        verdicts[column] = rank_scores({name: row.get(column) for name, row in table.items()},
                                       noise=column_noise, **options_here)
    return verdicts
