#!/usr/bin/env node
/**
 * fleet-agent run    --config FILE   run the agent (JSON logs on stderr)
 * fleet-agent doctor --config FILE   check serial device, broker and spool; plain report; exit 0/1
 */
import { parseArgs } from 'node:util';
import { productionDeps } from './deps.js';
import { runAgent } from './main.js';

const USAGE = `usage:
  fleet-agent run --config FILE      run the agent
  fleet-agent doctor --config FILE   check the serial device, the broker and the spool, then exit 0 (all ok) or 1
options:
  --config FILE         the agent's JSON configuration (FLEET_AGENT_* variables override it)
  --serial-wait-ms N    doctor: how long to wait for frames on the serial line (default 5000)
`;

export async function cli(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    process.stderr.write(`fleet-agent: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...extra] = positionals;
  if (values.help === true || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (extra.length > 0 || (command !== 'run' && command !== 'doctor')) {
    process.stderr.write(`fleet-agent: unknown command ${JSON.stringify(positionals.join(' '))}\n${USAGE}`);
    return 2;
  }
  const configFile = values.config;
  if (configFile === undefined) {
    process.stderr.write(`fleet-agent ${command}: --config FILE is required\n${USAGE}`);
    return 2;
  }
  if (command === 'run') {
    return runAgent({
      configFile,
      env: process.env,
      deps: productionDeps(),
      writeErr: (line) => process.stderr.write(line),
      signals: process,
    });
  }
  const wait = values['serial-wait-ms'];
  const serialWaitMs = wait === undefined ? undefined : Number(wait);
  if (serialWaitMs !== undefined && !(Number.isInteger(serialWaitMs) && serialWaitMs > 0)) {
    process.stderr.write(`fleet-agent doctor: --serial-wait-ms must be a positive integer, got ${wait}\n`);
    return 2;
  }
  // Loaded only for `doctor`: the agent that runs for months does not carry it (bench:agent, RSS).
  const { runDoctor } = await import('./doctor/index.js');
  const result = await runDoctor({
    configFile,
    env: process.env,
    deps: productionDeps(),
    ...(serialWaitMs === undefined ? {} : { serialWaitMs }),
  });
  process.stdout.write(result.report);
  return result.exitCode;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'serial-wait-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything was closed; should a library still hold a handle, do not hang on it.
    setTimeout(() => process.exit(code), 3000).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `fleet-agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
