/**
 * `fleet-gateway` (in the repository: `npm run gateway -- <command>`):
 *
 *   run [--config FILE] [--workers N]            start the gateway (Ctrl-C / SIGTERM stops it cleanly);
 *                                                N > 1: N worker processes share the MQTT ports
 *   robots add ROBOT --site SITE [--secret S]    provision a robot; prints its secret once
 *   robots rotate ROBOT                          new secret (the old one stops within the auth cache TTL)
 *   robots revoke ROBOT                          refuse the robot from now on
 *   robots list [--site SITE]                    provisioned robots
 *
 * The robots commands need only the database (DATABASE_URL or databaseUrl in --config) and apply
 * the migrations first, so a fresh database works.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { createPool, migrate } from '@fleet/db';
import { ConfigError, loadConfig } from './config.js';
import { CredentialError, CredentialStore } from './auth/credentials.js';
import { startGateway } from './gateway.js';

const USAGE = `usage:
  fleet-gateway run [--config FILE] [--workers N]
  fleet-gateway robots add ROBOT --site SITE [--secret SECRET] [--config FILE]
  fleet-gateway robots rotate ROBOT [--config FILE]
  fleet-gateway robots revoke ROBOT [--config FILE]
  fleet-gateway robots list [--site SITE] [--config FILE]
configuration: see README.md "Gateway" (FLEET_GATEWAY_*, KAFKA_BROKERS, DATABASE_URL)`;

class UsageError extends Error {}

async function robots(
  args: readonly string[],
  configFile: string | undefined,
  site: string | undefined,
  secret: string | undefined,
): Promise<void> {
  const databaseUrl = process.env['DATABASE_URL'] || (configFile ? readDatabaseUrl(configFile) : undefined);
  if (!databaseUrl) throw new UsageError('robots commands need DATABASE_URL (or databaseUrl in --config)');
  const pool = createPool({ url: databaseUrl, max: 2, applicationName: 'fleet-gateway-cli' });
  try {
    await migrate(pool);
    const store = new CredentialStore(pool, { cacheTtlMs: 0 });
    const [verb, robotId] = args;
    switch (verb) {
      case 'add': {
        if (!robotId || !site) throw new UsageError('robots add needs ROBOT and --site SITE');
        const issued = await store.provision(robotId, site, secret);
        console.log(JSON.stringify({ robotId, siteId: site, username: robotId, secret: issued }));
        console.error(
          `robot ${robotId} provisioned; the secret above is shown once: put it in the agent's password file`,
        );
        return;
      }
      case 'rotate': {
        if (!robotId) throw new UsageError('robots rotate needs ROBOT');
        console.log(JSON.stringify({ robotId, secret: await store.rotate(robotId, secret) }));
        return;
      }
      case 'revoke':
        if (!robotId) throw new UsageError('robots revoke needs ROBOT');
        await store.revoke(robotId);
        console.error(`robot ${robotId} revoked`);
        return;
      case 'list':
        for (const r of await store.list(site)) {
          console.log(
            `${r.siteId}\t${r.robotId}\t${r.createdAt.toISOString()}\t${r.revokedAt ? `revoked ${r.revokedAt.toISOString()}` : 'active'}`,
          );
        }
        return;
      default:
        throw new UsageError(`unknown robots command ${JSON.stringify(verb ?? '')}`);
    }
  } finally {
    await pool.end();
  }
}

function readDatabaseUrl(file: string): string | undefined {
  try {
    return loadConfig({
      file,
      env: { ...process.env, KAFKA_BROKERS: process.env['KAFKA_BROKERS'] || 'unused:9092' },
    }).databaseUrl;
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * `--workers N`: the primary forks N workers (node:cluster) that share the listening MQTT ports, each
 * a complete gateway instance named `<gatewayId>-w<i>` with its own presence, command offsets and
 * operations port (`http.port + i` when a fixed port is configured). A process may hold only as
 * many sockets as its open-file limit allows (`ulimit -n`; 20,000 on the development machines), so
 * workers are how one host holds 100,000 robot connections. A worker that dies is replaced.
 */
async function runPrimary(workers: number): Promise<void> {
  let stopping = false;
  const ready = new Set<number>();
  const fork = (index: number): void => {
    const worker = cluster.fork({ FLEET_GATEWAY_WORKER: String(index) });
    worker.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { ready?: boolean }).ready) {
        ready.add(index);
        if (ready.size === workers)
          console.log(JSON.stringify({ ready: true, workers, ...(message as object) }));
      }
    });
    worker.on('exit', (code, signal) => {
      if (stopping) return;
      console.error(`fleet-gateway: worker ${index} exited (${signal ?? code}); starting a new one`);
      ready.delete(index);
      fork(index);
    });
  };
  for (let i = 0; i < workers; i++) fork(i);
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    let left = Object.keys(cluster.workers ?? {}).length;
    if (left === 0) process.exit(0);
    cluster.on('exit', () => {
      if (--left === 0) process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function run(configFile: string | undefined): Promise<void> {
  let config = loadConfig(configFile === undefined ? {} : { file: configFile });
  const worker = process.env['FLEET_GATEWAY_WORKER'];
  if (cluster.isWorker && worker !== undefined) {
    const index = Number(worker);
    const http =
      config.http && config.http.port !== 0
        ? { ...config.http, port: config.http.port + index }
        : config.http;
    config = { ...config, gatewayId: `${config.gatewayId}-w${index}`.slice(0, 64), http };
  }
  const gateway = await startGateway(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    gateway.logger.info({ signal }, 'stopping');
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const where = { mqtt: gateway.mqtt.addresses, http: gateway.httpPort };
  if (cluster.isWorker) process.send?.({ ready: true, ...where });
  // One line on stdout for scripts and tests: where to connect.
  else console.log(JSON.stringify({ ready: true, ...where }));
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      workers: { type: 'string' },
      site: { type: 'string' },
      secret: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  try {
    if (values.help || command === undefined) {
      console.log(USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    if (command === 'run') {
      const workers = values.workers === undefined ? 1 : Number(values.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 64)
        throw new UsageError('--workers must be 1..64');
      if (workers > 1 && cluster.isPrimary) await runPrimary(workers);
      else await run(values.config);
      return -1; // keep running
    }
    if (command === 'robots') {
      await robots(rest, values.config, values.site, values.secret);
      return 0;
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`fleet-gateway: ${error.message}\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError || error instanceof CredentialError || error instanceof RangeError) {
      console.error(`fleet-gateway: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
