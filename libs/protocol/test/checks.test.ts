/**
 * The binary codecs' hand-written checks (src/binary/checks.ts) against the zod schemas
 * (src/schemas.ts): for valid messages and for every kind of broken one, both must accept or both
 * reject, and accept to the same value. And the binary path must not load zod at all.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkMessage } from '../src/binary/checks.js';
import {
  ACK_OUTCOMES,
  MAX_EPOCH_MS,
  messageSchema,
  ProtocolError,
  ProtocolErrorCode,
  ROBOT_MODES,
  type Message,
} from '../src/index.js';
import { LONGEST_ID, message, messageByKind } from './arbitraries.js';
import { expectProtocolError, resultOrProtocolError } from './helpers.js';

/** Values that sit on, just outside, or far from every rule of the schemas. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    -1,
    0,
    1,
    1000,
    1001,
    35999,
    36000,
    255,
    256,
    0xffff,
    0x1_0000,
    0xffff_ffff,
    0x1_0000_0000,
    -0x8000,
    -0x8001,
    0x7fff,
    0x8000,
    -0x8000_0000,
    -0x8000_0001,
    0x7fff_ffff,
    0x8000_0000,
    MAX_EPOCH_MS,
    MAX_EPOCH_MS + 1,
    1.5,
    -0,
    NaN,
    Infinity,
    -Infinity,
    Number.MAX_SAFE_INTEGER + 2,
  ),
  fc.constantFrom('', 'r-1', 'r/1', '-r', 'r 1', LONGEST_ID, `${LONGEST_ID}R`, 'é', 'x'.repeat(33)),
  fc.constantFrom(
    'x'.repeat(64),
    'x'.repeat(65),
    'x'.repeat(120),
    'x'.repeat(121),
    'x'.repeat(200),
    'x'.repeat(201),
  ),
  fc.constantFrom(
    ...ROBOT_MODES,
    ...ACK_OUTCOMES,
    'firmware',
    'agent',
    'boot',
    'fault_raised',
    'fault_cleared',
  ),
  fc.constantFrom(
    'start_cleaning',
    'go_to_zone',
    'connected',
    'last_will',
    'power_on',
    'telemetry',
    'command',
  ),
  fc.constantFrom(true, false, null, undefined, [], {}, '1', { type: 'stop' }, { type: 'go_to_zone' }),
  fc.constantFrom({ type: 'go_to_zone', zoneId: 'z-1' }, { type: 'stop', zoneId: 'z-1' }),
  fc.constantFrom(
    { type: 'boot', firmwareVersion: '1', resetReason: 'unknown' },
    { type: 'fault_cleared', code: 1.5 },
  ),
  fc.constantFrom(
    { type: 'fault_raised', code: 1, message: undefined },
    { type: 'fault_raised', code: 1, extra: 1 },
  ),
  fc.constantFrom(
    { zoneId: 'z', name: 'n', minXMm: 0, minYMm: 0, maxXMm: 1, maxYMm: 1 },
    { zoneId: 'z', name: 'n', minXMm: 0, minYMm: 0, maxXMm: 0, maxYMm: 1 },
    Array.from({ length: 257 }, () => ({
      zoneId: 'z',
      name: 'n',
      minXMm: 0,
      minYMm: 0,
      maxXMm: 1,
      maxYMm: 1,
    })),
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 70 }),
  fc.anything({ maxDepth: 2 }),
);

type Tree = Record<string, unknown> | unknown[];

/** Every path to a value inside `v` (objects and arrays), the root excluded. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return [];
  const out: (string | number)[][] = [];
  for (const [k, child] of Object.entries(v)) {
    const key = Array.isArray(v) ? Number(k) : k;
    out.push([...prefix, key], ...paths(child, [...prefix, key]));
  }
  return out;
}

type Mutation =
  | { op: 'set'; pick: number; value: unknown }
  | { op: 'delete'; pick: number }
  /** A number ±1, a string one character longer or shorter: valid values sit on their bounds often. */
  | { op: 'nudge'; pick: number; up: boolean }
  | { op: 'add'; pick: number; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), pick: fc.nat(), value: oddValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }) },
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant('nudge' as const), pick: fc.nat(), up: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      pick: fc.nat(),
      key: fc.constantFrom('extra', 'detail', 'message', 'zoneId', 'kind', 'type'),
      value: oddValue,
    }),
  },
);

/** `m` with one value replaced, removed or added somewhere in it (the root included). */
function mutate(m: unknown, mut: Mutation): unknown {
  const root = structuredClone(m) as Tree;
  const all = [[], ...paths(root)] as (string | number)[][];
  const path = all[mut.pick % all.length] ?? [];
  if (mut.op === 'add') {
    let node: unknown = root;
    for (const k of path) node = (node as Record<string | number, unknown>)[k];
    if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
      (node as Record<string, unknown>)[mut.key] = mut.value;
    }
    return root;
  }
  if (path.length === 0) return mut.op === 'set' ? mut.value : undefined;
  let parent: unknown = root;
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
  const last = path.at(-1) as string | number;
  if (mut.op === 'nudge') {
    const p = parent as Record<string | number, unknown>;
    const v = p[last];
    if (typeof v === 'number') p[last] = v + (mut.up ? 1 : -1);
    else if (typeof v === 'string') p[last] = mut.up ? `${v}x` : v.slice(1);
    return root;
  }
  if (mut.op === 'delete' && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[last];
  else (parent as Record<string | number, unknown>)[last] = mut.op === 'set' ? mut.value : undefined;
  return root;
}

const brokenMessage = fc
  .tuple(message, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([m, muts]) => muts.reduce<unknown>((v, mut) => mutate(v, mut), m));

function expectSameVerdict(value: unknown): boolean {
  const zod = messageSchema.safeParse(value);
  const hand = resultOrProtocolError(() => checkMessage(value, 'message'));
  if (zod.success) {
    expect(hand, `zod accepts ${JSON.stringify(value)}`).not.toBeInstanceOf(ProtocolError);
    expect(hand).toEqual(zod.data);
    // Same keys in the same order; zod keeps an optional key given as undefined, the checks drop it.
    const defined = (o: object) => Object.entries(o).flatMap(([k, v]) => (v === undefined ? [] : [k]));
    expect(defined(hand as object)).toEqual(defined(zod.data));
  } else {
    expect(hand, `zod rejects ${JSON.stringify(value)}: ${zod.error.message}`).toBeInstanceOf(ProtocolError);
    expect((hand as ProtocolError).code).toBe(ProtocolErrorCode.INVALID_MESSAGE);
  }
  return zod.success;
}

describe('binary checks agree with the zod schemas', () => {
  it('accept every valid message, to the same value with keys in schema order', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(expectSameVerdict(m)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('accept and reject the same broken messages (values on and across every bound, missing and extra keys)', () => {
    let rejected = 0;
    fc.assert(
      fc.property(brokenMessage, (v) => {
        if (!expectSameVerdict(v)) rejected++;
      }),
      { numRuns: 20_000 },
    );
    // The mutations must mostly break the message, or the test proves little.
    expect(rejected).toBeGreaterThan(10_000);
  }, 60_000);

  it('agree on every bound of every field: each path of valid messages set to each probe value', () => {
    const probes = [
      -0x8000_0001,
      -0x8000_0000,
      -0x8001,
      -0x8000,
      -1,
      0,
      1,
      254,
      255,
      256,
      999,
      1000,
      1001,
      35998,
      35999,
      36000,
      0xfffe,
      0xffff,
      0x1_0000,
      0x7ffe,
      0x7fff,
      0x8000,
      0x7fff_ffff,
      0x8000_0000,
      0xffff_ffff,
      0x1_0000_0000,
      MAX_EPOCH_MS - 1,
      MAX_EPOCH_MS,
      MAX_EPOCH_MS + 1,
      0.5,
      NaN,
      Infinity,
      '',
      'a',
      '1',
      'r-1',
      'r/1',
      LONGEST_ID,
      `${LONGEST_ID}R`,
      ...[31, 32, 33, 63, 64, 65, 119, 120, 121, 199, 200, 201].map((n) => 'x'.repeat(n)),
      ...ROBOT_MODES,
      ...ACK_OUTCOMES,
      'agent',
      'last_will',
      'go_to_zone',
      'fault_raised',
      'boot',
      true,
      false,
      null,
      undefined,
      [],
      {},
    ];
    const kinds: fc.Arbitrary<Message>[] = Object.values(messageByKind);
    let rejected = 0;
    for (const arbitrary of kinds) {
      for (const m of fc.sample(arbitrary, { numRuns: 12, seed: 7 })) {
        for (const [pick] of [[], ...paths(m)].entries()) {
          for (const value of probes) {
            if (!expectSameVerdict(mutate(m, { op: 'set', pick, value }))) rejected++;
          }
        }
      }
    }
    expect(rejected).toBeGreaterThan(10_000);
  }, 60_000);

  it('reject anything else the same way', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        expectSameVerdict(v);
      }),
      { numRuns: 2000 },
    );
  });

  it('name the path, the value and the limit', () => {
    const sample = {
      kind: 'presence',
      robotId: 'r/1',
      online: true,
      reason: 'connected',
      at: MAX_EPOCH_MS + 1,
    };
    expectProtocolError(
      () => checkMessage(sample, 'presence'),
      ProtocolErrorCode.INVALID_MESSAGE,
      'invalid presence: ',
      'robotId: robot id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63} (got "r/1")',
      `at: ${MAX_EPOCH_MS + 1} is out of range [0, ${MAX_EPOCH_MS}]`,
    );
    const error = expectProtocolError(
      () => checkMessage({ ...sample, robotId: 'r', at: 1, extra: 1 }, 'presence'),
      ProtocolErrorCode.INVALID_MESSAGE,
      '(root): unknown key "extra"',
    );
    expect(error.details['issues']).toEqual([{ path: '(root)', message: 'unknown key "extra"' }]);
  });
});

describe('the binary path does not load zod', () => {
  it('the binary codecs, batch, serial, topics and payload modules import no zod and no schema', async () => {
    const src = (p: string) => fileURLToPath(new URL(`../src/${p}`, import.meta.url));
    const result = await build({
      entryPoints: [
        src('binary/index.ts'),
        src('batch/index.ts'),
        src('serial/index.ts'),
        src('mqtt/topics.ts'),
        src('kafka/index.ts'),
      ],
      bundle: true,
      write: false,
      metafile: true,
      outdir: 'out',
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.includes('src/binary/checks.ts'))).toBe(true);
    expect(inputs.filter((i) => /node_modules[/\\]zod|src[/\\](schemas|messages|json)\.ts$/.test(i))).toEqual(
      [],
    );
  });
});
