/** A hand-written horizontal bar chart: one bar per figure (its ratio), a dashed tick at its target. */

export interface Bar {
  label: string;
  ratio: number;
  /** 0: a figure shown for information, with no target and no verdict (grey bar). */
  target: number;
  pass: boolean;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function barChart(title: string, subtitle: string, bars: Bar[]): string {
  const labelW = 300;
  const plotW = 360;
  const rowH = 44;
  const top = 56;
  const width = labelW + plotW + 70;
  const height = top + bars.length * rowH + 34;
  // Always show 1.0 (parity with the baseline) and leave room past the longest bar or target.
  const max = Math.max(1.2, ...bars.map((b) => b.ratio * 1.1), ...bars.map((b) => b.target * 1.2));
  const x = (v: number) => labelW + (Math.max(0, v) / max) * plotW;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="12" y="40" fill="#555">${esc(subtitle)}</text>`,
  ];
  for (const tick of [0, 0.5, 1, 1.5, 2, 3, 4].filter((t) => t <= max)) {
    const tx = x(tick).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${height - 28}" stroke="#eee"/>`);
    parts.push(`<text x="${tx}" y="${height - 12}" text-anchor="middle" fill="#777">${tick}</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const colour = b.target === 0 ? '#9e9e9e' : b.pass ? '#2e7d32' : '#c62828';
    const w = (x(b.ratio) - labelW).toFixed(1);
    const tx = x(b.target).toFixed(1);
    parts.push(`<text x="12" y="${y + 20}">${esc(b.label)}</text>`);
    parts.push(`<rect x="${labelW}" y="${y + 6}" width="${w}" height="20" fill="${colour}"/>`);
    parts.push(`<text x="${(x(b.ratio) + 6).toFixed(1)}" y="${y + 21}">${b.ratio.toFixed(2)}</text>`);
    if (b.target === 0) {
      parts.push(`<text x="${labelW}" y="${y + 41}" font-size="10" fill="#333">no target: shown for information</text>`);
      return;
    }
    parts.push(`<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + 31}" stroke="#000" stroke-width="2" stroke-dasharray="4 2"/>`);
    parts.push(`<text x="${tx}" y="${y + 41}" text-anchor="middle" font-size="10" fill="#333">target ${b.target}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
