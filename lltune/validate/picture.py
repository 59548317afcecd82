"""The SVG picture of a validate result: a cyclictest latency histogram per measured CPU.

Stdlib only: lltune runs as root on trading hosts, and matplotlib is only in EPEL for RHEL 9.
The output depends on its input alone (no dates, no random ids), so two runs diff cleanly."""

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from lltune.validate.markdown import p9999_text, us_text

COLUMNS = 3
PANEL_WIDTH, PANEL_HEIGHT = 420, 260
HEADER_HEIGHT = 64
# Room inside a panel for the title lines above and the axis labels left and below.
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 58, 16, 48, 40
X_TICKS = 5
MIN_X_SPAN_US = 10
# The log axis starts half a sample down: a bucket holding one sample, often the worst case
# a tuning is judged by, still shows as a bar instead of sitting on the baseline.
LOG_FLOOR = math.log10(0.5)
AFTER_COLOUR, BEFORE_COLOUR, THRESHOLD_COLOUR, NOTE_COLOUR = (
    "#1f77b4", "#d62728", "#2ca02c", "#b35900")
VM_NOTE = "measured in a VM: not the hardware's numbers"

Histogram = Sequence[Sequence[int]]


class Scale:
    """Maps microseconds and counts of one panel to pixels inside its plot area."""

    def __init__(self, x_top: int, decades: int):
        self.x_top, self.decades = x_top, decades
        self.left, self.right = PLOT_LEFT, PANEL_WIDTH - PLOT_RIGHT
        self.top, self.bottom = PLOT_TOP, PANEL_HEIGHT - PLOT_BOTTOM

    def x(self, us: float) -> float:
        return self.left + (self.right - self.left) * us / self.x_top

    def y(self, count: float) -> float:
        share = (math.log10(count) - LOG_FLOOR) / (self.decades - LOG_FLOOR)
        return self.bottom - (self.bottom - self.top) * share


def _px(value: float) -> str:
    return "%.1f" % value


def _text(x: float, y: float, words: str, extra: str = "") -> str:
    return '<text x="%s" y="%s"%s>%s</text>' % (_px(x), _px(y), extra, escape(words))


def tick_step(span: int) -> int:
    """The smallest 1-2-5 step giving at most X_TICKS intervals over `span` microseconds."""
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if span <= step * multiple * X_TICKS:
                return step * multiple
        step *= 10


def _shown_threshold(histograms: List[Histogram], threshold: Optional[int]) -> Optional[int]:
    """The threshold when the axis can take it: one far beyond the data (a loose bound, 1 s
    against 10 ms) would squash every histogram into the first pixels, so it is only named
    in the legend."""
    reach = max([pairs[-1][0] + 1 for pairs in histograms if pairs] + [MIN_X_SPAN_US])
    return threshold if threshold is not None and threshold < 4 * reach else None


def _scale(histograms: List[Histogram], threshold: Optional[int]) -> Tuple[Scale, int]:
    reach = [pairs[-1][0] + 1 for pairs in histograms if pairs]
    if threshold is not None:
        reach.append(threshold + 1)
    span = max(reach + [MIN_X_SPAN_US])
    step = tick_step(span)
    peak = max([count for pairs in histograms for _, count in pairs] + [1])
    decades = max(1, int(math.ceil(math.log10(peak))))
    return Scale(int(math.ceil(span / float(step))) * step, decades), step


def step_path(histogram: Histogram, scale: Scale) -> str:
    """An outline over the 1 us buckets that drops to the baseline across empty buckets."""
    parts = []
    end = None
    for bucket, count in histogram:
        if bucket != end:
            if end is not None:
                parts.append("L%s %s" % (_px(scale.x(end)), _px(scale.bottom)))
            parts.append("M%s %s" % (_px(scale.x(bucket)), _px(scale.bottom)))
        parts.append("L%s %s L%s %s" % (_px(scale.x(bucket)), _px(scale.y(count)),
                                        _px(scale.x(bucket + 1)), _px(scale.y(count))))
        end = bucket + 1
    if end is not None:
        parts.append("L%s %s" % (_px(scale.x(end)), _px(scale.bottom)))
    return " ".join(parts)


def _axes(scale: Scale, step: int) -> List[str]:
    parts = ['<path class="axes" d="M%s %s V%s H%s" fill="none" stroke="#333"/>' % (
        _px(scale.left), _px(scale.top), _px(scale.bottom), _px(scale.right))]
    for us in range(0, scale.x_top + 1, step):
        parts.append(_text(scale.x(us), scale.bottom + 14, str(us), ' text-anchor="middle"'))
    for decade in range(scale.decades + 1):
        label = "%d" % 10 ** decade if decade < 4 else "1e%d" % decade
        parts.append(_text(scale.left - 6, scale.y(10 ** decade) + 4, label,
                           ' text-anchor="end"'))
    parts.append(_text((scale.left + scale.right) / 2.0, PANEL_HEIGHT - 8, "latency (us)",
                       ' text-anchor="middle"'))
    parts.append(_text(14, (scale.top + scale.bottom) / 2.0, "samples (log)",
                       ' text-anchor="middle" transform="rotate(-90 14 %s)"'
                       % _px((scale.top + scale.bottom) / 2.0)))
    return parts


def _summary(label: str, cyclictest: Optional[Dict[str, Any]]) -> str:
    if cyclictest is None:
        return "%sno cyclictest data" % label
    return "%smax %s, p99.99 %s" % (label, us_text(cyclictest.get("max_us")),
                                    p9999_text(cyclictest))


def _missing_reason(result: Dict[str, Any]) -> str:
    tool = (result.get("tools") or {}).get("cyclictest") or {}
    status = tool.get("status")
    if status in (None, "ok"):
        return "no cyclictest data for this CPU"
    return "no cyclictest data (cyclictest %s)" % status


def panel(entry: Dict[str, Any], result: Dict[str, Any],
          before_entry: Optional[Dict[str, Any]], with_before: bool) -> List[str]:
    """One CPU's panel, drawn at the origin; the caller places it in the grid."""
    cyclictest = entry.get("cyclictest")
    before_cyclictest = (before_entry or {}).get("cyclictest")
    parts = ['<rect class="frame" width="%d" height="%d" fill="none" stroke="#bbb"/>'
             % (PANEL_WIDTH, PANEL_HEIGHT),
             _text(8, 16, _summary("CPU %d: " % entry["cpu"], cyclictest),
                   ' font-weight="bold"')]
    if with_before:
        parts.append(_text(8, 32, _summary("before: ", before_cyclictest),
                           ' fill="%s"' % BEFORE_COLOUR))
    if cyclictest is None:
        parts.append(_text(PANEL_WIDTH / 2.0, PANEL_HEIGHT / 2.0, _missing_reason(result),
                           ' class="no-data" text-anchor="middle"'))
        return parts
    histogram = cyclictest.get("histogram") or []
    before_histogram = (before_cyclictest or {}).get("histogram") or []
    threshold = _shown_threshold([histogram, before_histogram], result.get("threshold_us"))
    scale, step = _scale([histogram, before_histogram], threshold)
    parts += _axes(scale, step)
    parts.append('<path class="histogram" d="%s" fill="%s" fill-opacity="0.6" stroke="%s"/>'
                 % (step_path(histogram, scale), AFTER_COLOUR, AFTER_COLOUR))
    if before_histogram:
        parts.append('<path class="before-histogram" d="%s" fill="none" stroke="%s" '
                     'stroke-width="1.5"/>' % (step_path(before_histogram, scale),
                                               BEFORE_COLOUR))
    if threshold is not None:
        parts.append('<line class="threshold" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" '
                     'stroke-dasharray="4 3"/>' % (
                         _px(scale.x(threshold)), _px(scale.top), _px(scale.x(threshold)),
                         _px(scale.bottom), THRESHOLD_COLOUR))
    return parts


def _swatch(x: float, colour: str, label: str, filled: bool) -> List[str]:
    fill = ' fill="%s" fill-opacity="0.6"' % colour if filled else ' fill="none"'
    return ['<rect x="%s" y="34" width="14" height="10"%s stroke="%s"/>' % (_px(x), fill, colour),
            _text(x + 20, 43, label)]


def legend(result: Dict[str, Any], before: Optional[Dict[str, Any]]) -> List[str]:
    label = "this run %s" % result.get("id")
    parts = ['<g id="legend">'] + _swatch(8, AFTER_COLOUR, label, True)
    x = 8 + 30 + 7 * len(label)
    if before is not None:
        before_label = "before %s" % before.get("id")
        parts += _swatch(x, BEFORE_COLOUR, before_label, False)
        x += 30 + 7 * len(before_label)
    if result.get("threshold_us") is not None:
        parts.append('<line x1="%s" y1="33" x2="%s" y2="45" stroke="%s" stroke-dasharray="4 3"/>'
                     % (_px(x + 7), _px(x + 7), THRESHOLD_COLOUR))
        parts.append(_text(x + 20, 43, "threshold %s" % us_text(result["threshold_us"])))
    virtualized = (result.get("environment") or {}).get("virtualized")
    if virtualized:
        parts.append(_text(8, 60, "%s (%s)" % (VM_NOTE, virtualized),
                           ' class="vm-note" fill="%s"' % NOTE_COLOUR))
    return parts + ["</g>"]


def svg(result: Dict[str, Any], before: Optional[Dict[str, Any]] = None) -> str:
    entries = result.get("per_cpu") or []
    before_entries = {entry["cpu"]: entry for entry in (before or {}).get("per_cpu") or []}
    columns = max(1, min(COLUMNS, len(entries)))
    rows = (len(entries) + columns - 1) // columns
    width = columns * PANEL_WIDTH
    height = HEADER_HEIGHT + max(rows, 1) * PANEL_HEIGHT
    hostname = (result.get("environment") or {}).get("hostname") or "unknown host"
    heading = "lltune validate %s on %s" % (result.get("id"), hostname)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">'
             % (width, height, width, height),
             "<title>%s</title>" % escape(heading),
             '<rect width="%d" height="%d" fill="#fff"/>' % (width, height),
             _text(8, 20, heading, ' font-size="14" font-weight="bold"')]
    parts += legend(result, before)
    for index, entry in enumerate(entries):
        left = (index % columns) * PANEL_WIDTH
        top = HEADER_HEIGHT + (index // columns) * PANEL_HEIGHT
        parts.append('<g id="cpu-%d" transform="translate(%d %d)">' % (entry["cpu"], left, top))
        parts += panel(entry, result, before_entries.get(entry["cpu"]), before is not None)
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
