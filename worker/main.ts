import { needsOwnProcess, runCli } from '../core/src/cli/app.js';
import { pluginMain } from '../core/src/cni/skel.js';
import { serveWorker } from '../core/src/worker/server.js';
import { PLUGINS } from '../plugins/registry.js';

/**
 * The warm tsnet worker, started by the launcher (native/launcher.c) with the environment
 * described in native/PROTOCOL.md: runs CLI commands and CNI plugin calls in-process.
 */
const env = process.env;
const dir = env['TSNET_WORKER_DIR'];
const key = env['TSNET_WORKER_KEY'];
if (!dir || !key) {
  process.stderr.write('tsnet worker: started without TSNET_WORKER_DIR and TSNET_WORKER_KEY (the launcher starts it)\n');
  process.exit(2);
}
process.chdir('/');
process.on('uncaughtException', (e) => {
  process.stderr.write(`tsnet worker ${process.pid}: uncaught: ${e.stack ?? String(e)}\n`);
  process.exit(70);
});
const readyFd = env['TSNET_WORKER_READY_FD'] ? Number(env['TSNET_WORKER_READY_FD']) : undefined;
await serveWorker({
  dir,
  key,
  ...(readyFd !== undefined && Number.isInteger(readyFd) ? { readyFd } : {}),
  idleMs: Number(env['TSNET_WORKER_IDLE_MS'] ?? 60_000) || 60_000,
  handlers: {
    route: (req) => {
      if (req.mode === 'cli') return needsOwnProcess(req.args) ? 'direct' : 'run';
      // A plugin called without CNI_COMMAND (`dhcp daemon`) is a process of its own, not a call.
      return PLUGINS[req.name] && req.env['CNI_COMMAND'] ? 'run' : 'direct';
    },
    run: (req) => (req.mode === 'cli' ? runCli(req.args) : pluginMain(req.name, PLUGINS[req.name]!)),
  },
});
