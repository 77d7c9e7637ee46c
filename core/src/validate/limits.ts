/**
 * Limits on input from outside, matched to the kernel and to the reference CNI plugins. Each
 * value that becomes a file name, an interface name or a path is checked against these before
 * any side effect, so a long or odd value is a validation error, never ENAMETOOLONG.
 */
export const LIMITS = {
  /** IFNAMSIZ 16 with the NUL: an interface name holds 1-15 bytes. */
  ifname: 15,
  /** Docker-style network and container names of the CLI (they name state files). */
  objectName: 64,
  /** A CNI network name: a directory under host-local's dataDir and a key of records. */
  cniNetworkName: 128,
  /** CNI_CONTAINERID (runtimes send 64 hex digits); lease keys are files named ID@IFNAME. */
  containerId: 200,
  /** NAME_MAX: one component of a path. */
  pathComponent: 255,
  /** PATH_MAX. */
  path: 4096,
  /** A CNI network configuration on stdin (the reference reads any size; 4 MiB is generous). */
  cniConfigBytes: 4 * 1024 * 1024,
  /** One CNI_ARGS value or an environment value that is not a path. */
  envValue: 4096,
} as const;

/** Length in bytes as the kernel counts it. */
export const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');
