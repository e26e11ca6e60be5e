"""The monitor's own quality: lead time before the cliff at a false-positive rate of at most 5%,
beside the published baseline rule, on lineages simulated with the real loop.

    python benchmarks/bench_monitor.py [--seeds 4] [--quick]

Lineages (cliffwatch.loop.engine.LineageRunner, in memory): a word 3-gram model on Python's docs
and a 1-D Gaussian, each at several synthetic fractions, with fresh human data or a fixed human
anchor. A lineage's known outcome: whether its ΔQ (the human-anchored probe, relative to its
generation 0) crosses τ within G generations; the first such generation is its crossing.

Seeds are split: the first half are calibration lineages, on which each detector's threshold is
chosen (the one giving the longest mean lead time with at most 5% of stable lineages alarmed);
the second half are test lineages, on which the figures are reported. The detectors only ever
see a lineage's history up to the generation they judge.

- monitor: cliffwatch.guard.monitor (ΔQ forecast ``horizon`` generations ahead / (ρ τ), or leading
  indicator movement / κ, reaching 1); calibrated: the horizon, ρ and κ.
- baseline (published): distinct-1, type-token ratio or unigram entropy falling 10% since
  generation 0 -> investigate; perplexity rising 10% -> halt. Either alarms. The Gaussian has no
  diversity metrics: its perplexity is exp(held-out NLL). Shown as published (10%) and with its
  10% recalibrated to the same <= 5% false-positive rate.

Lead time of a collapsing lineage: crossing generation - alarm generation when the alarm comes
first, else 0 (a miss).
"""

import _bench  # noqa: F401  (pins BLAS threads first)

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cliffwatch.config.schema import ExperimentConfig
from cliffwatch.guard.monitor import Roles, monitor, relative_loss
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage

FPR_TARGET = 0.05
HORIZONS = (0, 1, 2, 3)
WARN_FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, np.inf)  # inf with κ inf: never alarm
KAPPAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, np.inf)
BASELINE_STEPS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, np.inf)


@dataclass(frozen=True)
class Setting:
    family: str
    tolerance: float
    quality: str
    config: dict
    diversity: tuple[str, ...]  # the baseline's diversity metrics (fall 10% -> investigate)
    perplexity: str  # the baseline's perplexity (rise 10% -> halt)
    log_perplexity: bool  # the metric is a log perplexity (NLL): compare exp(value)


def settings(quick: bool) -> list[tuple[Setting, float, str]]:
    text = Setting("ngram", 0.3, "heldout_ppl", dict(
        family={"name": "ngram", "order": 3}, data={"source": "corpus", "corpus": "pydocs"},
        generations=8 if quick else 12, holdout=1000, probe_samples=300,
        probes=["text_fidelity", "text_diversity", "text_tail"]),
        ("distinct_1", "type_token_ratio", "unigram_entropy"), "heldout_ppl", False)
    gauss = Setting("gaussian", 0.1, "heldout_nll", dict(
        family={"name": "gaussian"}, data={"source": "gaussian", "dim": 1},
        generations=30 if quick else 40, holdout=1000, probe_samples=200, probes=["moments", "heldout_nll", "precision_recall"]),
        (), "heldout_nll", True)
    out = [(gauss, s, h) for s in (0.0, 0.2, 0.5, 0.8, 1.0) for h in ("fresh", "fixed")]
    if not quick:
        out += [(text, s, h) for s in (0.2, 0.3, 0.4, 0.6, 0.8, 1.0) for h in ("fresh", "fixed")]
    return out


def simulate(setting: Setting, fraction: float, human: str, seed: int) -> pd.DataFrame:
    """One lineage's history: generation x metric (mean over chains)."""
    samples = 4000 if setting.family == "ngram" else 100
    config = ExperimentConfig.model_validate({**setting.config, "policy": {"synthetic_fraction": fraction, "human": human, "samples": samples}})
    results = list(LineageRunner(Lineage(config, seed)).generations())
    return pd.DataFrame([{k: float(np.mean(v)) for k, v in r.metrics.items()} for r in results]).rename_axis("generation")


@dataclass
class Scored:
    family: str
    crossing: int | None  # None: stable
    projected: dict[int, np.ndarray]  # horizon -> (generations,) projected ΔQ / τ seen at each generation (nan at 0)
    movement: np.ndarray  # (generations,) largest leading-indicator movement seen at each generation
    baseline: np.ndarray  # (generations,) largest baseline movement (diversity fall, perplexity rise) at each generation


def score(setting: Setting, history: pd.DataFrame) -> Scored:
    roles = Roles.parse(list(history.columns))
    roles = Roles({setting.quality: roles.quality[setting.quality]}, roles.indicators, {})
    dq = relative_loss(history[setting.quality].to_numpy(), roles.quality[setting.quality])
    over = np.flatnonzero(~(dq <= setting.tolerance))
    generations = len(history)
    projected = {h: np.full(generations, np.nan) for h in HORIZONS}
    movement = np.zeros(generations)
    for end in range(2, generations + 1):  # the monitor judges generation end-1 from generations 0..end-1
        for h in HORIZONS:
            result = monitor(history.iloc[:end], roles, setting.tolerance, horizon=h, indicator_threshold=1.0)
            projected[h][end - 1] = result.quality[0].projected / setting.tolerance
        movement[end - 1] = max([i.movement for i in result.indicators] + [0.0])
    falls = [relative_loss(history[m].to_numpy(), "higher") for m in setting.diversity]
    ppl = history[setting.perplexity].to_numpy()
    rise = np.exp(ppl - ppl[0]) - 1 if setting.log_perplexity else ppl / ppl[0] - 1
    baseline = np.max(np.vstack(falls + [rise]), axis=0)
    return Scored(setting.family, int(over[0]) if over.size else None, projected, movement, baseline)


def alarm(signal: np.ndarray) -> int | None:
    """First generation (>= 1) at which the signal reaches 1."""
    hit = np.flatnonzero(signal[1:] >= 1)
    return int(hit[0]) + 1 if hit.size else None


def monitor_alarm(s: Scored, horizon: int, rho: float, kappa: float) -> int | None:
    return alarm(np.fmax(s.projected[horizon] / rho, s.movement / kappa))


def baseline_alarm(s: Scored, step: float) -> int | None:
    return alarm(s.baseline / step)


def evaluate(lineages: list[Scored], detector) -> dict:
    stable = [s for s in lineages if s.crossing is None]
    collapsing = [s for s in lineages if s.crossing is not None]
    false = [detector(s) is not None for s in stable]
    leads = []
    for s in collapsing:
        a = detector(s)
        leads.append(s.crossing - a if a is not None and a < s.crossing else 0)
    return {"fpr": float(np.mean(false)) if stable else float("nan"), "stable": len(stable), "collapsing": len(collapsing),
            "lead": float(np.mean(leads)) if leads else float("nan"), "detected": float(np.mean(np.array(leads) > 0)) if leads else float("nan")}


def calibrate(lineages: list[Scored], candidates: list, make) -> tuple:
    """The candidate with the longest mean lead time among those with FPR <= 5% on these lineages."""
    best = None
    for c in candidates:
        r = evaluate(lineages, make(*c))
        if r["fpr"] <= FPR_TARGET and (best is None or r["lead"] > best[1]["lead"]):
            best = (c, r)
    return best


def run(seeds: int, quick: bool) -> dict:
    table = {}
    cal_seeds, test_seeds = range(seeds), range(seeds, 2 * seeds)
    scored: dict[str, dict[str, list[Scored]]] = {}
    for setting, fraction, human in settings(quick):
        for split, seed_range in (("calibration", cal_seeds), ("test", test_seeds)):
            for seed in seed_range:
                scored.setdefault(setting.family, {}).setdefault(split, []).append(score(setting, simulate(setting, fraction, human, seed)))
    for family, splits in scored.items():
        cal, test = splits["calibration"], splits["test"]
        (horizon, rho, kappa), mon_cal = calibrate(cal, [(h, r, k) for h in HORIZONS for r in WARN_FRACTIONS for k in KAPPAS],
                                                   lambda h, r, k: lambda s: monitor_alarm(s, h, r, k))
        (step,), base_cal = calibrate(cal, [(x,) for x in BASELINE_STEPS], lambda x: lambda s: baseline_alarm(s, x))
        table[family] = {
            "monitor": {**evaluate(test, lambda s: monitor_alarm(s, horizon, rho, kappa)), "setting": f"H {horizon}, ρ {rho:g}, κ {kappa:g}",
                        "calibration": mon_cal},
            "baseline (published, 10%)": {**evaluate(test, lambda s: baseline_alarm(s, 0.1)), "setting": "10%"},
            "baseline (recalibrated)": {**evaluate(test, lambda s: baseline_alarm(s, step)), "setting": f"{step:.0%}" if np.isfinite(step) else "never",
                                        "calibration": base_cal},
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=4, help="seeds per setting in each of calibration and test")
    parser.add_argument("--quick", action="store_true", help="the Gaussian lineages only, shorter")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    start = time.perf_counter()
    table = run(args.seeds, args.quick)
    print(f"simulated and scored in {time.perf_counter() - start:.0f} s; figures on the test lineages "
          f"(thresholds chosen on separate calibration lineages for FPR <= {FPR_TARGET:.0%})")
    print(f"{'family':10s} {'detector':28s} {'setting':18s} {'FPR':>6s} {'lead (gen)':>10s} {'warned':>7s}  lineages")
    for family, rows in table.items():
        for name, r in rows.items():
            print(f"{family:10s} {name:28s} {r['setting']:18s} {r['fpr']:6.1%} {r['lead']:10.2f} {r['detected']:7.0%}  "
                  f"{r['stable']} stable, {r['collapsing']} collapsing")


if __name__ == "__main__":
    main()
