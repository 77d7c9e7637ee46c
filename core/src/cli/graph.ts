import type { Argv } from 'yargs';
import { callerPath, out, setExitCode } from '../call/context.js';
import { collectGraphInput } from '../graph/collect.js';
import { buildGraph } from '../graph/model.js';
import { disagreements, probeGraph } from '../graph/probe.js';
import { renderDot } from '../graph/render-dot.js';
import { renderJson } from '../graph/render-json.js';
import { renderSvg } from '../graph/render-svg.js';
import { renderText } from '../graph/render-text.js';
import type { Graph } from '../graph/types.js';
import { writeFileAtomic } from '../state/atomic.js';
import { command, strings, withEnv } from './context.js';

export const GRAPH_FORMATS = ['text', 'dot', 'svg', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** The graph in the asked format. */
export async function renderGraph(g: Graph, format: GraphFormat): Promise<string> {
  switch (format) {
    case 'json':
      return renderJson(g);
    case 'dot':
      return renderDot(g);
    case 'svg':
      return renderSvg(renderDot(g));
    default:
      return renderText(g);
  }
}

export function graphCommand(y: Argv): Argv {
  return command(y, 'graph [networks..]', 'networks, bridges, containers, addresses, published ports, the uplink, and who reaches whom (from the rule model; --probe checks it with packets)', (a) =>
    a
      .positional('networks', { type: 'string', array: true, describe: 'only these networks (all when omitted)' })
      // The global --format has text and json; yargs adds these two choices for this command only.
      .option('format', { choices: ['dot', 'svg'], describe: 'text (a tree), dot (Graphviz), svg (drawn in-process), json (schema tsnet.graph/v1)' })
      .option('output', { alias: 'o', type: 'string', describe: 'write to FILE (atomically) instead of stdout' })
      .option('probe', { type: 'boolean', default: false, describe: 'check every edge with real packets; exit 1 when one disagrees' })
      .example('tsnet graph', 'the tree and the reachability table')
      .example('tsnet graph secure-network payments --format svg -o net.svg', 'a picture of two networks')
      .example('tsnet graph --probe --format json', 'the model, checked with pings, as JSON'),
  async (argv) => {
    const format = String(argv.format) as GraphFormat;
    const file = typeof argv['output'] === 'string' ? callerPath(argv['output']) : undefined;
    const graph = await withEnv(argv, async (env) => {
      const g = buildGraph(await collectGraphInput(env, strings(argv['networks'])));
      return argv['probe'] === true ? probeGraph(env, g) : g;
    });
    const text = await renderGraph(graph, format);
    if (file) writeFileAtomic(file, text, { mode: 0o644 });
    else out(text);
    if (disagreements(graph).length > 0) setExitCode(1);
  });
}
