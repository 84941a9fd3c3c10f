import { describe, expect, it } from 'vitest';
import { DirtGrid } from '../src/physics/dirt.js';
import { boustrophedon, headingCdeg, PathFollower, type Pose } from '../src/physics/motion.js';
import { contains, findZone, type SiteZone } from '../src/physics/site.js';
import { Rng } from '../src/random.js';
import { Controller } from '../src/robot/controller.js';
import { defaultSite, HOUR, START, STEP_MS, testRobot } from './helpers.js';

const site = defaultSite();
const zone = (id: string): SiteZone => findZone(site, id)!;

/** Cells whose centres lie in `z` (the cells a pass over `z` must cover). */
function cellsOf(grid: DirtGrid, z: SiteZone): number[] {
  const out: number[] = [];
  const size = grid.cellSizeMm;
  for (let row = 0; row < grid.rows; row++)
    for (let col = 0; col < grid.cols; col++)
      if (contains(z, (col + 0.5) * size, (row + 0.5) * size)) out.push(row * grid.cols + col);
  return out;
}

describe('motion', () => {
  it('a boustrophedon path runs lanes one cell apart in alternating directions and covers every cell of the zone', () => {
    const kitchen = zone('kitchen');
    const grid = new DirtGrid(site, START, Rng.fromSeed('grid'));
    const path = boustrophedon(kitchen, site.cellSizeMm, site.dock);
    expect(path[0]!.clean).toBe(false); // transit to the first lane
    const follower = new PathFollower(path, 250);
    const pose: Pose = { xMm: site.dock.xMm, yMm: site.dock.yMm, headingRad: 0 };
    const covered = new Set<number>();
    const headings = new Set<number>();
    while (!follower.done) {
      const cleaning = follower.cleaning;
      follower.advance(pose, STEP_MS);
      if (cleaning) {
        covered.add(grid.cellAt(pose.xMm, pose.yMm));
        headings.add(headingCdeg(pose.headingRad));
      }
    }
    expect([...covered].sort((a, b) => a - b)).toEqual(cellsOf(grid, kitchen));
    expect([...headings].sort((a, b) => a - b)).toEqual([0, 9000, 18000].filter((h) => headings.has(h)));
    expect(headings.has(0) && headings.has(18000)).toBe(true);
  });

  it('a cleaning pass lowers the dirt of every cell it covered, but not under furniture', () => {
    const living = zone('living-room');
    const grid = new DirtGrid(site, START, Rng.fromSeed('grid'));
    const controller = new Controller(site, grid);
    const cells = cellsOf(grid, living);
    const before = cells.map((c) => grid.read(c, START));
    controller.startCleaning([living]);
    let t = START;
    while (controller.step(STEP_MS, (t += STEP_MS)) !== 'cleaning_done')
      expect(t - START).toBeLessThan(2 * HOUR);
    const sofa = site.obstacles.find((o) => o.name === 'sofa')!;
    const size = grid.cellSizeMm;
    cells.forEach((c, i) => {
      const x = ((c % grid.cols) + 0.5) * size;
      const y = (Math.floor(c / grid.cols) + 0.5) * size;
      const after = grid.read(c, t);
      if (contains(sofa, x, y)) expect(after).toBeGreaterThanOrEqual(before[i]!);
      else expect(after).toBeLessThan(before[i]! * 0.5 + 1);
    });
  });

  it("a sample's dirtLevel is the dirt of the cell under the robot before it was cleaned", () => {
    const kitchen = zone('kitchen');
    const grid = new DirtGrid(site, START, Rng.fromSeed('grid'));
    // The same floor, never cleaned: a pass cleans each cell once, so this holds "before cleaning".
    const untouched = new DirtGrid(site, START, Rng.fromSeed('grid'));
    const controller = new Controller(site, grid);
    controller.startCleaning([kitchen]);
    let t = START;
    const entered = new Map<number, number>();
    while (controller.step(STEP_MS, (t += STEP_MS)) === undefined) {
      const a = controller.activity;
      if (a.kind !== 'cleaning' || !a.follower.cleaning) continue;
      const cell = grid.cellAt(controller.pose.xMm, controller.pose.yMm);
      if (!entered.has(cell)) entered.set(cell, untouched.read(cell, t));
      expect(controller.dirtReading).toBeCloseTo(entered.get(cell)!, 6);
      if (grid.read(cell, t) < entered.get(cell)! - 1)
        expect(controller.dirtReading).toBeGreaterThan(grid.read(cell, t));
    }
    expect(entered.size).toBe(cellsOf(grid, kitchen).length);
  });

  it('dirt accumulates with time at the rate of its zone, the kitchen faster than the bedroom', () => {
    const grid = new DirtGrid(site, START, Rng.fromSeed('grid'));
    const kitchenCell = grid.cellAt(9000, 500);
    const bedroomCell = grid.cellAt(2500, 5500);
    const k0 = grid.read(kitchenCell, START);
    const b0 = grid.read(bedroomCell, START);
    expect(grid.read(kitchenCell, START + 10 * HOUR) - k0).toBeCloseTo(10 * (6 + 0.3), 6);
    expect(grid.read(bedroomCell, START + 10 * HOUR) - b0).toBeCloseTo(10 * (0.8 + 0.3), 6);
    expect(grid.read(kitchenCell, START + 1000 * HOUR)).toBe(255);
  });

  it('go_to_zone drives in a straight line at travel speed and ends inside the zone', () => {
    const r = testRobot();
    r.command('go-office', { type: 'go_to_zone', zoneId: 'office' });
    const took = r.runUntil(() => r.capture.acksOf('go-office').includes('completed'), HOUR);
    expect(r.capture.acksOf('go-office')).toEqual(['accepted', 'completed']);
    const { xMm, yMm } = r.robot.controller.pose;
    expect(contains(zone('office'), xMm, yMm)).toBe(true);
    const moving = r.capture.samples.filter((s) => s.mode === 'moving');
    expect(moving.length).toBeGreaterThan(10);
    for (const s of moving) expect(s.speedMmS).toBe(300);
    const distance = Math.hypot(9500 - site.dock.xMm, 7000 - site.dock.yMm);
    expect(took).toBeGreaterThan((distance / 300) * 1000);
    expect(took).toBeLessThan((distance / 300) * 1000 + 1000);
    expect(r.robot.controller.mode(false)).toBe('idle');
  });

  it('start_cleaning from the dock cleans every zone, returns to the dock by itself and charges', () => {
    const r = testRobot({ battery: { soc: 0.95 } });
    r.command('clean', { type: 'start_cleaning' });
    r.runUntil(() => r.capture.acksOf('clean').includes('completed'), 3 * HOUR);
    expect(r.capture.acksOf('clean')).toEqual(['accepted', 'completed']);
    for (const z of site.zones) {
      const visited = r.capture.samples.some((s) => s.mode === 'cleaning' && contains(z, s.xMm, s.yMm));
      expect(visited, z.zoneId).toBe(true);
    }
    expect(r.robot.controller.mode(false)).toBe('docking');
    r.runUntil(() => r.robot.controller.activity.kind === 'docked', HOUR);
    r.run(10_000);
    expect(r.capture.samples.at(-1)!.mode).toBe('charging');
    expect(r.capture.samples.at(-1)!.currentMa).toBeLessThan(-1000);
  });
});
