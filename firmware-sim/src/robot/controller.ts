/**
 * What the robot is doing and where it is: the activity state machine on top of the motion model.
 *
 *   idle ──start_cleaning──▶ cleaning ──all lanes done──▶ docking ──at dock──▶ docked
 *   idle ──go_to_zone──────▶ moving ──in zone──▶ idle
 *   any ──go_to_dock / low battery──▶ docking;   any ──stop──▶ idle (docked if on the dock)
 *   any ──overheat / pack empty──▶ error (motors off) ──cleared──▶ idle / docked
 *
 * `docked` means on the charging contacts: the dock powers the robot and charges the pack, and the
 * reported mode is `charging` while current flows, `idle` once the pack is full.
 *
 * Dirt: on a cleaning lane, each cell the robot enters is read and then cleaned; the reading
 * reported for the rest of the time in that cell is the dirt before cleaning (what the dirt sensor
 * heard being picked up). Elsewhere the reading is the cell's present dirt.
 */
import type { RobotMode } from '@fleet/protocol';
import type { DirtGrid } from '../physics/dirt.js';
import {
  boustrophedon,
  CLEANING_SPEED_MM_S,
  PathFollower,
  straightTo,
  TRAVEL_SPEED_MM_S,
  type Pose,
} from '../physics/motion.js';
import { rectCenter, type Site, type SiteZone } from '../physics/site.js';

export type ErrorReason = 'overheat' | 'battery_empty';

export type Activity =
  | { readonly kind: 'idle' }
  | { readonly kind: 'docked' }
  | { readonly kind: 'cleaning'; readonly zones: readonly SiteZone[]; zone: number; follower: PathFollower }
  | { readonly kind: 'moving'; readonly zone: SiteZone; readonly follower: PathFollower }
  | { readonly kind: 'docking'; readonly follower: PathFollower }
  | { readonly kind: 'error'; readonly reason: ErrorReason };

export type Arrival = 'cleaning_done' | 'zone_reached' | 'docked';

/** Within this distance of the dock the robot is on its contacts. */
const DOCK_TOLERANCE_MM = 1;

export class Controller {
  readonly pose: Pose;
  private current: Activity;
  private speed = 0;
  private cell = -1;
  private reading = 0;

  constructor(
    private readonly site: Site,
    private readonly dirt: DirtGrid,
  ) {
    this.pose = { xMm: site.dock.xMm, yMm: site.dock.yMm, headingRad: Math.PI / 2 };
    this.current = { kind: 'docked' };
  }

  get activity(): Activity {
    return this.current;
  }

  /** Ground speed of the last step, mm/s. */
  get speedMmS(): number {
    return this.speed;
  }

  /** Brush and suction on. */
  get cleaning(): boolean {
    return this.current.kind === 'cleaning';
  }

  /** What the dirt sensor reports now, 0..255. */
  get dirtReading(): number {
    return this.reading;
  }

  get atDock(): boolean {
    const d = this.site.dock;
    return Math.hypot(this.pose.xMm - d.xMm, this.pose.yMm - d.yMm) <= DOCK_TOLERANCE_MM;
  }

  get inError(): ErrorReason | undefined {
    return this.current.kind === 'error' ? this.current.reason : undefined;
  }

  /** The mode a sample reports; `charging` needs the battery's word, hence the flag. */
  mode(charging: boolean): RobotMode {
    switch (this.current.kind) {
      case 'idle':
        return 'idle';
      case 'docked':
        return charging ? 'charging' : 'idle';
      case 'cleaning':
        return 'cleaning';
      case 'moving':
        return 'moving';
      case 'docking':
        return 'docking';
      case 'error':
        return 'error';
    }
  }

  startCleaning(zones: readonly SiteZone[]): void {
    const first = zones[0];
    if (first === undefined) return;
    const path = boustrophedon(first, this.site.cellSizeMm, this.pose);
    this.current = {
      kind: 'cleaning',
      zones,
      zone: 0,
      follower: new PathFollower(path, CLEANING_SPEED_MM_S),
    };
  }

  goToZone(zone: SiteZone): void {
    const follower = new PathFollower(straightTo(rectCenter(zone)), TRAVEL_SPEED_MM_S);
    this.current = { kind: 'moving', zone, follower };
  }

  goToDock(): void {
    if (this.atDock) {
      this.current = { kind: 'docked' };
      return;
    }
    const follower = new PathFollower(
      straightTo({ xMm: this.site.dock.xMm, yMm: this.site.dock.yMm }),
      TRAVEL_SPEED_MM_S,
    );
    this.current = { kind: 'docking', follower };
  }

  /** Motors off where the robot stands. An error stays an error. */
  stop(): void {
    if (this.current.kind === 'error') return;
    this.current = this.atDock ? { kind: 'docked' } : { kind: 'idle' };
  }

  fail(reason: ErrorReason): void {
    this.current = { kind: 'error', reason };
  }

  clearError(): void {
    if (this.current.kind !== 'error') return;
    this.current = { kind: 'idle' };
    this.stop();
  }

  /** Drives for `dtMs` ending at true time `now`; reports what was reached, if anything. */
  step(dtMs: number, now: number): Arrival | undefined {
    const a = this.current;
    let arrival: Arrival | undefined;
    let moved = 0;
    switch (a.kind) {
      case 'cleaning':
        moved = a.follower.advance(this.pose, dtMs);
        if (a.follower.done) {
          a.zone++;
          const next = a.zones[a.zone];
          if (next === undefined) {
            this.current = { kind: 'idle' };
            arrival = 'cleaning_done';
          } else {
            a.follower = new PathFollower(
              boustrophedon(next, this.site.cellSizeMm, this.pose),
              CLEANING_SPEED_MM_S,
            );
          }
        }
        break;
      case 'moving':
        moved = a.follower.advance(this.pose, dtMs);
        if (a.follower.done) {
          this.current = { kind: 'idle' };
          arrival = 'zone_reached';
        }
        break;
      case 'docking':
        moved = a.follower.advance(this.pose, dtMs);
        if (a.follower.done) {
          this.current = { kind: 'docked' };
          arrival = 'docked';
        }
        break;
      case 'idle':
      case 'docked':
      case 'error':
        break;
    }
    this.speed = dtMs > 0 ? (moved * 1000) / dtMs : 0;
    this.sense(now, a.kind === 'cleaning' && (a.follower.cleaning || arrival === 'cleaning_done'));
    return arrival;
  }

  private sense(now: number, brushDown: boolean): void {
    const cell = this.dirt.cellAt(this.pose.xMm, this.pose.yMm);
    if (!brushDown) {
      this.cell = -1;
      this.reading = this.dirt.read(cell, now);
    } else if (cell !== this.cell) {
      this.cell = cell;
      this.reading = this.dirt.clean(cell, now);
    }
  }
}
