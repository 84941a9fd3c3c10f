/**
 * `fleet-agent run`: read the configuration once, log diagnostics as JSON lines on stderr, run the
 * agent until SIGTERM or SIGINT, then stop gracefully (stop reading the serial line, spool what
 * arrived, publish the backlog for up to `shutdown.drainTimeoutMs`, publish offline presence,
 * disconnect cleanly, close the spool). A second signal exits at once. Exit code 0 after a clean
 * stop, 1 when the configuration is invalid or the agent cannot go on.
 */
import { startAgent, type AgentDeps } from './agent.js';
import { loadConfig, type AgentConfig } from './config.js';
import { emit } from './diagnostics.js';
import { errorMessage, isAgentError } from './errors.js';
import { startJsonLog } from './log.js';

export interface RunOptions {
  readonly configFile: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly deps: AgentDeps;
  readonly writeErr: (line: string) => void;
  /** Where SIGTERM/SIGINT come from (the process). */
  readonly signals: Pick<NodeJS.Process, 'once' | 'removeListener'>;
}

export async function runAgent(options: RunOptions): Promise<number> {
  let config: AgentConfig;
  try {
    config = await loadConfig({ file: options.configFile, env: options.env });
  } catch (e) {
    options.writeErr(`fleet-agent: ${errorMessage(e)}\n`);
    return 1;
  }
  const stopLog = startJsonLog({ level: config.logLevel, write: options.writeErr });
  try {
    const agent = await startAgent(config, options.deps);
    const outcome = await new Promise<{ signal: string } | { error: unknown }>((resolve) => {
      const onSignal = (signal: string) => {
        options.signals.removeListener('SIGTERM', onSignal);
        options.signals.removeListener('SIGINT', onSignal);
        // A second signal while stopping: give up waiting.
        const force = () => {
          emit('agent', 'warn', 'agent_forced_exit', {});
          process.exit(1);
        };
        options.signals.once('SIGTERM', force);
        options.signals.once('SIGINT', force);
        resolve({ signal });
      };
      options.signals.once('SIGTERM', onSignal);
      options.signals.once('SIGINT', onSignal);
      agent.failed.catch((error: unknown) => resolve({ error }));
    });
    if ('signal' in outcome) {
      emit('agent', 'info', 'agent_signal', { signal: outcome.signal });
      await agent.stop();
      return 0;
    }
    emit('agent', 'error', 'agent_failed', {
      error: errorMessage(outcome.error),
      code: isAgentError(outcome.error) ? outcome.error.code : undefined,
    });
    await agent.stop().catch(() => undefined);
    return 1;
  } catch (e) {
    emit('agent', 'error', 'agent_start_failed', { error: errorMessage(e) });
    return 1;
  } finally {
    stopLog();
  }
}
