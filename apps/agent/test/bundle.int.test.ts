/**
 * Integration, real parts: the deployable bundle as a robot builder installs it. `npm run build:agent`
 * builds dist/fleet-agent (one esbuild file + the native serialport binding + the launcher),
 * `install.sh --root` stages it, and the INSTALLED launcher `fleet-agent` (the systemd unit's
 * ExecStart: node with the agent's memory flags, no tsx, no workspace) runs `doctor` and `run`
 * against a real Mosquitto and a real PTY pair where THE TEST PLAYS THE FIRMWARE.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { access, constants, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  openPtyPair,
  startMosquitto,
  type MosquittoBroker,
  type PtyPair,
} from '@fleet/edge-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudSide } from './support/cloud-side.js';
import { makeTestCertificates, mosquittoTlsListener, type TestCertificates } from './support/tls-certs.js';
import { TestFirmware } from './support/test-firmware.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);
/** The launcher runs `node` from the PATH (or $NODE): this test's node. */
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
/** What the launcher must pass to node (docs/decisions/0007-agent-memory.md). */
const FLAGS = [
  '--jitless',
  '--no-expose-wasm',
  '--max-old-space-size=32',
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--single-threaded',
  '--use-openssl-ca',
];

let dir: string;
let stage: string;
let broker: MosquittoBroker;
let pty: PtyPair;
let firmware: TestFirmware;
let cloud: CloudSide;
let certs: TestCertificates;
let tlsPort: number;
let sampling: ReturnType<typeof setInterval> | undefined;
let seq = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-agent-bundle-'));
  stage = join(dir, 'robot-root');
  await run('npm', ['run', '--silent', 'build:agent'], { cwd: ROOT, timeout: 120_000 });
  await run(join(ROOT, 'dist/fleet-agent/install.sh'), ['--root', stage, '--no-systemd'], {
    timeout: 30_000,
  });
  certs = await makeTestCertificates(dir);
  tlsPort = await freePort();
  broker = await startMosquitto({
    passwordFile: { 'r-9': 'robot-secret', cloud: 'cloud-secret' },
    configExtra: mosquittoTlsListener(tlsPort, certs),
  });
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
      'opt/fleet-agent/fleet-agent',
      'opt/fleet-agent/fleet-agent.cjs',
      'opt/fleet-agent/zod.cjs',
      'opt/fleet-agent/node_modules/@serialport/bindings-cpp/package.json',
      'etc/systemd/system/fleet-agent.service',
      'etc/fleet-agent/agent.json',
      'var/lib/fleet-agent/spool',
    ]) {
      expect(existsSync(join(stage, path)), path).toBe(true);
    }
  });

  it('the systemd unit starts the launcher, which is executable', async () => {
    const unit = await readFile(join(stage, 'etc/systemd/system/fleet-agent.service'), 'utf8');
    expect(unit).toMatch(
      /^ExecStart=\/opt\/fleet-agent\/fleet-agent run --config \/etc\/fleet-agent\/agent\.json$/m,
    );
    await access(join(stage, 'opt/fleet-agent/fleet-agent'), constants.X_OK);
  });

  it('runs doctor from the installed files: every check ok, exit 0', async () => {
    firmware.answerResumes();
    const { stdout, stderr } = await run(
      join(stage, 'opt/fleet-agent/fleet-agent'),
      ['doctor', '--config', join(stage, 'etc/fleet-agent/agent.json'), '--serial-wait-ms', '3000'],
      { timeout: 60_000, env },
    );
    firmware.answerResumes(false);
    expect(stdout).toMatch(/result: all checks passed/);
    expect(stderr).toBe(''); // no warning from node about its flags
  });

  it('trusts the robot OS CA store (OpenSSL default paths) when no caFile is configured', async () => {
    // --use-openssl-ca: without mqtt.tls.caFile the agent verifies the broker against the system's
    // store (/etc/ssl/certs on Debian; SSL_CERT_DIR / SSL_CERT_FILE override it), not the list
    // compiled into Node, which Node would otherwise parse into memory on the first TLS connect.
    const config = join(dir, 'tls-agent.json');
    await writeFile(
      config,
      JSON.stringify({
        robotId: 'r-9',
        siteId: 'site-1',
        serial: { path: pty.b },
        mqtt: { urls: [`mqtts://localhost:${tlsPort}`], password: 'robot-secret' },
        spool: { dir: join(dir, 'tls-spool') },
      }),
    );
    const store = async (name: string, caFile: string): Promise<string> => {
      const storeDir = join(dir, name);
      await mkdir(storeDir, { recursive: true });
      await copyFile(caFile, join(storeDir, 'ca.pem'));
      await run('openssl', ['rehash', storeDir]); // the hashed-name links OpenSSL looks CAs up by
      return storeDir;
    };
    const doctor = (certDir: string) =>
      run(
        join(stage, 'opt/fleet-agent/fleet-agent'),
        ['doctor', '--config', config, '--serial-wait-ms', '3000'],
        {
          timeout: 60_000,
          env: { ...env, SSL_CERT_DIR: certDir, SSL_CERT_FILE: join(dir, 'no-such-bundle.pem') },
        },
      ).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
    firmware.answerResumes();
    try {
      const trusted = await doctor(await store('os-store', certs.caFile));
      expect(trusted.stdout).toMatch(/result: all checks passed/);
      expect(trusted.code).toBe(0);
      const untrusted = await doctor(await store('other-store', certs.wrongCaFile));
      expect(untrusted.code).not.toBe(0);
      expect(untrusted.stdout).toMatch(/\[FAIL\] broker/);
      expect(untrusted.stdout).toMatch(/certificate/i);
    } finally {
      firmware.answerResumes(false);
    }
  });

  it('runs the agent from the installed files: samples reach the cloud', async () => {
    const first = seq;
    const child = spawn(
      join(stage, 'opt/fleet-agent/fleet-agent'),
      ['run', '--config', join(stage, 'etc/fleet-agent/agent.json')],
      { stdio: 'ignore', env },
    );
    try {
      // The launcher exec()s node with the flags: the agent runs as the launcher's pid.
      await cloud.waitFor('the agent process', () => existsSync(`/proc/${child.pid}/cmdline`), 5000);
      await cloud.waitFor(
        'node in place of the launcher',
        () => existsSync(`/proc/${child.pid}/comm`) && readFileSyncSafe(`/proc/${child.pid}/comm`) === 'node',
        5000,
      );
      const argv = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
      expect(argv.slice(1, 1 + FLAGS.length)).toEqual(FLAGS);
      expect(argv[1 + FLAGS.length]).toBe(join(stage, 'opt/fleet-agent/fleet-agent.cjs'));
      const environ = (await readFile(`/proc/${child.pid}/environ`, 'utf8')).split('\0');
      expect(environ).toEqual(
        expect.arrayContaining(['MALLOC_TRIM_THRESHOLD_=131072', 'MALLOC_MMAP_THRESHOLD_=131072']),
      );
      await cloud.waitFor(
        'samples from the installed agent',
        () => cloud.samples().some((s) => s.bootId === 3 && s.seq > first + 20),
        30_000,
      );
      // A JSON command (the debugging form): zod is loaded from zod.cjs only now, and the command
      // still reaches the firmware. A binary one goes through the zod-free checks.
      const now = Date.now();
      const command = {
        kind: 'command' as const,
        robotId: 'r-9',
        action: { type: 'go_to_dock' as const },
        issuedAt: now,
        deadline: now + 60_000,
      };
      await cloud.publishCommand(Buffer.from(JSON.stringify({ ...command, commandId: 'json-1' })));
      expect((await firmware.waitForCommand('json-1', 15_000)).commandId).toBe('json-1');
      await cloud.publishCommand({ ...command, commandId: 'binary-1' });
      expect((await firmware.waitForCommand('binary-1', 15_000)).commandId).toBe('binary-1');
    } finally {
      child.kill('SIGTERM');
      await new Promise((done) => child.once('exit', done));
    }
  });
});

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}
