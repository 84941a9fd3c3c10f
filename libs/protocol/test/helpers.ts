import { expect } from 'vitest';
import { ProtocolError, type ProtocolErrorCode } from '../src/index.js';

/** Runs `fn`, expects a ProtocolError with `code`, and checks its message contains each fragment. */
export function expectProtocolError(
  fn: () => unknown,
  code: ProtocolErrorCode,
  ...fragments: string[]
): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a ProtocolError to be thrown').toBeInstanceOf(ProtocolError);
  const error = caught as ProtocolError;
  expect(error.code, error.message).toBe(code);
  for (const fragment of fragments) expect(error.message).toContain(fragment);
  return error;
}

/** Runs `fn` and returns its value, or the ProtocolError it threw; any other throw fails the test. */
export function resultOrProtocolError<T>(fn: () => T): T | ProtocolError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
}

export function concat(...parts: (Uint8Array | readonly number[])[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
