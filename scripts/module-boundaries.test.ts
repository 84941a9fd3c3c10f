/**
 * The Nx module-boundary rule is what keeps edge code (agent, firmware-sim) from importing cloud
 * code. It silently skips itself when the Nx project graph is missing, so this test lints real
 * imports through ESLint's API and asserts that the rule fires — a broken setup fails here.
 */
import { execFileSync } from 'node:child_process';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const RULE = '@nx/enforce-module-boundaries';
let eslint: ESLint;

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === RULE).map((m) => m.message);
}

describe('module boundaries (Nx tags)', () => {
  beforeAll(() => {
    // Computes and caches the project graph the rule reads.
    execFileSync('npx', ['nx', 'show', 'projects'], { stdio: 'ignore' });
    eslint = new ESLint();
  }, 60_000);

  it('refuses an edge app (agent) importing a cloud library', async () => {
    const errors = await boundaryErrors('apps/agent/src/probe.ts', "import '@fleet/log';\n");
    expect(errors.join('\n')).toMatch(
      /scope:edge.*can only depend on libs tagged with "scope:edge", "scope:shared"/,
    );
  });

  it('refuses the firmware simulator importing a cloud library', async () => {
    const errors = await boundaryErrors('firmware-sim/src/probe.ts', "import '@fleet/db';\n");
    expect(errors).toHaveLength(1);
  });

  it('refuses the shared protocol library importing anything cloud-side', async () => {
    const errors = await boundaryErrors('libs/protocol/src/probe.ts', "import '@fleet/log';\n");
    expect(errors).toHaveLength(1);
  });

  it('lets edge code import the shared protocol', async () => {
    expect(await boundaryErrors('apps/agent/src/probe.ts', "import '@fleet/protocol';\n")).toEqual([]);
  });

  it('lets cloud code import cloud libraries', async () => {
    expect(await boundaryErrors('apps/gateway/src/probe.ts', "import '@fleet/log';\n")).toEqual([]);
  });
});
