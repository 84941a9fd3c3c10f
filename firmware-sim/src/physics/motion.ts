/**
 * Where the robot goes: paths as lists of waypoints, followed at a constant ground speed.
 *
 * - Travel (go to a zone, go to the dock) is one straight leg.
 * - Cleaning a zone is a boustrophedon ("ox-turning", lawn-mower) pattern: parallel lanes along x,
 *   one per row of dirt cells, run in alternating directions, joined by short shifts along y at the
 *   zone's edge. Lanes run through cell centres and are one cell apart, so with the brush one cell
 *   wide every cell whose centre lies in the zone is passed over exactly once. The pattern starts at
 *   the corner nearest the robot, reached by a straight transit leg that does not clean.
 *
 * Turns are instantaneous (a differential drive turns on the spot in well under a second); the
 * heading is the direction of the leg being driven.
 */
import type { Rect } from './site.js';

export const CLEANING_SPEED_MM_S = 250;
export const TRAVEL_SPEED_MM_S = 300;

export interface Point {
  readonly xMm: number;
  readonly yMm: number;
}

export interface Pose {
  xMm: number;
  yMm: number;
  /** Radians, 0 = +x, counter-clockwise. */
  headingRad: number;
}

export interface Waypoint extends Point {
  /** The leg that ends at this waypoint is a cleaning lane (brush down). */
  readonly clean: boolean;
}

export function straightTo(target: Point): Waypoint[] {
  return [{ xMm: target.xMm, yMm: target.yMm, clean: false }];
}

/** Lane centres: the centres of the cells of side `cell` whose centre lies in [min, max). */
function centres(min: number, max: number, cell: number): number[] {
  const out: number[] = [];
  for (let c = Math.ceil(min / cell - 0.5); (c + 0.5) * cell < max; c++) out.push((c + 0.5) * cell);
  return out;
}

/** A transit leg from `from` to the nearest corner of `zone`, then the zone's lanes. */
export function boustrophedon(zone: Rect, cellSizeMm: number, from: Point): Waypoint[] {
  let ys = centres(zone.minYMm, zone.maxYMm, cellSizeMm);
  const xs = centres(zone.minXMm, zone.maxXMm, cellSizeMm);
  if (ys.length === 0 || xs.length === 0) {
    return [{ xMm: (zone.minXMm + zone.maxXMm) / 2, yMm: (zone.minYMm + zone.maxYMm) / 2, clean: true }];
  }
  const left = xs[0]!;
  const right = xs[xs.length - 1]!;
  const bottom = ys[0]!;
  const top = ys[ys.length - 1]!;
  const startX = Math.abs(from.xMm - left) <= Math.abs(from.xMm - right) ? left : right;
  if (Math.abs(from.yMm - top) < Math.abs(from.yMm - bottom)) ys = ys.reverse();
  const path: Waypoint[] = [{ xMm: startX, yMm: ys[0]!, clean: false }];
  let x = startX;
  ys.forEach((y, k) => {
    if (k > 0) path.push({ xMm: x, yMm: y, clean: true });
    x = x === left ? right : left;
    path.push({ xMm: x, yMm: y, clean: true });
  });
  return path;
}

/** Drives a pose along waypoints at a constant speed. */
export class PathFollower {
  private next = 0;

  constructor(
    readonly waypoints: readonly Waypoint[],
    readonly speedMmS: number,
  ) {}

  get done(): boolean {
    return this.next >= this.waypoints.length;
  }

  /** The leg being driven is a cleaning lane. */
  get cleaning(): boolean {
    return this.waypoints[this.next]?.clean ?? false;
  }

  /** Moves `pose` along the path for `dtMs`; returns the distance driven, mm. */
  advance(pose: Pose, dtMs: number): number {
    let budget = (this.speedMmS * dtMs) / 1000;
    let moved = 0;
    while (budget > 0) {
      const target = this.waypoints[this.next];
      if (target === undefined) break;
      const dx = target.xMm - pose.xMm;
      const dy = target.yMm - pose.yMm;
      const dist = Math.hypot(dx, dy);
      if (dist > 0) pose.headingRad = Math.atan2(dy, dx);
      if (dist <= budget) {
        pose.xMm = target.xMm;
        pose.yMm = target.yMm;
        budget -= dist;
        moved += dist;
        this.next++;
      } else {
        pose.xMm += (dx / dist) * budget;
        pose.yMm += (dy / dist) * budget;
        moved += budget;
        budget = 0;
      }
    }
    return moved;
  }
}

/** Heading in 0.01° (0..35999) as the sample carries it. */
export function headingCdeg(headingRad: number): number {
  const turn = 2 * Math.PI;
  const r = ((headingRad % turn) + turn) % turn;
  return Math.round((r * 18000) / Math.PI) % 36000;
}
