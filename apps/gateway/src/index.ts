export * from './main.js';
export { startGateway, type Gateway, type GatewayDeps } from './gateway.js';
export {
  loadConfig,
  parseConfig,
  ConfigError,
  type GatewayConfig,
  type GatewayConfigInput,
} from './config.js';
export { CredentialStore, CredentialError, type RobotIdentity, type AuthResult } from './auth/credentials.js';
export { generateSecret, hashSecret, verifySecret, MIN_SECRET_LENGTH } from './auth/secrets.js';
export { authorizePublish, authorizeSubscribe } from './auth/authorize.js';
