/**
 * Dirt on the floor: a grid of square cells (the site's cellSizeMm) whose dirt grows linearly with
 * time at a rate set by the zone the cell's centre lies in (plus the site's base rate), saturating at
 * 255, the top of the dirt sensor's scale. A cleaning pass removes a fixed share of a cell's dirt.
 *
 * Lazy in time: a cell stores its level at the instant it was last touched, and its level at t is
 * min(255, level + rate · (t − touched)). Nothing runs per cell per step, so a site of thousands of
 * cells costs nothing while the robot is elsewhere.
 */
import type { Rng } from '../random.js';
import { contains, type Site } from './site.js';

export const DIRT_MAX = 255;
/** Share of a cell's dirt one pass of brush and suction picks up. */
export const CLEANING_EFFICIENCY = 0.85;
const HOUR_MS = 3_600_000;

export class DirtGrid {
  readonly cols: number;
  readonly rows: number;
  readonly cellSizeMm: number;
  private readonly level: Float64Array;
  private readonly touched: Float64Array;
  /** Dirt units per ms. */
  private readonly rate: Float64Array;
  private readonly cleanable: Uint8Array;

  /**
   * Cells start with the dirt of 0–24 hours since their last cleaning, drawn from `rng`.
   */
  constructor(site: Site, startTime: number, rng: Rng) {
    const size = site.cellSizeMm;
    this.cellSizeMm = size;
    this.cols = Math.ceil(site.widthMm / size);
    this.rows = Math.ceil(site.heightMm / size);
    const n = this.cols * this.rows;
    this.level = new Float64Array(n);
    this.touched = new Float64Array(n).fill(startTime);
    this.rate = new Float64Array(n);
    this.cleanable = new Uint8Array(n);
    for (let row = 0; row < this.rows; row++) {
      for (let col = 0; col < this.cols; col++) {
        const i = row * this.cols + col;
        const x = (col + 0.5) * size;
        const y = (row + 0.5) * size;
        const zone = site.zones.find((z) => contains(z, x, y));
        const perHour = site.baseDirtPerHour + (zone?.dirtPerHour ?? 0);
        this.rate[i] = perHour / HOUR_MS;
        this.cleanable[i] = site.obstacles.some((o) => contains(o, x, y)) ? 0 : 1;
        this.level[i] = Math.min(DIRT_MAX, perHour * rng.range(0, 24));
      }
    }
  }

  /** Index of the cell under (x, y), or -1 off the map. */
  cellAt(xMm: number, yMm: number): number {
    const col = Math.floor(xMm / this.cellSizeMm);
    const row = Math.floor(yMm / this.cellSizeMm);
    if (col < 0 || row < 0 || col >= this.cols || row >= this.rows) return -1;
    return row * this.cols + col;
  }

  /** Dirt of cell `i` at time `t`, 0..255 (0 off the map). */
  read(i: number, t: number): number {
    if (i < 0) return 0;
    const v = this.level[i]! + this.rate[i]! * (t - this.touched[i]!);
    return v > DIRT_MAX ? DIRT_MAX : v;
  }

  /** One cleaning pass over cell `i` at `t`; returns the dirt before it. Obstacle cells stay dirty. */
  clean(i: number, t: number): number {
    const before = this.read(i, t);
    if (i >= 0 && this.cleanable[i] === 1) {
      this.level[i] = before * (1 - CLEANING_EFFICIENCY);
      this.touched[i] = t;
    }
    return before;
  }

  /** Mean dirt at `t` of the cells whose centres lie in `rect` (0 when none do). */
  meanIn(rect: Parameters<typeof contains>[0], t: number): number {
    const size = this.cellSizeMm;
    let sum = 0;
    let n = 0;
    for (let row = 0; row < this.rows; row++) {
      const y = (row + 0.5) * size;
      if (y < rect.minYMm || y >= rect.maxYMm) continue;
      for (let col = 0; col < this.cols; col++) {
        const x = (col + 0.5) * size;
        if (x < rect.minXMm || x >= rect.maxXMm) continue;
        sum += this.read(row * this.cols + col, t);
        n++;
      }
    }
    return n === 0 ? 0 : sum / n;
  }
}
