/**
 * The one context object per operator that the task re-points at each element or timer (no
 * allocation per call). Internal: operators see it through the interfaces in ./api.ts.
 */
import type {
  AggregateFunction,
  AggregatingState,
  KeyGroupState,
  ListState,
  MapState,
  StateDescriptor,
  ValueState,
} from '@fleet/state';
import type { BroadcastDescriptor, BroadcastStore } from '../broadcast/state.js';
import type { TaskOutput } from '../task/outputs.js';
import type { TimeDomain, TimerService } from '../timers/timer-service.js';
import type { ElementContext, KeyedState, TimerContext, TimerRegistry } from './api.js';

export class OperatorContext
  implements ElementContext<unknown>, TimerContext<unknown>, KeyedState, TimerRegistry
{
  key = '';
  index = 0;
  timestamp = 0;
  watermark = 0;
  processingTime = 0;
  late = false;
  domain: TimeDomain = 'event';
  /** 'e' for an element, 't' for a timer, 'b' for a broadcast change: the default id suffix prefix. */
  private cause = 'e';
  private emitted = 0;
  private readonly idPrefix: string;

  constructor(
    readonly job: string,
    readonly operator: string,
    readonly allowedLatenessMs: number,
    private readonly kgs: KeyGroupState,
    readonly timerService: TimerService,
    private readonly out: TaskOutput[],
    private readonly broadcasts: BroadcastStore,
  ) {
    this.idPrefix = `${job}/${operator}/`;
  }

  forElement(
    index: number,
    key: string,
    timestamp: number,
    watermark: number,
    late: boolean,
    now: number,
  ): void {
    this.enter('e', index, key, timestamp, watermark, now);
    this.late = late;
  }

  forTimer(
    index: number,
    key: string,
    timestamp: number,
    watermark: number,
    domain: TimeDomain,
    now: number,
  ): void {
    this.enter('t', index, key, timestamp, watermark, now);
    this.domain = domain;
  }

  forBroadcast(index: number, key: string, timestamp: number, watermark: number, now: number): void {
    this.enter('b', index, key, timestamp, watermark, now);
  }

  private enter(
    cause: string,
    index: number,
    key: string,
    timestamp: number,
    watermark: number,
    now: number,
  ): void {
    this.cause = cause;
    this.index = index;
    this.key = key;
    this.timestamp = timestamp;
    this.watermark = watermark;
    this.late = false;
    this.processingTime = now;
    this.emitted = 0;
  }

  get state(): KeyedState {
    return this;
  }

  get timers(): TimerRegistry {
    return this;
  }

  emit(value: unknown, idSuffix?: string): void {
    const suffix = idSuffix ?? `${this.cause}${this.timestamp}.${this.emitted}`;
    this.emitted++;
    this.out.push({
      type: 'emit',
      id: this.idPrefix + this.key + '/' + suffix,
      operator: this.operator,
      key: this.key,
      timestamp: this.timestamp,
      value,
    });
  }

  sideOutput(tag: string, value: unknown, idSuffix?: string): void {
    const suffix = idSuffix ?? `${this.cause}${this.timestamp}.${this.emitted}`;
    this.emitted++;
    this.out.push({
      type: 'side',
      id: `${this.idPrefix}${tag}/${this.key}/${suffix}`,
      operator: this.operator,
      tag,
      key: this.key,
      timestamp: this.timestamp,
      value,
    });
  }

  broadcast<V>(descriptor: BroadcastDescriptor<V>): ReadonlyMap<string, V> {
    return this.broadcasts.view(descriptor);
  }

  // --- KeyedState -----------------------------------------------------------------------------
  value<T>(d: StateDescriptor<T>): ValueState<T> {
    return this.kgs.value(d, this.key);
  }
  map<V>(d: StateDescriptor<V>): MapState<V> {
    return this.kgs.map(d, this.key);
  }
  list<T>(d: StateDescriptor<T>): ListState<T> {
    return this.kgs.list(d, this.key);
  }
  aggregating<IN, ACC, OUT>(
    d: StateDescriptor<ACC>,
    fn: AggregateFunction<IN, ACC, OUT>,
  ): AggregatingState<IN, OUT> {
    return this.kgs.aggregating(d, fn, this.key);
  }

  // --- TimerRegistry --------------------------------------------------------------------------
  registerEventTime(t: number): void {
    this.timerService.register('event', this.index, t);
  }
  deleteEventTime(t: number): void {
    this.timerService.delete('event', this.index, t);
  }
  registerProcessingTime(t: number): void {
    this.timerService.register('processing', this.index, t);
  }
  deleteProcessingTime(t: number): void {
    this.timerService.delete('processing', this.index, t);
  }
}
