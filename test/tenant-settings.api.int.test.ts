import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brandingOf, mfaRequirement } from '../services/tenant-settings.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { backends } from './support/databases.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;
const defaults = { primary_color: '#2f5bea', background_color: '#f4f5f7', logo_uri: null };

type Tenant = { tenantId: string; key: string; keyId: string };
type AuditEntry = { action: string; actor: { type: string; id: string }; target: { id: string }; data: unknown };

describe.each(backends)('branding and MFA policy API ($name)', ({ name }) => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;

  beforeAll(async () => {
    t = await startSigid({ backend: name, config: { webhooks: { ...loadWebhookConfig({}), worker: false } } });
    tenant = await t.createTenant('Branded');
    other = await t.createTenant('Someone else');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function events(): Promise<number> {
    const { rows } = await t.sigid.db.query<{ count: number }>('select count(*)::int as count from sigid_events');
    return rows[0]?.count ?? 0;
  }

  async function audit(who: Tenant = tenant): Promise<AuditEntry[]> {
    const response = await t.http.get('/api/v1/audit-logs?limit=200&order=asc').set('Authorization', auth(who));
    expect(response.status).toBe(200);
    return response.body.data;
  }

  const getBranding = (who: Tenant = tenant) => t.http.get('/api/v1/branding').set('Authorization', auth(who));
  const patchBranding = (body: unknown, who: Tenant = tenant) =>
    t.http
      .patch('/api/v1/branding')
      .set('Authorization', auth(who))
      .send(body as object);
  const patchPolicy = (body: unknown, who: Tenant = tenant) =>
    t.http
      .patch('/api/v1/mfa-policy')
      .set('Authorization', auth(who))
      .send(body as object);

  async function application(who: Tenant = tenant): Promise<{ id: string; client_id: string }> {
    const response = await t.http
      .post('/api/v1/applications')
      .set('Authorization', auth(who))
      .send({ kind: 'web', client_name: 'App', redirect_uris: ['https://app.example.com/callback'] })
      .expect(201);
    return response.body;
  }

  it("starts with the defaults: the tenant's name, no logo, SigID's colours", async () => {
    const response = await getBranding().expect(200);
    expect(response.body).toEqual({ object: 'branding', display_name: 'Branded', ...defaults });
    expect(response.headers.etag).toMatch(/^"\d+"$/);
    expect(await brandingOf(t.sigid, tenant.tenantId)).toEqual({ display_name: 'Branded', ...defaults });
    const policy = await t.http.get('/api/v1/mfa-policy').set('Authorization', auth()).expect(200);
    expect(policy.body).toEqual({ object: 'mfa_policy', mode: 'optional', required_for_applications: [] });
  });

  it('sets any subset of fields, resets one with null, and the pages read it at once', async () => {
    const set = await patchBranding({
      display_name: 'Branded Login',
      logo_uri: 'https://cdn.branded.example/logo.svg',
      primary_color: '#AA0011',
    }).expect(200);
    expect(set.body).toEqual({
      object: 'branding',
      display_name: 'Branded Login',
      logo_uri: 'https://cdn.branded.example/logo.svg',
      primary_color: '#aa0011',
      background_color: '#f4f5f7',
    });
    expect((await getBranding().expect(200)).body).toEqual(set.body);
    expect(await brandingOf(t.sigid, tenant.tenantId)).toEqual({
      display_name: 'Branded Login',
      logo_uri: 'https://cdn.branded.example/logo.svg',
      primary_color: '#aa0011',
      background_color: '#f4f5f7',
    });

    const reset = await patchBranding({ primary_color: null, logo_uri: null, background_color: '#ffffff' }).expect(200);
    expect(reset.body).toEqual({
      object: 'branding',
      display_name: 'Branded Login',
      logo_uri: null,
      primary_color: '#2f5bea',
      background_color: '#ffffff',
    });
    await patchBranding({ display_name: null, background_color: null }).expect(200);
    expect((await getBranding().expect(200)).body).toEqual({
      object: 'branding',
      display_name: 'Branded',
      ...defaults,
    });
  });

  it('follows a rename while the display name is the default', async () => {
    const named = await t.createTenant('Before');
    await t.http.patch(`/api/v1/tenants/${named.tenantId}`).set('Authorization', t.operator).send({ name: 'After' });
    expect((await getBranding(named).expect(200)).body.display_name).toBe('After');
  });

  it('appends nothing for a PATCH with the values already set, and answers the same', async () => {
    const first = await patchBranding({ display_name: 'Same', primary_color: '#123456' }).expect(200);
    const before = await events();
    const again = await patchBranding({ display_name: 'Same', primary_color: '#123456' }).expect(200);
    expect(await events()).toBe(before);
    expect(again.body).toEqual(first.body);
    expect(again.headers.etag).toBe(first.headers.etag);
  });

  it('refuses bad input with a 400 problem and writes nothing', async () => {
    const cases: [string, unknown][] = [
      ['an unknown field', { display_name: 'x', font: 'Comic Sans' }],
      ['no field', {}],
      ['an empty name', { display_name: '   ' }],
      ['a long name', { display_name: 'x'.repeat(101) }],
      ['a name on two lines', { display_name: 'a\nb' }],
      ['an http logo', { logo_uri: 'http://cdn.example.com/logo.png' }],
      ['a javascript logo', { logo_uri: 'javascript:alert(1)' }],
      ['a relative logo', { logo_uri: '/logo.png' }],
      ['a short colour', { primary_color: '#abc' }],
      ['a named colour', { background_color: 'red' }],
      ['a number', { primary_color: 0x112233 }],
      ['an array', [{ display_name: 'x' }]],
    ];
    const before = await events();
    const branding = (await getBranding().expect(200)).body;
    const wrong: string[] = [];
    for (const [label, body] of cases) {
      const response = await patchBranding(body);
      if (response.status !== 400 || response.body.code !== 'invalid_request' || !problem.test(response.type ?? '')) {
        wrong.push(`${label}: ${response.status} ${response.body.code}`);
      }
    }
    for (const [label, body] of [
      ['an unknown mode', { mode: 'always' }],
      ['an unknown field', { mode: 'off', remember_device: true }],
      ['not an application id', { required_for_applications: ['acme-dashboard'] }],
      ['no field', {}],
    ] as const) {
      const response = await patchPolicy(body);
      if (response.status !== 400 || response.body.code !== 'invalid_request') {
        wrong.push(`policy ${label}: ${response.status} ${response.body.code}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(await events()).toBe(before);
    expect((await getBranding().expect(200)).body).toEqual(branding);
  });

  it('accepts an http logo on localhost', async () => {
    const response = await patchBranding({ logo_uri: 'http://localhost:5173/logo.png' }).expect(200);
    expect(response.body.logo_uri).toBe('http://localhost:5173/logo.png');
    await patchBranding({ logo_uri: null }).expect(200);
  });

  it('honours If-Match with the ETag, and refuses a stale one with 412', async () => {
    const current = await getBranding().expect(200);
    const etag = current.headers.etag as string;
    const changed = await patchBranding({ display_name: 'Pinned' }).set('If-Match', etag).expect(200);
    expect(changed.headers.etag).toBe(`"${Number(etag.slice(1, -1)) + 1}"`);
    const before = await events();
    const stale = await patchBranding({ display_name: 'Late' }).set('If-Match', etag);
    expect([stale.status, stale.body.code]).toEqual([412, 'precondition_failed']);
    expect(await events()).toBe(before);
    // The tenant's ETag is the same stream's revision.
    const row = await t.http.get(`/api/v1/tenants/${tenant.tenantId}`).set('Authorization', t.operator).expect(200);
    expect(row.headers.etag).toBe(changed.headers.etag);
  });

  it('treats Idempotency-Key on PATCH like the other PATCH routes: a repeat is a no-op', async () => {
    const first = await patchBranding({ primary_color: '#0a0b0c' }).set('Idempotency-Key', 'brand-once').expect(200);
    const before = await events();
    const again = await patchBranding({ primary_color: '#0a0b0c' }).set('Idempotency-Key', 'brand-once').expect(200);
    expect(again.body).toEqual(first.body);
    expect(await events()).toBe(before);
  });

  it("keeps tenants apart: one tenant's branding and policy never show at another", async () => {
    await patchBranding({ display_name: 'Only here', primary_color: '#010203' }).expect(200);
    const theirs = await getBranding(other).expect(200);
    expect(theirs.body).toEqual({ object: 'branding', display_name: 'Someone else', ...defaults });
    await patchBranding({ background_color: '#fefefe' }, other).expect(200);
    expect((await getBranding().expect(200)).body.background_color).not.toBe('#fefefe');
    expect((await audit(other)).some((entry) => JSON.stringify(entry.data).includes('Only here'))).toBe(false);
  });

  it('sets the MFA policy, required per application, and resolves it for a client_id', async () => {
    const app = await application();
    const plain = await application();
    const set = await patchPolicy({ required_for_applications: [app.id, app.id] }).expect(200);
    expect(set.body).toEqual({ object: 'mfa_policy', mode: 'optional', required_for_applications: [app.id] });
    expect(await mfaRequirement(t.sigid, tenant.tenantId, app.client_id)).toBe('required');
    expect(await mfaRequirement(t.sigid, tenant.tenantId, plain.client_id)).toBe('optional');
    expect(await mfaRequirement(t.sigid, tenant.tenantId, 'no-such-client')).toBe('optional');
    // Another tenant's policy says nothing about this one's applications, nor the reverse.
    expect(await mfaRequirement(t.sigid, other.tenantId, app.client_id)).toBe('optional');

    await patchPolicy({ mode: 'off' }).expect(200);
    expect(await mfaRequirement(t.sigid, tenant.tenantId, plain.client_id)).toBe('off');
    expect(await mfaRequirement(t.sigid, tenant.tenantId, app.client_id)).toBe('required');
    await patchPolicy({ mode: 'required', required_for_applications: [] }).expect(200);
    expect(await mfaRequirement(t.sigid, tenant.tenantId, plain.client_id)).toBe('required');
    const before = await events();
    const same = await patchPolicy({ mode: 'required', required_for_applications: [] }).expect(200);
    expect(same.body).toEqual({ object: 'mfa_policy', mode: 'required', required_for_applications: [] });
    expect(await events()).toBe(before);
    await patchPolicy({ mode: 'optional' }).expect(200);
  });

  it("refuses an unknown or another tenant's application in the policy (400), and writes nothing", async () => {
    const theirs = await application(other);
    const mine = await application();
    const before = await events();
    const response = await patchPolicy({ required_for_applications: [mine.id, theirs.id] });
    expect([response.status, response.body.code]).toEqual([400, 'invalid_request']);
    expect(response.body.errors).toEqual([
      expect.objectContaining({ path: 'required_for_applications.1', code: 'unknown_application' }),
    ]);
    const deleted = await application();
    await t.http.delete(`/api/v1/applications/${deleted.id}`).set('Authorization', auth()).expect(204);
    const after = await events();
    expect((await patchPolicy({ required_for_applications: [deleted.id] })).status).toBe(400);
    expect(await events()).toBe(after);
    expect(after).toBeGreaterThan(before); // only the application writes above
    const policy = await t.http.get('/api/v1/mfa-policy').set('Authorization', auth()).expect(200);
    expect(policy.body.required_for_applications).not.toContain(theirs.id);
  });

  it('shows every change in the audit log, on the tenant, with its actor and the fields set', async () => {
    const audited = await t.createTenant('Audited');
    await patchBranding({ display_name: 'Audited Login', logo_uri: 'https://cdn.example.com/a.png' }, audited).expect(
      200,
    );
    await patchBranding({ logo_uri: null }, audited).expect(200);
    await patchPolicy({ mode: 'required' }, audited).expect(200);
    const actor = { type: 'api_key', id: audited.keyId };
    const entries = (await audit(audited)).filter(
      (entry) => entry.action.startsWith('tenant.') && entry.actor.id === audited.keyId,
    );
    expect(entries.map((entry) => [entry.action, entry.actor, entry.target.id, entry.data])).toEqual([
      [
        'tenant.branding.changed',
        actor,
        audited.tenantId,
        { display_name: 'Audited Login', logo_uri: 'https://cdn.example.com/a.png' },
      ],
      ['tenant.branding.changed', actor, audited.tenantId, { logo_uri: null }],
      ['tenant.mfa_policy.changed', actor, audited.tenantId, { mode: 'required', required_for_applications: [] }],
    ]);
  });
});
