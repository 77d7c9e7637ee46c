/**
 * How a long operation reports how far it got: `done` of `total` steps, `what` the step now
 * running. The CLI draws it on a terminal (cli/progress.ts); everything else passes none.
 */
export type OnProgress = (done: number, total: number, what: string) => void;
