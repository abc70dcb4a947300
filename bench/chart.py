"""Line charts as SVG for the bench reports, with no plotting library (the
benches run on a bare ./scripts/setup machine): one or more panels, each a
set of named series of (x, y) points, x on a log scale when asked."""

import math

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _panel(top, w, h, title, series, logx, ylabel):
    pad_l, pad_r, pad_t, pad_b = 60, 150, 28, 36
    points = [p for pts in series.values() for p in pts]
    fx = (lambda x: math.log10(x)) if logx else (lambda x: x)
    xs = [fx(x) for x, _ in points]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = max(y for _, y in points) * 1.15 or 1

    def px(x, y):
        return (pad_l + (fx(x) - x0) / (x1 - x0) * (w - pad_l - pad_r),
                top + h - pad_b - y / y1 * (h - pad_t - pad_b))
    out = [f'<text x="{(w - pad_r + pad_l) / 2}" y="{top + 16}" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{pad_l}" y1="{top + h - pad_b}" x2="{w - pad_r}" y2="{top + h - pad_b}" stroke="black"/>',
           f'<line x1="{pad_l}" y1="{top + pad_t}" x2="{pad_l}" y2="{top + h - pad_b}" stroke="black"/>',
           f'<text x="12" y="{top + h / 2}" transform="rotate(-90 12 {top + h / 2})" text-anchor="middle">'
           f'{ylabel}</text>']
    for frac in (0, 0.5, 1):
        _, y = px(points[0][0], y1 / 1.15 * frac)
        out.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end">{y1 / 1.15 * frac:.3g}</text>')
    ticks = sorted({x for x, _ in points})
    step = max(1, len(ticks) // 10)  # at most about ten labels
    for x in ticks[::step] + ([ticks[-1]] if (len(ticks) - 1) % step else []):
        a, _ = px(x, 0)
        out.append(f'<text x="{a:.1f}" y="{top + h - pad_b + 14}" text-anchor="middle">{x:g}</text>')
    for i, (label, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = [px(x, y) for x, y in pts]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (colour, " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)))
        out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{colour}"/>' for a, b in coords]
        out.append(f'<text x="{w - pad_r + 8}" y="{top + pad_t + 14 * i + 4}" fill="{colour}">{label}</text>')
    return out


def svg(panels, width=640, panel_height=260, xlabel="") -> str:
    """``panels``: [(title, {label: [(x, y), ...]}, logx, ylabel)]."""
    height = panel_height * len(panels) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="monospace" font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>']
    for i, (title, series, logx, ylabel) in enumerate(panels):
        out += _panel(i * panel_height, width, panel_height, title, series, logx, ylabel)
    out.append(f'<text x="{width / 2}" y="{height - 4}" text-anchor="middle">{xlabel}</text>')
    return "\n".join(out + ["</svg>"]) + "\n"
