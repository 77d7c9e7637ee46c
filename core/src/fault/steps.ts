/**
 * The named steps of every operation that can be made to fail or die on purpose
 * (`TSNET_FAULT=after:STEP:kill|fail`, see inject.ts). A step is the point just after the thing
 * it names was done (and its undo registered), so `after:veth-created:fail` proves that the veth
 * is rolled back and `after:veth-created:kill` proves that the user's recovery finds it.
 * Listed per operation in the order they are reached; tests iterate these lists, and a `fail`
 * at each must surface as FAULT_INJECTED (so a list naming a step the code never reaches fails).
 */
export const FAULT_STEPS = {
  /** CNI ADD through the bridge plugin (with host-local IPAM and ipMasq). */
  cniAdd: ['bridge-ready', 'veth-created', 'veth-attached', 'ipam-allocated', 'addr-added', 'link-up', 'routes-added', 'gateway-added', 'firewall-applied'],
  /** CNI DEL through the bridge plugin. */
  cniDel: ['ipam-released', 'link-deleted', 'firewall-removed'],
  /** CNI ADD through the tsnet plugin: a `network connect` with the runtime's namespace. */
  tsnetAdd: ['ipam-allocated', 'veth-created', 'link-attached', 'endpoint-saved', 'firewall-applied'],
  /** CNI DEL through the tsnet plugin. */
  tsnetDel: ['link-deleted', 'ipam-released', 'endpoint-removed', 'firewall-applied'],
  /** `tsnet network connect` (bridge network; the CLI publishes no ports on connect). */
  connect: ['ipam-allocated', 'veth-created', 'link-attached', 'endpoint-saved', 'resolv-written'],
  /** `tsnet network disconnect`. */
  disconnect: ['link-deleted', 'ipam-released', 'endpoint-removed', 'firewall-applied'],
  /** `tsnet run -d` (bridge network, a published port). */
  run: ['netns-created', 'lo-up', 'ipam-allocated', 'veth-created', 'link-attached', 'endpoint-saved', 'firewall-applied', 'resolv-written', 'container-saved', 'dns-synced', 'process-started', 'pid-saved'],
  /** `tsnet rm -f`. */
  rm: ['process-killed', 'link-deleted', 'ipam-released', 'endpoint-removed', 'netns-deleted', 'container-record-removed', 'firewall-applied'],
  /** `tsnet network rm --force` of a network with an endpoint. */
  networkRm: ['link-deleted', 'ipam-released', 'endpoint-removed', 'bridge-removed', 'network-record-removed', 'firewall-applied'],
} as const;

export type FaultOperation = keyof typeof FAULT_STEPS;
export type FaultStep = (typeof FAULT_STEPS)[FaultOperation][number];

/** Every step name once. */
export const ALL_FAULT_STEPS: readonly FaultStep[] = [...new Set(Object.values(FAULT_STEPS).flat())];
