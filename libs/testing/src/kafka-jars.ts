import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The Apache Kafka release the harness runs. Why this one: docs/decisions/0003-kafka-broker.md.
 * In short: the newest 4.x line that both candidate clients have been run against (kafkajs 2.2.4
 * negotiates versions KIP-896 kept; @platformatic/kafka 1.35 is tested up to 4.1), KRaft only.
 */
export const DEFAULT_KAFKA_VERSION = '4.1.2';

/** SLF4J binding per logging backend: Kafka 3.x logs through reload4j, 4.x through Log4j 2. */
const LOG4J2_VERSION = '2.25.3';
const SLF4J_VERSION = '1.7.36';

/** Pinned so that a resolution is reproducible whatever Maven's super-POM default is. */
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1';

const MARKER = 'complete.json';

export interface KafkaJars {
  readonly version: string;
  /** Directory holding every jar of the broker's runtime class path (flat). */
  readonly libDir: string;
  /** `java -cp` value: the libDir wildcard. */
  readonly classpath: string;
  /** Which logging backend the jars carry, so the harness writes the matching config. */
  readonly logging: 'log4j2' | 'reload4j';
  /** True when this call ran Maven; false when the cache was already complete. */
  readonly resolved: boolean;
}

export interface EnsureKafkaJarsOptions {
  readonly version?: string;
  /**
   * Where the jars go. Default: `${XDG_CACHE_HOME:-$HOME/.cache}/fleet-telemetry/kafka-<version>/`,
   * outside the repository so a clean checkout or `git clean` does not throw away ~100 MB.
   */
  readonly cacheDir?: string;
  /** Maven executable. Default `mvn` from PATH. */
  readonly mvn?: string;
}

/** The cache root (`$XDG_CACHE_HOME/fleet-telemetry` or `~/.cache/fleet-telemetry`). */
export function fleetCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  const base = xdg !== undefined && xdg !== '' ? xdg : join(env['HOME'] ?? homedir(), '.cache');
  return join(base, 'fleet-telemetry');
}

export function defaultKafkaCacheDir(version: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(fleetCacheRoot(env), `kafka-${version}`);
}

function loggingFor(version: string): KafkaJars['logging'] {
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  if (!Number.isInteger(major)) throw new Error(`Not a Kafka version: ${JSON.stringify(version)}`);
  return major >= 4 ? 'log4j2' : 'reload4j';
}

/**
 * A pom whose only purpose is its dependency list: the broker (`kafka_2.13` carries `kafka.Kafka`
 * and `kafka.tools.StorageTool`) and the SLF4J binding the distribution tarball adds but the pom
 * does not declare (without it the broker runs but logs nothing).
 */
function pomFor(version: string): string {
  const binding =
    loggingFor(version) === 'log4j2'
      ? dep('org.apache.logging.log4j', 'log4j-slf4j-impl', LOG4J2_VERSION)
      : dep('org.slf4j', 'slf4j-reload4j', SLF4J_VERSION);
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by libs/testing/src/kafka-jars.ts: resolves the Apache Kafka ${version} broker runtime. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.fleet-telemetry</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
${dep('org.apache.kafka', 'kafka_2.13', version)}
${binding}
  </dependencies>
</project>
`;
}

function dep(groupId: string, artifactId: string, version: string): string {
  return `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`;
}

interface Marker {
  readonly version: string;
  readonly jars: readonly string[];
  readonly resolvedAt: string;
}

async function readMarker(dir: string, version: string): Promise<Marker | undefined> {
  try {
    const marker = JSON.parse(await readFile(join(dir, MARKER), 'utf8')) as Marker;
    if (marker.version !== version || !Array.isArray(marker.jars) || marker.jars.length === 0)
      return undefined;
    return marker.jars.every((jar) => existsSync(join(dir, 'libs', jar))) ? marker : undefined;
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (error === null) resolve({ code: 0, output });
      else
        resolve({ code: typeof error.code === 'number' ? error.code : -1, output: output || error.message });
    });
  });
}

/**
 * Resolves the Kafka broker and its runtime dependencies from Maven Central into a cache outside the
 * repository, once: a marker file listing the jars makes later calls return at once.
 *
 * Concurrent callers (a test run and a benchmark) are safe: each resolves into its own staging
 * directory and the first rename wins.
 *
 * @example
 *   const jars = await ensureKafkaJars({ version: '4.1.2' });
 *   // java -cp `${jars.classpath}` kafka.Kafka server.properties
 */
export async function ensureKafkaJars(options: EnsureKafkaJarsOptions = {}): Promise<KafkaJars> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const dir = options.cacheDir ?? defaultKafkaCacheDir(version);
  const libDir = join(dir, 'libs');
  const result = (resolved: boolean): KafkaJars => ({
    version,
    libDir,
    classpath: join(libDir, '*'),
    logging: loggingFor(version),
    resolved,
  });
  if ((await readMarker(dir, version)) !== undefined) return result(false);

  await mkdir(dir, { recursive: true });
  const stamp = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const pom = join(dir, `pom-${stamp}.xml`);
  const staging = join(dir, `staging-${stamp}`);
  await writeFile(pom, pomFor(version));
  const args = [
    '-q',
    '-B',
    '-f',
    pom,
    `${DEPENDENCY_PLUGIN}:copy-dependencies`,
    `-DoutputDirectory=${staging}`,
    '-DincludeScope=runtime',
  ];
  const mvn = options.mvn ?? 'mvn';
  try {
    const { code, output } = await run(mvn, args, dir);
    if (code !== 0) {
      throw new Error(
        `Resolving Apache Kafka ${version} from Maven Central failed (exit ${code}).\n` +
          `Command: ${mvn} ${args.join(' ')}\n(in ${dir})\n--- mvn output ---\n${output.slice(-8000)}`,
      );
    }
    const jars = (await readdir(staging)).filter((f) => f.endsWith('.jar')).sort();
    if (!jars.some((j) => j.startsWith('kafka_2.13-'))) {
      throw new Error(
        `mvn finished but ${staging} holds no kafka_2.13 jar.\nCommand: ${mvn} ${args.join(' ')}\n${output}`,
      );
    }
    // Another process may have finished while Maven ran: never pull jars from under its broker.
    if ((await readMarker(dir, version)) !== undefined) return result(false);
    await rm(libDir, { recursive: true, force: true });
    try {
      await rename(staging, libDir);
    } catch (error) {
      // Another process completed first; its directory is as good as ours.
      if ((await readMarker(dir, version)) === undefined) throw error;
      return result(false);
    }
    const marker: Marker = { version, jars, resolvedAt: new Date().toISOString() };
    await writeFile(join(dir, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    await writeFile(join(dir, 'pom.xml'), pomFor(version));
    return result(true);
  } finally {
    await rm(pom, { force: true });
    await rm(staging, { recursive: true, force: true });
  }
}
