/**
 * Prints the run's totals as one plain line, `tests: N passed, N failed, N skipped`, after Vitest's
 * own summary, so CI can read how many tests ran (a run that executed none says `0 passed`).
 * A file whose hooks failed (a `beforeAll` that threw leaves its tests unrun, which Vitest reports
 * as skipped) counts as one failure, so such a run never reads as clean.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      let failedHere = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else skipped++;
      }
      const suiteFailed = [...module.children.allSuites()].some((suite) => suite.state() === 'failed');
      if (failedHere === 0 && (module.state() === 'failed' || suiteFailed)) failedHere = 1;
      failed += failedHere;
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
