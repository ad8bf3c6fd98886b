"""Calibrate the curated-answer threshold: leave one phrasing out, see whether its own pair still wins.

    python -m bot.qa_calibrate        # about 10 s; prints precision and recall by threshold

Each phrasing of each pair is asked as a question with that phrasing removed from the index; the
best remaining pair is right when it is the phrasing's own pair. The threshold in bot/qa_match.py is
the lowest score at which at least 95% of the answered phrasings get their own pair; the matcher's
full rule (the threshold, or a clear lead over the runner-up) is measured the same way. No evaluation
case is involved.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.qa_match import QaMatcher

TARGET_PRECISION = 0.95


@dataclass(frozen=True)
class Calibration:
    threshold: float
    precision: float
    recall: float  # share of all phrasings answered by their own pair at that threshold
    phrasings: int
    table: list[tuple[float, float, float]]  # (threshold, precision, recall)
    rule: tuple[float, float]  # (precision, recall) of the matcher's own rule, threshold or clear lead


def calibrate(matcher: QaMatcher, embed) -> Calibration:
    """Leave-one-phrasing-out scores over every phrasing; `embed(text)` gives a query vector."""
    trials: list[tuple[float, bool]] = []
    by_rule: list[bool] = []  # right, for each phrasing the matcher's rule answers
    for p in matcher.phrasings:
        ranked = matcher.ranked(p.text, tuple(p.entities), embed(p.text), exclude=p.text)
        if ranked:
            trials.append((ranked[0].score, ranked[0].pair.id == p.pair.id))
            if matcher.confident(ranked, matcher.lead_counts(p.entities, None)):
                by_rule.append(ranked[0].pair.id == p.pair.id)
        else:
            trials.append((0.0, False))
    table = []
    for step in range(40, 96):
        t = step / 100
        answered = [ok for score, ok in trials if score >= t]
        precision = sum(answered) / len(answered) if answered else 1.0
        table.append((t, round(precision, 4), round(sum(answered) / len(trials), 4)))
    best = next(((t, p, r) for t, p, r in table if p >= TARGET_PRECISION), table[-1])
    rule = (round(sum(by_rule) / len(by_rule), 4) if by_rule else 1.0, round(sum(by_rule) / len(trials), 4))
    return Calibration(best[0], best[1], best[2], len(trials), table, rule)


def main() -> None:
    from bot.chain import Bot
    from bot.settings import Settings

    bot = Bot.from_settings(Settings.from_env())
    result = calibrate(bot.qa, bot.retriever.embeddings.embed_query)
    for t, p, r in result.table[::5]:
        print(f"threshold {t:.2f}: precision {p:.3f}, recall {r:.3f}")
    print(
        f"chosen threshold {result.threshold:.2f}: precision {result.precision:.3f}, recall {result.recall:.3f} "
        f"over {result.phrasings} held-out phrasings (target precision {TARGET_PRECISION})"
    )
    print(f"the matcher's rule (threshold, or a clear lead): precision {result.rule[0]:.3f}, recall {result.rule[1]:.3f}")


if __name__ == "__main__":
    main()
