/**
 * Integration, real parts, the command line as a robot builder runs it: `fleet-agent doctor` and
 * `fleet-agent run` as child processes (node with the tsx loader, one process so that signals reach
 * the agent itself), against a real Mosquitto with per-robot passwords and a real PTY pair where
 * THE TEST PLAYS THE FIRMWARE, with a real mqtt.js client as the cloud.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPtyPair, startMosquitto, type MosquittoBroker, type PtyPair } from '@fleet/edge-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudSide } from './support/cloud-side.js';
import { TestFirmware } from './support/test-firmware.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

let dir: string;
let broker: MosquittoBroker;
let pty: PtyPair;
let firmware: TestFirmware;
let cloud: CloudSide;
let sampling: ReturnType<typeof setInterval> | undefined;
let seq = 0;

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function cli(args: readonly string[], env: Record<string, string> = {}): Run {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_AGENT_')),
  );
  const child = spawn(
    process.execPath,
    ['--conditions=@fleet/source', '--import', 'tsx', 'apps/agent/src/cli.ts', ...args],
    { cwd: ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((done) => child.once('exit', (code, signal) => done({ code, signal }))),
  };
  child.stdout?.on('data', (c: Buffer) => (run.stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (run.stderr += c.toString()));
  return run;
}

async function writeConfig(
  name: string,
  mqtt: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    JSON.stringify({
      robotId: 'r-1',
      siteId: 'site-1',
      serial: { path: pty.b },
      mqtt: { urls: [broker.url], keepaliveSeconds: 5, ...mqtt },
      spool: { dir: 'spool', fsync: 'always' },
      batch: { maxSamples: 20, maxDelayMs: 200 },
      reconnect: { initialMs: 200, maxMs: 2000 },
      ...extra,
    }),
  );
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-agent-cli-'));
  broker = await startMosquitto({ passwordFile: { 'r-1': 'robot-secret', cloud: 'cloud-secret' } });
  pty = await openPtyPair(join(dir, 'firmware'), join(dir, 'agent'));
  firmware = await TestFirmware.open(pty.a, 0);
  cloud = await CloudSide.connect(broker.url, 'site-1', 'r-1', {
    username: 'cloud',
    password: 'cloud-secret',
  });
  await writeFile(join(dir, 'password'), 'robot-secret\n');
  sampling = setInterval(() => void firmware.sendSample(1, seq++), 50);
});

afterAll(async () => {
  if (sampling !== undefined) clearInterval(sampling);
  await cloud?.close();
  await firmware?.close();
  await pty?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('fleet-agent doctor (real Mosquitto, real PTY with the test as firmware)', () => {
  it('warns, and still exits 0, when the firmware does not answer the resume handshake', async () => {
    const config = await writeConfig('no-resume.json', { passwordFile: 'password' });
    const run = cli(['doctor', '--config', config, '--serial-wait-ms', '1000']);
    const { code } = await run.exited;
    expect(run.stdout).toMatch(/\[ok\] {3}serial +.* frames arrive and decode/);
    expect(run.stdout).toMatch(
      /\[warn\] resume +the firmware did not answer a resume frame \(boot 1 from seq \d+\)/,
    );
    expect(run.stdout).toMatch(
      /-> what the firmware sends while the agent is stopped or restarting will be lost/,
    );
    expect(run.stdout).toMatch(/result: passed with warnings \(resume\)/);
    expect(code).toBe(0);
  });

  it('reports every check ok and exits 0 when the firmware talks, answers resume, and the broker accepts the robot', async () => {
    firmware.answerResumes();
    const config = await writeConfig('good.json', { passwordFile: 'password' });
    const run = cli(['doctor', '--config', config, '--serial-wait-ms', '3000']);
    const { code } = await run.exited;
    firmware.answerResumes(false);
    expect(run.stdout).toMatch(/\[ok\] {3}serial +.* frames arrive and decode/);
    expect(run.stdout).toMatch(
      /\[ok\] {3}resume +the firmware answers a resume frame: asked for boot 1 from seq (\d+), it sent seq \1 again/,
    );
    expect(run.stdout).toMatch(
      /\[ok\] {3}broker mqtt:\/\/127\.0\.0\.1:\d+ +connects, authenticates, subscribes and publishes/,
    );
    expect(run.stdout).toMatch(/\[ok\] {3}spool +.*spool is writable/);
    expect(run.stdout).toMatch(/result: all checks passed/);
    expect(code).toBe(0);
  });

  it('says what is wrong and what to do, and exits 1: refused credentials, a missing device', async () => {
    const config = await writeConfig(
      'bad.json',
      { password: 'wrong' },
      { serial: { path: join(dir, 'no-such-tty') } },
    );
    const run = cli(['doctor', '--config', config, '--serial-wait-ms', '500']);
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stdout).toMatch(/\[FAIL\] serial +.*no-such-tty does not exist/);
    expect(run.stdout).toMatch(/-> check serial\.path/);
    expect(run.stdout).toMatch(/\[FAIL\] broker .*cannot connect: broker .* refused the credentials of r-1/);
    expect(run.stdout).toMatch(/-> check mqtt\.username \(r-1; the robot id by default\) and the password/);
    expect(run.stdout).toMatch(/result: 2 check\(s\) failed/);
  });

  it('names the bad field of an invalid configuration, and the variable it came from', async () => {
    const config = await writeConfig('env.json', { passwordFile: 'password' });
    const run = cli(['doctor', '--config', config], { FLEET_AGENT_SERIAL_BAUD: 'fast' });
    expect((await run.exited).code).toBe(1);
    expect(run.stdout).toMatch(/\[FAIL\] config .*serial\.baudRate \(from FLEET_AGENT_SERIAL_BAUD\)/s);
  });
});

describe('fleet-agent run (real Mosquitto, real PTY with the test as firmware)', () => {
  it('publishes online presence and telemetry; on SIGTERM drains, publishes offline presence and exits 0', async () => {
    const config = await writeConfig('run.json', { passwordFile: 'password' });
    const firstSeq = seq;
    const run = cli(['run', '--config', config]);
    try {
      await cloud.waitFor('online presence', () => cloud.presence().some((p) => p.online));
      await cloud.waitFor('telemetry from the agent', () =>
        cloud.samples().some((s) => s.seq > firstSeq + 20),
      );
    } finally {
      run.child.kill('SIGTERM');
    }
    const { code } = await run.exited;
    expect(code).toBe(0);
    await cloud.waitFor('offline presence', () => cloud.presence().some((p) => !p.online));
    expect(
      cloud
        .presence()
        .filter((p) => !p.online)
        .map((p) => p.reason),
    ).toEqual(['disconnected']);
    // Structured JSON logs on stderr, one object per line.
    const lines = run.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; level: string });
    expect(lines.map((l) => l.event)).toEqual(
      expect.arrayContaining(['agent_started', 'mqtt_connected', 'agent_stopped']),
    );
  });

  it('kill -9: the broker publishes the last will (offline, reason last_will)', async () => {
    const config = await writeConfig('run.json', { passwordFile: 'password' });
    const before = cloud.presence().length;
    const run = cli(['run', '--config', config]);
    await cloud.waitFor('online presence', () =>
      cloud
        .presence()
        .slice(before)
        .some((p) => p.online),
    );
    run.child.kill('SIGKILL');
    await run.exited;
    await cloud.waitFor('the last will', () =>
      cloud
        .presence()
        .slice(before)
        .some((p) => !p.online),
    );
    expect(
      cloud
        .presence()
        .slice(before)
        .filter((p) => !p.online)
        .map((p) => p.reason),
    ).toEqual(['last_will']);
  });
});
