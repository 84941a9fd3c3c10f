/**
 * Integration: the CLI as a process (`tsx firmware-sim/src/cli.ts`, on this checkout's sources),
 * creating REAL PTY pairs with socat; the test opens the agent ends with serialport.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroundTruthRecord } from '../src/ground-truth.js';
import { TestAgent } from './pty-agent.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-fwsim-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sim(args: string[]) {
  const child = spawn(TSX, ['--conditions=@fleet/source', 'firmware-sim/src/cli.ts', ...args], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear in ${timeoutMs} ms`);
    await new Promise((d) => setTimeout(d, 20));
  }
}

async function truthOf(path: string): Promise<GroundTruthRecord[]> {
  return (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as GroundTruthRecord);
}

describe('firmware-sim CLI', () => {
  it('runs robots on PTY pairs it creates, as fast as the agents read, and writes ground truth', async () => {
    const ptyDir = join(dir, 'max');
    const truthFile = join(dir, 'max-truth.jsonl');
    const run = sim([
      '--robots',
      '2',
      '--pty-dir',
      ptyDir,
      '--speed',
      'max',
      '--duration',
      '30m',
      '--seed',
      '7',
      '--start-time',
      '2025-01-06T08:00:00Z',
      '--ground-truth',
      truthFile,
    ]);
    await waitForFile(join(ptyDir, 'robots.json'), 30_000);
    const agents = await Promise.all([1, 2].map((i) => TestAgent.open(join(ptyDir, `robot-${i}.agent`))));
    expect(await run.exited).toBe(0);
    await new Promise((d) => setTimeout(d, 200));
    await Promise.all(agents.map((a) => a.close()));

    expect(run.out()).toBe(
      `robot-1\t${join(ptyDir, 'robot-1.agent')}\nrobot-2\t${join(ptyDir, 'robot-2.agent')}\n`,
    );
    for (const agent of agents) {
      // Whatever was written before the agent opened its end is gone (as on a UART); from then on
      // at speed max nothing is dropped: seq runs on without a gap.
      const seqs = agent.samples.map((s) => s.seq);
      expect(seqs.length).toBeGreaterThan(15_000);
      seqs.forEach((s, i) => i > 0 && expect(s).toBe(seqs[i - 1]! + 1));
      expect(agent.decoder.stats.framesCorrupt).toBeLessThanOrEqual(1); // a frame cut by the open
      expect(agent.samples.at(-1)!.robotTime).toBeLessThanOrEqual(Date.UTC(2025, 0, 6, 8, 30));
    }
    const truth = await truthOf(truthFile);
    expect(truth[0]).toMatchObject({
      type: 'run',
      seed: '7',
      startTime: Date.UTC(2025, 0, 6, 8),
      robotIds: ['robot-1', 'robot-2'],
    });
    expect(truth.at(-1)).toMatchObject({ type: 'run_end', trueTime: Date.UTC(2025, 0, 6, 8, 30) });
    expect(truth.filter((r) => r.type === 'robot_state')).toHaveLength(2 * 31);
    expect(truth.filter((r) => r.type === 'boot').map((r) => r.type === 'boot' && r.resetReason)).toEqual([
      'power_on',
      'power_on',
    ]);
    const end = truth.at(-1)!;
    if (end.type === 'run_end') expect(end.robots.map((r) => r.samples)).toEqual([18_000, 18_000]);
  });

  it('exits 2 with a message naming the bad argument', async () => {
    const run = sim(['--robots', 'many', '--pty-dir', join(dir, 'bad')]);
    expect(await run.exited).toBe(2);
    expect(run.err()).toMatch(/^firmware-sim: --robots: must be an integer from 1 to 10000 \(got "many"\)/);
    const unknown = sim(['--pty-dir', join(dir, 'bad'), '--robts', '3']);
    expect(await unknown.exited).toBe(2);
    expect(unknown.err()).toMatch(/--robts/);
  });

  it('stops cleanly on SIGINT, closing its ground truth', async () => {
    const ptyDir = join(dir, 'sigint');
    const truthFile = join(dir, 'sigint-truth.jsonl');
    const run = sim(['--pty-dir', ptyDir, '--speed', '10', '--ground-truth', truthFile]);
    await waitForFile(join(ptyDir, 'robots.json'), 30_000);
    const agent = await TestAgent.open(join(ptyDir, 'robot-1.agent'));
    await agent.waitFor(() => agent.samples.length >= 20, 10_000, 'samples');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    await agent.close();
    const truth = await truthOf(truthFile);
    expect(truth.at(-1)?.type).toBe('run_end');
    expect(existsSync(join(ptyDir, 'robot-1.agent'))).toBe(false); // socat gone, links removed
  });
});
