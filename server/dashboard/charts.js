// Charts as SVG built in the page (no library, nothing from another host): horizontal bars on the
// 0–100 index scale with the 95% interval as a whisker and last year's value as a tick. The SVG
// scales to its container (viewBox), so the same chart reads on a laptop and a phone.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, ...children) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Horizontal bars. `rows`: `{ key, label, value, low, high, previous, highlight }` (values on the
 * 0–100 scale, `null` when withheld). `format(x)` writes the numbers. `title` names the chart
 * for screen readers.
 */
export function bars(rows, { title, format, labelWidth = 250, width = 660 } = {}) {
  const rowH = 30;
  const top = 8;
  const axisH = 24;
  const height = top + rows.length * rowH + axisH;
  const x0 = labelWidth;
  const plotW = width - labelWidth - 64;
  const sx = (v) => x0 + (Math.max(0, Math.min(100, v)) / 100) * plotW;
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart',
    role: 'img',
    'aria-label': title || '',
    preserveAspectRatio: 'xMinYMin meet',
  });
  if (title) svg.append(el('title', {}, title));
  // Grid at 0, 25, 50, 75, 100.
  for (const g of [0, 25, 50, 75, 100]) {
    svg.append(el('line', { x1: sx(g), x2: sx(g), y1: top, y2: height - axisH, class: 'grid' }));
    svg.append(el('text', { x: sx(g), y: height - 6, class: 'axis', 'text-anchor': 'middle' }, String(g)));
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const g = el('g', { class: `row${r.highlight ? ' highlight' : ''}`, 'data-key': r.key });
    const name = el('text', { x: labelWidth - 8, y: y + rowH / 2 + 5, class: 'label', 'text-anchor': 'end' }, clip(r.label, 30));
    name.append(el('title', {}, r.label));
    g.append(name);
    if (r.value === null || r.value === undefined) {
      g.append(el('text', { x: x0 + 4, y: y + rowH / 2 + 5, class: 'withheld' }, '—'));
    } else {
      g.append(el('rect', { x: x0, y: y + 6, width: Math.max(1, sx(r.value) - x0), height: rowH - 12, class: 'bar', rx: 2 }));
      if (r.low !== null && r.low !== undefined && r.high !== null && r.high !== undefined) {
        const cy = y + rowH / 2;
        g.append(el('line', { x1: sx(r.low), x2: sx(r.high), y1: cy, y2: cy, class: 'ci' }));
        g.append(el('line', { x1: sx(r.low), x2: sx(r.low), y1: cy - 5, y2: cy + 5, class: 'ci' }));
        g.append(el('line', { x1: sx(r.high), x2: sx(r.high), y1: cy - 5, y2: cy + 5, class: 'ci' }));
      }
      if (r.previous !== null && r.previous !== undefined) {
        const px = sx(r.previous);
        g.append(el('path', { d: `M${px} ${y + 3} l5 -3 v${rowH - 6} l-5 -3 z`, class: 'previous' }));
      }
      g.append(el('text', { x: sx(100) + 6, y: y + rowH / 2 + 5, class: 'value' }, format ? format(r.value) : String(r.value)));
    }
    svg.append(g);
  });
  return svg;
}

/** The legend under a bar chart: bar, interval, last year. */
export function legend(texts) {
  const width = 640;
  const svg = el('svg', { viewBox: `0 0 ${width} 24`, class: 'chart legend', 'aria-hidden': 'true' });
  let x = 4;
  svg.append(el('rect', { x, y: 6, width: 18, height: 12, class: 'bar' }));
  svg.append(el('text', { x: x + 24, y: 17, class: 'axis' }, texts.bar));
  x += 40 + texts.bar.length * 7;
  svg.append(el('line', { x1: x, x2: x + 20, y1: 12, y2: 12, class: 'ci' }));
  svg.append(el('text', { x: x + 26, y: 17, class: 'axis' }, texts.ci));
  if (texts.previous) {
    x += 44 + texts.ci.length * 7;
    svg.append(el('path', { d: `M${x} 4 l5 -3 v20 l-5 -3 z`, class: 'previous' }));
    svg.append(el('text', { x: x + 12, y: 17, class: 'axis' }, texts.previous));
  }
  return svg;
}

/** ▲/▼ for a significant change, △/▽ for one that is not, `=` for none. */
export function arrow(diff, significant) {
  if (diff === null || diff === undefined || Number.isNaN(diff)) return '';
  if (diff > 0) return significant ? '▲' : '△';
  if (diff < 0) return significant ? '▼' : '▽';
  return '=';
}
