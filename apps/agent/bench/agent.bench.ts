/**
 * `npm run bench:agent`: what the agent costs on the robot, and how fast its spool writes.
 *
 * Resources: the DEPLOYABLE agent (dist/fleet-agent/fleet-agent.mjs, built by `npm run build:agent`,
 * run with plain node as on a robot) reads a real PTY fed by firmware-sim at 10 Hz (one robot, real
 * time) and publishes to a real Mosquitto. After a warm-up, /proc/<pid> is read every second:
 * RSS (VmRSS) and CPU time (utime + stime). Targets: <= 50 MB RSS, <= 2 % of one core.
 * Spool: `measureSpool` from spool.bench.ts. Prints a table; writes bench-results/agent.json.
 *
 * Options: --seconds N (measured window, default 60), --sample-hz HZ (default 10).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openPtyPair, startMosquitto } from '@fleet/edge-testing';
import { formatSpoolTable, measureSpool } from './spool.bench.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const RESULT = join(ROOT, 'bench-results/agent.json');
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

interface ProcSample {
  readonly rssBytes: number;
  readonly cpuSeconds: number;
}

async function proc(pid: number): Promise<ProcSample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  // /proc/<pid>/stat: fields after the ")" of the command name; utime and stime are fields 14, 15.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssBytes: rssKb * 1024, cpuSeconds: ticks / CLOCK_TICKS };
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

async function measureAgent(seconds: number, sampleHz: number) {
  execFileSync('npm', ['run', '--silent', 'build:agent'], { cwd: ROOT, stdio: 'inherit' });
  const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-agent-'));
  const broker = await startMosquitto({ allowAnonymous: true });
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
        mqtt: { urls: [broker.url] },
        spool: { dir: join(dir, 'spool') },
      }),
    );
    agent = spawn(
      process.execPath,
      [join(ROOT, 'dist/fleet-agent/fleet-agent.mjs'), 'run', '--config', config],
      {
        stdio: 'ignore',
      },
    );
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
    await sleep(10_000); // warm-up: JIT, first batches, spool segments
    const samples: ProcSample[] = [await proc(pid)];
    const startedAt = performance.now();
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      samples.push(await proc(pid));
    }
    const elapsed = (performance.now() - startedAt) / 1000;
    const first = samples[0] as ProcSample;
    const last = samples.at(-1) as ProcSample;
    const rss = samples.map((s) => s.rssBytes / 2 ** 20);
    return {
      artifact: 'dist/fleet-agent/fleet-agent.mjs (plain node)',
      sampleHz,
      seconds: Math.round(elapsed),
      rssMiB: { median: Math.round(median(rss) * 10) / 10, max: Math.round(Math.max(...rss) * 10) / 10 },
      cpuPercentOfOneCore: Math.round(((last.cpuSeconds - first.cpuSeconds) / elapsed) * 1000) / 10,
      targets: { rssMiB: 50, cpuPercentOfOneCore: 2 },
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
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, 'sample-hz': { type: 'string' } } });
  const seconds = Number(values.seconds ?? 60);
  const sampleHz = Number(values['sample-hz'] ?? 10);
  const resources = await measureAgent(seconds, sampleHz);
  const met = {
    rss: resources.rssMiB.max <= resources.targets.rssMiB,
    cpu: resources.cpuPercentOfOneCore <= resources.targets.cpuPercentOfOneCore,
  };
  console.log(
    `agent at ${sampleHz} Hz for ${resources.seconds} s (${resources.artifact}), ${process.version}, ${cpus()[0]?.model}:\n` +
      `  RSS median ${resources.rssMiB.median} MiB, max ${resources.rssMiB.max} MiB (target <= 50): ${met.rss ? 'met' : 'NOT met'}\n` +
      `  CPU ${resources.cpuPercentOfOneCore} % of one core (target <= 2 %): ${met.cpu ? 'met' : 'NOT met'}\n`,
  );
  const spool = await measureSpool();
  console.log(formatSpoolTable(spool));
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
