import { describe, expect, it } from 'vitest';
import {
  Pattern,
  at,
  cepOperator,
  compile,
  defineJob,
  driver,
  skipPastLastEvent,
  type CepOutOfOrder,
  type EmitOutput,
  type Operator,
  type TaskRecord,
} from '../src/index.js';

interface Ack {
  readonly commandId: string;
  readonly outcome: 'accepted' | 'completed' | 'timeout' | 'heartbeat';
  readonly robotTime: number;
}

interface Alert {
  readonly robotId: string;
  readonly commands: readonly string[];
}

const opts = { outOfOrdernessMs: 2000, allowedLatenessMs: 30_000 };

const ack = (commandId: string, outcome: Ack['outcome'], time: string): Ack => ({
  commandId,
  outcome,
  robotTime: at(time),
});

const threeTimeouts = cepOperator<Ack, Alert>('command_alerts', {
  pattern: compile(
    Pattern.begin<Ack>('timeouts', { skip: skipPastLastEvent() })
      .where((a) => a.outcome === 'timeout')
      .times(3)
      .until((a) => a.outcome === 'completed')
      .within(10 * 60_000),
    { position: (a) => a.commandId },
  ),
  toOutput: (m, robotId) => ({ robotId, commands: (m.events['timeouts'] ?? []).map((a) => a.commandId) }),
});

const stuck = cepOperator<Ack, Alert>('stuck_commands', {
  pattern: Pattern.begin<Ack>('accepted')
    .where((a) => a.outcome === 'accepted')
    .notFollowedBy('completed')
    .where((a) => a.outcome === 'completed')
    .within(60_000),
  compileOptions: { position: (a) => a.commandId },
  toOutput: (m, robotId) => ({ robotId, commands: (m.events['accepted'] ?? []).map((a) => a.commandId) }),
});

const jobOf = (op: Operator<Ack, Alert>) =>
  defineJob<Ack>({
    name: 'fleet',
    read(record: TaskRecord, out) {
      const a = record.value as Ack;
      out.element(record.key ?? '', a.robotTime, a);
    },
    operators: [op],
  });

/** Timeouts with a success between them; the ack after the success arrives before it (within B). */
const resetThenThree: readonly Ack[] = [
  ack('c1', 'timeout', '10:00:00'),
  ack('c2', 'timeout', '10:01:00'),
  ack('c4', 'timeout', '10:01:31'),
  ack('c3', 'completed', '10:01:30'), // 1 s behind c4: out of order, not late
  ack('c5', 'timeout', '10:03:00'),
  ack('c6', 'timeout', '10:04:00'),
  ack('h1', 'heartbeat', '10:04:05'), // r-1's watermark 10:04:03 passes c6
];

async function run(acks: readonly Ack[], restoreAfter?: number): Promise<EmitOutput[]> {
  const t = await driver(jobOf(threeTimeouts), opts);
  for (const [i, a] of acks.entries()) {
    t.send('r-1', a);
    if (i === restoreAfter) await t.checkpointAndRestore();
  }
  return t.outputs().filter((o): o is EmitOutput => o.type === 'emit');
}

describe('cepOperator', () => {
  it('three command timeouts in a row within 10 min raise one alert; a success in between resets, also when acks arrive out of order within the bound', async () => {
    const t = await driver(jobOf(threeTimeouts), opts);
    for (const a of resetThenThree.slice(0, -1)) t.send('r-1', a);
    expect(t.emitted()).toEqual([]); // c6 is not behind r-1's watermark yet
    t.send('r-1', resetThenThree.at(-1));
    // Fed in arrival order, c4 would have been the third timeout after c1, c2; in event time the
    // success c3 comes first and resets them.
    expect(t.emitted<Alert>('command_alerts')).toEqual([{ robotId: 'r-1', commands: ['c4', 'c5', 'c6'] }]);
    expect(t.sideOutputs()).toEqual([]);
  });

  it("'accepted' not followed by 'completed' within 60 s is reported once the watermark reaches 60 s after it", async () => {
    const t = await driver(jobOf(stuck), opts);
    t.send('r-1', ack('c1', 'accepted', '10:00:00'));
    t.send('r-1', ack('c1', 'completed', '10:00:20'));
    t.send('r-1', ack('c2', 'accepted', '10:01:00'));
    t.send('r-1', ack('h1', 'heartbeat', '10:02:01')); // watermark 10:01:59
    expect(t.emitted()).toEqual([]);
    t.send('r-1', ack('h2', 'heartbeat', '10:02:02')); // watermark 10:02:00 = 10:01:00 + 60 s
    expect(t.outputs()).toMatchObject([
      {
        type: 'emit',
        id: expect.stringMatching(/^fleet\/stuck_commands\/r-1\/c2~c2~[0-9a-f]{8}$/) as unknown,
      },
    ]);
    expect(t.emitted<Alert>()).toEqual([{ robotId: 'r-1', commands: ['c2'] }]);
  });

  it("reports a silent robot's stuck command when the idle partition's watermark passes it", async () => {
    const t = await driver(jobOf(stuck), { ...opts, startAt: '10:00:00' });
    t.send('r-1', ack('c1', 'accepted', '10:00:00'));
    t.advanceProcessingTime('1m30s'); // P = now − 30 s idle − 2 s = 09:59:58 + 1m30s − 32 s
    expect(t.emitted()).toEqual([]);
    t.advanceProcessingTime('3s'); // P reaches 10:01:00
    expect(t.emitted<Alert>()).toEqual([{ robotId: 'r-1', commands: ['c1'] }]);
  });

  it('checkpointAndRestore mid-pattern gives the same alerts, with the same ids, as an uninterrupted run', async () => {
    const uninterrupted = await run(resetThenThree);
    expect(uninterrupted).toHaveLength(1);
    for (let i = 0; i < resetThenThree.length - 1; i++) {
      expect(await run(resetThenThree, i)).toEqual(uninterrupted);
    }
  });

  it('feeds a late element that is not earlier than the last fed one; sends an earlier one to cep_out_of_order', async () => {
    const t = await driver(jobOf(threeTimeouts), opts);
    t.send('r-1', ack('c1', 'timeout', '10:00:00'));
    t.send('r-1', ack('c2', 'timeout', '10:01:00'));
    t.send('r-1', ack('h1', 'heartbeat', '10:01:10')); // watermark 10:01:08: c1, c2 fed
    const early = ack('c0', 'completed', '10:00:50'); // late by 18 s (within 30 s), before c2
    t.send('r-1', early);
    expect(t.sideOutputs('cep_out_of_order')).toEqual([
      {
        type: 'side',
        id: expect.stringMatching(
          /^fleet\/command_alerts\/cep_out_of_order\/r-1\/e\d+\.[0-9a-f]{8}$/,
        ) as unknown,
        operator: 'command_alerts',
        tag: 'cep_out_of_order',
        key: 'r-1',
        timestamp: at('10:00:50'),
        value: {
          reason: 'cep_out_of_order',
          eventTime: at('10:00:50'),
          lastFedTime: at('10:01:00'),
          watermark: at('10:01:08'),
          value: early,
        } satisfies CepOutOfOrder,
      },
    ]);
    // Late too, but after c2: fed at once, in order, and completes the pattern.
    t.send('r-1', ack('c3', 'timeout', '10:01:05'));
    expect(t.emitted<Alert>()).toEqual([{ robotId: 'r-1', commands: ['c1', 'c2', 'c3'] }]);
    // Beyond allowed lateness the task diverts it before any operator sees it.
    t.send('r-1', ack('c9', 'timeout', '10:00:30'));
    expect(t.late().map((l) => l.reason)).toEqual(['beyond_allowed_lateness']);
    expect(t.sideOutputs('cep_out_of_order')).toHaveLength(1);
  });

  it('gives identical output ids in two runs', async () => {
    const a = await run(resetThenThree);
    const b = await run(resetThenThree);
    expect(a.map((o) => o.id)).toEqual(b.map((o) => o.id));
    expect(a.map((o) => o.id)).toEqual([
      expect.stringMatching(/^fleet\/command_alerts\/r-1\/c4~c6~[0-9a-f]{8}$/),
    ]);
  });

  it('keeps no state or timers for a key once its NFA is idle and its last fed element is beyond lateness', async () => {
    const t = await driver(jobOf(threeTimeouts), opts);
    for (const a of resetThenThree) t.send('r-1', a);
    t.send('r-1', ack('h2', 'heartbeat', '10:05:00')); // watermark 10:04:58: h1 fed 53 s ago
    t.send('r-1', ack('h3', 'heartbeat', '10:05:40')); // watermark 10:05:38 ≥ h2 + 30 s
    t.checkpoint();
    t.send('r-1', ack('h4', 'heartbeat', '11:00:00'));
    const cp = t.checkpoint();
    expect(cp.stateChanges.filter((c) => c.value !== null).map((c) => c.name)).toEqual([
      'command_alerts_buf',
    ]);
    expect(t.metrics().pendingTimers.event).toBe(1); // h4's own
  });

  it('rejects compile options with an already compiled NFA, and a bad name', () => {
    const nfa = compile(Pattern.begin<Ack>('a').within(1000));
    expect(() => cepOperator('x', { pattern: nfa, compileOptions: {}, toOutput: () => 1 })).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG' }),
    );
    expect(() => cepOperator('Bad-Name', { pattern: nfa, toOutput: () => 1 })).toThrow(
      expect.objectContaining({ code: 'BAD_NAME' }),
    );
  });
});
