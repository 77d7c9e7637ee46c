// Judges the JSON report vitest wrote inside the test VM against the contract of
// test/helpers/vm.ts: every listed file ran, nothing failed, and every test marked
// "(needs CONFIG_" passed (a skip there means the VM's kernel lacked the kind).
import { VM_TEST_MARKER } from '../helpers/vm.js';

interface Assertion {
  fullName: string;
  status: string;
  failureMessages?: string[];
}
export interface VmReport {
  numPassedTests: number;
  numFailedTests: number;
  success: boolean;
  testResults: { name: string; status: string; message?: string; assertionResults: Assertion[] }[];
}

/** One line per broken promise; empty when the VM run kept the contract. */
export function judge(report: VmReport, files: readonly string[]): string[] {
  const problems: string[] = [];
  if (report.numFailedTests > 0 || !report.success) problems.push(`${report.numFailedTests} failed tests (success: ${report.success})`);
  for (const file of files) {
    const res = report.testResults.find((r) => r.name.endsWith(`/${file}`));
    if (res === undefined) {
      problems.push(`${file}: not in the VM's report`);
      continue;
    }
    if (res.status !== 'passed') problems.push(`${file}: ${res.status} ${res.message ?? ''}`.trim());
    const marked = res.assertionResults.filter((a) => a.fullName.includes(VM_TEST_MARKER));
    if (marked.length === 0) problems.push(`${file}: no test titled "${VM_TEST_MARKER}..." ran`);
    for (const a of marked) {
      if (a.status !== 'passed') problems.push(`${file}: "${a.fullName}": ${a.status} ${(a.failureMessages ?? []).join('\n')}`.trim());
    }
  }
  return problems;
}

/** The names of the marked tests that passed, for the log. */
export const passedInVm = (report: VmReport): string[] =>
  report.testResults.flatMap((r) => r.assertionResults.filter((a) => a.status === 'passed').map((a) => a.fullName));
