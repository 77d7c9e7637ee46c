import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { K8S_DIR, type K8sObject, podContainers, render, SCHEMA_DIR, validate } from '../helpers/k8s-manifests.js';

type Obj = Record<string, unknown>;
const byKind = (objs: K8sObject[], kind: string): K8sObject => {
  const o = objs.find((x) => x.kind === kind);
  if (!o) throw new Error(`no ${kind}`);
  return o;
};
const podSpec = (ds: K8sObject) => (ds['spec'] as { template: { spec: Obj } }).template.spec;
const hasKubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('deploy/kubernetes manifests', () => {
  it('vendored schemas are the files SOURCE.md names, byte for byte', () => {
    const table = fs.readFileSync(path.join(SCHEMA_DIR, 'SOURCE.md'), 'utf8');
    const rows = [...table.matchAll(/^\| ([a-z0-9-]+\.json) \| [^|]+ \| ([0-9a-f]{64}) \|$/gmu)];
    expect(rows.map((r) => r[1]).sort()).toEqual(fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json')).sort());
    for (const [, file, sha] of rows) {
      expect(createHash('sha256').update(fs.readFileSync(path.join(SCHEMA_DIR, file!))).digest('hex'), file).toBe(sha);
    }
  });

  it('every object of the kustomization is valid against the strict Kubernetes v1.32.2 schemas', () => {
    const objs = render();
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['ConfigMap/tsnet-config', 'DaemonSet/tsnet', 'Secret/tsnet-store-tls', 'ServiceAccount/tsnet']);
    for (const o of objs) expect(validate(o), `${o.kind} ${o.metadata.name}`).toEqual([]);
    for (const o of objs) expect(o.metadata.namespace).toBe('kube-system');
  });

  it('the validator refuses a misspelled field, an unknown field, a wrong type, a wrong enum value, a missing required field and an unknown kind', () => {
    const ds = byKind(render(), 'DaemonSet');
    const mutate = (f: (spec: Obj, agent: Obj) => void): K8sObject => {
      const copy = structuredClone(ds);
      const spec = podSpec(copy);
      f(spec, (spec['containers'] as Obj[])[0]!);
      return copy;
    };
    const mounts = (c: Obj) => c['volumeMounts'] as Obj[];
    const netnsMount = (c: Obj) => mounts(c).find((m) => m['name'] === 'netns')!;
    const misspelled = mutate((_, a) => {
      const m = netnsMount(a);
      m['mountPropogation'] = m['mountPropagation'];
      delete m['mountPropagation'];
    });
    expect(validate(misspelled).join('\n')).toMatch(/volumeMounts\/\d+ must NOT have additional properties \(mountPropogation\)/u);
    expect(validate(mutate((s) => { s['hostNetwrk'] = true; })).join('\n')).toMatch(/\/spec\/template\/spec must NOT have additional properties \(hostNetwrk\)/u);
    expect(validate(mutate((s) => { s['hostNetwork'] = 'yes'; })).join('\n')).toMatch(/\/spec\/template\/spec\/hostNetwork must be boolean/u);
    expect(validate(mutate((_, a) => { netnsMount(a)['mountPropagation'] = 'HostToContainr'; })).join('\n')).toMatch(/volumeMount netns mountPropagation "HostToContainr" is not one of None, HostToContainer, Bidirectional/u);
    expect(validate(mutate((s) => { (s['volumes'] as Obj[]).find((v) => v['name'] === 'xtables-lock')!['hostPath'] = { path: '/run/xtables.lock', type: 'FileOrCreat' }; })).join('\n')).toMatch(/hostPath\/type "FileOrCreat" is not one of/u);
    expect(validate(mutate((_, a) => { delete a['name']; })).join('\n')).toMatch(/containers\/0 must have required property 'name'/u);
    expect(validate(mutate((_, a) => { (a['resources'] as Obj)['requests'] = { cpu: [1] }; })).join('\n')).toMatch(/resources\/requests\/cpu/u);
    expect(validate({ ...ds, kind: 'DaemonSett' })).toEqual(['DaemonSett tsnet: no vendored schema for apps/v1/DaemonSett']);
    const cm = structuredClone(byKind(render(), 'ConfigMap'));
    cm['data'] = { store: 7 };
    expect(validate(cm).join('\n')).toMatch(/\/data\/store must be string/u);
  });

  it('the DaemonSet runs privileged on the node network, on every node, critical, rolling, with the mounts the plugins and the agent need', () => {
    const objs = render();
    const ds = byKind(objs, 'DaemonSet');
    const spec = podSpec(ds);
    expect((ds['spec'] as Obj)['updateStrategy']).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(spec['hostNetwork']).toBe(true);
    // The agent writes its pid under /var/lib/tsnet and the plugins on the node SIGHUP it
    // (kickAgent): that pid must be a node pid.
    expect(spec['hostPID']).toBe(true);
    expect(spec['priorityClassName']).toBe('system-node-critical');
    expect(spec['dnsPolicy']).toBe('Default');
    // operator Exists with no key and no effect tolerates every taint.
    expect(spec['tolerations']).toContainEqual({ operator: 'Exists' });
    expect(spec['serviceAccountName']).toBe(byKind(objs, 'ServiceAccount').metadata.name);
    const init = (spec['initContainers'] as Obj[])[0]!;
    const agent = (spec['containers'] as Obj[])[0]!;
    for (const c of [init, agent]) {
      expect(c['securityContext'], String(c['name'])).toEqual({ privileged: true });
      expect((c['resources'] as { requests: Obj }).requests, String(c['name'])).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      // The image build-image.sh tags by default (tsnet:VERSION), never pulled.
      const version = (JSON.parse(fs.readFileSync(new URL('../../core/package.json', import.meta.url), 'utf8')) as { version: string }).version;
      expect(c['image']).toBe(`tsnet:${version}`);
      expect(c['imagePullPolicy']).toBe('Never');
    }
    expect(init['command']).toEqual(['tsnet-install-cni']);
    expect(agent['command']).toEqual(['tsnet-agent']);
    expect(agent['livenessProbe']).toMatchObject({ exec: { command: ['tsnet-health'] } });
    // Each command is a script of the image (rootfs.mjs installs image/NAME.sh as tsnet-NAME).
    for (const cmd of ['tsnet-install-cni', 'tsnet-agent', 'tsnet-health']) {
      expect(fs.existsSync(path.join(K8S_DIR, 'image', `${cmd.slice('tsnet-'.length)}.sh`)), cmd).toBe(true);
    }

    const volumes = new Map((spec['volumes'] as Obj[]).map((v) => [v['name'] as string, v]));
    const hostPath = (name: string) => volumes.get(name)?.['hostPath'];
    expect(hostPath('cni-bin')).toEqual({ path: '/opt/cni/bin', type: 'DirectoryOrCreate' });
    expect(hostPath('cni-net')).toEqual({ path: '/etc/cni/net.d', type: 'DirectoryOrCreate' });
    expect(hostPath('tsnet-opt')).toEqual({ path: '/opt/tsnet', type: 'DirectoryOrCreate' });
    expect(hostPath('state')).toEqual({ path: '/var/lib/tsnet', type: 'DirectoryOrCreate' });
    expect(hostPath('netns')).toEqual({ path: '/run/netns', type: 'DirectoryOrCreate' });
    expect(hostPath('xtables-lock')).toEqual({ path: '/run/xtables.lock', type: 'FileOrCreate' });
    const secret = byKind(objs, 'Secret');
    expect(volumes.get('store-tls')?.['secret']).toMatchObject({ secretName: secret.metadata.name, optional: true });
    expect(Object.keys(secret['data'] as Obj).sort()).toEqual(['ca.pem', 'cert.pem', 'key.pem']);

    const mountsOf = (c: Obj) => new Map((c['volumeMounts'] as Obj[]).map((m) => [m['name'] as string, m]));
    const im = mountsOf(init);
    const am = mountsOf(agent);
    // The init container writes where the scripts expect it (install-cni.sh's defaults).
    expect(im.get('cni-bin')?.['mountPath']).toBe('/host/opt/cni/bin');
    expect(im.get('cni-net')?.['mountPath']).toBe('/host/etc/cni/net.d');
    expect(im.get('tsnet-opt')?.['mountPath']).toBe('/host/opt/tsnet');
    for (const m of [im, am]) {
      expect(m.get('state')?.['mountPath']).toBe('/var/lib/tsnet');
      expect(m.get('xtables-lock')?.['mountPath']).toBe('/run/xtables.lock');
      expect(m.get('store-tls')).toMatchObject({ mountPath: '/etc/tsnet/store', readOnly: true });
    }
    expect(am.get('netns')).toEqual({ name: 'netns', mountPath: '/run/netns', mountPropagation: 'HostToContainer' });
    // Every mount names a volume; every volume is mounted.
    const mounted = new Set([...im.keys(), ...am.keys()]);
    for (const n of mounted) expect(volumes.has(n), n).toBe(true);
    for (const n of volumes.keys()) expect(mounted.has(n), n).toBe(true);

    // Every ConfigMap key the pods read exists (the required ones at least); the names agree.
    const cm = byKind(objs, 'ConfigMap');
    const data = cm['data'] as Record<string, string>;
    for (const c of [init, agent]) {
      for (const e of c['env'] as { name: string; valueFrom?: { configMapKeyRef?: { name: string; key: string; optional?: boolean } } }[]) {
        const ref = e.valueFrom?.configMapKeyRef;
        if (!ref) continue;
        expect(ref.name, e.name).toBe(cm.metadata.name);
        expect(Object.hasOwn(data, ref.key), `${e.name} <- ${ref.key}`).toBe(true);
      }
      const names = (c['env'] as { name: string }[]).map((e) => e.name);
      expect(names).toEqual(expect.arrayContaining(['TSNET_STORE', 'TSNET_NETWORK', 'TSNET_STATE_DIR']));
    }
    expect(podContainers(ds)).toHaveLength(2);
  });

  it.skipIf(!hasKubectl)('kubectl kustomize (when kubectl is installed) renders the same objects, and they validate', () => {
    const text = execFileSync('kubectl', ['kustomize', K8S_DIR], { encoding: 'utf8' });
    const objs = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as K8sObject);
    const mine = render();
    expect(objs.map((o) => o.kind).sort()).toEqual(mine.map((o) => o.kind).sort());
    for (const o of objs) expect(validate(o), `${o.kind} ${o.metadata.name}`).toEqual([]);
    // The generated Secret's name carries kustomize's hash and the DaemonSet follows it.
    const secret = byKind(objs, 'Secret');
    expect(secret.metadata.name).toMatch(/^tsnet-store-tls-[a-z0-9]+$/u);
    const vol = (podSpec(byKind(objs, 'DaemonSet'))['volumes'] as Obj[]).find((v) => v['name'] === 'store-tls');
    expect((vol?.['secret'] as Obj)['secretName']).toBe(secret.metadata.name);
    // Apart from that name, kustomize's DaemonSet is the one render() makes.
    const ds = structuredClone(byKind(objs, 'DaemonSet'));
    ((podSpec(ds)['volumes'] as Obj[]).find((v) => v['name'] === 'store-tls')!['secret'] as Obj)['secretName'] = 'tsnet-store-tls';
    expect(ds).toEqual(byKind(mine, 'DaemonSet'));
  });
});
