export { fault, faultBefore, parseFaultSpec } from './inject.js';
export { ALL_FAULT_STEPS, FAULT_STEPS, type FaultOperation, type FaultStep } from './steps.js';
export { bounded, timeoutError, timeoutMs } from './deadline.js';
export { teardownError } from './teardown.js';
