/** Line charts: in the terminal (asciichart) and as SVG files (Vega-Lite, rendered headless). */
import { plot } from 'asciichart';
import { optional } from './optional.js';

/**
 * A titled terminal line chart of `values` by step: at most `width` columns, each the mean of
 * the same whole number of steps (the last may have fewer), `height` rows high, with a step
 * axis under it.
 */
export function terminalChart(title: string, values: readonly number[], width = 64, height = 10): string {
  const perColumn = Math.max(1, Math.ceil(values.length / width));
  const columns = Math.ceil(values.length / perColumn);
  const slices = Array.from(
    { length: columns },
    (_, i) => [i * perColumn, Math.min(values.length, (i + 1) * perColumn)] as const,
  );
  const sampled = slices.map(([from, to]) => values.slice(from, to).reduce((a, b) => a + b, 0) / (to - from));
  const chart = plot(sampled, { height, format: (x) => x.toPrecision(3).padStart(LABEL_WIDTH) });
  // the step axis: the first, middle and last columns' last step, under their columns
  const start = LABEL_WIDTH + 2;
  const axis = `${' '.repeat(start - 1)}└${'─'.repeat(columns)}`;
  const ticks = Array.from({ length: start + columns + 8 }, () => ' ');
  const place = (column: number, text: string, align: 'left' | 'right') => {
    const at = align === 'left' ? start + column : start + column - text.length + 1;
    [...text].forEach((c, k) => (ticks[at + k] = c));
  };
  place(0, '1', 'left');
  if (columns >= 24) place(columns >> 1, String(slices[columns >> 1]![1]), 'left');
  if (columns > 1) place(columns - 1, String(values.length), 'right');
  const note = perColumn > 1 ? ` (each column: the mean of ${perColumn} steps)` : '';
  return [`${title}${note}`, chart, axis, `${ticks.join('').trimEnd()}  step`].join('\n');
}

/** The width of the terminal chart's value labels. */
const LABEL_WIDTH = 9;

export interface ChartAxis {
  readonly field: string;
  readonly title: string;
  readonly log?: boolean;
  /** Counts (threads, say): whole-number ticks only. */
  readonly integer?: boolean;
  /** A linear scale from zero (times, whose ratios should read true). */
  readonly zero?: boolean;
}

export interface LineChartSpec {
  readonly title: string;
  readonly points: ReadonlyArray<Record<string, string | number>>;
  readonly x: ChartAxis;
  readonly y: ChartAxis;
  readonly color: string;
  /** One panel per value of this field. */
  readonly column?: string;
  /** Dashed lines where this field has its second value. */
  readonly dash?: { field: string; domain: readonly [string, string] };
}

export async function lineChartSvg(chart: LineChartSpec): Promise<string> {
  const axis = (a: ChartAxis, format?: string) => ({
    field: a.field,
    type: 'quantitative' as const,
    title: a.title,
    scale: a.log ? { type: 'log' as const } : { zero: a.zero === true },
    ...(format ? { axis: { format } } : a.integer ? { axis: { values: wholeNumbers(a.field), format: 'd' } } : {}),
  });
  /** The field's whole numbers from its least to its greatest value: the ticks of a count axis. */
  const wholeNumbers = (field: string): number[] => {
    const values = chart.points.map((p) => Number(p[field]));
    const [low, high] = [Math.ceil(Math.min(...values)), Math.floor(Math.max(...values))];
    return Array.from({ length: Math.max(0, high - low + 1) }, (_, i) => low + i);
  };
  const layer = {
    width: 360,
    height: 240,
    mark: { type: 'line' as const, point: chart.points.length <= 200 },
    encoding: {
      x: axis(chart.x, chart.x.log ? '.0e' : undefined),
      y: axis(chart.y),
      // up to 20 series told apart by color, their names in full
      color: {
        field: chart.color,
        type: 'nominal' as const,
        scale: { scheme: 'tableau20' },
        legend: { labelLimit: 400 },
      },
      ...(chart.dash
        ? {
            strokeDash: {
              field: chart.dash.field,
              type: 'nominal' as const,
              legend: null,
              scale: {
                domain: [...chart.dash.domain],
                range: [
                  [1, 0],
                  [6, 4],
                ],
              },
            },
          }
        : {}),
    },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: chart.title,
    data: { values: chart.points as Array<Record<string, string | number>> },
    ...(chart.column
      ? {
          facet: { column: { field: chart.column, type: 'nominal' as const, title: null } },
          spec: layer,
          resolve: { scale: { x: 'independent' as const, y: 'independent' as const } },
        }
      : layer),
  };
  return renderSvg(spec);
}

/** Renders a Vega-Lite spec to SVG text, headless. */
export async function renderSvg(spec: object): Promise<string> {
  const vega = await optional<typeof import('vega')>('vega', 'SVG charts');
  const { compile } = await optional<typeof import('vega-lite')>('vega-lite', 'SVG charts');
  const view = new vega.View(vega.parse(compile(spec as Parameters<typeof compile>[0]).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
