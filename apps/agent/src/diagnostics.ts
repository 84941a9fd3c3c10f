/**
 * The agent reports what happens through `node:diagnostics_channel`, one channel per component,
 * and holds no logger: `main.ts` subscribes and writes structured JSON lines to stderr, a test
 * subscribes and asserts. Publishing costs nothing while nobody listens.
 *
 * @example
 * const off = subscribeDiagnostics((d) => console.error(d.component, d.event, d.fields));
 * off();
 */
import diagnosticsChannel from 'node:diagnostics_channel';

export const AGENT_COMPONENTS = [
  'agent',
  'config',
  'serial',
  'clock',
  'spool',
  'mqtt',
  'publisher',
  'commands',
] as const;
export type AgentComponent = (typeof AGENT_COMPONENTS)[number];

export const DIAGNOSTIC_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type DiagnosticLevel = (typeof DIAGNOSTIC_LEVELS)[number];

/** One diagnostic: which component, how serious, what happened (a stable snake_case name), details. */
export interface AgentDiagnostic {
  readonly component: AgentComponent;
  readonly level: DiagnosticLevel;
  readonly event: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** `fleet:agent:<component>`, e.g. `fleet:agent:serial`. */
export function diagnosticChannelName(component: AgentComponent): string {
  return `fleet:agent:${component}`;
}

const channels = new Map(
  AGENT_COMPONENTS.map((c) => [c, diagnosticsChannel.channel(diagnosticChannelName(c))] as const),
);

export function emit(
  component: AgentComponent,
  level: DiagnosticLevel,
  event: string,
  fields: Readonly<Record<string, unknown>> = {},
): void {
  const channel = channels.get(component);
  if (channel === undefined || !channel.hasSubscribers) return;
  const diagnostic: AgentDiagnostic = { component, level, event, fields };
  channel.publish(diagnostic);
}

/** Subscribes to every agent channel; returns the function that unsubscribes. */
export function subscribeDiagnostics(listener: (d: AgentDiagnostic) => void): () => void {
  const handler = (message: unknown): void => listener(message as AgentDiagnostic);
  for (const c of AGENT_COMPONENTS) diagnosticsChannel.subscribe(diagnosticChannelName(c), handler);
  return () => {
    for (const c of AGENT_COMPONENTS) diagnosticsChannel.unsubscribe(diagnosticChannelName(c), handler);
  };
}
