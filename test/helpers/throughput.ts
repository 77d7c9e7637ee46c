import { expect } from 'vitest';
import { run, start } from '../../core/src/index.js';

// A TCP sink that answers the byte count it received, and a sender that times its transfer.
const SINK = `const n=require('net');n.createServer(s=>{let c=0;s.on('data',d=>c+=d.length);s.on('end',()=>s.end(String(c)))}).listen(+process.argv[1],process.argv[2])`;
const SEND = `const n=require('net');const[,h,p,len]=process.argv;const t=process.hrtime.bigint();const s=n.connect(+p,h,()=>{s.end(Buffer.alloc(+len,7))});let r='';s.on('data',d=>r+=d);s.on('end',()=>{console.log(JSON.stringify({bytes:+r,s:Number(process.hrtime.bigint()-t)/1e9}))})`;
/** A timed TCP transfer from `fromNs` to a sink at `toIp` in `toNs` (bound there): bits per second. */
export async function rate(fromNs: string, toNs: string, toIp: string, bytes: number): Promise<number> {
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const sink = start(['ip', 'netns', 'exec', toNs, 'node', '-e', SINK, port, toIp]);
  try {
    for (let i = 0; ; i++) {
      const r = await run(['ip', 'netns', 'exec', fromNs, 'node', '-e', SEND, toIp, port, String(bytes)], { check: false, timeoutMs: 30_000 });
      if (r.code === 0 && r.stdout.trim()) {
        const m = JSON.parse(r.stdout) as { bytes: number; s: number };
        expect(m.bytes).toBe(bytes);
        return (bytes * 8) / m.s;
      }
      if (i > 20) throw new Error(`transfer failed: ${r.stderr}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    sink.kill();
  }
}

