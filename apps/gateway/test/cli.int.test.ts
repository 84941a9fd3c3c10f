/**
 * The command line as an operator runs it, as child processes (node with the tsx loader): robots
 * provisioned, listed, rotated and revoked in a real PostgreSQL database; `run` with a TLS listener
 * (certificate made by openssl for this test) against the run's real Kafka broker, reached by a
 * real mqtt.js client that verifies the server against the test CA; SIGTERM stops it cleanly.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@fleet/testing';

const ROOT = join(import.meta.dirname, '..', '..', '..');
let db: TestDatabase;
let dir: string;
const children: ChildProcess[] = [];

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(
  args: readonly string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Result>; stdout: () => string } {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_GATEWAY_')),
  );
  const child = spawn(
    process.execPath,
    ['--conditions=@fleet/source', '--import', 'tsx', 'apps/gateway/src/cli.ts', ...args],
    {
      cwd: ROOT,
      env: { ...clean, DATABASE_URL: db.url, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Result>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done, stdout: () => stdout };
}

beforeAll(async () => {
  db = await createTestDatabase(inject('databaseUrl'), 'gw_cli');
  dir = await mkdtemp(join(tmpdir(), 'gw-cli-'));
  // A throwaway CA and a server certificate for 127.0.0.1 / localhost.
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=fleet test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    'tls.key',
    '-out',
    'tls.csr',
  );
  execFileSync('sh', ['-c', 'printf "subjectAltName=DNS:localhost,IP:127.0.0.1" > san.ext'], { cwd: dir });
  ssl(
    'x509',
    '-req',
    '-in',
    'tls.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'tls.crt',
  );
}, 60_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('fleet-gateway robots', () => {
  it('adds a robot and prints its secret once, lists, rotates and revokes it', async () => {
    const added = await cli(['robots', 'add', 'cli-r1', '--site', 'site-9']).done;
    expect(added.code, added.stderr).toBe(0);
    const issued = JSON.parse(added.stdout) as { robotId: string; siteId: string; secret: string };
    expect(issued).toMatchObject({
      robotId: 'cli-r1',
      siteId: 'site-9',
      secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });

    const again = await cli(['robots', 'add', 'cli-r1', '--site', 'site-9']).done;
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already provisioned; use rotate/);

    const rotated = JSON.parse((await cli(['robots', 'rotate', 'cli-r1']).done).stdout) as { secret: string };
    expect(rotated.secret).not.toBe(issued.secret);

    expect((await cli(['robots', 'list']).done).stdout).toMatch(/^site-9\tcli-r1\t\S+\tactive$/m);
    expect((await cli(['robots', 'revoke', 'cli-r1']).done).code).toBe(0);
    expect((await cli(['robots', 'list', '--site', 'site-9']).done).stdout).toMatch(/cli-r1\t\S+\trevoked /);
  });

  it('refuses bad input with a clear message and a non-zero exit', async () => {
    const badId = await cli(['robots', 'add', 'bad/id', '--site', 's']).done;
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/robot id "bad\/id" does not match/);
    const shortSecret = await cli(['robots', 'add', 'r-short', '--site', 's', '--secret', 'hunter2']).done;
    expect(shortSecret.code).toBe(1);
    expect(shortSecret.stderr).toMatch(/at least 32 characters/);
    const usage = await cli(['robots', 'frobnicate']).done;
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown robots command "frobnicate"[\s\S]*usage:/);
  });
});

describe('fleet-gateway run', () => {
  it('serves MQTT over TLS to a robot that verifies it, and stops on SIGTERM', async () => {
    const { secret } = JSON.parse(
      (await cli(['robots', 'add', 'tls-r1', '--site', 'site-9']).done).stdout,
    ) as { secret: string };
    const run = cli(['run'], {
      KAFKA_BROKERS: inject('kafkaBrokers'),
      FLEET_GATEWAY_MQTT_HOST: '127.0.0.1',
      FLEET_GATEWAY_MQTT_PORT: '0',
      FLEET_GATEWAY_TLS_PORT: '0',
      FLEET_GATEWAY_TLS_CERT_FILE: join(dir, 'tls.crt'),
      FLEET_GATEWAY_TLS_KEY_FILE: join(dir, 'tls.key'),
      FLEET_GATEWAY_HTTP_PORT: '0',
      FLEET_GATEWAY_LOG_LEVEL: 'warn',
    });
    const deadline = Date.now() + 90_000;
    while (!run.stdout().includes('"ready":true') && Date.now() < deadline && run.child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // stdout also carries the JSON log lines; the ready line is the one saying so.
    const line = run
      .stdout()
      .split('\n')
      .find((l) => l.includes('"ready":true'));
    const ready = JSON.parse(line ?? '{}') as { mqtt: { tls: number; tcp: number } };
    expect(ready.mqtt.tls).toBeGreaterThan(0);

    const ca = await readFile(join(dir, 'ca.crt'));
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${ready.mqtt.tls}`, {
      ca,
      clientId: 'tls-r1',
      username: 'tls-r1',
      password: secret,
      reconnectPeriod: 0,
    });
    expect(client.connected).toBe(true);
    await client.endAsync();

    // A client that trusts another CA refuses the gateway's certificate.
    const otherCa = execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=other',
        '-keyout',
        '/dev/null',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await expect(
      mqtt.connectAsync(`mqtts://127.0.0.1:${ready.mqtt.tls}`, {
        ca: otherCa,
        clientId: 'tls-r1',
        username: 'tls-r1',
        password: secret,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);

    run.child.kill('SIGTERM');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
  }, 120_000);
});
