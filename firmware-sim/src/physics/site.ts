/**
 * A site map: the floor a robot cleans, from a JSON site file (sites/default.json is the shipped
 * example). Coordinates are mm from the map origin, x to the right, y up; rectangles are
 * [min, max) in both axes.
 *
 * - `zones` are the rooms an operator can send a robot to; each has a dirt rate (dirt units per
 *   hour, on the 0..255 scale of the dirt sensor), added to the site's `baseDirtPerHour`.
 * - `obstacles` (furniture) are floor the brush cannot reach: their cells collect dirt and are never
 *   cleaned. The path planner does not route around them (the robot is assumed to skirt them).
 * - `dock` is where the robot charges and where it starts.
 */
import { siteIdSchema, zoneIdSchema } from '@fleet/protocol';
import { z } from 'zod';

const MAX_SIDE_MM = 200_000;
const mm = z.int().min(0).max(MAX_SIDE_MM);

const rectFields = { minXMm: mm, minYMm: mm, maxXMm: mm, maxYMm: mm };
const positiveArea = (r: Rect) => r.maxXMm > r.minXMm && r.maxYMm > r.minYMm;

export const siteZoneSchema = z
  .strictObject({
    zoneId: zoneIdSchema,
    name: z.string().min(1).max(64),
    ...rectFields,
    dirtPerHour: z.number().min(0).max(255).default(2),
  })
  .refine(positiveArea, { message: 'zone must have positive area (max > min)' });

export const siteSchema = z
  .strictObject({
    siteId: siteIdSchema,
    name: z.string().min(1).max(64),
    widthMm: z.int().min(500).max(MAX_SIDE_MM),
    heightMm: z.int().min(500).max(MAX_SIDE_MM),
    /** Side of a dirt cell; also the spacing of cleaning lanes (the brush width). */
    cellSizeMm: z.int().min(50).max(2000).default(250),
    /** Air temperature indoors, °C. */
    ambientC: z.number().min(-20).max(50).default(22),
    baseDirtPerHour: z.number().min(0).max(255).default(1),
    dock: z.strictObject({ xMm: mm, yMm: mm }),
    zones: z.array(siteZoneSchema).min(1).max(256),
    obstacles: z
      .array(z.strictObject({ name: z.string().max(64).optional(), ...rectFields }).refine(positiveArea))
      .max(1024)
      .default([]),
  })
  .superRefine((site, ctx) => {
    const inside = (r: Rect) => r.maxXMm <= site.widthMm && r.maxYMm <= site.heightMm;
    const seen = new Set<string>();
    site.zones.forEach((zone, i) => {
      if (!inside(zone))
        ctx.addIssue({ code: 'custom', path: ['zones', i], message: 'zone lies outside the site' });
      if (seen.has(zone.zoneId))
        ctx.addIssue({
          code: 'custom',
          path: ['zones', i, 'zoneId'],
          message: `duplicate zone id ${zone.zoneId}`,
        });
      seen.add(zone.zoneId);
    });
    site.obstacles.forEach((o, i) => {
      if (!inside(o))
        ctx.addIssue({ code: 'custom', path: ['obstacles', i], message: 'obstacle lies outside the site' });
    });
    const { xMm, yMm } = site.dock;
    if (xMm >= site.widthMm || yMm >= site.heightMm)
      ctx.addIssue({ code: 'custom', path: ['dock'], message: 'dock lies outside the site' });
    if (site.obstacles.some((o) => contains(o, xMm, yMm)))
      ctx.addIssue({ code: 'custom', path: ['dock'], message: 'dock lies inside an obstacle' });
  });

export interface Rect {
  readonly minXMm: number;
  readonly minYMm: number;
  readonly maxXMm: number;
  readonly maxYMm: number;
}
export type Site = z.infer<typeof siteSchema>;
export type SiteZone = z.infer<typeof siteZoneSchema>;

export function contains(r: Rect, xMm: number, yMm: number): boolean {
  return xMm >= r.minXMm && xMm < r.maxXMm && yMm >= r.minYMm && yMm < r.maxYMm;
}

export function rectCenter(r: Rect): { xMm: number; yMm: number } {
  return { xMm: (r.minXMm + r.maxXMm) / 2, yMm: (r.minYMm + r.maxYMm) / 2 };
}

/** The first zone (in file order) that contains the point, if any. */
export function zoneAt(site: Site, xMm: number, yMm: number): SiteZone | undefined {
  return site.zones.find((z) => contains(z, xMm, yMm));
}

export function findZone(site: Site, zoneId: string): SiteZone | undefined {
  return site.zones.find((z) => z.zoneId === zoneId);
}
