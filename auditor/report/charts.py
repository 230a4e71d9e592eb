"""Inline SVG charts drawn from data: no scripts, no external references, every label escaped.

Text only ever enters the SVG as an argument of `Markup.format`, which escapes it; the markup around it
is written here. Each bar carries its value as text, so the chart reads without colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from auditor.report.i18n import Translator
from auditor.report.view import REGIONS, ProviderView

_ROW = 24
_BAR = 16
_WIDTH = 640
_LABEL_W = 200
_VALUE_W = 90
_LABEL_CHARS = 30

# Fills chosen to stay distinct in greyscale print; the meaning is in the text labels anyway.
_GRADE_FILL = {"A+": "#1b5e20", "A": "#2e7d32", "B": "#558b2f", "C": "#9e9d24", "D": "#ef6c00",
               "E": "#d84315", "F": "#b71c1c"}
_REGION_FILL = {"EU": "#1565c0", "EEA": "#1e88e5", "adequacy": "#64b5f6", "third_country": "#c62828",
                "unknown": "#9e9e9e"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown, e.g. "87,5 — A"
    fill: str


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def bar_chart(bars: Sequence[Bar], maximum: float, title: str) -> Markup:
    """A horizontal bar chart: one labelled bar per item, the value written at its end."""
    height = max(len(bars), 1) * _ROW + 8
    span = _WIDTH - _LABEL_W - _VALUE_W
    parts = [Markup(
        '<svg class="chart" role="img" viewBox="0 0 {w} {h}" '
        'width="100%" preserveAspectRatio="xMinYMin meet" aria-label="{t}"><title>{t}</title>'
    ).format(w=_WIDTH, h=height, t=title)]
    for i, bar in enumerate(bars):
        y = 4 + i * _ROW
        length = 0.0 if maximum <= 0 else max(0.0, min(bar.value, maximum)) / maximum * span
        parts.append(Markup(
            '<g><title>{full}</title>'
            '<text x="{lx}" y="{ty}" text-anchor="end" font-size="12" fill="#222">{label}</text>'
            '<rect x="{bx}" y="{y}" width="{bw:.1f}" height="{bh}" fill="{fill}"/>'
            '<rect x="{bx}" y="{y}" width="{span}" height="{bh}" fill="none" stroke="#999" stroke-width="0.5"/>'
            '<text x="{vx:.1f}" y="{ty}" font-size="12" fill="#222">{text}</text></g>'
        ).format(
            full=f"{bar.label}: {bar.text}", lx=_LABEL_W - 8, ty=y + 12, label=_short(bar.label),
            bx=_LABEL_W, y=y, bw=length, bh=_BAR, fill=bar.fill, span=span,
            vx=_LABEL_W + span + 6, text=bar.text,
        ))
    if not bars:
        parts.append(Markup('<text x="{x}" y="16" font-size="12" fill="#222">—</text>').format(x=_LABEL_W))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def score_chart(providers: Sequence[ProviderView], tr: Translator) -> Markup:
    """Scores per provider (0–100), in ranking order; unscored providers are left out."""
    bars = [
        Bar(p.name, p.score.value, tr.t("chart.score_value", value=tr.number(p.score.value), grade=p.score.grade),
            _GRADE_FILL.get(p.score.grade, "#616161"))
        for p in providers if p.score is not None
    ]
    return bar_chart(bars, 100.0, tr.t("chart.scores_title"))


def region_chart(counts: dict[str, int], tr: Translator) -> Markup:
    """How many servers sit in each region (EU, EEA, adequacy, third country, unknown)."""
    top = max(counts.values(), default=0)
    bars = [
        Bar(tr.t(f"region.{r}"), counts.get(r, 0), tr.tn("chart.servers", counts.get(r, 0)), _REGION_FILL[r])
        for r in REGIONS
    ]
    return bar_chart(bars, float(top), tr.t("chart.regions_title"))
