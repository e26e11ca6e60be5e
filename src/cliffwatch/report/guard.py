"""Terminal rendering of a provenance audit and of a monitor result (rich tables and lines)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from cliffwatch.guard.audit import EXAMPLES, AuditResult
from cliffwatch.guard.monitor import MonitorResult

_RULE_NAMES = {
    "min_human_fraction": "human fraction (effective)", "max_depth": "recursion depth",
    "min_generator_families": "generator families", "max_family_share": "largest family share",
    "min_verified_share": "verified share", "max_unprovenanced_share": "rows without provenance",
    "min_estimated_human_share": "human share without provenance (estimated, low end)",
}


def _num(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def audit_table(result: AuditResult) -> Table:
    table = Table(title=f"audit of {result.manifest}: {'PASS' if result.passed else 'VIOLATION'}")
    for column in ("rule", "required", "measured", "verdict"):
        table.add_column(column)
    for rule in result.rules:
        table.add_row(_RULE_NAMES.get(rule.rule, rule.rule), f"{rule.op} {_num(rule.required)}", _num(rule.measured),
                      "[green]pass[/green]" if rule.passed else "[red]FAIL[/red]")
    return table


def audit_lines(result: AuditResult) -> list[str]:
    sources = ", ".join(f"{k} {v}" for k, v in sorted(result.sources.items()))
    lines = [
        f"{result.rows} rows ({sources}); dedup {result.dedup}: {result.items} distinct items "
        f"({result.exact_duplicates} exact and {result.near_duplicates} near duplicates removed)",
        f"human fraction: {result.effective_human_fraction:.4g} effective, {result.raw_human_fraction:.4g} raw; "
        f"{result.machine_copies_of_human} machine-made row(s) copy a human item and count as neither",
    ]
    if result.unprovenanced:
        lines.append(f"rows without provenance: {result.unprovenanced} (e.g. {', '.join(map(str, result.unprovenanced_ids))})")
    else:
        lines.append("rows without provenance: none")
    if result.merged_names:  # spelling variants counted as one name (guard.names)
        merges = "; ".join(f"{escape(name)} <- {', '.join(escape(repr(raw)) for raw in spellings)}"
                           for name, spellings in list(result.merged_names.items())[:EXAMPLES])
        more = len(result.merged_names) - EXAMPLES
        lines.append(f"names merged: {merges}{f'; and {more} more' if more > 0 else ''}")
    if not result.rules:
        lines.append("the policy sets no rule: nothing to violate")
    return lines


def _gen(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def monitor_tables(result: MonitorResult) -> list[Table]:
    quality = Table(title=f"human-anchored probes (τ = {result.tolerance:g}, generations {result.generations[0]}–{result.generations[-1]})")
    for column in ("probe", "ΔQ now", "trend / gen", "crossed at", "forecast", "interval"):
        quality.add_column(column)
    for t in result.quality:
        interval = f"{_gen(t.forecast_low)} – {_gen(t.forecast_high) if t.forecast_high is not None else 'never'}" if t.forecast_low is not None else "–"
        quality.add_row(t.metric, f"{t.delta_q[-1]:+.3g}", f"{t.slope:+.3g}", str(t.crossed_at) if t.crossed_at is not None else "–",
                        _gen(t.forecast), interval)
    tables = [quality]
    if result.indicators:
        indicators = Table(title=f"leading indicators (moving: ≥ {result.indicator_threshold:.0%} worse than at the first generation)")
        for column in ("indicator", "better", "change (worse > 0)", "moving"):
            indicators.add_column(column)
        for i in result.indicators:
            indicators.add_row(i.metric, i.direction, f"{i.movement:+.3g}", "[yellow]yes[/yellow]" if i.moving else "no")
        tables.append(indicators)
    return tables


def monitor_lines(result: MonitorResult) -> list[str]:
    head = f"warning score {result.score:.3g} (warns at 1)"
    ignored = ([f"ignored (no role; name with --quality, --indicator or --benchmark): {', '.join(result.ignored)}"]
               if result.ignored else [])
    if not result.warning:
        return ignored + [f"ok: {head}; no warning"]
    return ignored + [f"WARNING: {head}"] + [f"  - {w}" for w in result.warnings]
