"""Which of two models is better, by a rule stated once and evaluated in code.

The book and the README never choose a comparative word by eye. Two models are compared on the
same test points (pooled over the folds of spatial CV) and the same seeds:

- for each seed s, d_s = RMSE_a(s) − RMSE_b(s) (g/kg; the baselines are seeded like the networks);
- the estimate is the mean of d_s over seeds;
- its interval is a paired bootstrap over test points (the same resampled points for both models
  and every seed), so it carries the test set's sampling error; the spread over seeds is shown
  by the per-seed d_s.

The verdict of a against b:

- **beats**: the whole interval lies below 0 *and* d_s < 0 for every seed;
- **loses to**: the whole interval lies above 0 *and* d_s > 0 for every seed;
- **cannot be told apart from**: anything else.

A bootstrap over points treats test points as independent. Under the random split neighbouring
test points share the spatial residual, so the interval is somewhat too narrow; the per-seed
condition guards against a difference that one seed alone makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from soilnet.errors import ConfigurationError

#: The three verdicts, in the words the book uses.
BEATS, LOSES, TIED = "beats", "loses to", "cannot be told apart from"

#: The rule in one sentence, for the book and the README.
RULE = (
    "A model *beats* another when the 95 % paired-bootstrap interval of their RMSE difference "
    "(over the test points, mean over seeds) lies below 0 and its RMSE is lower for every seed; "
    "it *loses to* it in the mirror case; otherwise the two *cannot be told apart*."
)


@dataclass(frozen=True)
class Comparison:
    """The paired RMSE difference of model a minus model b (g/kg) and its verdict."""

    delta_rmse: float
    lower: float
    upper: float
    per_seed: tuple[float, ...]
    level: float
    n_points: int

    @property
    def verdict(self) -> str:
        signs = np.sign(self.per_seed)
        if self.upper < 0 and (signs < 0).all():
            return BEATS
        if self.lower > 0 and (signs > 0).all():
            return LOSES
        return TIED


def _rmse(squared_errors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """RMSE of each seed (rows of ``squared_errors``) under each bootstrap weight vector."""
    return np.sqrt(weights @ squared_errors.T / weights.sum(axis=1, keepdims=True))


def paired_rmse_difference(
    observed,
    predicted_a,
    predicted_b,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two models' RMSE on the same points and seeds.

    Args:
        observed: targets at the test points (g/kg), shape (n,).
        predicted_a, predicted_b: predictions (g/kg), shape (n_seeds, n) or (n,) for one seed.
        n_boot: bootstrap resamples of the test points.
        level: central interval level.
        seed: seed of the resampling (the result is deterministic).
    """
    y = np.asarray(observed, float)
    a = np.atleast_2d(np.asarray(predicted_a, float))
    b = np.atleast_2d(np.asarray(predicted_b, float))
    if a.shape != b.shape or a.shape[1] != y.size:
        raise ConfigurationError(
            f"Predictions of shape {a.shape} and {b.shape} do not pair with {y.size} observations; "
            "compare models on the same test points and seeds."
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(y).all()):
        raise ConfigurationError("Paired comparison got non-finite predictions or targets.")
    sq_a, sq_b = (a - y) ** 2, (b - y) ** 2
    ones = np.ones((1, y.size))
    per_seed = (_rmse(sq_a, ones) - _rmse(sq_b, ones))[0]
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_boot)
    for start in range(0, n_boot, 250):  # bounded memory: 250 weight vectors at a time
        count = min(250, n_boot - start)
        weights = rng.multinomial(y.size, np.full(y.size, 1 / y.size), size=count).astype(float)
        deltas[start : start + count] = (_rmse(sq_a, weights) - _rmse(sq_b, weights)).mean(axis=1)
    tail = (1 - level) / 2
    lower, upper = np.quantile(deltas, [tail, 1 - tail])
    return Comparison(
        delta_rmse=float(per_seed.mean()),
        lower=float(lower),
        upper=float(upper),
        per_seed=tuple(float(d) for d in per_seed),
        level=level,
        n_points=int(y.size),
    )


def sentence(label_a: str, label_b: str, result: Comparison) -> str:
    """One sentence stating the verdict with its numbers, e.g. for the book's prose."""
    verdict = result.verdict
    size = abs(result.delta_rmse)
    direction = "lower" if result.delta_rmse < 0 else "higher"
    seeds = len(result.per_seed)
    by_seed = ", ".join(f"{d:+.2f}" for d in result.per_seed)
    return (
        f"{label_a} {verdict} {label_b}: its RMSE is {size:.2f} g/kg {direction} "
        f"({100 * result.level:.0f} % interval of the difference {result.lower:+.2f} to "
        f"{result.upper:+.2f} g/kg over {result.n_points:,} test points; per seed "
        f"{by_seed} g/kg over {seeds} seed{'s' if seeds != 1 else ''})."
    )


# ------------------------------------------------------------------------- the study's comparisons
#: Baselines the hybrid is compared with, when they were fitted.
COMPARED_BASELINES = ("rf_paper", "rf_strong", "geo_knn")


def comparison_pairs(variants, baselines) -> list[tuple[str, str]]:
    """The comparisons the book states: the hybrid against every other network and the forests
    and kNN; GLAM against the same backbone without it (the attention's gain)."""
    from soilnet.experiment import hybrid_variant
    from soilnet.models import VARIANTS

    variants = list(variants)
    hybrid = hybrid_variant(variants)
    pairs = [(hybrid, v) for v in variants if v != hybrid]
    for v in variants:
        spec = VARIANTS[v]
        plain = spec.backbone
        if spec.glam and not spec.lstm and plain in variants:
            pairs.append((v, plain))
    pairs += [(hybrid, b) for b in COMPARED_BASELINES if b in baselines]
    return pairs


def comparison_table(study, protocol: str = "random", *, n_boot: int = 2000) -> pd.DataFrame:
    """Every stated comparison of a protocol, with its numbers, verdict and sentence.

    Test points are pooled over the folds of spatial CV; each model is paired with the other on
    the same points and seeds (see the module docstring for the rule).
    """
    from soilnet.experiment import predictions_at_test_points
    from soilnet.reporting import model_label

    exp = study.config.experiment
    tables = [predictions_at_test_points(study, protocol, seed) for seed in exp.seeds_for(protocol)]
    ids = tables[0]["Point_ID"].to_numpy()
    for t in tables[1:]:
        if not np.array_equal(t["Point_ID"].to_numpy(), ids):
            raise ConfigurationError(
                f"The {protocol} test points differ between seeds; rebuild the splits (chapter 1)."
            )
    observed = tables[0]["target_g_per_kg"].to_numpy()
    rows = []
    for a, b in comparison_pairs(exp.variants_for(protocol), tables[0].columns):
        result = paired_rmse_difference(
            observed,
            np.stack([t[a].to_numpy() for t in tables]),
            np.stack([t[b].to_numpy() for t in tables]),
            n_boot=n_boot,
        )
        rows.append(
            {
                "protocol": protocol, "a": a, "b": b, "model": model_label(a),
                "verdict": result.verdict, "compared with": model_label(b),
                "ΔRMSE (g/kg)": round(result.delta_rmse, 2),
                "interval": f"{result.lower:+.2f} to {result.upper:+.2f}",
                "per seed": ", ".join(f"{d:+.2f}" for d in result.per_seed),
                "sentence": sentence(model_label(a), model_label(b), result),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)
