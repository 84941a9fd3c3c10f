/**
 * What `bench:ingest` points its load at:
 *  - the gateway as it is deployed: `fleet-gateway run --workers N` (node:cluster workers sharing the
 *    MQTT port), started from source like `npm run gateway`, configured through its environment;
 *  - Mosquitto (the Debian binary), as the peer figure: N independent instances on N ports, because
 *    one process may hold only 20,000 open files here and Mosquitto has no cluster mode. Mosquitto has
 *    no Kafka behind it: its PUBACK means "received", not "durable".
 *
 * (libs/edge-testing's startMosquitto is not used: it is tagged scope:edge, which cloud code may not
 * import, and it configures one instance without TCP_NODELAY.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { descendants } from './procfs.js';

export interface Target {
  readonly kind: 'gateway' | 'mosquitto';
  /** Listening sockets (gateway: one, shared by its workers; mosquitto: one per instance). */
  readonly listeners: number;
  /** Where the connections of generator `g` go (see GeneratorSetup.endpoints). */
  endpoints(g: number): { host: string; port: number }[];
  /** Processes of the target (gateway: primary and workers; mosquitto: every instance). */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

export interface GatewayWorkerMetrics {
  readonly worker: number;
  readonly connections: number;
  readonly samples: number;
  readonly backpressureWaits: number;
  readonly kafkaErrors: number;
  readonly authRefusals: number;
}

export interface GatewayTarget extends Target {
  readonly kind: 'gateway';
  readonly workers: number;
  /** Scrapes every worker's /metrics (Prometheus text). */
  metrics(): Promise<GatewayWorkerMetrics[]>;
}

/**
 * A port to listen on, below the ephemeral range (32768-60999 here): the bench opens 100k outgoing
 * connections, and a listening port taken from the ephemeral range may already be the local port of
 * one of them (bind fails with EADDRINUSE). `count` consecutive ports free on `host`.
 */
export async function freePort(host = '0.0.0.0', count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * (32_000 - 20_000 - count));
    let free = true;
    for (let port = first; port < first + count && free; port++) free = await canListen(host, port);
    if (free) return first;
  }
  throw new Error(`no ${count} free consecutive port(s) in 20000..32000 on ${host}`);
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function sum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

export interface GatewayOptions {
  readonly root: string;
  readonly workers: number;
  readonly kafkaBrokers: string;
  readonly databaseUrl: string;
  readonly partitions: number;
  /** The gateway's stderr (warnings and errors; it logs at warn) is copied here. */
  readonly stderrFile: string;
  /** Extra node flags for the gateway and its workers (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
}

export async function startGatewayProcess(options: GatewayOptions): Promise<GatewayTarget> {
  const mqttPort = await freePort('0.0.0.0');
  const httpBase = await freePort('0.0.0.0', options.workers);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLEET_GATEWAY_')) env[k] = v;
  Object.assign(env, {
    KAFKA_BROKERS: options.kafkaBrokers,
    DATABASE_URL: options.databaseUrl,
    FLEET_GATEWAY_ID: 'gw-bench',
    // The default, 0.0.0.0: connections arrive on several loopback addresses (see fleet.ts).
    FLEET_GATEWAY_MQTT_HOST: '0.0.0.0',
    FLEET_GATEWAY_MQTT_PORT: String(mqttPort),
    FLEET_GATEWAY_HTTP_PORT: String(httpBase),
    FLEET_GATEWAY_KAFKA_PARTITIONS: String(options.partitions),
    FLEET_GATEWAY_LOG_LEVEL: 'warn',
  });
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? []),
      '--conditions=@fleet/source',
      '--import',
      'tsx',
      'apps/gateway/src/cli.ts',
      'run',
      '--workers',
      String(options.workers),
    ],
    { cwd: options.root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let errTail = '';
  const stderrLog = createWriteStream(options.stderrFile);
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrLog.write(chunk);
    errTail = (errTail + chunk.toString()).slice(-6000);
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`gateway not ready within 180 s; stderr:\n${errTail}`)),
      180_000,
    );
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        if (line.startsWith('{') && line.includes('"ready":true')) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve();
          return;
        }
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${signal ?? code}) before it was ready; stderr:\n${errTail}`));
    });
  });
  child.stdout?.resume();
  const primary = child.pid as number;
  return {
    kind: 'gateway',
    listeners: 1,
    endpoints: (g) => [{ host: loopback(g), port: mqttPort }],
    workers: options.workers,
    async pids() {
      return [primary, ...(await descendants(primary)).map((p) => p.pid)];
    },
    async metrics() {
      return Promise.all(
        Array.from({ length: options.workers }, async (_, worker) => {
          const text = await fetch(`http://127.0.0.1:${httpBase + worker}/metrics`, {
            signal: AbortSignal.timeout(10_000),
          })
            .then((r) => r.text())
            .catch(() => '');
          return {
            worker,
            connections: sum(text, 'fleet_gateway_connections'),
            samples: sum(text, 'fleet_gateway_samples_total'),
            backpressureWaits: sum(text, 'fleet_gateway_backpressure_waits_total'),
            kafkaErrors: sum(text, 'fleet_gateway_kafka_errors_total'),
            authRefusals: sum(text, 'fleet_gateway_auth_refusals_total'),
          };
        }),
      );
    },
    async stop() {
      const workers = (await descendants(primary)).map((p) => p.pid);
      child.kill('SIGTERM');
      if (!(await waitExit(child, 30_000))) child.kill('SIGKILL');
      for (const pid of workers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      stderrLog.end();
      if (errTail.trim() !== '')
        console.error(`[bench:ingest] the gateway wrote to stderr; all of it is in ${options.stderrFile}`);
    },
  };
}

/** 127.0.0.2, 127.0.0.3, ...: every 127/8 address is this host. */
export function loopback(i: number): string {
  return `127.0.0.${2 + i}`;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startMosquittoInstances(count: number): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-mosquitto-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  if (count > 250) throw new Error('at most 250 Mosquitto instances (127.0.0.2..)');
  const stop = async (): Promise<void> => {
    for (const child of children) child.kill('SIGTERM');
    for (const child of children) if (!(await waitExit(child, 10_000))) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const host = loopback(i);
      const port = await freePort(host);
      const config = join(dir, `mosquitto-${i}.conf`);
      const lines = [
        `listener ${port} ${host}`,
        'allow_anonymous true',
        'persistence false',
        // Without it, Nagle's algorithm holds back the small PUBACKs: Mosquitto's best figure needs it.
        'set_tcp_nodelay true',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
      ];
      // As root, mosquitto 2 drops to the `mosquitto` user, which cannot read the temporary directory.
      if (process.getuid?.() === 0) lines.push('user root');
      await writeFile(config, `${lines.join('\n')}\n`);
      const child = spawn('/usr/sbin/mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      ports.push(port);
      const deadline = Date.now() + 10_000;
      while (!(await accepts(host, port))) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`mosquitto on port ${port} did not start`);
        await sleep(20);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    kind: 'mosquitto',
    listeners: count,
    endpoints: () => ports.map((port, i) => ({ host: loopback(i), port })),
    async pids() {
      return children.map((c) => c.pid as number);
    },
    stop,
  };
}
