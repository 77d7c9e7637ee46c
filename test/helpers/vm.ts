/**
 * Tests that need kernel features this machine's kernel lacks (CONFIG_IPVLAN, CONFIG_VLAN_8021Q,
 * CONFIG_NET_VRF, CONFIG_DUMMY, CONFIG_BRIDGE_VLAN_FILTERING are not set here, and there are no modules) also run inside a VM
 * booted with Debian's own kernel (scripts/vm/run.sh: qemu TCG, no network, the host's / shared
 * read-only under a tmpfs overlay). test/privileged/vm-kinds.test.ts boots ONE VM per test run
 * and runs vitest there with test/vm/vitest.vm.config.ts.
 *
 * The contract for a test that wants to run there:
 * 1. Add its file to VM_TEST_FILES below.
 * 2. Gate each such test on the kernel, as on any machine, asked through iproute2:
 *      const hasVlan = await kernelHasLinkKind('vlan');
 *      it.skipIf(!hasVlan)('vlan link with id 5 (needs CONFIG_VLAN_8021Q; ...)', ...)
 *    and keep the test that asserts the clear error under it.skipIf(hasVlan), for the host.
 * 3. Put "(needs CONFIG_" in the title of every test that needs a missing kind. In the VM only
 *    tests whose full name matches VM_TEST_PATTERN run (the rest of the file already runs on the
 *    host); each of them must PASS there: a failed or skipped one, or a listed file with none,
 *    fails vm-kinds.test.ts on the host. The file's module-level code still runs: keep it cheap.
 * 4. Inside the VM TSNET_IN_VM=1 (inVm()); there kernelHasLinkKind throws instead of answering
 *    false, so a kind the VM lacks is an error, never a silent skip. Namespaces must still be
 *    unique and cleaned up (the VM-side teardown runs the same leak check as the host's).
 * 5. Budget: the VM step must stay within ~3 minutes (boot ~10 s, each Node start 0.5-4 s under
 *    TCG). Prefer in-process netlink tests; CLI tests cost seconds per command there.
 *    The VM has no network, and no dockerd, podman or etcd.
 */

/** Test files (relative to the repository root) that vm-kinds.test.ts runs inside the VM. */
export const VM_TEST_FILES: readonly string[] = [
  'test/privileged/missing-kinds.test.ts',
  'test/privileged/network-cli.test.ts',
  'test/privileged/cni-dummy-vlan.test.ts',
  'test/privileged/cni-vrf.test.ts',
  'test/privileged/cni-bridge-vlan.test.ts',
  'test/privileged/cni-link-in-container.test.ts',
];

/** The vitest name filter used inside the VM (and the title marker of a test that must pass there). */
export const VM_TEST_MARKER = '(needs CONFIG_';
export const VM_TEST_PATTERN = /\(needs CONFIG_/u;

/** True inside the test VM (set by scripts/vm/stage2.sh). */
export const inVm = (): boolean => process.env['TSNET_IN_VM'] === '1';
