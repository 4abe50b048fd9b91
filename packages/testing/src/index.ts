/**
 * @aoetl/testing — shared test support. A devDependency only: no package or service may depend on it at run time.
 */
export {
  REPO,
  STATE,
  API,
  MONITOR,
  MONITOR_METRICS,
  REAL_ISSUER,
  AUDIENCE,
  stackEnv,
  devCa,
  token,
  psqlAdmin,
  redisAdminCli,
  killService,
  startServices,
  stackScript,
  warehouseTable,
} from './stack.js';
export { api, liveClient, httpsJson, waitFor, waitForRun, metricValue, type ApiResponse } from './http.js';
export { stackRedis, adminRedis } from './redis.js';
export { vaultRequest } from './vault.js';
export { connectAs, canLogIn, roleExists, type PgLogin } from './postgres.js';
export { freshControlDb, type FreshDb } from './fresh-db.js';
export { Collector } from './collect.js';
export {
  CUSTOMER_COLUMNS,
  EXPECTED_CUSTOMERS,
  demoTransform,
  transformedChecksum,
  copyFingerprint,
  customersTarget,
  customersPipeline,
} from './customers.js';
export { LocalIssuer, makeKey, makeTestCa, signJwt, signHs256, type Alg, type SigningKey, type TestCa } from './oidc.js';
export {
  ROUTES,
  IDENTITIES,
  TRIVIAL_CODE,
  bearer,
  clientHeaders,
  unique,
  pipelineBody,
  connectionBody,
  expectedStatus,
  createFixture,
  artifactSql,
  type Client,
  type Response,
  type Fixture,
  type Permission,
  type RouteCase,
} from './gateway-routes.js';
export { describeAuthorizationMatrix, type MatrixIdentity, type MatrixOptions } from './authorization-matrix.js';
