/**
 * `npm run build:agent`: the deployable agent bundle, `dist/fleet-agent/` and
 * `dist/fleet-agent-<version>.tar.gz`:
 *
 *   fleet-agent.mjs        the agent and every pure-JS dependency, bundled by esbuild (one file)
 *   node_modules/          only @serialport/bindings-cpp and its runtime dependencies: it loads its
 *                          native binary from its own package's prebuilds/ (linux x64, arm64, arm),
 *                          so it cannot be bundled
 *   fleet-agent.service    systemd unit
 *   agent.example.json     configuration to start from
 *   install.sh             installs all of it on the robot (see the script)
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../../..');
const OUT = join(ROOT, 'dist/fleet-agent');
const NATIVE = '@serialport/bindings-cpp';

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Readonly<Record<string, string>>;
}

/** Where Node would find package `name` from directory `from`: the nearest node_modules/<name> upwards. */
function packageDir(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`cannot find package ${name} from ${from}`);
  }
}

/** A package and, transitively, its runtime dependencies, as installed in this workspace. */
function closure(name: string, from: string, seen = new Map<string, string>()): Map<string, string> {
  if (seen.has(name)) return seen;
  const dir = packageDir(name, from);
  seen.set(name, dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  for (const dep of Object.keys(pkg.dependencies ?? {})) closure(dep, dir, seen);
  return seen;
}

async function main(): Promise<void> {
  const agentPkg = JSON.parse(readFileSync(join(ROOT, 'apps/agent/package.json'), 'utf8')) as PackageJson;
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  await build({
    entryPoints: [join(ROOT, 'apps/agent/src/cli.ts')],
    outfile: join(OUT, 'fleet-agent.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@fleet/source'],
    external: [NATIVE],
    // Bundled CommonJS dependencies (mqtt.js's) call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __fleetCreateRequire } from 'node:module'; const require = __fleetCreateRequire(import.meta.url);",
    },
    legalComments: 'external',
    logLevel: 'warning',
  });

  for (const [name, dir] of closure(NATIVE, join(ROOT, 'apps/agent'))) {
    cpSync(dir, join(OUT, 'node_modules', name), {
      recursive: true,
      dereference: true,
      filter: (src) => !/[/\\](test|docs|\.github)$/.test(src),
    });
  }
  for (const file of ['fleet-agent.service', 'agent.example.json', 'install.sh']) {
    cpSync(join(HERE, file), join(OUT, file));
  }
  const tarball = join(ROOT, `dist/fleet-agent-${agentPkg.version}.tar.gz`);
  execFileSync('tar', ['-czf', tarball, '-C', join(ROOT, 'dist'), 'fleet-agent']);
  console.log(`built ${OUT}\npacked ${tarball}`);
}

main().catch((error: unknown) => {
  console.error(`build:agent failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
