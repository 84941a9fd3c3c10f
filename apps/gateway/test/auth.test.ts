import { describe, expect, it } from 'vitest';
import { authorizePublish, authorizeSubscribe, publishAcl } from '../src/auth/authorize.js';
import { MIN_SECRET_LENGTH, generateSecret, hashSecret, verifySecret } from '../src/auth/secrets.js';

const me = { robotId: 'r-1', siteId: 'site-1' };

describe('secrets', () => {
  it('verifies the secret it hashed and nothing else; stores no secret text', () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = hashSecret(secret);
    expect(stored).toMatch(/^sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(stored).not.toContain(secret);
    expect(verifySecret(secret, stored)).toBe(true);
    expect(verifySecret(`${secret}x`, stored)).toBe(false);
    expect(verifySecret(secret.slice(1), stored)).toBe(false);
  });

  it('salts: the same secret hashes differently each time', () => {
    const secret = generateSecret();
    expect(hashSecret(secret)).not.toBe(hashSecret(secret));
  });

  it('refuses short secrets and rejects malformed stored hashes', () => {
    expect(() => hashSecret('x'.repeat(MIN_SECRET_LENGTH - 1))).toThrow(/at least 32 characters/);
    for (const bad of ['', 'sha256$', 'md5$abc$def', 'sha256$a$b$c', 'plain-text-secret']) {
      expect(verifySecret('plain-text-secret', bad)).toBe(false);
    }
  });
});

describe('topic authorisation', () => {
  it('lets a robot publish on its own robot-to-cloud channels only', () => {
    for (const channel of ['telemetry', 'events', 'acks', 'presence', 'time/req']) {
      expect(authorizePublish(me, `fleet/v1/site-1/r-1/${channel}`).ok, channel).toBe(true);
    }
    const refused = [
      'fleet/v1/site-1/r-2/telemetry', // another robot
      'fleet/v1/site-2/r-1/telemetry', // same robot id, other site
      'fleet/v1/site-1/r-1/cmd', // cloud-to-robot
      'fleet/v1/site-1/r-1/time/resp',
      'fleet/v1/site-1/r-1/telemetry/extra',
      'fleet/v2/site-1/r-1/telemetry',
      'other/topic',
    ];
    for (const topic of refused) {
      const decision = authorizePublish(me, topic);
      expect(decision.ok, topic).toBe(false);
      if (!decision.ok) expect(decision.message).toContain('r-1');
    }
  });

  it('the per-connection publish ACL holds exactly the topics authorizePublish accepts, with the same parts', () => {
    const acl = publishAcl(me);
    expect([...acl.keys()]).toHaveLength(5);
    for (const [topic, parts] of acl) {
      const decision = authorizePublish(me, topic);
      expect(decision, topic).toEqual({ ok: true, value: parts });
    }
    for (const topic of [
      'fleet/v1/site-1/r-2/telemetry',
      'fleet/v1/site-2/r-1/telemetry',
      'fleet/v1/site-1/r-1/cmd',
      'fleet/v1/site-1/r-1/time/resp',
      'fleet/v1/site-1/r-1/telemetry/extra',
      'fleet/v1/site-1/r-1/telemetry/',
      'fleet/v1/site-1/r-1/',
    ]) {
      expect(acl.has(topic), topic).toBe(false);
    }
  });

  it('lets a robot subscribe to exactly its own cmd and time/resp, no wildcards', () => {
    expect(authorizeSubscribe(me, 'fleet/v1/site-1/r-1/cmd').ok).toBe(true);
    expect(authorizeSubscribe(me, 'fleet/v1/site-1/r-1/time/resp').ok).toBe(true);
    for (const filter of [
      'fleet/v1/site-1/r-2/cmd',
      'fleet/v1/site-1/+/cmd',
      'fleet/#',
      '#',
      'fleet/v1/site-1/r-1/telemetry',
      '$share/g/fleet/v1/site-1/r-1/cmd',
    ]) {
      expect(authorizeSubscribe(me, filter).ok, filter).toBe(false);
    }
  });
});
