/**
 * A small validator for the agent's configuration file, instead of zod: the agent validates once
 * at start-up, and loading zod's code costs about 4–5 MB of resident memory for the rest of the
 * agent's life on a robot (docs/decisions/0007-agent-memory.md). Each spec parses one value and
 * reports problems with the path of the field; defaults are filled in; unknown keys are errors.
 */
export interface Issue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Parses `value` at `path`; returns the parsed value, or FAIL after recording issues. */
export type Spec<T> = (
  value: unknown,
  path: readonly (string | number)[],
  issues: Issue[],
) => T | typeof FAIL;

export const FAIL: unique symbol = Symbol('invalid');

const describe = (v: unknown): string =>
  v === undefined ? 'undefined' : v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;

export function int(min: number, max: number): Spec<number> {
  return (v, path, issues) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      issues.push({ path, message: `Invalid input: expected number, received ${describe(v)}` });
      return FAIL;
    }
    if (!Number.isInteger(v)) {
      issues.push({ path, message: 'Invalid input: expected int, received number' });
      return FAIL;
    }
    if (v < min) {
      issues.push({ path, message: `Too small: expected number to be >=${min}` });
      return FAIL;
    }
    if (v > max) {
      issues.push({ path, message: `Too big: expected number to be <=${max}` });
      return FAIL;
    }
    return v;
  };
}

export function number(min: number, max: number): Spec<number> {
  return (v, path, issues) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      issues.push({ path, message: `Invalid input: expected number, received ${describe(v)}` });
      return FAIL;
    }
    if (v < min || v > max) {
      issues.push({ path, message: `out of range: expected number in [${min}, ${max}]` });
      return FAIL;
    }
    return v;
  };
}

export function string(
  options: {
    min?: number;
    max?: number;
    pattern?: RegExp;
    message?: string;
    check?: (s: string) => boolean;
  } = {},
): Spec<string> {
  return (v, path, issues) => {
    if (typeof v !== 'string') {
      issues.push({ path, message: `Invalid input: expected string, received ${describe(v)}` });
      return FAIL;
    }
    if (options.min !== undefined && v.length < options.min) {
      issues.push({ path, message: `Too small: expected string to have >=${options.min} characters` });
      return FAIL;
    }
    if (options.max !== undefined && v.length > options.max) {
      issues.push({ path, message: `Too big: expected string to have <=${options.max} characters` });
      return FAIL;
    }
    if (
      (options.pattern !== undefined && !options.pattern.test(v)) ||
      (options.check !== undefined && !options.check(v))
    ) {
      issues.push({
        path,
        message: options.message ?? `Invalid string: must match ${String(options.pattern)}`,
      });
      return FAIL;
    }
    return v;
  };
}

export const boolean: Spec<boolean> = (v, path, issues) => {
  if (typeof v === 'boolean') return v;
  issues.push({ path, message: `Invalid input: expected boolean, received ${describe(v)}` });
  return FAIL;
};

export function oneOf<const T extends readonly (string | number)[]>(values: T): Spec<T[number]> {
  return (v, path, issues) => {
    if ((values as readonly unknown[]).includes(v)) return v as T[number];
    issues.push({
      path,
      message: `Invalid option: expected one of ${values.map((x) => JSON.stringify(x)).join('|')}`,
    });
    return FAIL;
  };
}

export function array<T>(item: Spec<T>, min: number, max: number): Spec<T[]> {
  return (v, path, issues) => {
    if (!Array.isArray(v)) {
      issues.push({ path, message: `Invalid input: expected array, received ${describe(v)}` });
      return FAIL;
    }
    if (v.length < min) {
      issues.push({ path, message: `Too small: expected array to have >=${min} items` });
      return FAIL;
    }
    if (v.length > max) {
      issues.push({ path, message: `Too big: expected array to have <=${max} items` });
      return FAIL;
    }
    const out: T[] = [];
    let ok = true;
    v.forEach((x: unknown, i) => {
      const parsed = item(x, [...path, i], issues);
      if (parsed === FAIL) ok = false;
      else out.push(parsed);
    });
    return ok ? out : FAIL;
  };
}

/** Absent (undefined) stays absent. */
export function optional<T>(spec: Spec<T>): Spec<T | undefined> {
  return (v, path, issues) => (v === undefined ? undefined : spec(v, path, issues));
}

/** Absent (undefined) becomes `fallback` (for an object spec: `{}` parsed, so its defaults apply). */
export function withDefault<T>(spec: Spec<T>, fallback: unknown): Spec<T> {
  return (v, path, issues) => spec(v === undefined ? fallback : v, path, issues);
}

type Fields = Record<string, Spec<unknown>>;
type Parsed<F extends Fields> = { [K in keyof F]: Exclude<ReturnType<F[K]>, typeof FAIL> };

export interface Rule<T> {
  readonly ok: (value: T) => boolean;
  readonly path: readonly string[] | ((value: T) => readonly string[]);
  readonly message: string;
}

/**
 * A strict object: every field parsed (all problems reported), unknown keys refused; then the
 * cross-field rules, only when every field parsed (as zod's refinements).
 */
export function object<F extends Fields>(fields: F, rules: readonly Rule<Parsed<F>>[] = []): Spec<Parsed<F>> {
  return (v, path, issues) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      issues.push({ path, message: `Invalid input: expected object, received ${describe(v)}` });
      return FAIL;
    }
    const record = v as Record<string, unknown>;
    const unknown = Object.keys(record).filter((k) => !(k in fields));
    if (unknown.length > 0) {
      issues.push({
        path,
        message: `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${unknown.map((k) => JSON.stringify(k)).join(', ')}`,
      });
    }
    const out: Record<string, unknown> = {};
    let ok = unknown.length === 0;
    for (const [key, spec] of Object.entries(fields)) {
      const parsed = spec(record[key], [...path, key], issues);
      if (parsed === FAIL) ok = false;
      else if (parsed !== undefined) out[key] = parsed;
    }
    if (!ok) return FAIL;
    const result = out as Parsed<F>;
    let passed = true;
    for (const rule of rules) {
      if (!rule.ok(result)) {
        const at = typeof rule.path === 'function' ? rule.path(result) : rule.path;
        issues.push({ path: [...path, ...at], message: rule.message });
        passed = false;
      }
    }
    return passed ? result : FAIL;
  };
}
