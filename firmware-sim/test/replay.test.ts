/**
 * Resume, on simulated time: the firmware keeps the frames of its current boot in a bounded ring
 * and, asked by a `resume` frame, sends them again exactly as they first went out.
 */
import { encodeSerialFrame, type SerialFrame, type SerialResumeFrame } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { Fleet } from '../src/fleet.js';
import { MemoryGroundTruth } from '../src/ground-truth.js';
import type { InjectedFault } from '../src/robot/faults.js';
import { ReplayRing, type SequencedFrame } from '../src/robot/replay.js';
import type { FrameOutput } from '../src/robot/robot.js';
import { defaultSite, START, testRobot } from './helpers.js';

const wire = (f: SerialFrame) =>
  Buffer.from(encodeSerialFrame(f, { leadingDelimiter: true })).toString('hex');
const seqs = (frames: readonly SerialFrame[]) =>
  frames.flatMap((f) => (f.type === 'sample' || f.type === 'event' ? [f.seq] : []));
const sequenced = (frames: readonly SerialFrame[]) =>
  frames.filter((f): f is SequencedFrame => f.type === 'sample' || f.type === 'event');
const resume = (bootId?: number, nextSeq?: number): SerialResumeFrame =>
  bootId === undefined || nextSeq === undefined
    ? { type: 'resume' }
    : { type: 'resume', position: { bootId, nextSeq } };

describe('firmware resume', () => {
  it('from a position in the current boot: re-sends seq >= nextSeq byte for byte, then goes on live', () => {
    const r = testRobot();
    r.run(10_000); // the boot event and 100 samples, seq 0..100
    const before = sequenced(r.capture.frames);
    expect(seqs(before)).toEqual(Array.from({ length: 101 }, (_, i) => i));
    const sent = r.capture.frames.length;

    r.robot.receive(resume(r.robot.bootId ?? 0, 60));
    const replay = r.capture.frames.slice(sent);
    expect(replay.map(wire)).toEqual(before.slice(60).map(wire)); // same seq, robotTime, bytes
    r.run(1_000);
    expect(seqs(r.capture.frames.slice(sent))).toEqual([
      ...Array.from({ length: 41 }, (_, i) => 60 + i),
      ...Array.from({ length: 10 }, (_, i) => 101 + i),
    ]);
    // Frames produced are counted once; what went out again is counted as replayed.
    expect(r.robot.counters).toMatchObject({ samples: 110, events: 1, replayed: 41, resumes: 1 });
  });

  it('from nothing (no position): re-sends all it holds of the current boot, oldest first, boot event included', () => {
    const r = testRobot();
    r.run(5_000);
    const before = sequenced(r.capture.frames);
    const sent = r.capture.frames.length;
    r.robot.receive(resume());
    const replay = r.capture.frames.slice(sent);
    expect(replay[0]).toMatchObject({ type: 'event', seq: 0, body: { type: 'boot' } });
    expect(replay.map(wire)).toEqual(before.map(wire));
    expect(r.robot.counters.replayed).toBe(before.length);
  });

  it('asked for what it has not sent yet, sends nothing again', () => {
    const r = testRobot();
    r.run(2_000);
    const sent = r.capture.frames.length;
    const last = seqs(r.capture.frames).at(-1) ?? 0;
    r.robot.receive(resume(r.robot.bootId ?? 0, last + 1));
    expect(r.capture.frames.length).toBe(sent);
    r.run(100);
    expect(seqs(r.capture.frames.slice(sent))).toEqual([last + 1]);
    expect(r.robot.counters.replayed).toBe(0);
  });

  it('after eviction: frames older than the ring are gone, the replay starts at the oldest still held', () => {
    const r = testRobot({ replayCapacity: 50 });
    r.run(10_000); // 101 frames; the ring holds seq 51..100
    expect(r.robot.replayState).toEqual({ held: 50, pending: 0, oldestSeq: 51 });
    const before = sequenced(r.capture.frames);
    const sent = r.capture.frames.length;
    r.robot.receive(resume(r.robot.bootId ?? 0, 10));
    const replay = r.capture.frames.slice(sent);
    expect(seqs(replay)).toEqual(Array.from({ length: 50 }, (_, i) => 51 + i)); // the agent sees 10..50 missing
    expect(replay.map(wire)).toEqual(before.slice(51).map(wire));
    expect(r.robot.counters.replayed).toBe(50);
  });

  it('after a reboot: a resume for the old boot gets everything held of the new boot, from its boot event', () => {
    const brownout: InjectedFault = { type: 'brownout', faultId: 'fault-0', start: 5_000, silentMs: 2_000 };
    const r = testRobot({ faults: [brownout] });
    r.run(4_000);
    const oldBootId = r.robot.bootId ?? 0;
    const lastOld = seqs(r.capture.frames).at(-1) ?? 0;
    r.run(6_000); // off at 5 s, boots again at 7 s, runs 3 s
    const newBootId = r.robot.bootId ?? 0;
    expect(newBootId).not.toBe(oldBootId);
    const newBoot = sequenced(r.capture.frames).filter((f) => f.bootId === newBootId);
    const sent = r.capture.frames.length;

    r.robot.receive(resume(oldBootId, lastOld + 1));
    const replay = r.capture.frames.slice(sent);
    expect(replay[0]).toMatchObject({
      type: 'event',
      bootId: newBootId,
      seq: 0,
      body: { resetReason: 'brownout' },
    });
    expect(replay.map(wire)).toEqual(newBoot.map(wire));
    expect(sequenced(replay).every((f) => f.bootId === newBootId)).toBe(true);
  });

  it('while off (browned out) hears no resume', () => {
    const brownout: InjectedFault = { type: 'brownout', faultId: 'fault-0', start: 2_000, silentMs: 5_000 };
    const r = testRobot({ faults: [brownout] });
    r.run(3_000);
    const sent = r.capture.frames.length;
    r.robot.receive(resume());
    expect(r.capture.frames.length).toBe(sent);
    expect(r.robot.counters).toMatchObject({ replayed: 0, resumes: 0 });
  });

  it('replays only as fast as the line takes frames; frames produced meanwhile queue behind, in seq order', () => {
    const out: SerialFrame[] = [];
    let room = Infinity;
    const output: FrameOutput = {
      send: (f) => {
        out.push(structuredClone(f));
        room--;
      },
      get writable() {
        return room > 0;
      },
    };
    const r = testRobot({ output });
    r.run(10_000);
    const before = sequenced(out);
    const sent = out.length;

    room = 30; // the transmit buffer takes 30 frames, then is full until it drains
    r.robot.receive(resume());
    expect(out.length - sent).toBe(30);
    expect(r.robot.replayState.pending).toBe(before.length - 30);
    r.run(1_000); // 10 new samples, all queued behind the replay: nothing goes out while full
    expect(out.length - sent).toBe(30);
    room = Infinity;
    r.run(20); // the next step drains the ring
    expect(r.robot.replayState.pending).toBe(0);
    const after = out.slice(sent);
    expect(seqs(after)).toEqual(Array.from({ length: before.length + 10 }, (_, i) => i));
    expect(after.slice(0, before.length).map(wire)).toEqual(before.map(wire));
    expect(r.robot.counters.replayed).toBe(before.length); // the 10 queued ones went out for the first time
  });

  it('a second resume during a replay starts over from its own position', () => {
    const out: SerialFrame[] = [];
    let room = Infinity;
    const output: FrameOutput = {
      send: (f) => {
        out.push(structuredClone(f));
        room--;
      },
      get writable() {
        return room > 0;
      },
    };
    const r = testRobot({ output });
    r.run(5_000);
    const bootId = r.robot.bootId ?? 0;
    room = 5;
    r.robot.receive(resume(bootId, 10));
    const sent = out.length;
    room = Infinity;
    r.robot.receive(resume(bootId, 40));
    expect(seqs(out.slice(sent))).toEqual(Array.from({ length: 11 }, (_, i) => 40 + i));
  });

  it('reports replays and resumes per robot in the run_end ground truth, beside frames produced', () => {
    const truth = new MemoryGroundTruth();
    const out: SerialFrame[] = [];
    const fleet = new Fleet({
      seed: 'replay',
      site: defaultSite(),
      robotIds: ['robot-1', 'robot-2'],
      startTime: START,
      sampleHz: 10,
      ackLatency: { medianMs: 40, p99Ms: 250 },
      output: (i) => ({ send: (f) => (i === 0 ? out.push(f) : undefined) }),
      groundTruth: truth,
    });
    fleet.advanceTo(START + 3_000);
    fleet.deliver(0, resume(fleet.robots[0]?.bootId ?? 0, 20));
    fleet.advanceTo(START + 4_000);
    fleet.finish();
    const end = truth.ofType('run_end')[0];
    expect(end?.robots).toEqual([
      { robotId: 'robot-1', samples: 40, events: 1, acks: 0, replayed: 11, resumes: 1 },
      { robotId: 'robot-2', samples: 40, events: 1, acks: 0, replayed: 0, resumes: 0 },
    ]);
    expect(seqs(out)).toEqual([
      ...Array.from({ length: 31 }, (_, i) => i),
      ...Array.from({ length: 11 }, (_, i) => 20 + i),
      ...Array.from({ length: 10 }, (_, i) => 31 + i),
    ]);
  });
});

describe('firmware resume: command acks', () => {
  it('an ack is held and replayed in its place: after the frames before it, before the next seq', () => {
    const r = testRobot();
    r.run(1_000);
    r.command('c-1', { type: 'stop' });
    r.runUntil(() => r.capture.frames.some((f) => f.type === 'ack'), 2_000);
    r.run(1_000);
    const frames = [...r.capture.frames];
    const ackAt = frames.findIndex((f) => f.type === 'ack');
    const ack = frames[ackAt];
    const before = sequenced(frames.slice(0, ackAt)).at(-1);
    const after = sequenced(frames.slice(ackAt)).at(0);
    expect(ack).toMatchObject({ type: 'ack', commandId: 'c-1' });
    expect(after?.seq).toBe((before?.seq ?? -1) + 1);
    const sent = frames.length;
    const boot = r.robot.bootId ?? 0;

    // An agent that has the frame before the ack (and so, maybe not the ack): the ack comes again.
    r.robot.receive(resume(boot, (before?.seq ?? 0) + 1));
    const replay = r.capture.frames.slice(sent);
    expect(replay.map(wire)).toEqual(frames.slice(ackAt).map(wire));
    expect(r.robot.counters.replayed).toBe(frames.length - ackAt); // acks too
    // An agent that has the frame after it has the ack too (its position passed it).
    const sent2 = r.capture.frames.length;
    r.robot.receive(resume(boot, (after?.seq ?? 0) + 1));
    expect(r.capture.frames.slice(sent2).some((f) => f.type === 'ack')).toBe(false);
    // Produced once each.
    const acks = frames.filter((f) => f.type === 'ack').length;
    expect(r.robot.counters.acks).toBe(acks);
  });
});

describe('ReplayRing', () => {
  const frame = (seq: number): SequencedFrame => ({
    type: 'event',
    bootId: 1,
    seq,
    robotTime: seq,
    body: { type: 'fault_cleared', code: 1 },
  });

  it('places an ack before the next seq: a resume from that seq sends it again, one from the seq after does not', () => {
    const ring = new ReplayRing(8);
    for (let s = 0; s < 4; s++) ring.push(frame(s));
    const ack = { type: 'ack', commandId: 'c-1', outcome: 'accepted', robotTime: 1 } as const;
    expect(ring.push(ack, 4)).toBe(false);
    for (let s = 4; s < 6; s++) ring.push(frame(s));
    const taken = (): string[] => {
      const out: string[] = [];
      for (let n = ring.next(); n !== undefined; n = ring.next())
        out.push(n.frame.type === 'ack' ? n.frame.commandId : String(n.frame.seq));
      return out;
    };
    ring.rewind(4);
    expect(taken()).toEqual(['c-1', '4', '5']);
    ring.rewind(3);
    expect(taken()).toEqual(['3', 'c-1', '4', '5']);
    ring.rewind(5);
    expect(taken()).toEqual(['5']);
    ring.rewind(undefined);
    expect(taken()).toEqual(['0', '1', '2', '3', 'c-1', '4', '5']);
    expect(ring.oldest?.seq).toBe(0);
  });

  it('keeps the newest `capacity` frames and finds a seq in them', () => {
    const ring = new ReplayRing(4);
    for (let s = 0; s < 10; s++) expect(ring.push(frame(s))).toBe(false);
    expect([ring.size, ring.oldest?.seq]).toEqual([4, 6]);
    expect(ring.rewind(8)).toBe(2);
    expect(ring.rewind(0)).toBe(4);
    expect(ring.rewind(undefined)).toBe(4);
    expect(ring.rewind(10)).toBe(0);
  });

  it('queues frames pushed during a replay, and loses a pending frame evicted before it went out', () => {
    const ring = new ReplayRing(4);
    for (let s = 0; s < 4; s++) ring.push(frame(s));
    ring.rewind(1); // 1, 2, 3 pending
    expect(ring.next()).toMatchObject({ frame: { seq: 1 }, again: true });
    expect(ring.push(frame(4))).toBe(true); // evicts 0; pending 2, 3, 4
    expect(ring.push(frame(5))).toBe(true); // evicts 1; pending 2, 3, 4, 5
    expect(ring.push(frame(6))).toBe(true); // evicts 2 before it went out
    const out: number[] = [];
    const again: boolean[] = [];
    for (let n = ring.next(); n !== undefined; n = ring.next()) {
      out.push(n.frame.type === 'ack' ? -1 : n.frame.seq);
      again.push(n.again);
    }
    expect(out).toEqual([3, 4, 5, 6]);
    expect(again).toEqual([true, false, false, false]); // 4..6 were queued, never sent

    ring.clear();
    expect([ring.size, ring.pending, ring.oldest]).toEqual([0, 0, undefined]);
  });
});
