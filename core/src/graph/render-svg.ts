import { TsnetError } from '../errors.js';

/**
 * DOT to SVG with Graphviz compiled to WebAssembly (@viz-js/viz): no system Graphviz. Loaded
 * only when an SVG is asked for, so no other command pays for it.
 */
export async function renderSvg(dot: string): Promise<string> {
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  const r = viz.render(dot, { format: 'svg' });
  if (r.status !== 'success') {
    throw new TsnetError('INVALID_ARGUMENT', `Graphviz could not render the graph: ${r.errors.map((e) => e.message).join('; ')}`);
  }
  return r.output;
}
