"""Early warning from the per-generation metrics of a team's successive models.

A history is one value per (generation, metric): a team's own evals (CSV or JSON) or a cliffwatch
run. Metrics play one of three roles:

- quality: human-anchored probes (scored against held-out human data). Their loss since the first
  generation, ΔQ (relative by default), is what the cliff tolerance τ bounds. For each: the trend
  (least-squares slope of ΔQ over the last ``window`` generations) and a forecast of the
  generation where ΔQ reaches τ, with an interval from the fit's prediction band.
- indicators: leading indicators (tail coverage, entropy, distinct-n, self-perplexity...). Each
  one's movement in its bad direction since the first generation, relative to its first value.
- benchmarks: automated scores (e.g. perplexity on the model's own samples). The gaming alarm
  fires when a benchmark improves while a quality probe worsens over the same window.

The warning score combines the first two: max(ΔQ projected ``horizon`` generations ahead / (ρ τ),
indicator movement / κ); it warns at 1. The horizon, ρ (the share of τ that already warns) and κ
are what ``benchmarks/bench_monitor.py`` calibrates per family on simulated lineages (see
docs/guard.md); the defaults below are generic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cliffwatch.core.errors import ConfigError, DataError

# name -> "lower" (lower is better), "higher", or "both" (a move either way is a sign)
QUALITY = {
    "heldout_ppl": "lower", "heldout_nll": "lower", "tv_distance": "lower", "wasserstein": "lower",
    "frechet": "lower", "mmd": "lower", "mean_error": "lower", "cov_error": "lower",
    "fact_accuracy": "higher", "hallucination_rate": "lower",
    "estimated_human_share_low": "higher",  # cliffwatch estimate --history: snapshots of a growing corpus
}
INDICATORS = {
    "tail_coverage": "higher", "tail_mass": "higher", "tail_train_coverage": "higher", "tail_state_mass": "higher",
    "unigram_entropy": "higher", "entropy": "higher", "distinct_1": "higher", "distinct_2": "higher",
    "distinct_3": "higher", "type_token_ratio": "higher", "support": "higher", "recall": "higher",
    "variance_ratio": "both", "self_ppl": "both", "self_bleu": "lower", "repetition": "lower", "duplicate_rate": "lower",
}
BENCHMARKS = {"synthetic_ppl": "lower"}
DIRECTIONS = ("lower", "higher", "both")
TOLERANCE = 0.1
WINDOW = 5
# Defaults, not a calibration: the best settings differ by model family (benchmarks/bench_monitor.py
# calibrates them per family on simulated lineages; docs/guard.md), so a team should calibrate
# them on its own stable histories and pass them in.
INDICATOR_THRESHOLD = 0.25
HORIZON = 2
WARN_FRACTION = 1.0
GAMING_MIN_CHANGE = 0.02  # relative change over the window that counts as "improves" / "worsens"


@dataclass(frozen=True)
class Roles:
    """metric -> direction for each role."""

    quality: dict[str, str]
    indicators: dict[str, str]
    benchmarks: dict[str, str]

    @classmethod
    def parse(cls, metrics: list[str], quality: list[str] | None = None, indicators: list[str] | None = None,
              benchmarks: list[str] | None = None) -> "Roles":
        """Roles for the history's ``metrics``: the given ``NAME[:lower|higher|both]`` lists, else
        every metric the built-in tables know. A given metric must be in the history; an unknown
        one needs its direction."""
        out = []
        for given, known, role in ((quality, QUALITY, "quality"), (indicators, INDICATORS, "indicator"), (benchmarks, BENCHMARKS, "benchmark")):
            if given is None:
                out.append({m: known[m] for m in metrics if m in known})
                continue
            chosen = {}
            for spec in given:
                name, _, direction = spec.partition(":")
                direction = direction or known.get(name) or QUALITY.get(name) or INDICATORS.get(name) or BENCHMARKS.get(name)
                if name not in metrics:
                    raise DataError(f"{role} metric {name!r} is not in the history (metrics: {', '.join(metrics)})")
                if direction not in DIRECTIONS:
                    raise ConfigError(f"{role} metric {spec!r}: say which way is better ({name}:lower or {name}:higher)")
                chosen[name] = direction
            out.append(chosen)
        if not out[0]:
            raise DataError(f"the history has no human-anchored quality metric (known: {', '.join(QUALITY)}); name one with --quality NAME:lower|higher")
        return cls(*out)


# ---- reading ------------------------------------------------------------------------------------


def load_history(path: str | Path, lineage: str | None = None) -> pd.DataFrame:
    """Per-generation metrics as a frame: index ``generation`` (sorted), one column per metric.

    ``path``: a CSV or JSON file, long (generation, metric, value) or wide (generation plus one
    column per metric; JSON: a list of records, or {metric: [value per generation]}), or a cliffwatch
    run directory (mean over chains and seeds; ``lineage`` picks one lineage of a sweep)."""
    path = Path(path)
    if path.is_dir():
        return _from_run(path, lineage)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
        elif path.suffix == ".json":
            raw = json.loads(path.read_text())
            frame = pd.DataFrame(raw) if isinstance(raw, list) else pd.DataFrame({"generation": range(len(next(iter(raw.values()), []))), **raw})
        else:
            raise DataError(f"{path}: unknown history format (expected .csv, .json or a cliffwatch run directory)")
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError, StopIteration) as err:
        raise DataError(f"{path}: unreadable history ({str(err).splitlines()[0] if str(err) else err.__class__.__name__})") from None
    return _tidy(frame, str(path))


def _from_run(path: Path, lineage: str | None) -> pd.DataFrame:
    from cliffwatch.execution.store import load_results

    results = load_results(path)
    if lineage is not None:
        if lineage not in set(results["lineage"]):
            raise DataError(f"{path}: no lineage {lineage!r} (lineages: {', '.join(sorted(set(results['lineage'])))})")
        results = results[results["lineage"] == lineage]
    elif "synthetic_fraction" in results and results.drop(columns=["seed", "lineage"]).filter(
            items=["synthetic_fraction", "family", "human", "mode", "generators", "filters"]).drop_duplicates().shape[0] > 1:
        raise DataError(f"{path}: a sweep of several settings; pick one with --lineage (lineages: {', '.join(sorted(set(results['lineage'])))})")
    return _tidy(results[["generation", "metric", "value"]], str(path))


def _tidy(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    if "generation" not in frame.columns:
        raise DataError(f"{where}: no 'generation' column (columns: {', '.join(map(str, frame.columns))})")
    if {"metric", "value"} <= set(frame.columns):
        frame = frame.pivot_table(index="generation", columns="metric", values="value", aggfunc="mean")
    else:
        frame = frame.groupby("generation").mean(numeric_only=True)
    try:
        frame.index = frame.index.astype(int)
    except (TypeError, ValueError):
        raise DataError(f"{where}: generation values must be whole numbers") from None
    if (frame.index < 0).any():
        raise DataError(f"{where}: negative generation {int(frame.index.min())}")
    frame = frame.sort_index().apply(pd.to_numeric, errors="coerce")
    if len(frame) < 2:
        raise DataError(f"{where}: the history needs at least 2 generations, found {len(frame)}")
    if frame.shape[1] == 0:
        raise DataError(f"{where}: no numeric metric columns")
    frame.columns = [str(c) for c in frame.columns]
    return frame


# ---- analysis -----------------------------------------------------------------------------------


@dataclass
class QualityTrend:
    metric: str
    direction: str
    delta_q: list[float]  # ΔQ per generation of the history
    slope: float  # ΔQ per generation over the window
    slope_p: float  # one-sided p-value that ΔQ is not rising
    crossed_at: int | None  # first generation with ΔQ > τ
    forecast: float | None  # generation where the fitted trend reaches τ (None: not rising, or crossed)
    forecast_low: float | None  # earliest generation consistent with the fit's prediction band
    forecast_high: float | None  # latest (None: the band never rules out "never")
    projected: float  # ΔQ expected ``horizon`` generations after the last one


@dataclass
class Indicator:
    metric: str
    direction: str
    movement: float  # relative change since the first generation in the bad direction (> 0: worse)
    moving: bool


@dataclass
class GamingAlarm:
    benchmark: str
    quality: str
    benchmark_change: float  # relative improvement over the window
    quality_change: float  # ΔQ added over the window


@dataclass
class MonitorResult:
    generations: list[int]
    tolerance: float
    horizon: int
    indicator_threshold: float
    warn_fraction: float
    quality: list[QualityTrend]
    indicators: list[Indicator]
    gaming: list[GamingAlarm]
    score: float
    warnings: list[str] = field(default_factory=list)

    @property
    def warning(self) -> bool:
        return bool(self.warnings)

    def to_dict(self) -> dict:
        """Plain JSON types; a non-finite number (a metric gone to inf, a fit too short) is null."""
        out = asdict(self)
        out["warning"] = self.warning
        return _json_safe(out)


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def relative_loss(values: np.ndarray, direction: str) -> np.ndarray:
    """ΔQ: loss relative to the first value (> 0: worse), per generation."""
    base = values[0]
    change = values / base - 1 if base != 0 else values - base
    return {"lower": change, "higher": -change, "both": np.abs(change)}[direction]


def monitor(history: pd.DataFrame, roles: Roles, tolerance: float = TOLERANCE, horizon: int = HORIZON,
            indicator_threshold: float = INDICATOR_THRESHOLD, window: int = WINDOW, confidence: float = 0.8,
            warn_fraction: float = WARN_FRACTION) -> MonitorResult:
    """Trends, forecasts, moving indicators, gaming alarms and the warning score of one history."""
    generations = history.index.to_numpy()
    last = generations[-1]
    trends = [_trend(m, d, history[m].to_numpy(float), generations, tolerance, horizon, window, confidence)
              for m, d in roles.quality.items()]
    indicators = []
    for m, d in roles.indicators.items():
        values = history[m].to_numpy(float)
        movement = float(relative_loss(values, d)[-1]) if np.isfinite(values).all() else 0.0
        indicators.append(Indicator(m, d, movement, movement >= indicator_threshold))
    gaming = []
    start = max(0, len(generations) - window)
    for b, bd in roles.benchmarks.items():
        values = history[b].to_numpy(float)[start:]
        improvement = -float(relative_loss(values, bd)[-1])
        for trend in trends:
            worsening = trend.delta_q[-1] - trend.delta_q[start]
            if improvement >= GAMING_MIN_CHANGE and worsening >= GAMING_MIN_CHANGE:
                gaming.append(GamingAlarm(b, trend.metric, improvement, worsening))
    score = max([t.projected / (warn_fraction * tolerance) for t in trends if np.isfinite(t.projected)] +
                [i.movement / indicator_threshold for i in indicators] + [0.0])
    warnings = []
    for t in trends:
        if t.crossed_at is not None:
            warnings.append(f"{t.metric}: ΔQ crossed τ = {tolerance:g} at generation {t.crossed_at}")
        elif t.projected >= warn_fraction * tolerance:
            reach = f"{warn_fraction:.0%} of τ = {tolerance:g}" if warn_fraction < 1 else f"τ = {tolerance:g}"
            warnings.append(f"{t.metric}: forecast to reach {reach} within {horizon} generation(s) (τ around generation {_fmt(t.forecast)})")
    moving = [i.metric for i in indicators if i.moving]
    if moving:
        warnings.append(f"leading indicators moving (≥ {indicator_threshold:.0%} worse since generation {generations[0]}): {', '.join(moving)}")
    for g in gaming:
        warnings.append(f"gaming: {g.benchmark} improved {g.benchmark_change:.1%} while {g.quality} lost {g.quality_change:.1%} over the last {len(generations) - start} generations")
    return MonitorResult([int(g) for g in generations], tolerance, horizon, indicator_threshold, warn_fraction, trends, indicators, gaming, float(score), warnings)


def _trend(metric: str, direction: str, values: np.ndarray, generations: np.ndarray, tolerance: float,
           horizon: int, window: int, confidence: float) -> QualityTrend:
    dq = relative_loss(values, direction)
    over = np.flatnonzero(~(dq <= tolerance))  # inf / nan (a forgotten state) count as crossed
    crossed = int(generations[over[0]]) if over.size else None
    x, y = generations[-window:].astype(float), dq[-window:]
    finite = np.isfinite(y)
    x, y = x[finite], y[finite]
    if len(x) < 2:
        return QualityTrend(metric, direction, dq.tolist(), float("nan"), float("nan"), crossed, None, None, None, float("inf") if crossed is not None else 0.0)
    fit = stats.linregress(x, y) if np.ptp(y) > 0 else None
    slope = fit.slope if fit else 0.0
    intercept = fit.intercept if fit else float(y.mean())
    target = generations[-1] + horizon
    projected = intercept + slope * target
    if crossed is not None:  # the forecast's question is answered
        p_value, forecast, low, high = (fit.pvalue / 2 if fit and slope > 0 else float("nan")), None, None, None
    elif len(x) <= 2 or fit is None:
        p_value, forecast, low, high = float("nan"), _crossing(intercept, slope, tolerance), None, None
    else:
        p_value = fit.pvalue / 2 if slope > 0 else 1 - fit.pvalue / 2
        forecast = _crossing(intercept, slope, tolerance)
        low, high = _crossing_band(x, y, intercept, slope, tolerance, confidence, generations[-1])
    return QualityTrend(metric, direction, dq.tolist(), float(slope), float(p_value), crossed, forecast, low, high, float(projected))


def _crossing(intercept: float, slope: float, tolerance: float) -> float | None:
    return float((tolerance - intercept) / slope) if slope > 0 else None


def _crossing_band(x, y, intercept, slope, tolerance, confidence, last, reach: int = 100) -> tuple[float | None, float | None]:
    """First generations (from the last one up to ``reach`` ahead) where the upper / lower bound of
    the fit's prediction band reaches τ."""
    n = len(x)
    residual = y - (intercept + slope * x)
    s = np.sqrt(residual @ residual / (n - 2))
    grid = np.linspace(last, last + reach, 20 * reach + 1)
    half = stats.t.ppf(0.5 + confidence / 2, n - 2) * s * np.sqrt(1 + 1 / n + (grid - x.mean()) ** 2 / ((x - x.mean()) ** 2).sum())
    centre = intercept + slope * grid
    upper, lower = np.flatnonzero(centre + half >= tolerance), np.flatnonzero(centre - half >= tolerance)
    return (float(grid[upper[0]]) if upper.size else None), (float(grid[lower[0]]) if lower.size else None)


def alarm_generation(history: pd.DataFrame, roles: Roles, tolerance: float = TOLERANCE, horizon: int = HORIZON,
                     indicator_threshold: float = INDICATOR_THRESHOLD, window: int = WINDOW, warn_fraction: float = WARN_FRACTION) -> int | None:
    """The first generation at which the monitor, seeing only the history up to it, scores >= 1
    (the early-warning alarm the benchmark scores); None if it never does."""
    for end in range(2, len(history) + 1):
        result = monitor(history.iloc[:end], roles, tolerance, horizon, indicator_threshold, window, warn_fraction=warn_fraction)
        if result.score >= 1:
            return int(history.index[end - 1])
    return None


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"
