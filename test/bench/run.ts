import { benchCni } from './cni.js';
import { benchDns } from './dns.js';
import { benchIpam } from './ipam.js';
import { benchKernel } from './kernel.js';
import { benchNetworks } from './networks.js';
import { benchOverlay } from './overlay.js';
import { benchSoak } from './soak.js';

/** npm run bench [name...]: runs the named benchmarks (all by default) and prints their ratios. */
const benches: Record<string, () => Promise<unknown>> = {
  kernel: () => benchKernel(Number(process.env['TSNET_BENCH_CYCLES'] ?? 200)),
  ipam: () => benchIpam(),
  networks: () => benchNetworks(),
  cni: () => benchCni(),
  dns: () => benchDns(),
  soak: () => benchSoak(),
  overlay: () => benchOverlay(),
};

const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
  const bench = benches[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  await bench();
}
