import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IssuerPool } from '../src/oidc/issuers.ts';
import { activeTenantBySlug, issuerSources } from '../src/oidc/sources.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/**
 * The issuer pool under a burst: the requests that find a kept issuer due for its check share one
 * check (not one per request), and a tenant suspended meanwhile is built and refused once.
 */
describe('the issuer pool', () => {
  let t: TestSigid;

  beforeAll(async () => {
    t = await startSigid();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('checks a kept issuer once for a burst of requests, and drops it once when its tenant is suspended', async () => {
    const tenant = await t.createTenant('Pool');
    const looked: string[] = [];
    const pool = new IssuerPool({
      db: t.sigid.db,
      tokens: t.sigid.tokens,
      sources: issuerSources(t.sigid),
      findTenant: (slug) => {
        looked.push(slug);
        return activeTenantBySlug(t.sigid, slug);
      },
      publicUrl: () => 'http://127.0.0.1',
      masterKeys: [t.sigid.masterKey],
      recheckMs: 50,
    });
    const first = await pool.get(tenant.slug);
    expect(first?.tenant.id).toBe(tenant.tenantId);
    expect(looked).toHaveLength(1);

    await new Promise((resolve) => setTimeout(resolve, 80));
    const burst = await Promise.all(Array.from({ length: 20 }, () => pool.get(tenant.slug)));
    expect(burst.every((entry) => entry?.provider === first?.provider)).toBe(true);
    expect(looked).toHaveLength(2);

    const suspended = await t.http
      .patch(`/api/v1/tenants/${tenant.tenantId}`)
      .set('Authorization', t.operator)
      .send({ status: 'suspended' });
    expect(suspended.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const refused = await Promise.all(Array.from({ length: 20 }, () => pool.get(tenant.slug)));
    expect(refused.every((entry) => entry === undefined)).toBe(true);
    // One check found it changed, one build found it suspended; the rest waited for those.
    expect(looked).toHaveLength(4);
  });
});
