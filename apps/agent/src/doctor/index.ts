/**
 * `fleet-agent doctor`: checks the configuration, the serial device, each broker URL and the spool,
 * and prints what is wrong and what to do. Exit code 0 when nothing failed (warnings allowed), 1
 * otherwise. Run it with the agent stopped: the agent holds the serial device and the spool.
 */
import type { AgentDeps } from '../agent.js';
import { loadConfig, type AgentConfig } from '../config.js';
import { errorMessage } from '../errors.js';
import { loadTls } from '../publisher/tls.js';
import { checkBroker } from './broker-check.js';
import { formatReport, type CheckResult } from './report.js';
import { checkSerial } from './serial-check.js';
import { checkSpool } from './spool-check.js';

export interface DoctorOptions {
  readonly configFile: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly deps: AgentDeps;
  readonly serialWaitMs?: number;
  /** How long the firmware has to answer doctor's resume frame (default 2000 ms; 0 skips it). */
  readonly resumeWaitMs?: number;
}

export interface DoctorResult {
  readonly report: string;
  readonly exitCode: 0 | 1;
  readonly checks: readonly CheckResult[];
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorResult> {
  let config: AgentConfig;
  try {
    config = await loadConfig({ file: options.configFile, env: options.env });
  } catch (e) {
    const checks: CheckResult[] = [
      {
        name: 'config',
        status: 'fail',
        summary: errorMessage(e),
        advice: ['fix the fields named above in the file or in the FLEET_AGENT_* variables'],
      },
    ];
    return done(`fleet-agent doctor (config ${options.configFile})`, checks);
  }
  const checks: CheckResult[] = [
    {
      name: 'config',
      status: 'ok',
      summary: `${options.configFile} is valid (robot ${config.robotId}, site ${config.siteId})`,
    },
  ];
  const { deps } = options;
  const [serial, tls] = await Promise.all([
    checkSerial({
      path: config.serial.path,
      baudRate: config.serial.baudRate,
      open: deps.openSerial,
      clock: deps.clock,
      waitMs: options.serialWaitMs ?? 5000,
      resumeWaitMs: options.resumeWaitMs ?? 2000,
    }),
    loadTls(config, deps.readFile).then(
      (t) => ({ ok: true as const, tls: t }),
      (e: unknown) => ({ ok: false as const, error: errorMessage(e) }),
    ),
  ]);
  checks.push(...serial);
  if (tls.ok) {
    checks.push(
      ...(await checkBroker({ config, connect: deps.connectMqtt, clock: deps.clock, tls: tls.tls })),
    );
  } else {
    checks.push({
      name: 'broker',
      status: 'fail',
      summary: tls.error,
      advice: ['fix the mqtt.tls file paths or permissions'],
    });
  }
  checks.push(
    await checkSpool({
      config,
      stats: async () => {
        const spool = await deps.openSpool({
          dir: config.spool.dir,
          maxBytes: config.spool.maxBytes,
          fsync: config.spool.fsync,
        });
        try {
          return spool.stats();
        } finally {
          await spool.close();
        }
      },
    }),
  );
  return done(
    `fleet-agent doctor (robot ${config.robotId}, site ${config.siteId}, config ${options.configFile})`,
    checks,
  );
}

function done(title: string, checks: CheckResult[]): DoctorResult {
  return {
    report: formatReport(title, checks),
    exitCode: checks.some((c) => c.status === 'fail') ? 1 : 0,
    checks,
  };
}
