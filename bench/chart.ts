/** The benchmark chart: Gparam/s against model size per setup, one panel per variant, rendered to SVG by Vega-Lite. */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartPoint {
  parameters: number;
  variant: string;
  setup: string;
  gparams: number;
  kind: string;
}

export async function renderChart(points: readonly ChartPoint[]): Promise<string> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'RMSprop step throughput (float32; dashed: memory roofline for the bytes the step moves)',
    data: { values: points as ChartPoint[] },
    facet: { column: { field: 'variant', type: 'nominal', title: null } },
    spec: {
      width: 360,
      height: 260,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'parameters', type: 'quantitative', scale: { type: 'log' }, axis: { format: '.0e' } },
        y: { field: 'gparams', type: 'quantitative', scale: { type: 'log' }, title: 'Gparam/s' },
        color: { field: 'setup', type: 'nominal' },
        strokeDash: { field: 'kind', type: 'nominal', legend: null, scale: { domain: ['measured', 'roofline'], range: [[1, 0], [6, 4]] } },
      },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
