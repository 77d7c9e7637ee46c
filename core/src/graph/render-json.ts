import type { Graph } from './types.js';

/** `tsnet graph --format json`: the graph as schema `tsnet.graph/v1` (types.ts, README "Graph"). */
export const renderJson = (g: Graph): string => `${JSON.stringify(g, null, 2)}\n`;
