/**
 * Robot credentials in PostgreSQL (table robot_credentials, migration 0002): provisioning for the
 * CLI (and later the API), and the lookups the gateway makes on CONNECT.
 *
 * Lookups are batched and cached: the CONNECTs that arrive within one tick share one query
 * (`WHERE robot_id = ANY($1)`), and a row is trusted for `cacheTtlMs`, so a reconnect storm of
 * 100,000 robots costs a few hundred queries, and a revocation takes effect within the TTL.
 */
import { ID_PATTERN } from '@fleet/protocol';
import type { Pool } from 'pg';
import { generateSecret, hashSecret, verifySecret } from './secrets.js';

export interface CredentialRow {
  readonly robotId: string;
  readonly siteId: string;
  readonly secretHash: string;
  readonly revoked: boolean;
}

export interface RobotIdentity {
  readonly robotId: string;
  readonly siteId: string;
}

export type AuthRefusal =
  'anonymous' | 'unknown_robot' | 'bad_secret' | 'revoked' | 'bad_client_id' | 'unavailable';

export type AuthResult =
  | { readonly ok: true; readonly identity: RobotIdentity }
  | { readonly ok: false; readonly reason: AuthRefusal; readonly message: string };

export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

function checkId(kind: string, id: string): void {
  if (!ID_PATTERN.test(id))
    throw new CredentialError(`${kind} ${JSON.stringify(id)} does not match ${ID_PATTERN.source}`);
}

interface Cached {
  readonly row: CredentialRow | undefined;
  readonly at: number;
}

export interface CredentialStoreOptions {
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
}

export class CredentialStore {
  readonly #pool: Pool;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Cached>();
  #batch: Map<string, ((row: CredentialRow | undefined) => void)[]> | undefined;
  #batchFailures: ((error: unknown) => void)[] = [];
  /** Queries made for lookups (a metric, and how the tests see batching). */
  queries = 0;

  constructor(pool: Pool, options: CredentialStoreOptions = {}) {
    this.#pool = pool;
    this.#ttl = options.cacheTtlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** Adds a robot with a new generated secret (or the given one); returns the secret, shown once. */
  async provision(robotId: string, siteId: string, secret: string = generateSecret()): Promise<string> {
    checkId('robot id', robotId);
    checkId('site id', siteId);
    const hash = hashSecret(secret);
    const result = await this.#pool.query(
      `INSERT INTO robot_credentials (robot_id, site_id, secret_hash) VALUES ($1, $2, $3)
       ON CONFLICT (robot_id) DO NOTHING`,
      [robotId, siteId, hash],
    );
    if (result.rowCount !== 1) {
      throw new CredentialError(
        `robot ${robotId} is already provisioned; use rotate to give it a new secret`,
      );
    }
    this.#cache.delete(robotId);
    return secret;
  }

  /**
   * Many robots in one statement (fleet onboarding, benchmarks). Existing robots are left as they
   * are; returns how many were added.
   */
  async provisionMany(
    robots: readonly { robotId: string; siteId: string; secret: string }[],
  ): Promise<number> {
    let added = 0;
    for (let at = 0; at < robots.length; at += 5000) {
      const chunk = robots.slice(at, at + 5000);
      for (const r of chunk) {
        checkId('robot id', r.robotId);
        checkId('site id', r.siteId);
      }
      const result = await this.#pool.query(
        `INSERT INTO robot_credentials (robot_id, site_id, secret_hash)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
         ON CONFLICT (robot_id) DO NOTHING`,
        [chunk.map((r) => r.robotId), chunk.map((r) => r.siteId), chunk.map((r) => hashSecret(r.secret))],
      );
      added += result.rowCount ?? 0;
    }
    for (const r of robots) this.#cache.delete(r.robotId);
    return added;
  }

  /** A new secret for a robot (the old one stops working within the cache TTL); un-revokes it. */
  async rotate(robotId: string, secret: string = generateSecret()): Promise<string> {
    const result = await this.#pool.query(
      `UPDATE robot_credentials SET secret_hash = $2, rotated_at = now(), revoked_at = NULL WHERE robot_id = $1`,
      [robotId, hashSecret(secret)],
    );
    if (result.rowCount !== 1) throw new CredentialError(`robot ${robotId} is not provisioned`);
    this.#cache.delete(robotId);
    return secret;
  }

  async revoke(robotId: string): Promise<void> {
    const result = await this.#pool.query(
      `UPDATE robot_credentials SET revoked_at = coalesce(revoked_at, now()) WHERE robot_id = $1`,
      [robotId],
    );
    if (result.rowCount !== 1) throw new CredentialError(`robot ${robotId} is not provisioned`);
    this.#cache.delete(robotId);
  }

  async list(
    siteId?: string,
  ): Promise<{ robotId: string; siteId: string; createdAt: Date; revokedAt: Date | null }[]> {
    const { rows } = await this.#pool.query<{
      robot_id: string;
      site_id: string;
      created_at: Date;
      revoked_at: Date | null;
    }>(
      `SELECT robot_id, site_id, created_at, revoked_at FROM robot_credentials
        WHERE $1::text IS NULL OR site_id = $1 ORDER BY site_id, robot_id`,
      [siteId ?? null],
    );
    return rows.map((r) => ({
      robotId: r.robot_id,
      siteId: r.site_id,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** The robot's row, from the cache when fresh; concurrent lookups share one query. */
  lookup(robotId: string): Promise<CredentialRow | undefined> {
    const cached = this.#cache.get(robotId);
    if (cached !== undefined && this.#now() - cached.at < this.#ttl) return Promise.resolve(cached.row);
    return new Promise((resolve, reject) => {
      if (this.#batch === undefined) {
        this.#batch = new Map();
        this.#batchFailures = [];
        setImmediate(() => void this.#runBatch());
      }
      const waiting = this.#batch.get(robotId);
      if (waiting) waiting.push(resolve);
      else this.#batch.set(robotId, [resolve]);
      this.#batchFailures.push(reject);
    });
  }

  async #runBatch(): Promise<void> {
    const batch = this.#batch;
    const failures = this.#batchFailures;
    this.#batch = undefined;
    this.#batchFailures = [];
    if (batch === undefined) return;
    try {
      this.queries++;
      const { rows } = await this.#pool.query<{
        robot_id: string;
        site_id: string;
        secret_hash: string;
        revoked: boolean;
      }>(
        `SELECT robot_id, site_id, secret_hash, revoked_at IS NOT NULL AS revoked
           FROM robot_credentials WHERE robot_id = ANY($1::text[])`,
        [[...batch.keys()]],
      );
      const found = new Map(
        rows.map((r) => [
          r.robot_id,
          { robotId: r.robot_id, siteId: r.site_id, secretHash: r.secret_hash, revoked: r.revoked },
        ]),
      );
      const at = this.#now();
      for (const [robotId, waiters] of batch) {
        const row = found.get(robotId);
        this.#cache.set(robotId, { row, at });
        for (const resolve of waiters) resolve(row);
      }
      if (this.#cache.size > 500_000) this.#evictStale(at);
    } catch (error) {
      for (const reject of failures) reject(error);
    }
  }

  #evictStale(now: number): void {
    for (const [key, entry] of this.#cache) if (now - entry.at >= this.#ttl) this.#cache.delete(key);
  }

  /**
   * The CONNECT check: username is the robot id, password its secret, and the client id must be
   * the robot id or `fleet-agent-<robotId>` (so one robot cannot take over another's session).
   */
  async authenticate(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<AuthResult> {
    if (username === undefined || username === '' || password === undefined) {
      return {
        ok: false,
        reason: 'anonymous',
        message: 'anonymous connections are refused: give the robot id and secret',
      };
    }
    if (!ID_PATTERN.test(username))
      return { ok: false, reason: 'unknown_robot', message: `unknown robot ${JSON.stringify(username)}` };
    let row: CredentialRow | undefined;
    try {
      row = await this.lookup(username);
    } catch (error) {
      return {
        ok: false,
        reason: 'unavailable',
        message: `credential store unavailable: ${(error as Error).message}`,
      };
    }
    if (row === undefined)
      return { ok: false, reason: 'unknown_robot', message: `unknown robot ${username}` };
    if (!verifySecret(password.toString('utf8'), row.secretHash)) {
      return { ok: false, reason: 'bad_secret', message: `wrong secret for robot ${username}` };
    }
    if (row.revoked) return { ok: false, reason: 'revoked', message: `robot ${username} is revoked` };
    if (clientId !== username && clientId !== `fleet-agent-${username}`) {
      return {
        ok: false,
        reason: 'bad_client_id',
        message: `client id ${JSON.stringify(clientId)} is not allowed for robot ${username} (use "${username}" or "fleet-agent-${username}")`,
      };
    }
    return { ok: true, identity: { robotId: row.robotId, siteId: row.siteId } };
  }
}
