/**
 * firmware-sim: simulated robot firmware on serial lines, for developers and tests.
 *
 *   npm run sim -- --robots 3 --pty-dir /tmp/fleet --speed 60 --duration 2h --ground-truth truth.jsonl
 *
 * Prints one line per robot (robot id, the device its agent should open) on stdout, then runs until
 * --duration of simulated time has passed or it is interrupted (SIGINT/SIGTERM), and prints line
 * counters on stderr. Exit codes: 0 done, 1 a serial line failed, 2 bad arguments.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCli, USAGE, type SimConfig } from './config.js';
import { configError, errorMessage, SimError, SimErrorCode } from './errors.js';
import { Fleet } from './fleet.js';
import { discardGroundTruth, JsonLinesGroundTruth } from './ground-truth.js';
import { openLines } from './lines.js';
import { runFleet } from './runner.js';
import type { SerialLinkStats } from './serial-link.js';

function defaultSitePath(): string {
  // src/cli.ts under tsx, dist/src/cli.js when built.
  const candidates = ['../sites/default.json', '../../sites/default.json'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

export async function main(argv: readonly string[]): Promise<number> {
  let config: SimConfig;
  try {
    const request = parseCli(argv, {
      readFile: (path) => readFileSync(path, 'utf8'),
      now: () => Date.now(),
      defaultSitePath: defaultSitePath(),
    });
    if (request.kind === 'help') {
      console.log(USAGE);
      return 0;
    }
    config = request.config;
  } catch (e) {
    if (e instanceof SimError && e.code === SimErrorCode.CONFIG) {
      console.error(`firmware-sim: ${e.message}\n(firmware-sim --help lists the options)`);
      return 2;
    }
    throw e;
  }
  return run(config);
}

async function run(config: SimConfig): Promise<number> {
  let lines;
  try {
    lines = await openLines(config);
  } catch (e) {
    const argument = config.transport.kind === 'pty' ? '--pty-dir' : '--device';
    console.error(`firmware-sim: ${configError(argument, errorMessage(e)).message}`);
    return 2;
  }
  const groundTruth =
    config.groundTruthPath === undefined ? undefined : new JsonLinesGroundTruth(config.groundTruthPath);
  const fleet = new Fleet({
    seed: config.seed,
    site: config.site,
    robotIds: config.robotIds,
    startTime: config.startTime,
    sampleHz: config.sampleHz,
    ackLatency: config.ackLatency,
    faults: config.faults,
    output: (i) => lines.links[i]!,
    groundTruth: groundTruth ?? discardGroundTruth,
    ...(config.autoCleanEveryMs === undefined ? {} : { autoCleanEveryMs: config.autoCleanEveryMs }),
    agentDevice: (i) => lines.agentDevices[i],
  });
  const stop = new AbortController();
  let failure: SimError | undefined;
  lines.links.forEach((link, i) =>
    link.listen(
      (frame) => fleet.deliver(i, frame),
      (error) => {
        failure ??= error;
        stop.abort();
      },
    ),
  );
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  config.robotIds.forEach((id, i) => console.log(`${id}\t${lines.agentDevices[i]}`));
  console.error(
    `firmware-sim: ${config.robotIds.length} robot(s) on site ${config.site.siteId}, seed ${config.seed}, ` +
      `speed ${config.speed}, ${config.sampleHz} Hz, start ${new Date(config.startTime).toISOString()}` +
      (config.durationMs === undefined
        ? ', until interrupted'
        : `, for ${config.durationMs / 1000} s simulated`),
  );
  try {
    await runFleet(fleet, {
      speed: config.speed,
      signal: stop.signal,
      lines: lines.links,
      ...(config.durationMs === undefined ? {} : { endTime: config.startTime + config.durationMs }),
    });
  } finally {
    fleet.finish();
    await groundTruth?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    printStats(lines.links.map((l) => l.stats));
    await lines.close();
  }
  if (failure !== undefined) {
    console.error(`firmware-sim: ${failure.message}`);
    return 1;
  }
  return 0;
}

function printStats(stats: readonly SerialLinkStats[]): void {
  const sum = (f: (s: SerialLinkStats) => number) => stats.reduce((n, s) => n + f(s), 0);
  console.error(
    `firmware-sim: frames out ${sum((s) => s.framesOut)} (${sum((s) => s.bytesOut)} bytes), ` +
      `dropped (tx full) ${sum((s) => s.framesDropped)}, commands in ${sum((s) => s.commandsIn)}, ` +
      `resumes in ${sum((s) => s.resumesIn)}, ` +
      `corrupt frames in ${sum((s) => s.framesCorrupt)}, unexpected frames in ${sum((s) => s.unexpectedFrames)}`,
  );
  if (stats.length <= 10) {
    for (const s of stats)
      console.error(
        `  ${s.path}: out ${s.framesOut}, dropped ${s.framesDropped}, commands ${s.commandsIn}, ` +
          `resumes ${s.resumesIn}, corrupt ${s.framesCorrupt}`,
      );
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(`firmware-sim: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exitCode = 1;
    },
  );
}
