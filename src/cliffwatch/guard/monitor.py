"""Early warning from the per-generation metrics of a team's successive models.

A history is one value per (generation, metric): a team's own evals (CSV or JSON) or a cliffwatch
run. Metrics play one of three roles:

- quality: human-anchored probes (scored against held-out human data). Their loss since the first
  generation, ΔQ (analysis/quality_loss, with the first generation as the baseline), is what the
  cliff tolerance τ bounds. For each: the trend (least-squares slope of ΔQ over the last
  ``window`` generations) and a forecast of the generation where ΔQ reaches τ, with an interval
  from the fit's prediction band.
- indicators: leading indicators (tail coverage, entropy, distinct-n, self-perplexity...). Each
  one's movement in its bad direction since the first generation, relative to its first value.
- benchmarks: automated scores (e.g. perplexity on the model's own samples). The gaming alarm
  fires when a benchmark improves while a quality probe worsens over the same window.

Which names play which role is the vocabulary below; which way is better, and how a loss is
measured, is each metric's declaration (core/metrics.Metric): the run's own (run.json) for a run
directory, the registered probes' for a file, or ``NAME:lower|higher`` for a metric no probe
declares. Metrics named on the command line are added to the known ones (``only`` uses just the
named ones), so naming one more metric can never silence a warning; every column that plays no
role is listed.

The warning score combines the first two: max(ΔQ projected ``horizon`` generations ahead / (ρ τ),
indicator movement / κ); it warns at 1. The horizon, ρ (the share of τ that already warns) and κ
are what ``benchmarks/bench_monitor.py`` calibrates per family on simulated lineages (see
docs/guard.md); the defaults below are generic.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cliffwatch.analysis.quality_loss import quality_loss
from cliffwatch.core.errors import ConfigError, DataError, _first_line
from cliffwatch.core.files import require_regular
from cliffwatch.core.metrics import Metric

# the role each known name plays; directions and losses come from the metrics' declarations
QUALITY = ("heldout_ppl", "heldout_nll", "tv_distance", "wasserstein", "frechet", "mmd", "mean_error", "cov_error",
           "fact_accuracy", "hallucination_rate", "estimated_human_share_low")
INDICATORS = ("tail_coverage", "tail_mass", "tail_train_coverage", "tail_state_mass", "unigram_entropy", "entropy",
              "distinct_1", "distinct_2", "distinct_3", "type_token_ratio", "support", "recall", "variance_ratio",
              "self_ppl", "self_bleu", "repetition", "duplicate_rate")
BENCHMARKS = ("synthetic_ppl",)
DIRECTIONS = ("lower", "higher", "both")  # both: a move either way is a sign (a metric declared without a direction)
# metrics cliffwatch writes outside a probe, declared here as a probe declares its own:
# `cliffwatch estimate --history` snapshots of a growing corpus (docs/guard.md)
OWN_METRICS = {m.name: m for m in (
    Metric("estimated_human_share_low", True, "conservative end of the estimated human share of a corpus snapshot"),
)}
TOLERANCE = 0.1
WINDOW = 5
MAX_GENERATION = 1_000_000  # a history is model generations: past this a number is damage, not a generation
# Defaults, not a calibration: the best settings differ by model family (benchmarks/bench_monitor.py
# calibrates them per family on simulated lineages; docs/guard.md), so a team should calibrate
# them on its own stable histories and pass them in.
INDICATOR_THRESHOLD = 0.25
HORIZON = 2
WARN_FRACTION = 1.0
GAMING_MIN_CHANGE = 0.02  # relative change over the window that counts as "improves" / "worsens"
MAX_HISTORY_BYTES = 64 << 20  # a per-generation history is small; a bigger file is a mistake


def _declared_direction(metric: Metric) -> str:
    return {True: "higher", False: "lower", None: "both"}[metric.higher_is_better]


@dataclass(frozen=True)
class Roles:
    """metric -> direction for each role; ``losses``: metric -> how its ΔQ is measured
    (Metric.loss); ``ignored``: the history's columns that play no role."""

    quality: dict[str, str]
    indicators: dict[str, str]
    benchmarks: dict[str, str]
    losses: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    @classmethod
    def parse(cls, metrics: list[str], quality: list[str] | None = None, indicators: list[str] | None = None,
              benchmarks: list[str] | None = None, declared: dict[str, Metric] | None = None,
              only: bool = False) -> "Roles":
        """Roles for the history's ``metrics``: every known one (in the vocabulary above) present in
        the history, plus the given ``NAME[:lower|higher|both]`` specs; with ``only``, just the
        given ones. ``declared``: the history's metric declarations (a run's), else the registered
        probes'. A given metric must be in the history, and its direction must agree with its
        declaration; a metric nobody declared needs one."""
        declared = {**_registered(), **(declared or {})}
        out = []
        for given, known, role in ((quality, QUALITY, "quality"), (indicators, INDICATORS, "indicator"),
                                   (benchmarks, BENCHMARKS, "benchmark")):
            chosen = {} if only else {m: _declared_direction(declared[m]) for m in metrics if m in known and m in declared}
            for spec in given or []:
                name, _, direction = spec.partition(":")
                if name not in metrics:
                    raise DataError(f"{role} metric {name!r} is not in the history (metrics: {', '.join(metrics)})")
                if direction and direction not in DIRECTIONS:
                    raise ConfigError(f"{role} metric {spec!r}: the direction is lower, higher or both")
                own = chosen.get(name) or (_declared_direction(declared[name]) if name in declared else None)
                if own == "both" and name in declared and name not in chosen:
                    own = None  # declared without a direction and not a default: the user says which
                if not direction and own is None:
                    raise ConfigError(f"{role} metric {spec!r}: say which way is better ({name}:lower or {name}:higher)")
                if direction and own is not None and direction != own:
                    why = "is declared" if name not in chosen else f"is already a {role} metric as"
                    raise ConfigError(f"{role} metric {spec!r}: {name} {why} {own}; a different direction would "
                                      "change a verdict that does not name it")
                direction = direction or own
                if role == "benchmark" and direction == "both":
                    raise ConfigError(f"benchmark {spec!r}: the gaming alarm needs the way a benchmark improves (lower or higher)")
                chosen[name] = direction
            out.append(chosen)
        if not out[0]:
            raise DataError(f"the history has no human-anchored quality metric (known: {', '.join(QUALITY)}); name one with --quality NAME:lower|higher")
        used = set().union(*out)
        losses = {m: declared[m].loss if m in declared else "relative" for m in used}
        return cls(*out, losses=losses, ignored=tuple(m for m in metrics if m not in used))


def _registered() -> dict[str, Metric]:
    from cliffwatch.probes.base import metric_index

    return {**OWN_METRICS, **{name: metric for name, (_, metric) in metric_index().items()}}


# ---- reading ------------------------------------------------------------------------------------


def load_history(path: str | Path, lineage: str | None = None) -> pd.DataFrame:
    """Per-generation metrics as a frame: index ``generation`` (sorted), one column per metric;
    ``attrs["metrics"]`` holds a run's metric declarations.

    ``path``: a CSV or JSON file, long (generation, metric, value) or wide (generation plus one
    column per metric; JSON: a list of records, or {metric: [value per generation]}), or a cliffwatch
    run directory (mean over chains and seeds; ``lineage`` picks one lineage of a sweep).
    Generations are whole numbers (1.5 and true are refused, a row without one is an error);
    readings are numbers, or empty where a metric was not measured."""
    path = Path(path)
    if path.is_dir():
        return _from_run(path, lineage)
    require_regular(path, "a history file")
    if path.suffix not in (".csv", ".json"):
        raise DataError(f"{path}: unknown history format (expected .csv, .json or a cliffwatch run directory)")
    size = path.stat().st_size
    if size > MAX_HISTORY_BYTES:
        raise DataError(f"{path}: {size:,} bytes; a history file is at most {MAX_HISTORY_BYTES:,}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        if path.suffix == ".csv":
            frame = _read_csv(text)
        else:
            frame = _json_frame(json.loads(text), path)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: unreadable history (not UTF-8 text at byte {err.start})") from None
    except (ValueError, OSError, RecursionError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: unreadable history ({_first_line(err)})") from None
    return _tidy(frame, str(path))


def _read_csv(text: str) -> pd.DataFrame:
    import io

    if not text.strip():
        raise ValueError("empty file")
    # missing cells stay NaN; nothing else (N/A, null, ...) is read as missing
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    for column in frame.columns:  # a column pandas could not read as numbers: its number-like cells are numbers
        if column != "metric" and not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype(object).map(_number_or_text)
    return frame


def _number_or_text(cell):
    if isinstance(cell, str):
        try:
            return float(cell)
        except ValueError:
            return cell
    return cell


def _json_frame(raw, path: Path) -> pd.DataFrame:
    if isinstance(raw, list):
        if not all(isinstance(row, dict) for row in raw):
            raise DataError(f"{path}: a JSON history is a list of records ({{\"generation\": 0, ...}}) or {{metric: [value per generation]}}")
        return pd.DataFrame.from_records(raw)
    if isinstance(raw, dict):
        if not all(isinstance(v, list) for v in raw.values()):
            raise DataError(f"{path}: in a JSON history {{metric: [...]}} every value is a list (one value per generation)")
        lengths = {len(v) for v in raw.values()}
        if len(lengths) > 1:
            raise DataError(f"{path}: the lists of a JSON history differ in length ({', '.join(map(str, sorted(lengths)))})")
        n = lengths.pop() if lengths else 0
        return pd.DataFrame({"generation": list(range(n)), **raw} if "generation" not in raw else raw)
    raise DataError(f"{path}: a JSON history is a list of records or {{metric: [values]}}, not {type(raw).__name__ if raw is not None else 'null'}")


def _from_run(path: Path, lineage: str | None) -> pd.DataFrame:
    from cliffwatch.execution.selection import lineage_labels, listing, select_lineage
    from cliffwatch.execution.store import load_results

    results = load_results(path)
    if lineage is not None:  # an id, or labels such as s=0.3,seed=0
        results = results[results["lineage"] == select_lineage(path, lineage)]
    elif "synthetic_fraction" in results and results.drop(columns=["seed", "lineage"]).filter(
            items=["synthetic_fraction", "family", "human", "mode", "generators", "filters"]).drop_duplicates().shape[0] > 1:
        raise DataError(f"{path}: a sweep of several settings; pick one with --lineage, by id or by labels such as "
                        f"s=0.3,seed=0 (lineages: {listing(lineage_labels(path))})")
    frame = _tidy(results[["generation", "metric", "value"]], str(path))
    frame.attrs["metrics"] = results.attrs.get("metrics", {})
    return frame


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _fits_a_float(value) -> bool:
    try:
        float(value)
    except OverflowError:  # an integer of hundreds of digits
        return False
    return True


def _check_generations(column: pd.Series, where: str) -> pd.Series:
    for row, value in enumerate(column.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise DataError(f"{where}: row {row + 1} has no generation")
        if not _is_number(value) or not math.isfinite(value) or value != int(value):
            raise DataError(f"{where}: row {row + 1}: generation {value!r} is not a whole number")
        if value < 0:
            raise DataError(f"{where}: negative generation {int(value)}")
        if value > MAX_GENERATION:
            raise DataError(f"{where}: row {row + 1}: generation {int(value)} is past {MAX_GENERATION:,}")
    return column.astype("int64")


def _check_readings(frame: pd.DataFrame, columns: list, where: str, generations: pd.Series) -> None:
    for column in columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            continue
        for row, value in enumerate(values.tolist()):
            if value is None or _is_number(value) and _fits_a_float(value):
                continue
            raise DataError(f"{where}: generation {generations.iloc[row]}, {column}: {value!r} is not a number")


def _tidy(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    if "generation" not in frame.columns:
        raise DataError(f"{where}: no 'generation' column (columns: {', '.join(map(str, frame.columns))})")
    frame = frame.reset_index(drop=True)
    generations = _check_generations(frame["generation"], where)
    if {"metric", "value"} <= set(frame.columns):
        for row, name in enumerate(frame["metric"].tolist()):
            if not isinstance(name, str) or not name:
                raise DataError(f"{where}: row {row + 1}: metric {name!r} is not a name")
        _check_readings(frame, ["value"], where, generations)
        long = pd.DataFrame({"generation": generations, "metric": frame["metric"],
                             "value": pd.to_numeric(frame["value"]).astype(float)})
        frame = long.pivot_table(index="generation", columns="metric", values="value", aggfunc="mean", dropna=False)
    else:
        columns = [c for c in frame.columns if c != "generation"]
        _check_readings(frame, columns, where, generations)
        frame = frame[columns].apply(pd.to_numeric).astype(float).groupby(generations).mean()
    frame = frame.sort_index()
    frame.index.name = "generation"
    if len(frame) < 2:
        raise DataError(f"{where}: the history needs at least 2 generations, found {len(frame)}")
    if frame.shape[1] == 0:
        raise DataError(f"{where}: no metric columns")
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
    ignored: list[str] = field(default_factory=list)  # the history's columns that played no role

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


def relative_loss(values: np.ndarray, direction: str, loss: str = "relative") -> np.ndarray:
    """ΔQ per generation against the first one (> 0: worse): analysis/quality_loss's formula with the
    first generation as the baseline. A ratio of a first value of 0 is undefined, so then the loss
    is the difference."""
    values = np.asarray(values, dtype=float)
    base = values[0]
    if base == 0 and loss != "difference":
        loss = "difference"
    frame = pd.DataFrame({"value": values, "baseline": np.full(len(values), base), "generation": np.arange(len(values))})
    change = quality_loss(frame, ["generation"], loss, direction == "higher")
    return np.abs(change) if direction == "both" else change


def _check_settings(tolerance: float, horizon: int, indicator_threshold: float, window: int, warn_fraction: float) -> None:
    """Settings a verdict divides by or counts with: refused unless they make sense (τ = 0 would divide by zero)."""
    for name, value in (("tolerance", tolerance), ("indicator threshold", indicator_threshold), ("warn fraction", warn_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"monitor: the {name} must be a positive number (got {value!r})")
    for name, value, low in (("horizon", horizon, 0), ("window", window, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"monitor: the {name} must be a whole number >= {low} (got {value!r})")


def monitor(history: pd.DataFrame, roles: Roles, tolerance: float = TOLERANCE, horizon: int = HORIZON,
            indicator_threshold: float = INDICATOR_THRESHOLD, window: int = WINDOW, confidence: float = 0.8,
            warn_fraction: float = WARN_FRACTION) -> MonitorResult:
    """Trends, forecasts, moving indicators, gaming alarms and the warning score of one history."""
    _check_settings(tolerance, horizon, indicator_threshold, window, warn_fraction)
    generations = history.index.to_numpy()
    trends = [_trend(m, d, history[m].to_numpy(float), generations, tolerance, horizon, window, confidence,
                     roles.losses.get(m, "relative"))
              for m, d in roles.quality.items()]
    indicators = []
    for m, d in roles.indicators.items():
        values = history[m].to_numpy(float)
        movement = float(relative_loss(values, d, roles.losses.get(m, "relative"))[-1]) if np.isfinite(values).all() else 0.0
        indicators.append(Indicator(m, d, movement, movement >= indicator_threshold))
    gaming = []
    start = max(0, len(generations) - window)
    for b, bd in roles.benchmarks.items():
        values = history[b].to_numpy(float)[start:]
        improvement = -float(relative_loss(values, bd, roles.losses.get(b, "relative"))[-1])
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
    return MonitorResult([int(g) for g in generations], tolerance, horizon, indicator_threshold, warn_fraction, trends,
                         indicators, gaming, float(score), warnings, list(roles.ignored))


def _trend(metric: str, direction: str, values: np.ndarray, generations: np.ndarray, tolerance: float,
           horizon: int, window: int, confidence: float, loss: str = "relative") -> QualityTrend:
    dq = relative_loss(values, direction, loss)
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
