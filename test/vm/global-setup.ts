// The VM-side global setup: the host's run already built the bundle and the launcher (its global
// setup) before booting the VM, so nothing is rebuilt here (the tree is read-only under an
// overlay, and a build under TCG costs tens of seconds). Importing the host's module sets the
// run's environment (TSNET_TEST_RUN, TSNET_RUN_DIR); its teardown kills workers and fails the
// run if a namespace is left.
export { teardown } from '../helpers/global-setup.js';

export async function setup(): Promise<void> {}
