/**
 * The shape of one of tsnet's nftables tables: how many rules each chain holds and how many
 * elements each set or map holds. Comparing the shape tsnet would install with the one the kernel
 * lists tells whether the table is there and complete (after `nft flush ruleset`, `nft flush
 * chain`, a firewalld reload...) without comparing nft's printed syntax. Pure.
 */
export interface NftShape {
  chains: Record<string, number>;
  sets: Record<string, number>;
}

/** The shape of a table as rendered (renderNft / renderCniTable text). */
export function shapeOfRender(text: string, table: string): NftShape {
  const shape: NftShape = { chains: {}, sets: {} };
  let chain: string | undefined;
  let head = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const c = /^chain (\S+) \{$/u.exec(line);
    const s = /^(?:set|map) (\S+) \{/u.exec(line);
    const e = new RegExp(`^add element inet ${table} (\\S+) \\{ (.*) \\}$`, 'u').exec(line);
    if (c) {
      chain = c[1]!;
      shape.chains[chain] = 0;
      head = true;
    } else if (s) {
      shape.sets[s[1]!] ??= 0;
    } else if (e) {
      shape.sets[e[1]!] = (shape.sets[e[1]!] ?? 0) + e[2]!.split(', ').length;
    } else if (chain !== undefined && line === '}') {
      chain = undefined;
    } else if (chain !== undefined && line !== '') {
      if (head) head = false; // the `type ... hook ...` line
      else shape.chains[chain] = (shape.chains[chain] ?? 0) + 1;
    }
  }
  return shape;
}

interface Listed {
  chain?: { name: string };
  rule?: { chain: string };
  set?: { name: string; elem?: unknown[] };
  map?: { name: string; elem?: unknown[] };
}

/** The shape of a table from `nft -j list table inet NAME`. */
export function shapeOfListing(json: string): NftShape {
  const shape: NftShape = { chains: {}, sets: {} };
  const objs = (JSON.parse(json) as { nftables?: Listed[] }).nftables ?? [];
  for (const o of objs) {
    if (o.chain) shape.chains[o.chain.name] ??= 0;
    if (o.rule) shape.chains[o.rule.chain] = (shape.chains[o.rule.chain] ?? 0) + 1;
    const s = o.set ?? o.map;
    if (s) shape.sets[s.name] = s.elem?.length ?? 0;
  }
  return shape;
}

/** What differs, in words ("chain forward: 3 of 7 rules"); empty when the shapes match. */
export function shapeProblems(want: NftShape, have: NftShape, table: string): string[] {
  const out: string[] = [];
  for (const [name, n] of Object.entries(want.chains)) {
    const h = have.chains[name];
    if (h === undefined) out.push(`inet ${table}: chain ${name} is missing`);
    else if (h !== n) out.push(`inet ${table}: chain ${name} holds ${h} of ${n} rules`);
  }
  for (const [name, n] of Object.entries(want.sets)) {
    const h = have.sets[name];
    if (h === undefined) out.push(`inet ${table}: set ${name} is missing`);
    else if (h !== n) out.push(`inet ${table}: set ${name} holds ${h} of ${n} elements`);
  }
  return out;
}
