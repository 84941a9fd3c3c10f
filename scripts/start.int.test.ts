/**
 * Integration (real PostgreSQL from the run's global setup): `npm start` run as a user runs it,
 * as a child process, with `--once` so it exits after its report.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@fleet/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase(inject('databaseUrl'), 'npm_start');
});
afterAll(async () => {
  await db?.drop();
});

function start(env: Record<string, string>) {
  const { KAFKA_BROKERS: _k, DATABASE_URL: _d, ...rest } = process.env;
  return run('npm', ['start', '--silent', '--', '--once'], { env: { ...rest, ...env }, timeout: 60_000 });
}

describe('npm start', () => {
  it('migrates the database, reports every component and exits 0 with --once', async () => {
    const first = await start({ DATABASE_URL: db.url });
    expect(first.stdout).toMatch(/PostgreSQL\s+running: .*migrations: 1 applied now, 0 already/);
    for (const part of ['gateway', 'stream', 'api']) {
      expect(first.stdout).toMatch(new RegExp(`${part}\\s+not built yet \\(issue #\\d\\)`));
    }
    expect(first.stdout).toMatch(/firmware-sim\s+built: npm run sim/);
    expect(first.stdout).toMatch(/agent\s+built: npm run agent/);
    expect(first.stdout).not.toMatch(/postgres:\/\/[^*\s]*:[^*\s]+@/); // the password is redacted

    const again = await start({ DATABASE_URL: db.url });
    expect(again.stdout).toMatch(/migrations: 0 applied now, 1 already/);
  });

  it('reports the Kafka broker it was given', async () => {
    const out = await start({ DATABASE_URL: db.url, KAFKA_BROKERS: inject('kafkaBrokers') });
    expect(out.stdout).toMatch(/Kafka\s+answering at 127\.0\.0\.1:\d+/);
  });

  it('refuses invalid configuration with a message naming the variable, exit code 1', async () => {
    const failed = await start({ DATABASE_URL: db.url, KAFKA_BROKERS: 'not a broker list' }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/KAFKA_BROKERS: KAFKA_BROKERS must be host:port/);
  });
});
