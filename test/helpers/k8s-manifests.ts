import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parseAllDocuments } from 'yaml';

/**
 * The Kubernetes manifests of deploy/kubernetes: the kustomization rendered as kustomize would
 * (resources, the secret generator, the image override, the namespace), and a validator over the
 * vendored strict JSON Schemas (deploy/kubernetes/schemas/SOURCE.md), where every unknown field
 * is an error.
 */
export const K8S_DIR = new URL('../../deploy/kubernetes/', import.meta.url).pathname;
export const SCHEMA_DIR = path.join(K8S_DIR, 'schemas');

export type K8sObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } & Record<string, unknown> };

const SCHEMAS: Record<string, string> = {
  'apps/v1/DaemonSet': 'daemonset-apps-v1.json',
  'v1/ConfigMap': 'configmap-v1.json',
  'v1/Secret': 'secret-v1.json',
  'v1/ServiceAccount': 'serviceaccount-v1.json',
};

/** Every document of a YAML file (YAML errors throw, naming the file). */
export function readYamlDocs(file: string): unknown[] {
  // YAML 1.1, as Kubernetes reads manifests (sigs.k8s.io/yaml over go-yaml): 0400 is octal, yes/no are booleans.
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'), { version: '1.1' });
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as unknown;
  }).filter((d) => d !== null);
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  secretGenerator?: { name: string; type?: string; files?: string[] }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

/** The keys render() understands: any other one would be ignored silently, so it is an error. */
const KUSTOMIZE_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'secretGenerator', 'images']);

/** kustomize build of `dir`, for the features deploy/kubernetes uses (generated names without the hash suffix). */
export function render(dir: string = K8S_DIR): K8sObject[] {
  const [k] = readYamlDocs(path.join(dir, 'kustomization.yaml')) as Kustomization[];
  if (!k) throw new Error('empty kustomization.yaml');
  for (const key of Object.keys(k)) if (!KUSTOMIZE_KEYS.has(key)) throw new Error(`kustomization.yaml: key ${key} is not rendered by this helper`);
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') throw new Error('kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization');
  const objs: K8sObject[] = [];
  for (const r of k.resources ?? []) objs.push(...(readYamlDocs(path.join(dir, r)) as K8sObject[]));
  for (const g of k.secretGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const spec of g.files ?? []) {
      const [key, file] = spec.includes('=') ? spec.split('=', 2) as [string, string] : [path.basename(spec), spec];
      data[key] = fs.readFileSync(path.join(dir, file)).toString('base64');
    }
    objs.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: g.type ?? 'Opaque', data });
  }
  for (const o of objs) {
    if (k.namespace) o.metadata.namespace = k.namespace;
    for (const c of podContainers(o)) {
      const img = k.images?.find((i) => c['image'] === i.name || String(c['image']).startsWith(`${i.name}:`));
      if (img) c['image'] = `${img.newName ?? img.name}${img.newTag ? `:${img.newTag}` : ''}`;
    }
  }
  return objs;
}

/** The init and main containers of a workload's pod template (none for other kinds). */
export function podContainers(o: K8sObject): Record<string, unknown>[] {
  const spec = (o['spec'] as { template?: { spec?: { containers?: unknown[]; initContainers?: unknown[] } } } | undefined)?.template?.spec;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])] as Record<string, unknown>[];
}

const toNumberFormat = (lo: number, hi: number) => ({ type: 'number' as const, validate: (n: number) => Number.isInteger(n) && n >= lo && n <= hi });

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

function validatorFor(key: string): ValidateFunction | undefined {
  const file = SCHEMAS[key];
  if (!file) return undefined;
  let v = compiled.get(key);
  if (!v) {
    if (!ajv) {
      // strict: false because the schemas carry the x-kubernetes-* annotations as keywords.
      ajv = new Ajv({ strict: false, allErrors: true });
      (addFormatsModule as unknown as (a: Ajv) => void)(ajv);
      ajv.addFormat('int32', toNumberFormat(-(2 ** 31), 2 ** 31 - 1));
      ajv.addFormat('int64', toNumberFormat(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
      ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/u);
    }
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as Record<string, unknown>;
    delete schema['$schema']; // "http://json-schema.org/schema#": ajv knows draft-07 by its own id
    v = ajv.compile(schema);
    compiled.set(key, v);
  }
  return v;
}

/** Schema errors of one object, as "KIND NAME: /path message" lines (none: valid). A kind without a vendored schema is an error. */
export function validate(o: K8sObject): string[] {
  const key = `${o.apiVersion}/${o.kind}`;
  const name = `${o.kind} ${o.metadata?.name ?? '?'}`;
  const v = validatorFor(key);
  if (!v) return [`${name}: no vendored schema for ${key}`];
  const errors = v(o) ? [] : (v.errors ?? []).map((e) => `${name}: ${e.instancePath || '/'} ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : ''}`);
  return [...errors, ...enumErrors(o).map((e) => `${name}: ${e}`)];
}

/**
 * The OpenAPI document (so the schemas) has no enums: the API server checks these fields'
 * values itself. The values it accepts (Kubernetes API reference, v1.32) for the fields the
 * manifests use.
 */
const ENUMS = {
  mountPropagation: ['None', 'HostToContainer', 'Bidirectional'],
  hostPathType: ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'],
  imagePullPolicy: ['Always', 'Never', 'IfNotPresent'],
  updateStrategy: ['RollingUpdate', 'OnDelete'],
  dnsPolicy: ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'],
  tolerationOperator: ['Exists', 'Equal'],
  tolerationEffect: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'],
} as const;

function enumErrors(o: K8sObject): string[] {
  const errs: string[] = [];
  const check = (where: string, value: unknown, allowed: readonly string[]) => {
    if (value !== undefined && !allowed.includes(value as string)) errs.push(`${where} ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  };
  const spec = o['spec'] as { updateStrategy?: { type?: unknown }; template?: { spec?: Record<string, unknown> } } | undefined;
  check('/spec/updateStrategy/type', spec?.updateStrategy?.type, ENUMS.updateStrategy);
  const pod = spec?.template?.spec;
  if (!pod) return errs;
  check('/spec/template/spec/dnsPolicy', pod['dnsPolicy'], ENUMS.dnsPolicy);
  for (const [i, t] of ((pod['tolerations'] ?? []) as Record<string, unknown>[]).entries()) {
    check(`/spec/template/spec/tolerations/${i}/operator`, t['operator'], ENUMS.tolerationOperator);
    check(`/spec/template/spec/tolerations/${i}/effect`, t['effect'], ENUMS.tolerationEffect);
  }
  for (const [i, v] of ((pod['volumes'] ?? []) as Record<string, { type?: unknown } | undefined>[]).entries()) {
    check(`/spec/template/spec/volumes/${i}/hostPath/type`, v['hostPath']?.type, ENUMS.hostPathType);
  }
  for (const c of podContainers(o)) {
    check(`container ${String(c['name'])} imagePullPolicy`, c['imagePullPolicy'], ENUMS.imagePullPolicy);
    for (const m of (c['volumeMounts'] ?? []) as Record<string, unknown>[]) {
      check(`container ${String(c['name'])} volumeMount ${String(m['name'])} mountPropagation`, m['mountPropagation'], ENUMS.mountPropagation);
    }
  }
  return errs;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  secret?: { secretName: string; defaultMode?: number; optional?: boolean };
}
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

/**
 * `podman run` / `docker run` options that give one container of `ds` what the kubelet would:
 * its env (literal values and ConfigMap keys of `objs`, then `overrides` by variable name), its
 * volume mounts (a hostPath P becomes HOSTROOT/P, made as its type says; a Secret of `objs`
 * becomes a dir of its files), privileged and the host pid namespace when it asks (the network
 * is the caller's: --network none, or a test namespace). Mount propagation is left out (a
 * bind of a test dir is not a shared mount). Returns the options and the container's argv.
 */
export function runArgsFor(ds: K8sObject, objs: K8sObject[], containerName: string, hostRoot: string, overrides: Record<string, string> = {}): { options: string[]; command: string[] } {
  const pod = (ds['spec'] as { template: { spec: { volumes?: Volume[] } } }).template.spec;
  const c = podContainers(ds).find((x) => x['name'] === containerName);
  if (!c) throw new Error(`no container ${containerName}`);
  const options: string[] = [];
  if ((c['securityContext'] as { privileged?: boolean } | undefined)?.privileged) options.push('--privileged');
  if ((pod as { hostPID?: boolean }).hostPID) options.push('--pid', 'host');
  const env = new Map<string, string>();
  for (const e of (c['env'] ?? []) as EnvVar[]) {
    const ref = e.valueFrom?.configMapKeyRef;
    if (ref) {
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref.name);
      const v = (cm?.['data'] as Record<string, string> | undefined)?.[ref.key];
      if (v === undefined && !ref.optional) throw new Error(`env ${e.name}: ConfigMap ${ref.name} has no key ${ref.key}`);
      if (v !== undefined) env.set(e.name, v);
    } else if (e.value !== undefined) env.set(e.name, e.value);
  }
  for (const [k, v] of Object.entries(overrides)) env.set(k, v);
  for (const [k, v] of env) options.push('-e', `${k}=${v}`);
  for (const m of (c['volumeMounts'] ?? []) as Mount[]) {
    const vol = pod.volumes?.find((v) => v.name === m.name);
    if (!vol) throw new Error(`mount ${m.name}: no such volume`);
    let src: string;
    if (vol.hostPath) {
      src = path.join(hostRoot, vol.hostPath.path);
      if (vol.hostPath.type === 'FileOrCreate') {
        fs.mkdirSync(path.dirname(src), { recursive: true });
        if (!fs.existsSync(src)) fs.writeFileSync(src, '');
      } else fs.mkdirSync(src, { recursive: true });
    } else if (vol.secret) {
      const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name === vol.secret?.secretName);
      src = path.join(hostRoot, 'secrets', vol.name);
      fs.mkdirSync(src, { recursive: true });
      for (const [k, b64] of Object.entries((secret?.['data'] ?? {}) as Record<string, string>)) {
        fs.writeFileSync(path.join(src, k), Buffer.from(b64, 'base64'), { mode: vol.secret.defaultMode ?? 0o644 });
      }
    } else throw new Error(`volume ${vol.name}: only hostPath and secret volumes are mapped`);
    options.push('-v', `${src}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
  }
  return { options, command: [...((c['command'] ?? []) as string[]), ...((c['args'] ?? []) as string[])] };
}
