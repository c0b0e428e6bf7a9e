/** Line charts: in the terminal (asciichart) and as SVG files (Vega-Lite, rendered headless). */
import { plot } from 'asciichart';
import { optional } from './optional.js';

/** `values` resampled to at most `width` points (means of equal slices), plotted `height` rows high. */
export function terminalChart(values: readonly number[], width = 64, height = 10): string {
  const points = Math.min(width, values.length);
  const sampled = Array.from({ length: points }, (_, i) => {
    const from = Math.floor((i * values.length) / points);
    const to = Math.max(from + 1, Math.floor(((i + 1) * values.length) / points));
    return values.slice(from, to).reduce((a, b) => a + b, 0) / (to - from);
  });
  return plot(sampled, { height, format: (x) => x.toPrecision(3).padStart(9) });
}

export interface LineChartSpec {
  readonly title: string;
  readonly points: ReadonlyArray<Record<string, string | number>>;
  readonly x: { field: string; title: string; log?: boolean };
  readonly y: { field: string; title: string; log?: boolean };
  readonly color: string;
  /** One panel per value of this field. */
  readonly column?: string;
  /** Dashed lines where this field has its second value. */
  readonly dash?: { field: string; domain: readonly [string, string] };
}

export async function lineChartSvg(chart: LineChartSpec): Promise<string> {
  const vega = await optional<typeof import('vega')>('vega', 'SVG charts');
  const { compile } = await optional<typeof import('vega-lite')>('vega-lite', 'SVG charts');
  const axis = (a: LineChartSpec['x'], format?: string) => ({
    field: a.field,
    type: 'quantitative' as const,
    title: a.title,
    scale: a.log ? { type: 'log' as const } : { zero: false },
    ...(format ? { axis: { format } } : {}),
  });
  const layer = {
    width: 360,
    height: 240,
    mark: { type: 'line' as const, point: chart.points.length <= 200 },
    encoding: {
      x: axis(chart.x, chart.x.log ? '.0e' : undefined),
      y: axis(chart.y),
      color: { field: chart.color, type: 'nominal' as const },
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
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
