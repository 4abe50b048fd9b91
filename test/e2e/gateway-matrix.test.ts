/**
 * The authorization matrix against the running gateway (services.sh): the five identities of the local OIDC
 * issuer (alice submit+read acme, bob approve+read acme, carol submit+read globex, admin acme, reader acme) ×
 * every route of the v1 API. Another tenant gets 404 for every resource of acme's, so existence does not leak.
 * (services/agent-gateway/test/integration/gateway-matrix.test.ts adds minted globex admins and approvers.)
 */
import { IDENTITIES, artifactSql, describeAuthorizationMatrix, liveClient, psqlAdmin, token as realToken } from '@aoetl/testing';

jest.setTimeout(120_000);

describe('authorization matrix on the running gateway', () => {
  const client = liveClient();
  describeAuthorizationMatrix({
    client: () => client,
    identities: Object.entries(IDENTITIES).map(([name, i]) => ({ name, ...i, token: () => realToken(name) })),
    submitter: () => realToken('alice'),
    admin: () => realToken('admin'),
    submitterName: 'alice',
    addArtifacts: (id) => void psqlAdmin('aoetl', artifactSql(id)),
  });
});
