/**
 * Integration, real parts: the deployable bundle as a robot builder installs it. `npm run build:agent`
 * builds dist/fleet-agent (one esbuild file + the native serialport binding), `install.sh --root`
 * stages it, and the INSTALLED `fleet-agent.mjs` (plain node, no tsx, no workspace) runs `doctor` and
 * `run` against a real Mosquitto and a real PTY pair where THE TEST PLAYS THE FIRMWARE.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openPtyPair, startMosquitto, type MosquittoBroker, type PtyPair } from '@fleet/edge-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudSide } from './support/cloud-side.js';
import { TestFirmware } from './support/test-firmware.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);

let dir: string;
let stage: string;
let broker: MosquittoBroker;
let pty: PtyPair;
let firmware: TestFirmware;
let cloud: CloudSide;
let sampling: ReturnType<typeof setInterval> | undefined;
let seq = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-agent-bundle-'));
  stage = join(dir, 'robot-root');
  await run('npm', ['run', '--silent', 'build:agent'], { cwd: ROOT, timeout: 120_000 });
  await run(join(ROOT, 'dist/fleet-agent/install.sh'), ['--root', stage, '--no-systemd'], {
    timeout: 30_000,
  });
  broker = await startMosquitto({ passwordFile: { 'r-9': 'robot-secret', cloud: 'cloud-secret' } });
  pty = await openPtyPair(join(dir, 'firmware'), join(dir, 'agent'));
  firmware = await TestFirmware.open(pty.a, 0);
  cloud = await CloudSide.connect(broker.url, 'site-1', 'r-9', {
    username: 'cloud',
    password: 'cloud-secret',
  });
  await writeFile(
    join(stage, 'etc/fleet-agent/agent.json'),
    JSON.stringify({
      robotId: 'r-9',
      siteId: 'site-1',
      serial: { path: pty.b },
      mqtt: { urls: [broker.url], password: 'robot-secret' },
      spool: { dir: join(stage, 'var/lib/fleet-agent/spool'), fsync: 'always' },
      batch: { maxSamples: 20, maxDelayMs: 200 },
    }),
  );
  sampling = setInterval(() => void firmware.sendSample(3, seq++), 50);
}, 180_000);

afterAll(async () => {
  if (sampling !== undefined) clearInterval(sampling);
  await cloud?.close();
  await firmware?.close();
  await pty?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the installed agent bundle', () => {
  it('is laid out as the systemd unit expects', () => {
    for (const path of [
      'opt/fleet-agent/fleet-agent.mjs',
      'opt/fleet-agent/node_modules/@serialport/bindings-cpp/package.json',
      'etc/systemd/system/fleet-agent.service',
      'etc/fleet-agent/agent.json',
      'var/lib/fleet-agent/spool',
    ]) {
      expect(existsSync(join(stage, path)), path).toBe(true);
    }
  });

  it('runs doctor from the installed files: every check ok, exit 0', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        join(stage, 'opt/fleet-agent/fleet-agent.mjs'),
        'doctor',
        '--config',
        join(stage, 'etc/fleet-agent/agent.json'),
        '--serial-wait-ms',
        '3000',
      ],
      { timeout: 60_000 },
    );
    expect(stdout).toMatch(/result: all checks passed/);
  });

  it('runs the agent from the installed files: samples reach the cloud', async () => {
    const first = seq;
    const child = spawn(
      process.execPath,
      [
        join(stage, 'opt/fleet-agent/fleet-agent.mjs'),
        'run',
        '--config',
        join(stage, 'etc/fleet-agent/agent.json'),
      ],
      { stdio: 'ignore' },
    );
    try {
      await cloud.waitFor(
        'samples from the installed agent',
        () => cloud.samples().some((s) => s.bootId === 3 && s.seq > first + 20),
        30_000,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((done) => child.once('exit', done));
    }
  });
});
