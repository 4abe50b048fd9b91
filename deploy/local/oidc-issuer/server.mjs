// Development OpenID Connect issuer for local aoetl stacks: panva's oidc-provider (configured in provider.mjs)
// served over HTTPS with the dev CA's server certificate.
//
// Client credentials for the test identities, the device authorization flow for `aoetl login`, and the
// authorization code flow with PKCE for the monitor's dashboard.
// State (signing keys, client secrets) lives under $AOETL_STATE_DIR (default <repo>/.state); see provider.mjs.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createIssuer } from './provider.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const stateDir = resolve(process.env.AOETL_STATE_DIR || join(here, '..', '..', '..', '.state'));
const host = process.env.AOETL_OIDC_HOST || '127.0.0.1';
const port = Number(process.env.AOETL_OIDC_PORT || 9400);
const issuer = process.env.AOETL_OIDC_ISSUER || `https://${host}:${port}`;
const tlsCert = process.env.AOETL_OIDC_TLS_CERT || join(stateDir, 'certs', 'oidc.crt');
const tlsKey = process.env.AOETL_OIDC_TLS_KEY || join(stateDir, 'certs', 'oidc.key');

const dashboardRedirectUris = process.env.AOETL_DASHBOARD_REDIRECT_URIS?.split(',').map((u) => u.trim()).filter(Boolean);
const { provider, handler } = createIssuer({ issuer, stateDir, ...(dashboardRedirectUris?.length ? { dashboardRedirectUris } : {}) });
for (const event of ['server_error', 'grant.error']) {
  provider.on(event, (_ctx, error) => {
    console.error(`${new Date().toISOString()} ${event}: ${error.name}: ${error.message}`);
  });
}
provider.on('grant.success', (ctx) => {
  console.log(`${new Date().toISOString()} token issued to ${ctx.oidc.client?.clientId}`);
});

const server = createServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey) }, handler);
server.listen(port, host, () => {
  console.log(`${new Date().toISOString()} oidc issuer ${issuer} listening on https://${host}:${port} (state ${stateDir})`);
});

function shutdown(signal) {
  console.log(`${new Date().toISOString()} ${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
