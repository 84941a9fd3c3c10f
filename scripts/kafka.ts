/**
 * A Kafka broker for local development and for commands that need one.
 *
 *   npx tsx scripts/kafka.ts start     # background broker (KRaft, 127.0.0.1); prints KAFKA_BROKERS=...
 *   npx tsx scripts/kafka.ts status
 *   npx tsx scripts/kafka.ts stop
 *   npx tsx scripts/kafka.ts exec -- <command...>
 *       runs the command with KAFKA_BROKERS (and KAFKA_VERSION) set: uses KAFKA_BROKERS if already
 *       set, otherwise starts a throw-away broker for the command and stops it afterwards.
 *
 * The background broker keeps its data in .data/kafka/ (kept across restarts; delete the folder
 * for a fresh cluster) and its pid and address in .data/kafka/state.json. Jars come from Maven
 * Central into ~/.cache/fleet-telemetry/ on first use. Environment: KAFKA_VERSION, KAFKA_PORT.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_KAFKA_VERSION,
  isKafkaBrokerProcess,
  probeKafka,
  startKafkaBroker,
  stopKafkaBrokerProcess,
} from '@fleet/testing';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const home = join(root, '.data', 'kafka');
const stateFile = join(home, 'state.json');

interface State {
  readonly pid: number;
  readonly brokers: string;
  readonly version: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly startedAt: string;
}

async function readState(): Promise<State | undefined> {
  try {
    return JSON.parse(await readFile(stateFile, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

async function running(): Promise<State | undefined> {
  const state = await readState();
  return state !== undefined && isKafkaBrokerProcess(state.pid) ? state : undefined;
}

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

async function start(): Promise<number> {
  const current = await running();
  if (current !== undefined) {
    console.error(`Kafka ${current.version} already running (pid ${current.pid}).`);
    console.log(`KAFKA_BROKERS=${current.brokers}`);
    return 0;
  }
  await mkdir(home, { recursive: true });
  const version = env('KAFKA_VERSION') ?? DEFAULT_KAFKA_VERSION;
  const port = env('KAFKA_PORT');
  console.error(`Starting Kafka ${version} (first use resolves the jars from Maven Central)...`);
  const broker = await startKafkaBroker({
    version,
    dataDir: join(home, 'data'),
    detached: true,
    ...(port !== undefined ? { port: Number(port) } : {}),
  });
  const state: State = {
    pid: broker.pid,
    brokers: broker.brokers,
    version: broker.version,
    dataDir: broker.dataDir,
    logFile: broker.logFile,
    startedAt: new Date().toISOString(),
  };
  await writeFile(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  const t = broker.timings;
  console.error(
    `Kafka ${version} running, pid ${broker.pid} (jars ${t.jarsMs} ms, format ${t.formatMs} ms, start ${t.startMs} ms).\n` +
      `Log: ${broker.logFile}\nStop with: npm run kafka:stop`,
  );
  console.log(`KAFKA_BROKERS=${broker.brokers}`);
  return 0;
}

async function stop(): Promise<number> {
  const state = await readState();
  if (state === undefined) {
    console.error('No Kafka broker state in .data/kafka/; nothing to stop.');
    return 0;
  }
  if (isKafkaBrokerProcess(state.pid)) {
    await stopKafkaBrokerProcess(state.pid);
    console.error(`Stopped Kafka (pid ${state.pid}).`);
  } else {
    console.error(`Kafka (pid ${state.pid}) was not running.`);
  }
  await rm(stateFile, { force: true });
  return 0;
}

async function status(): Promise<number> {
  const state = await running();
  if (state === undefined) {
    console.error('Kafka is not running. Start it with: npm run kafka:start');
    return 1;
  }
  const [host = '', port = ''] = state.brokers.split(':');
  try {
    const probe = await probeKafka(host, Number(port), 5000);
    console.error(
      `Kafka ${state.version} running, pid ${state.pid}, cluster ${probe.clusterId ?? '?'}; log ${state.logFile}`,
    );
    console.log(`KAFKA_BROKERS=${state.brokers}`);
    return 0;
  } catch (error) {
    console.error(`Kafka process ${state.pid} is up but does not answer: ${(error as Error).message}`);
    return 1;
  }
}

async function exec(command: readonly string[]): Promise<number> {
  const [cmd, ...args] = command;
  if (cmd === undefined) {
    console.error('usage: kafka.ts exec -- <command...>');
    return 2;
  }
  const external = env('KAFKA_BROKERS');
  const broker =
    external === undefined
      ? await startKafkaBroker({ version: env('KAFKA_VERSION') ?? DEFAULT_KAFKA_VERSION })
      : undefined;
  if (broker !== undefined)
    console.error(`[kafka] Kafka ${broker.version} on ${broker.brokers} for this command`);
  try {
    const child = spawn(cmd, args, {
      stdio: 'inherit',
      env: {
        ...process.env,
        KAFKA_BROKERS: external ?? broker?.brokers ?? '',
        KAFKA_VERSION: broker?.version ?? env('KAFKA_VERSION') ?? 'external',
      },
    });
    return await new Promise<number>((resolveCode, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolveCode(code ?? (signal !== null ? 1 : 0)));
    });
  } finally {
    await broker?.stop();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start();
    case 'stop':
      return stop();
    case 'status':
      return status();
    case 'exec':
      return exec(rest[0] === '--' ? rest.slice(1) : rest);
    default:
      console.error('usage: kafka.ts start | stop | status | exec -- <command...>');
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
