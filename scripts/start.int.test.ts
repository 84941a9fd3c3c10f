/**
 * Integration (real PostgreSQL from the run's global setup): `npm start` run as a user runs it,
 * as a child process, with `--once` so it exits after its report.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultMigrationsDir } from '@fleet/db';
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
  const ports = { FLEET_GATEWAY_MQTT_PORT: '0', FLEET_GATEWAY_HTTP_PORT: '0' };
  return run('npm', ['start', '--silent', '--', '--once'], {
    env: { ...rest, ...ports, ...env },
    timeout: 120_000,
  });
}

describe('npm start', () => {
  it('migrates the database, reports every component and exits 0 with --once', async () => {
    const first = await start({ DATABASE_URL: db.url, KAFKA_BROKERS: inject('kafkaBrokers') });
    // Every shipped migration (the TimescaleDB companions wait: no extension here).
    const shipped = (await readdir(defaultMigrationsDir())).filter(
      (f) => f.endsWith('.sql') && !f.endsWith('.timescale.sql'),
    ).length;
    expect(shipped).toBeGreaterThanOrEqual(5);
    expect(first.stdout).toMatch(
      new RegExp(`PostgreSQL\\s+running: .*migrations: ${shipped} applied now, 0 already`),
    );
    expect(first.stdout).toMatch(/gateway\s+running: mqtt:\/\/:\d+; http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(first.stdout).toMatch(/api\s+not built yet \(issue #6\)/);
    expect(first.stdout).toMatch(/stream\s+built: npm run stream/);
    expect(first.stdout).toMatch(/firmware-sim\s+built: npm run sim/);
    expect(first.stdout).toMatch(/agent\s+built: npm run agent/);
    expect(first.stdout).not.toMatch(/postgres:\/\/[^*\s]*:[^*\s]+@/); // the password is redacted

    const again = await start({ DATABASE_URL: db.url, KAFKA_BROKERS: inject('kafkaBrokers') });
    expect(again.stdout).toMatch(new RegExp(`migrations: 0 applied now, ${shipped} already`));
  });

  it('reports the Kafka broker it was given', async () => {
    const out = await start({ DATABASE_URL: db.url, KAFKA_BROKERS: inject('kafkaBrokers') });
    expect(out.stdout).toMatch(/Kafka\s+answering at 127\.0\.0\.1:\d+/);
  });

  it('starts a Kafka broker of its own when none is given, and the gateway on it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'fleet-start-'));
    try {
      const out = await start({ DATABASE_URL: db.url, FLEET_DATA_DIR: dataDir });
      expect(out.stdout).toMatch(
        /Kafka\s+started for this session at 127\.0\.0\.1:\d+ \(Kafka [\d.]+, data in .*kafka-session\)/,
      );
      expect(out.stdout).toMatch(/gateway\s+running: mqtt:\/\/:\d+/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
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
