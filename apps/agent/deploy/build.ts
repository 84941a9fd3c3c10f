/**
 * `npm run build:agent`: the deployable agent bundle, `dist/fleet-agent/` and
 * `dist/fleet-agent-<version>.tar.gz`:
 *
 *   fleet-agent.cjs        the agent and every pure-JS dependency, bundled by esbuild (one file)
 *   fleet-agent            the launcher: runs it with the Node flags it is measured with
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
import { build, type Plugin } from 'esbuild';

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

/**
 * What the agent loads of mqtt.js and serialport: only what it uses, so that neither these modules
 * nor the Node built-ins they pull in sit in the agent's memory for months. Each replacement is
 * measured with `npm run bench:agent` (docs/decisions/0007-agent-memory.md); a dependency upgrade
 * that moves these files fails the build (each replacement must have been used).
 *
 * mqtt.js, on its first `connect()`, requires the stream builder of every protocol it knows,
 * whichever the URL asks for. The agent's configuration accepts only mqtt:// and mqtts:// without
 * a proxy, so three are replaced by modules that fail loudly if ever reached, and one is deferred:
 *
 * - `connect/ws.js` pulls in the `ws` package, and with it Node's http, https, zlib and crypto;
 * - `connect/socks.js` (the `socksProxy` option) pulls in `socks`, `ip-address`, `smart-buffer`,
 *   Node's dns and assert;
 * - `worker-timers` serves browsers only (get-timer.js picks native timers under Node);
 * - `connect/tls.js` (Node's tls, and OpenSSL's contexts) is loaded on the first mqtts:// connect
 *   instead of at the first connect of any kind.
 *
 * serialport's `@serialport/bindings-cpp` is bundled like the rest, but for the file that loads
 * its native binary (`dist/serialport-bindings.js` finds it relative to its own directory, so it
 * stays a file in node_modules/, required at run time), and `dist/linux-list.js` (port listing,
 * which the agent never does) is replaced: it pulls in Node's child_process (and dgram) at load.
 */
interface Replacement {
  readonly filter: RegExp;
  /** The file whose import is replaced. */
  readonly importer: RegExp;
  /** A module in place of the import; or `external`: left to require() at run time. */
  readonly contents?: string;
  readonly external?: string;
}

const mqttFile = (path: string) => new RegExp(`[/\\\\]mqtt[/\\\\]build[/\\\\]lib[/\\\\]${path}$`);
const bindingsFile = (path: string) =>
  new RegExp(`[/\\\\]@serialport[/\\\\]bindings-cpp[/\\\\]dist[/\\\\]${path}$`);

const REPLACEMENTS: readonly Replacement[] = [
  {
    filter: /^\.\/ws$/,
    importer: mqttFile('connect[/\\\\]index\\.js'),
    contents:
      "const no = () => { throw new Error('fleet-agent: MQTT over WebSocket is not built in (use mqtt:// or mqtts://)'); };\n" +
      'module.exports = { streamBuilder: no, browserStreamBuilder: no };\n',
  },
  {
    filter: /^\.\/socks$/,
    importer: mqttFile('connect[/\\\\](tcp|tls)\\.js'),
    contents:
      "module.exports = { __esModule: true, default: () => { throw new Error('fleet-agent: SOCKS proxies are not built in'); } };\n",
  },
  {
    filter: /^worker-timers$/,
    importer: mqttFile('get-timer\\.js'),
    contents: 'module.exports = { setInterval, clearInterval, setTimeout, clearTimeout };\n',
  },
  {
    filter: /^\.\/tls$/,
    importer: mqttFile('connect[/\\\\]index\\.js'),
    // Resolved from mqtt.js's connect/ directory (resolveDir below), so this is its real tls.js.
    contents:
      'let real;\n' +
      "module.exports = { __esModule: true, default: (client, opts) => (real ??= require('./tls.js')).default(client, opts) };\n",
  },
  {
    // readable-stream 4 is Node's own stream implementation, republished for browsers; mqtt.js and
    // mqtt-packet (with bl) each carry a copy. On Node, node:stream is the same code and is already
    // loaded: the two copies were ~160 KB of the bundle's source, which V8 keeps for the process's
    // lifetime, plus their module objects. This is readable-stream's own READABLE_STREAM=disable
    // branch (lib/ours/index.js), as a module.
    filter: /^readable-stream$/,
    importer: /[/\\]node_modules[/\\](mqtt|mqtt-packet|bl)[/\\]/,
    contents:
      "const Stream = require('node:stream');\n" +
      'for (const name of ["Readable", "Writable", "Duplex", "Transform", "PassThrough", "Stream", "addAbortSignal", "finished", "destroy", "pipeline", "compose", "isDisturbed", "isErrored", "isReadable", "_uint8ArrayToBuffer", "_isUint8Array", "promises"]) exports[name] = Stream[name];\n' +
      'exports.default = exports;\n',
  },
  {
    // zod serves libs/protocol's JSON decoding (a debugging path: binary is what the cloud sends)
    // and is loaded on the first JSON payload; evaluating it at start would keep ~4-5 MB resident
    // on every robot (docs/decisions/0007-agent-memory.md). The agent's own config check is zod-free.
    filter: /^zod$/,
    importer: /[/\\]libs[/\\]protocol[/\\]src[/\\](json|schemas)\.ts$/,
    // zod lives in its own file next to the bundle (built below), so its ~450 KB of source is not
    // even part of the script V8 holds for the agent's lifetime.
    contents: "let real;\nmodule.exports = { get z() { return (real ??= require('./zod.cjs')).z; } };\n",
  },
  {
    filter: /^\.\/zod\.cjs$/,
    importer: /^\d+$/,
    external: './zod.cjs',
  },
  {
    filter: /^\.\/serialport-bindings$/,
    importer: bindingsFile('(load-bindings|poller)\\.js'),
    external: `${NATIVE}/dist/serialport-bindings.js`,
  },
  {
    filter: /^\.\/linux-list$/,
    importer: bindingsFile('linux\\.js'),
    contents:
      "exports.linuxList = () => Promise.reject(new Error('fleet-agent: listing serial ports is not built in (ls -l /dev/ttyS* /dev/ttyUSB* /dev/ttyAMA*)'));\n",
  },
];

function replacements(): Plugin {
  return {
    name: 'fleet-agent-replacements',
    setup(b) {
      const used = new Set<number>();
      REPLACEMENTS.forEach((replacement, i) => {
        b.onResolve({ filter: replacement.filter }, (args) => {
          if (!replacement.importer.test(args.importer)) return undefined;
          used.add(i);
          if (replacement.external !== undefined) return { path: replacement.external, external: true };
          return { path: `${i}`, namespace: 'fleet-agent-replacement', pluginData: dirname(args.importer) };
        });
      });
      b.onLoad({ filter: /.*/, namespace: 'fleet-agent-replacement' }, (args) => ({
        contents: REPLACEMENTS[Number(args.path)]?.contents ?? '',
        loader: 'js',
        resolveDir: args.pluginData as string,
      }));
      b.onEnd((result) => {
        const unused = REPLACEMENTS.filter((_, i) => !used.has(i));
        if (unused.length > 0 && result.errors.length === 0) {
          result.errors.push({
            id: 'fleet-agent-replacement',
            pluginName: 'fleet-agent-replacements',
            text: `no longer imported where expected: ${unused.map((r) => `${String(r.filter)} from ${String(r.importer)}`).join(', ')}; review REPLACEMENTS in apps/agent/deploy/build.ts`,
            location: null,
            notes: [],
            detail: undefined,
          });
        }
      });
    },
  };
}

async function main(): Promise<void> {
  const agentPkg = JSON.parse(readFileSync(join(ROOT, 'apps/agent/package.json'), 'utf8')) as PackageJson;
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  await build({
    entryPoints: [join(ROOT, 'apps/agent/src/cli.ts')],
    outfile: join(OUT, 'fleet-agent.cjs'),
    bundle: true,
    platform: 'node',
    // CommonJS, although the sources are ESM: Node runs a CommonJS entry without its ESM loader
    // (about 1 MB less once running). Loading a CommonJS file leaves ~8 MB of freed malloc memory
    // that glibc keeps unless told otherwise: the launcher sets MALLOC_TRIM_THRESHOLD_ and
    // MALLOC_MMAP_THRESHOLD_ (docs/decisions/0007-agent-memory.md).
    format: 'cjs',
    target: 'node20',
    conditions: ['@fleet/source'],
    // The native binding's loader only (REPLACEMENTS); the rest of serialport is bundled.
    external: [],
    // Memory, not download size: V8 keeps the module's source text on the heap for as long as the
    // process lives (for lazy compilation and Function.prototype.toString). Unminified, the bundle
    // was 2.1 M characters, and a few non-ASCII characters in comments made V8 store all of it as a
    // two-byte string: 4.2 MB. Minified it is 0.95 MB of ASCII (esbuild escapes anything else).
    // keepNames keeps class and function names for stack traces and error names in the logs.
    minify: true,
    keepNames: true,
    charset: 'ascii',
    plugins: [replacements()],
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
  // zod for the JSON debugging path, required by the bundle on the first JSON payload only.
  await build({
    entryPoints: [join(ROOT, 'node_modules/zod/index.js')],
    outfile: join(OUT, 'zod.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    charset: 'ascii',
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const file of ['fleet-agent', 'fleet-agent.service', 'agent.example.json', 'install.sh']) {
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
