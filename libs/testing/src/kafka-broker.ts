import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_KAFKA_VERSION, ensureKafkaJars, type KafkaJars } from './kafka-jars.js';
import { probeKafka } from './kafka-probe.js';

const HOST = '127.0.0.1';
const NODE_ID = 1;

export interface StartKafkaBrokerOptions {
  /** Apache Kafka release; default {@link DEFAULT_KAFKA_VERSION}. */
  readonly version?: string;
  /**
   * Broker state (log segments, KRaft metadata log, broker.log). Default: a fresh temporary
   * directory that `stop()` deletes. A given directory is kept, and reused if already formatted.
   */
  readonly dataDir?: string;
  /** `num.partitions` (default for topics created without a count). Default 8. */
  readonly partitions?: number;
  /** JVM heap (-Xms and -Xmx) in MiB. Default 512. */
  readonly heapMb?: number;
  /** Jar cache directory; default see `ensureKafkaJars`. */
  readonly cacheDir?: string;
  /** How long to wait for the first successful metadata round trip. Default 90 s. */
  readonly startTimeoutMs?: number;
  /**
   * `false` (default): the broker belongs to this process; it is killed when this process exits,
   * even by SIGKILL (a watchdog process notices the parent is gone).
   * `true`: the broker outlives this process (local development); stop it by pid.
   */
  readonly detached?: boolean;
  /** Fixed PLAINTEXT port; default a free ephemeral port. */
  readonly port?: number;
  /** Extra or overriding `server.properties` entries. */
  readonly serverProperties?: Readonly<Record<string, string>>;
  /** `java` executable; default `java` from PATH. */
  readonly java?: string;
  /** Maven executable for jar resolution; default `mvn`. */
  readonly mvn?: string;
}

export interface KafkaBroker {
  /** Bootstrap list for clients, e.g. `127.0.0.1:41234`. */
  readonly brokers: string;
  readonly pid: number;
  readonly dataDir: string;
  readonly version: string;
  /** The broker's own log (log4j, WARN and above plus the start line). */
  readonly logFile: string;
  /** Wall-clock milliseconds spent: resolving jars (0 when cached), formatting storage, starting. */
  readonly timings: { readonly jarsMs: number; readonly formatMs: number; readonly startMs: number };
  /** SIGTERM, wait for a clean shutdown, SIGKILL after the timeout; deletes a temporary dataDir. */
  stop(): Promise<void>;
}

/** Thrown when the broker cannot be formatted or started; the message carries the log tail. */
export class KafkaBrokerStartError extends Error {
  override readonly name = 'KafkaBrokerStartError';
}

/** A port the kernel just handed out for 127.0.0.1, released again for the broker to bind. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/**
 * A KRaft cluster id as `kafka-storage random-uuid` makes it: 16 random bytes in URL-safe base64
 * without padding, never starting with '-' (Kafka's Uuid.randomUuid rejects those, as they read
 * like a command-line flag).
 */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * The broker settings that shape behaviour (not ports or paths). docker-compose.yml sets the same
 * values, and test/compose.test.ts holds the two together.
 */
export const BROKER_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  // Topics are created explicitly, with the shared partition count; a typo must not create one.
  'auto.create.topics.enable': 'false',
  // A single broker: every internal topic has replication factor 1.
  'default.replication.factor': '1',
  'min.insync.replicas': '1',
  'offsets.topic.replication.factor': '1',
  'offsets.topic.num.partitions': '8',
  'transaction.state.log.replication.factor': '1',
  'transaction.state.log.min.isr': '1',
  'transaction.state.log.num.partitions': '4',
  // Tests join and leave groups constantly; the 3 s default delay would stall every join.
  'group.initial.rebalance.delay.ms': '0',
  // Stream instances are members of a KIP-848 consumer group whose own session timeout (the
  // group config `consumer.session.timeout.ms`, from --session-timeout-ms) decides failover time;
  // Kafka's default floor of 45 s would make a dead instance's partitions wait that long.
  'group.consumer.min.session.timeout.ms': '1000',
  'group.consumer.session.timeout.ms': '10000',
  'group.consumer.min.heartbeat.interval.ms': '100',
  'group.consumer.heartbeat.interval.ms': '1000',
});

function serverProperties(
  version: string,
  dataDir: string,
  port: number,
  controllerPort: number,
  partitions: number,
  overrides: Readonly<Record<string, string>>,
): string {
  const major = Number.parseInt(version, 10);
  const props: Record<string, string> = {
    // One process is both the KRaft controller (metadata quorum of one) and the broker.
    'process.roles': 'broker,controller',
    'node.id': String(NODE_ID),
    'controller.quorum.voters': `${NODE_ID}@${HOST}:${controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(dataDir, 'logs'),
    'num.partitions': String(partitions),
    ...BROKER_SETTINGS,
    // Tuning for a 2-core test machine, not semantics.
    'num.network.threads': '2',
    'num.io.threads': '4',
    'log.retention.hours': '24',
    ...(major >= 4
      ? {
          'share.coordinator.state.topic.replication.factor': '1',
          'share.coordinator.state.topic.min.isr': '1',
        }
      : {}),
    ...overrides,
  };
  return `${Object.entries(props)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\n`;
}

/** Quiet logging into one file: WARN and above, plus the "Kafka Server started" line. */
async function writeLogConfig(jars: KafkaJars, configDir: string, logFile: string): Promise<string[]> {
  if (jars.logging === 'log4j2') {
    const file = join(configDir, 'log4j2.properties');
    await writeFile(
      file,
      [
        'status = warn',
        'appender.file.type = File',
        'appender.file.name = FILE',
        `appender.file.fileName = ${logFile}`,
        'appender.file.layout.type = PatternLayout',
        'appender.file.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = warn',
        'rootLogger.appenderRef.file.ref = FILE',
        'logger.started.name = kafka.server.KafkaRaftServer',
        'logger.started.level = info',
        '',
      ].join('\n'),
    );
    return [`-Dlog4j2.configurationFile=${file}`];
  }
  const file = join(configDir, 'log4j.properties');
  await writeFile(
    file,
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${logFile}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      '',
    ].join('\n'),
  );
  return [`-Dlog4j.configuration=file:${file}`];
}

function tail(file: string, lines = 60): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

function runTool(cmd: string, args: readonly string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}`.trim() || (error?.message ?? '') });
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `pid` is a running Kafka broker JVM (guards against killing a recycled pid). */
export function isKafkaBrokerProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('kafka.Kafka');
  } catch {
    return isAlive(pid);
  }
}

async function waitExit(pid: number, child: ChildProcess | undefined, timeoutMs: number): Promise<boolean> {
  const exited = (): boolean =>
    child !== undefined ? child.exitCode !== null || child.signalCode !== null : !isAlive(pid);
  const deadline = Date.now() + timeoutMs;
  while (!exited()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Stops a broker by pid (also one started detached by another process): SIGTERM lets Kafka shut
 * down cleanly (flushes logs, so a restart needs no recovery); SIGKILL after `timeoutMs`.
 */
export async function stopKafkaBrokerProcess(
  pid: number,
  options: { readonly timeoutMs?: number; readonly child?: ChildProcess } = {},
): Promise<void> {
  const { timeoutMs = 15_000, child } = options;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  if (child === undefined && !isKafkaBrokerProcess(pid)) return;
  signal('SIGTERM');
  if (await waitExit(pid, child, timeoutMs)) return;
  signal('SIGKILL');
  await waitExit(pid, child, 5_000);
}

/**
 * A small separate process that kills the broker (and deletes its temporary data directory) if
 * this process dies without running its exit handlers (SIGKILL, an unhandled signal, a crash of
 * the test runner).
 */
function spawnWatchdog(brokerPid: number, removeDir: string | undefined): ChildProcess {
  const script = `
    const [parent, broker] = process.argv.slice(1, 3).map(Number);
    const removeDir = process.argv[3];
    const cleanup = () => { if (removeDir) { try { require('node:fs').rmSync(removeDir, { recursive: true, force: true }); } catch {} } };
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
    const kill = (sig) => { try { process.kill(broker, sig); } catch {} };
    const timer = setInterval(() => {
      if (!alive(broker)) process.exit(0);
      if (!alive(parent)) {
        clearInterval(timer);
        kill('SIGTERM');
        const deadline = Date.now() + 5000;
        const wait = setInterval(() => {
          if (alive(broker) && Date.now() < deadline) return;
          clearInterval(wait);
          kill('SIGKILL');
          setTimeout(() => { cleanup(); process.exit(0); }, 200);
        }, 100);
      }
    }, 500);`;
  const args = [String(process.pid), String(brokerPid), ...(removeDir !== undefined ? [removeDir] : [])];
  const watchdog = spawn(process.execPath, ['-e', script, ...args], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return watchdog;
}

/**
 * Starts one Apache Kafka broker in KRaft mode (combined broker + controller) on 127.0.0.1, from
 * jars resolved with Maven into the cache, and resolves once it answers a metadata request.
 *
 * @example
 *   const broker = await startKafkaBroker();
 *   try {
 *     // new Kafka client with bootstrap broker.brokers ...
 *   } finally {
 *     await broker.stop();
 *   }
 */
export async function startKafkaBroker(options: StartKafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const startTimeoutMs = options.startTimeoutMs ?? 90_000;
  const java = options.java ?? 'java';
  const heapMb = options.heapMb ?? 512;

  const t0 = Date.now();
  const jars = await ensureKafkaJars({
    version,
    ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
    ...(options.mvn !== undefined ? { mvn: options.mvn } : {}),
  });
  const jarsMs = jars.resolved ? Date.now() - t0 : 0;

  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'fleet-kafka-')));
  await mkdir(dataDir, { recursive: true });
  const configDir = join(dataDir, 'config');
  await mkdir(configDir, { recursive: true });
  const logFile = join(dataDir, 'broker.log');
  const outFile = join(dataDir, 'broker.out');
  const logArgs = await writeLogConfig(jars, configDir, logFile);
  const propsFile = join(configDir, 'server.properties');

  const cleanup = async (): Promise<void> => {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    let formatMs = 0;
    // Bind races (another process takes a port between freePort() and the JVM's bind) are retried.
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      let controllerPort = await freePort();
      while (controllerPort === port) controllerPort = await freePort();
      await writeFile(
        propsFile,
        serverProperties(
          version,
          dataDir,
          port,
          controllerPort,
          options.partitions ?? 8,
          options.serverProperties ?? {},
        ),
      );

      if (!existsSync(join(dataDir, 'logs', 'meta.properties'))) {
        const tf = Date.now();
        const args = ['-Xmx256m', ...logArgs, '-cp', jars.classpath, 'kafka.tools.StorageTool', 'format'];
        const formatted = await runTool(java, [...args, '-t', randomClusterId(), '-c', propsFile]);
        formatMs = Date.now() - tf;
        if (!formatted.ok) {
          throw new KafkaBrokerStartError(
            `Formatting KRaft storage failed.\nCommand: ${java} ${args.join(' ')} -t <id> -c ${propsFile}\n${formatted.output}`,
          );
        }
      }

      const ts = Date.now();
      const out = openSync(outFile, 'a');
      const jvm = [
        `-Xms${heapMb}m`,
        `-Xmx${heapMb}m`,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        ...logArgs,
        '-cp',
        jars.classpath,
        'kafka.Kafka',
        propsFile,
      ];
      const detached = options.detached === true;
      const child = spawn(java, jvm, { detached, stdio: ['ignore', out, out] });
      closeSync(out);
      const pid = child.pid;
      if (pid === undefined) {
        throw new KafkaBrokerStartError(`Could not spawn ${java}: ${tail(outFile)}`);
      }
      child.on('error', () => undefined);

      const killOnExit = (): void => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      let watchdog: ChildProcess | undefined;
      if (detached) child.unref();
      else {
        process.on('exit', killOnExit);
        watchdog = spawnWatchdog(pid, ownsDataDir ? dataDir : undefined);
      }
      const release = (): void => {
        process.off('exit', killOnExit);
        if (watchdog?.pid !== undefined && isAlive(watchdog.pid)) watchdog.kill();
      };

      const brokers = `${HOST}:${port}`;
      let lastError = 'not probed yet';
      let ready = false;
      while (Date.now() - ts < startTimeoutMs) {
        if (child.exitCode !== null || child.signalCode !== null) break;
        try {
          await probeKafka(HOST, port, 2000);
          ready = true;
          break;
        } catch (error) {
          lastError = (error as Error).message;
          await sleep(200);
        }
      }
      if (!ready) {
        const exited = child.exitCode !== null || child.signalCode !== null;
        await stopKafkaBrokerProcess(pid, { child, timeoutMs: 5_000 });
        release();
        const log = `--- ${logFile} (tail) ---\n${tail(logFile)}\n--- ${outFile} (tail) ---\n${tail(outFile)}`;
        if (
          exited &&
          /Address already in use|BindException/.test(log) &&
          options.port === undefined &&
          attempt < 3
        ) {
          continue;
        }
        throw new KafkaBrokerStartError(
          exited
            ? `Kafka ${version} exited during start-up (code ${child.exitCode ?? child.signalCode}).\n${log}`
            : `Kafka ${version} did not answer a metadata request on ${brokers} within ${startTimeoutMs} ms (last probe: ${lastError}).\n${log}`,
        );
      }

      const startMs = Date.now() - ts;
      let stopped: Promise<void> | undefined;
      return {
        brokers,
        pid,
        dataDir,
        version,
        logFile,
        timings: { jarsMs, formatMs, startMs },
        stop: () =>
          (stopped ??= (async () => {
            await stopKafkaBrokerProcess(pid, detached ? {} : { child });
            release();
            await cleanup();
          })()),
      };
    }
  } catch (error) {
    await cleanup();
    throw error;
  }
}
