import { randomBytes } from 'node:crypto';

/** Kafka's legal topic characters (`[a-zA-Z0-9._-]`, at most 249 of them). */
const ILLEGAL = /[^a-zA-Z0-9._-]+/g;

/**
 * A topic name no other suite, run or earlier run on the same broker has used, so suites can share
 * one broker (and a developer's long-running one) without seeing each other's records:
 * `<prefix>.<time>.<random>`.
 *
 * @example
 *   const telemetry = uniqueTopic('gateway.telemetry'); // 'gateway.telemetry.mhx3k2.5f1c9a'
 */
export function uniqueTopic(prefix: string): string {
  const clean = prefix.replace(ILLEGAL, '-').slice(0, 200) || 'test';
  return `${clean}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
}

/** One unique name per logical topic, e.g. `uniqueTopics('stream', ['telemetry', 'commands'])`. */
export function uniqueTopics<const Names extends readonly string[]>(
  prefix: string,
  names: Names,
): { readonly [K in Names[number]]: string } {
  return Object.fromEntries(names.map((name) => [name, uniqueTopic(`${prefix}.${name}`)])) as {
    readonly [K in Names[number]]: string;
  };
}
