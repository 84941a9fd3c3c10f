-- Per-robot MQTT credentials, checked by the gateway on every CONNECT.
--
-- The MQTT username is the robot id; the password is a secret the provisioning CLI generates
-- (32 random bytes, base64url) and prints once. Only a salted hash is stored, in the
-- self-describing form `sha256$<salt base64url>$<digest base64url>` (apps/gateway/src/auth/secrets.ts
-- explains why a fast hash is right for generated secrets). A robot belongs to one site; it may
-- use only the topics fleet/v1/{site_id}/{robot_id}/... . Revoking sets revoked_at; the row stays
-- so that the robot id is not silently reused.
CREATE TABLE robot_credentials (
  robot_id    text        PRIMARY KEY CHECK (robot_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  site_id     text        NOT NULL CHECK (site_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  secret_hash text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  rotated_at  timestamptz,
  revoked_at  timestamptz
);

CREATE INDEX robot_credentials_site_idx ON robot_credentials (site_id);

-- Where each gateway instance has read the commands topic up to: the next offset to read, per
-- partition. A gateway that restarts resumes here, so a command produced while it was down is
-- still delivered (unless its deadline has passed by then).
CREATE TABLE gateway_command_offsets (
  gateway_id  text    NOT NULL,
  topic       text    NOT NULL,
  partition   integer NOT NULL CHECK (partition >= 0),
  next_offset bigint  NOT NULL CHECK (next_offset >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (gateway_id, topic, partition)
);
