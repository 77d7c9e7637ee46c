// The resolver's own entry (core/dist/bundle/tsnet-dns.mjs): the DNS server and what it needs to
// read the state, without the CLI (yargs, netlink, the drivers). The supervisor starts it as
//   node --max-old-space-size=... tsnet-dns.mjs --state-dir DIR
// `tsnet dns serve` runs the same server from the CLI bundle.
import { StateStore } from '../state/store.js';
import { serveDns } from './server.js';

function stateDir(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--state-dir') return argv[i + 1];
    if (a.startsWith('--state-dir=')) return a.slice('--state-dir='.length);
  }
  return undefined; // TSNET_STATE_DIR or the default
}

serveDns(new StateStore(stateDir(process.argv.slice(2)))).catch((e: unknown) => {
  process.stderr.write(`tsnet dns: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
