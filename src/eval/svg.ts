/**
 * A small SVG writer for the evaluation report: a heatmap (confusion matrix), a bar chart (per-class
 * F1) and a line chart (training curves). Plain strings, no browser and no dependencies; text uses
 * the generic `sans-serif` family so any viewer can render it.
 */

/** Escapes text for SVG / XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c] ?? c,
  );
}

/** Formats a number for SVG coordinates (2 decimals, no trailing zeros). */
function n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function svgDocument(width: number, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

function text(x: number, y: number, content: string, attrs = ""): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ` ${attrs}` : ""}>${escapeXml(content)}</text>`;
}

/** Linear blend from white to a blue, t in [0, 1]. */
function blue(t: number): string {
  const c = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const mix = (a: number, b: number): number => Math.round(a + (b - a) * c);
  return `rgb(${mix(255, 8)},${mix(255, 69)},${mix(255, 148)})`;
}

/** "Nice" axis ticks covering [lo, hi]: about `count` round steps (1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++)
    out.push(Number((k * step).toPrecision(12)));
  return out;
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** Options of {@link heatmapSvg}. */
export interface HeatmapOptions {
  title: string;
  /** Row labels (e.g. true classes), top to bottom. */
  rows: readonly string[];
  /** Column labels (e.g. predicted classes), left to right. */
  cols: readonly string[];
  /** [rows][cols] values; colour is value / row sum when `normalizeRows`, else value / max. */
  values: readonly (readonly number[])[];
  rowTitle?: string;
  colTitle?: string;
  /** Colour by the fraction of each row (a confusion matrix's recall view). Default true. */
  normalizeRows?: boolean;
}

/**
 * A heatmap with the value written in each cell (a confusion matrix: rows = true class, columns =
 * predicted class).
 */
export function heatmapSvg(o: HeatmapOptions): string {
  const cell = Math.max(22, Math.min(48, Math.floor(480 / Math.max(1, o.cols.length))));
  const labelW = 12 + 7 * Math.max(4, ...o.rows.map((r) => r.length));
  const labelH = 12 + 6 * Math.max(4, ...o.cols.map((c) => c.length));
  const left = labelW + 24;
  const top = 40 + labelH;
  const width = left + cell * o.cols.length + 20;
  const height = top + cell * o.rows.length + 20;
  const body: string[] = [
    text(width / 2, 22, o.title, 'text-anchor="middle" font-size="15" font-weight="bold"'),
  ];
  const max = Math.max(1e-12, ...o.values.flat());
  const normalize = o.normalizeRows ?? true;
  o.rows.forEach((_, r) => {
    const row = o.values[r] ?? [];
    const sum = row.reduce((a, b) => a + b, 0);
    o.cols.forEach((_, c) => {
      const v = row[c] ?? 0;
      const t = normalize ? (sum > 0 ? v / sum : 0) : v / max;
      const x = left + c * cell;
      const y = top + r * cell;
      body.push(
        `<rect x="${n(x)}" y="${n(y)}" width="${cell}" height="${cell}" fill="${blue(t)}" stroke="#cccccc"/>`,
      );
      body.push(
        text(
          x + cell / 2,
          y + cell / 2 + 4,
          Number.isInteger(v) ? String(v) : v.toFixed(2),
          `text-anchor="middle" fill="${t > 0.55 ? "#ffffff" : "#000000"}" font-size="11"`,
        ),
      );
    });
  });
  o.rows.forEach((label, r) =>
    body.push(text(left - 6, top + r * cell + cell / 2 + 4, label, 'text-anchor="end"')),
  );
  o.cols.forEach((label, c) => {
    const x = left + c * cell + cell / 2 + 4;
    body.push(text(x, top - 6, label, `text-anchor="start" transform="rotate(-60 ${n(x)} ${n(top - 6)})"`));
  });
  if (o.rowTitle !== undefined) {
    const y = top + (cell * o.rows.length) / 2;
    body.push(
      text(14, y, o.rowTitle, `text-anchor="middle" transform="rotate(-90 14 ${n(y)})" font-weight="bold"`),
    );
  }
  if (o.colTitle !== undefined)
    body.push(
      text(left + (cell * o.cols.length) / 2, 40, o.colTitle, 'text-anchor="middle" font-weight="bold"'),
    );
  return svgDocument(width, height, body);
}

/** Options of {@link barChartSvg}. */
export interface BarChartOptions {
  title: string;
  labels: readonly string[];
  values: readonly number[];
  /** Axis maximum. Default: the largest value (1 when all are ≤ 1). */
  max?: number;
  yLabel?: string;
}

/** A vertical bar chart with the value above each bar. */
export function barChartSvg(o: BarChartOptions): string {
  const bar = Math.max(18, Math.min(48, Math.floor(560 / Math.max(1, o.labels.length))));
  const labelH = 12 + 6 * Math.max(4, ...o.labels.map((l) => l.length));
  const left = 56;
  const top = 40;
  const plotH = 220;
  const width = left + bar * o.labels.length + 24;
  const height = top + plotH + labelH + 10;
  const finite = o.values.filter((v) => Number.isFinite(v));
  const max = o.max ?? (Math.max(0, ...finite) <= 1 ? 1 : Math.max(...finite));
  const y = (v: number): number => top + plotH - (plotH * Math.max(0, Math.min(v, max))) / max;
  const body: string[] = [
    text(width / 2, 22, o.title, 'text-anchor="middle" font-size="15" font-weight="bold"'),
  ];
  for (const t of niceTicks(0, max, 5)) {
    body.push(`<line x1="${left}" x2="${n(width - 16)}" y1="${n(y(t))}" y2="${n(y(t))}" stroke="#e5e5e5"/>`);
    body.push(text(left - 6, y(t) + 4, tickLabel(t), 'text-anchor="end" font-size="11"'));
  }
  o.labels.forEach((label, i) => {
    const v = o.values[i] ?? Number.NaN;
    const x = left + i * bar;
    if (Number.isFinite(v)) {
      body.push(
        `<rect x="${n(x + 3)}" y="${n(y(v))}" width="${bar - 6}" height="${n(top + plotH - y(v))}" fill="#2f6fb0"/>`,
      );
      body.push(text(x + bar / 2, y(v) - 4, v.toFixed(2), 'text-anchor="middle" font-size="10"'));
    }
    const lx = x + bar / 2 + 4;
    const ly = top + plotH + 10;
    body.push(text(lx, ly, label, `text-anchor="end" transform="rotate(-60 ${n(lx)} ${n(ly)})"`));
  });
  body.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333333"/>`);
  body.push(
    `<line x1="${left}" x2="${n(width - 16)}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333333"/>`,
  );
  if (o.yLabel !== undefined) body.push(yAxisLabel(o.yLabel, top + plotH / 2));
  return svgDocument(width, height, body);
}

/** A y-axis title, rotated, centred at height `y` near the left edge. */
function yAxisLabel(label: string, y: number): string {
  return text(14, y, label, `text-anchor="middle" transform="rotate(-90 14 ${n(y)})"`);
}

/** One line of a {@link lineChartSvg}. */
export interface LineSeries {
  name: string;
  /** [x, y] points; non-finite y values break the line. */
  points: readonly (readonly [number, number])[];
}

const PALETTE = ["#2f6fb0", "#d9622b", "#3a9a4a", "#9b59b6", "#c0392b", "#7f8c8d", "#b7950b", "#16a085"];

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xLabel?: string;
  yLabel?: string;
}

/** A line chart with markers, axes with round ticks, and a legend. */
export function lineChartSvg(o: LineChartOptions): string {
  const left = 64;
  const top = 40;
  const plotW = 480;
  const plotH = 240;
  const legendW = 20 + 7 * Math.max(4, ...o.series.map((s) => s.name.length));
  const width = left + plotW + legendW + 24;
  const height = top + plotH + 52;
  const pts = o.series.flatMap((s) =>
    s.points.filter(([x, yv]) => Number.isFinite(x) && Number.isFinite(yv)),
  );
  let x0 = Math.min(...pts.map((p) => p[0]));
  let x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => p[1]));
  let y1 = Math.max(...pts.map((p) => p[1]));
  if (pts.length === 0) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number): number => left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (v: number): number => top + plotH - ((v - y0) / (y1 - y0)) * plotH;
  const body: string[] = [
    text((left + plotW) / 2 + 20, 22, o.title, 'text-anchor="middle" font-size="15" font-weight="bold"'),
  ];
  for (const t of niceTicks(y0, y1, 5)) {
    body.push(`<line x1="${left}" x2="${left + plotW}" y1="${n(sy(t))}" y2="${n(sy(t))}" stroke="#e5e5e5"/>`);
    body.push(text(left - 6, sy(t) + 4, tickLabel(t), 'text-anchor="end" font-size="11"'));
  }
  for (const t of niceTicks(x0, x1, 8)) {
    body.push(
      `<line x1="${n(sx(t))}" x2="${n(sx(t))}" y1="${top + plotH}" y2="${top + plotH + 4}" stroke="#333333"/>`,
    );
    body.push(text(sx(t), top + plotH + 17, tickLabel(t), 'text-anchor="middle" font-size="11"'));
  }
  body.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333333"/>`);
  body.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333333"/>`,
  );
  o.series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length] as string;
    let path = "";
    let pen = false;
    for (const [x, v] of s.points) {
      if (!Number.isFinite(v) || !Number.isFinite(x)) {
        pen = false;
        continue;
      }
      path += `${pen ? "L" : "M"}${n(sx(x))},${n(sy(v))}`;
      pen = true;
    }
    if (path !== "") body.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const [x, v] of s.points) {
      if (Number.isFinite(v) && Number.isFinite(x))
        body.push(`<circle cx="${n(sx(x))}" cy="${n(sy(v))}" r="2.5" fill="${colour}"/>`);
    }
    const ly = top + 10 + i * 18;
    body.push(
      `<line x1="${left + plotW + 16}" x2="${left + plotW + 34}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`,
    );
    body.push(text(left + plotW + 40, ly + 4, s.name));
  });
  if (o.xLabel !== undefined)
    body.push(text(left + plotW / 2, top + plotH + 40, o.xLabel, 'text-anchor="middle"'));
  if (o.yLabel !== undefined) body.push(yAxisLabel(o.yLabel, top + plotH / 2));
  return svgDocument(width, height, body);
}
