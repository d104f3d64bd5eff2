/** Minimal SVG line charts (no dependencies): one or several panels in one picture. */
export interface Series {
  name: string;
  points: [number, number][];
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Round tick steps: 1, 2 or 5 times a power of ten, about `n` per axis. */
function ticks(lo: number, hi: number, n = 5, integer = false): number[] {
  const raw = (hi - lo) / n || 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
  if (integer) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function panel(p: Panel, x0: number, y0: number, W: number, H: number, legend: boolean): string[] {
  const legendW = Math.max(170, 50 + 7 * Math.max(0, ...p.series.map((s) => s.name.length)));
  const L = x0 + 60,
    R = x0 + W - (legend ? legendW : 20),
    T = y0 + 30,
    B = y0 + H - 45;
  const pts = p.series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((q) => q[0]),
    ys = pts.map((q) => q[1]);
  let xMin = Math.min(...xs),
    xMax = Math.max(...xs),
    yMin = Math.min(...ys),
    yMax = Math.max(...ys);
  if (!(xMax > xMin)) {
    xMin -= 1;
    xMax += 1;
  }
  if (!(yMax > yMin)) {
    yMin -= 1;
    yMax += 1;
  }
  const pad = 0.05 * (yMax - yMin);
  yMin -= pad;
  yMax += pad;
  const px = (x: number) => L + ((x - xMin) / (xMax - xMin)) * (R - L);
  const py = (y: number) => B - ((y - yMin) / (yMax - yMin)) * (B - T);
  const out = [
    `<text x="${(L + R) / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14">${esc(p.title)}</text>`,
    `<line x1="${L}" y1="${B}" x2="${R}" y2="${B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${B}" stroke="black"/>`,
    `<text x="${(L + R) / 2}" y="${B + 34}" text-anchor="middle">${esc(p.xLabel)}</text>`,
    `<text x="${x0 + 14}" y="${(T + B) / 2}" text-anchor="middle" transform="rotate(-90 ${x0 + 14} ${(T + B) / 2})">${esc(p.yLabel)}</text>`,
  ];
  for (const x of ticks(xMin, xMax, 5, xs.every(Number.isInteger)))
    out.push(`<text x="${px(x).toFixed(1)}" y="${B + 16}" text-anchor="middle">${x}</text>`);
  for (const y of ticks(yMin, yMax)) {
    out.push(
      `<line x1="${L}" y1="${py(y).toFixed(1)}" x2="${R}" y2="${py(y).toFixed(1)}" stroke="#ddd"/>`,
    );
    out.push(`<text x="${L - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${y}</text>`);
  }
  p.series.forEach((s, i) => {
    const color = s.dashed ? '#888' : COLORS[i % COLORS.length];
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${good.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const [x, y] of good)
      out.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color}"/>`,
      );
    if (legend) {
      const ly = T + 10 + 18 * i;
      out.push(
        `<line x1="${R + 12}" y1="${ly}" x2="${R + 36}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
      );
      out.push(`<text x="${R + 42}" y="${ly + 4}">${esc(s.name)}</text>`);
    }
  });
  return out;
}

/** Panels in a grid of `cols` columns; the legend beside the last panel of each row. */
export function chart(panels: Panel[], cols = 1, W = 640, H = 400): string {
  const rows = Math.ceil(panels.length / cols);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * cols}" height="${H * rows}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W * cols}" height="${H * rows}" fill="white"/>`,
  ];
  panels.forEach((p, i) =>
    out.push(
      ...panel(
        p,
        (i % cols) * W,
        Math.floor(i / cols) * H,
        W,
        H,
        i % cols === cols - 1 || i === panels.length - 1,
      ),
    ),
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One panel. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  return chart([{ title, xLabel, yLabel, series }]);
}
