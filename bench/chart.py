"""An SVG chart of latency distributions (empirical CDFs), written by bench/engine.py. No dependencies."""
from __future__ import annotations

from pathlib import Path

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 360, 64, 24, 40, 52
COLOURS = ("#2563eb", "#dc2626", "#059669", "#9333ea")


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def write_cdf(path: Path, title: str, series: dict[str, list[float]]) -> None:
    """One line per series: the fraction of samples (y) at or below each latency in ms (x)."""
    data = {name: sorted(v * 1000 for v in values) for name, values in series.items() if values}
    top = max(_percentile(values, 0.99) for values in data.values()) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ms: float) -> float:
        return LEFT + min(ms, top) / top * plot_w

    def y(fraction: float) -> float:
        return TOP + (1 - fraction) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{title}</text>']
    for tick in range(6):  # axes and grid
        ms, fraction = top * tick / 5, tick / 5
        parts.append(f'<line x1="{x(ms):.1f}" y1="{TOP}" x2="{x(ms):.1f}" y2="{TOP + plot_h}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{x(ms):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{ms:.0f}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y(fraction):.1f}" x2="{LEFT + plot_w}" y2="{y(fraction):.1f}" '
                     'stroke="#e5e7eb"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(fraction) + 4:.1f}" text-anchor="end">{fraction:.0%}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">latency (ms), up to the '
                 'largest p99 + 10%</text>')
    for number, (name, values) in enumerate(data.items()):
        colour = COLOURS[number % len(COLOURS)]
        points = " ".join(f"{x(v):.1f},{y((i + 1) / len(values)):.1f}" for i, v in enumerate(values) if v <= top)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        label_y = TOP + plot_h - 12 - 18 * number
        median = _percentile(values, 0.5)
        parts.append(f'<text x="{LEFT + plot_w - 8}" y="{label_y}" text-anchor="end" fill="{colour}">'
                     f'{name} (n={len(values)}, p50 {median:.1f} ms)</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
