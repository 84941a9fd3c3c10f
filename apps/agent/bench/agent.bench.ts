/**
 * `npm run bench:agent`: what the agent costs on the robot, and how fast its spool writes.
 *
 * Resources: the DEPLOYABLE agent exactly as systemd starts it: the command line is read from the
 * unit's `ExecStart=` (apps/agent/deploy/fleet-agent.service: the launcher, with the Node flags it
 * bakes in), with /opt/fleet-agent/ mapped to the built dist/fleet-agent/ (`npm run build:agent`)
 * and `--config` pointed at the bench's configuration; the environment is what systemd gives it
 * (PATH and the unit's `Environment=` lines). It reads a real PTY fed by firmware-sim at 10 Hz (one robot, real time) and publishes to a
 * real Mosquitto, once over mqtt:// and once over mqtts:// (a TLS listener, certificates made by
 * openssl for the run, CA verification on). After a warm-up, /proc/<pid> is read every second:
 * RSS (VmRSS, with its anonymous and file-backed parts) and CPU time (utime + stime).
 * Targets: <= 50 MB RSS, <= 2 % of one core. Spool: `measureSpool` from spool.bench.ts. Prints a
 * table; writes bench-results/agent.json.
 *
 * Options: --seconds N (measured window, default 60), --sample-hz HZ (default 10),
 * --no-tls (skip the mqtts:// run), --no-spool (skip the spool rates).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, openPtyPair, startMosquitto } from '@fleet/edge-testing';
import { makeTestCertificates, mosquittoTlsListener } from '../test/support/tls-certs.js';
import { formatSpoolTable, measureSpool } from './spool.bench.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const RESULT = join(ROOT, 'bench-results/agent.json');
const UNIT = join(ROOT, 'apps/agent/deploy/fleet-agent.service');
const BUNDLE = join(ROOT, 'dist/fleet-agent');
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

interface ProcSample {
  readonly rssBytes: number;
  readonly anonBytes: number;
  readonly fileBytes: number;
  readonly cpuSeconds: number;
}

async function proc(pid: number): Promise<ProcSample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  // /proc/<pid>/stat: fields after the ")" of the command name; utime and stime are fields 14, 15.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    rssBytes: kb('VmRSS'),
    anonBytes: kb('RssAnon'),
    fileBytes: kb('RssFile'),
    cpuSeconds: ticks / CLOCK_TICKS,
  };
}

/** The unit's ExecStart= as argv, and its Environment= assignments. */
export async function deployedCommand(
  configFile: string,
): Promise<{ argv: string[]; env: Record<string, string> }> {
  const unit = await readFile(UNIT, 'utf8');
  const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1];
  if (exec === undefined) throw new Error(`${UNIT} has no ExecStart=`);
  const argv = exec
    .trim()
    .split(/\s+/)
    .map((a) => a.replace(/^\/opt\/fleet-agent\//, `${BUNDLE}/`));
  const config = argv.indexOf('--config');
  if (config < 0 || argv[config + 1] === undefined)
    throw new Error(`ExecStart= of ${UNIT} has no --config FILE`);
  argv[config + 1] = configFile;
  const env: Record<string, string> = {};
  for (const [, assignments] of unit.matchAll(/^Environment=(.+)$/gm)) {
    for (const a of (assignments ?? '').trim().split(/\s+/)) {
      const eq = a.indexOf('=');
      if (eq > 0) env[a.slice(0, eq).replace(/^"/, '')] = a.slice(eq + 1).replace(/"$/, '');
    }
  }
  return { argv, env };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

type Transport = 'mqtt' | 'mqtts';

async function measureAgent(seconds: number, sampleHz: number, transport: Transport) {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-agent-'));
  const certs = transport === 'mqtts' ? await makeTestCertificates(dir) : undefined;
  const tlsPort = certs === undefined ? undefined : await freePort();
  const broker = await startMosquitto({
    allowAnonymous: true,
    ...(certs === undefined || tlsPort === undefined
      ? {}
      : { configExtra: mosquittoTlsListener(tlsPort, certs) }),
  });
  const pty = await openPtyPair(join(dir, 'fw'), join(dir, 'agent'));
  let agent: ChildProcess | undefined;
  let sim: ChildProcess | undefined;
  try {
    const config = join(dir, 'agent.json');
    await writeFile(
      config,
      JSON.stringify({
        robotId: 'robot-1',
        siteId: 'site-bench',
        serial: { path: pty.b },
        mqtt:
          certs === undefined
            ? { urls: [broker.url] }
            : { urls: [`mqtts://localhost:${tlsPort}`], tls: { caFile: certs.caFile } },
        spool: { dir: join(dir, 'spool') },
      }),
    );
    const deployed = await deployedCommand(config);
    const [command, ...args] = deployed.argv;
    if (command === undefined) throw new Error('empty ExecStart=');
    // The environment systemd gives the service: PATH and the unit's Environment= lines, not this
    // shell's. (A shell's can cost memory: NODE_EXTRA_CA_CERTS, set on some machines, makes every
    // Node process parse a CA bundle at start-up, ~1.8 MB.) NODE: the launcher's node binary; this
    // one, so that the run uses the Node version reported.
    agent = spawn(command, args, {
      stdio: 'ignore',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...deployed.env, NODE: process.execPath },
    });
    await sleep(1500);
    sim = spawn(
      process.execPath,
      [
        '--conditions=@fleet/source',
        '--import',
        'tsx',
        'firmware-sim/src/cli.ts',
        '--robots',
        '1',
        '--device',
        pty.a,
        '--speed',
        '1',
        '--sample-hz',
        String(sampleHz),
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
    const pid = agent.pid ?? 0;
    // The launcher exec()s node: the pid is the agent's own.
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    if (comm !== 'node') throw new Error(`pid ${pid} is ${comm}, not node: the launcher did not exec node`);
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
    await sleep(10_000); // warm-up: first batches, spool segments, TLS handshake
    const samples: ProcSample[] = [await proc(pid)];
    const startedAt = performance.now();
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      samples.push(await proc(pid));
    }
    const elapsed = (performance.now() - startedAt) / 1000;
    const first = samples[0] as ProcSample;
    const last = samples.at(-1) as ProcSample;
    const mib = (values: number[]) => Math.round(median(values.map((v) => v / 2 ** 20)) * 10) / 10;
    const rss = samples.map((s) => s.rssBytes / 2 ** 20);
    return {
      transport,
      artifact: `systemd ExecStart= of apps/agent/deploy/fleet-agent.service: ${cmdline.slice(1).join(' ').replace(dir, '<tmp>')}`,
      sampleHz,
      seconds: Math.round(elapsed),
      rssMiB: { median: mib(samples.map((s) => s.rssBytes)), max: Math.round(Math.max(...rss) * 10) / 10 },
      rssMB: { median: Math.round(median(samples.map((s) => s.rssBytes / 1e6)) * 10) / 10 },
      anonMiB: { median: mib(samples.map((s) => s.anonBytes)) },
      fileMiB: { median: mib(samples.map((s) => s.fileBytes)) },
      cpuPercentOfOneCore: Math.round(((last.cpuSeconds - first.cpuSeconds) / elapsed) * 1000) / 10,
      targets: { rssMB: 50, cpuPercentOfOneCore: 2 },
    };
  } finally {
    await stop(sim);
    await stop(agent);
    await pty.close();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      'sample-hz': { type: 'string' },
      'no-tls': { type: 'boolean' },
      'no-spool': { type: 'boolean' },
    },
  });
  const seconds = Number(values.seconds ?? 60);
  const sampleHz = Number(values['sample-hz'] ?? 10);
  execFileSync('npm', ['run', '--silent', 'build:agent'], { cwd: ROOT, stdio: 'inherit' });
  const transports: Transport[] = values['no-tls'] === true ? ['mqtt'] : ['mqtt', 'mqtts'];
  const resources = [];
  for (const transport of transports) {
    const r = await measureAgent(seconds, sampleHz, transport);
    resources.push(r);
    // Target "<= 50 MB RSS": the median, in MB (10^6 bytes), the stricter reading.
    const met = {
      rss: r.rssMB.median <= r.targets.rssMB,
      cpu: r.cpuPercentOfOneCore <= r.targets.cpuPercentOfOneCore,
    };
    console.log(
      `agent at ${sampleHz} Hz for ${r.seconds} s over ${transport}://, ${process.version}, ${cpus()[0]?.model}:\n` +
        `  ${r.artifact}\n` +
        `  RSS median ${r.rssMiB.median} MiB = ${r.rssMB.median} MB (anonymous ${r.anonMiB.median} MiB, file-backed ${r.fileMiB.median} MiB), max ${r.rssMiB.max} MiB (target <= 50 MB): ${met.rss ? 'met' : 'NOT met'}\n` +
        `  CPU ${r.cpuPercentOfOneCore} % of one core (target <= 2 %): ${met.cpu ? 'met' : 'NOT met'}\n`,
    );
  }
  const spool = values['no-spool'] === true ? undefined : await measureSpool();
  if (spool !== undefined) console.log(formatSpoolTable(spool));
  const met = Object.fromEntries(
    resources.map((r) => [
      r.transport,
      { rss: r.rssMB.median <= r.targets.rssMB, cpu: r.cpuPercentOfOneCore <= r.targets.cpuPercentOfOneCore },
    ]),
  );
  // A fresh clone has no bench-results/ yet.
  await mkdir(dirname(RESULT), { recursive: true });
  await writeFile(
    RESULT,
    `${JSON.stringify({ bench: 'agent', node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, timestamp: new Date().toISOString(), resources, met, spool }, null, 2)}\n`,
  );
  console.log(`wrote ${RESULT}`);
}

main().catch((error: unknown) => {
  console.error(`bench:agent failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
