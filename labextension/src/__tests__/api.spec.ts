import { ServerConnection } from '@jupyterlab/services';

import { MaasApi, MaasApiError, parseMetrics } from '../api';

/** A MaasApi whose fetch answers from a table and records every request. */
function fakeApi(answers: Record<string, { status: number; body?: unknown }>, token = '') {
  const calls: Array<{ url: string; method: string; body: string | null }> = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    // ServerConnection appends a cache-busting timestamp; the tests look at the rest.
    const url = request.url.replace(/[?&]\d{10,}$/, '');
    const method = request.method;
    const body = method === 'GET' || method === 'HEAD' ? null : await request.text();
    calls.push({ url, method, body });
    const key = `${method} ${url.replace('http://localhost:8888/lab-base/maas/api/', '')}`;
    const answer = answers[key] ?? {
      status: 404,
      body: { error: { code: 'not_found', message: `no such route: ${key}` } }
    };
    const text = answer.body === undefined ? null : JSON.stringify(answer.body);
    return new Response(text, { status: answer.status, headers: { 'Content-Type': 'application/json' } });
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/lab-base/',
    wsUrl: 'ws://localhost:8888/lab-base/',
    token,
    fetch,
    Request,
    Headers
  });
  return { api: new MaasApi(settings), calls };
}

describe('MaasApi', () => {
  it('lists every model by paging through maas/api/models', async () => {
    const model = (name: string) => ({ name, latest_version: 1, version_count: 1, aliases: {} });
    const first = Array.from({ length: 500 }, (_, i) => model(`m${i}`));
    const { api, calls } = fakeApi({
      'GET models?offset=0&limit=500': { status: 200, body: { items: first, total: 501, offset: 0, limit: 500 } },
      'GET models?offset=500&limit=500': {
        status: 200,
        body: { items: [model('last')], total: 501, offset: 500, limit: 500 }
      }
    });
    const models = await api.listModels();
    expect(models).toHaveLength(501);
    expect(models[500].name).toBe('last');
    expect(calls.map(c => c.url)).toEqual([
      'http://localhost:8888/lab-base/maas/api/models?offset=0&limit=500',
      'http://localhost:8888/lab-base/maas/api/models?offset=500&limit=500'
    ]);
  });

  it('sends deploy as a JSON POST with endpoint, model and version', async () => {
    const deployed = { name: 'ep', model: 'mnist', version: 2, state: 'ready' };
    const { api, calls } = fakeApi({ 'POST deployments': { status: 201, body: deployed } });
    await expect(api.deploy('ep', 'mnist', '2')).resolves.toEqual(deployed);
    expect(calls[0].method).toBe('POST');
    expect(JSON.parse(calls[0].body!)).toEqual({ name: 'ep', model: 'mnist', version: '2' });
  });

  it('asks for a canary as a deployment change with version and weight', async () => {
    const { api, calls } = fakeApi({ 'POST deployments': { status: 200, body: { name: 'ep' } } });
    await api.canary('ep', 'mnist', '3', 10);
    expect(JSON.parse(calls[0].body!)).toEqual({ name: 'ep', model: 'mnist', canary: { version: '3', weight: 10 } });
  });

  it('puts an alias with the version number and escapes names in the path', async () => {
    const { api, calls } = fakeApi({ 'PUT models/my%20model/aliases/prod': { status: 200, body: {} } });
    await api.setAlias('my model', 'prod', 3);
    expect(calls[0].url).toBe('http://localhost:8888/lab-base/maas/api/models/my%20model/aliases/prod');
    expect(JSON.parse(calls[0].body!)).toEqual({ version: 3 });
  });

  it('raises the server reason from an {"error": {code, message}} body', async () => {
    const { api } = fakeApi({
      'POST deployments/ep/rollback': {
        status: 409,
        body: { error: { code: 'conflict', message: "endpoint 'ep' has no previous version to roll back to" } }
      }
    });
    const error = await api.rollback('ep').catch(e => e);
    expect(error).toBeInstanceOf(MaasApiError);
    expect(error.status).toBe(409);
    expect(error.code).toBe('conflict');
    expect(error.message).toBe("endpoint 'ep' has no previous version to roll back to");
  });

  it('raises a 404 with the server reason, as any other refusal', async () => {
    const { api } = fakeApi({});
    const error: MaasApiError = await api.listJobs().catch(e => e);
    expect(error).toBeInstanceOf(MaasApiError);
    expect([error.status, error.code, error.message]).toEqual([404, 'not_found', 'no such route: GET jobs']);
  });

  it('resolves undefined for 204 (undeploy)', async () => {
    const { api, calls } = fakeApi({ 'DELETE deployments/ep': { status: 204 } });
    await expect(api.undeploy('ep')).resolves.toBeUndefined();
    expect(calls[0].method).toBe('DELETE');
  });

  // A key row exactly as maas/api/keys lists it (a listing read back from SQLite has no UTC offset).
  const listed = {
    id: 3,
    prefix: 'maasik_gOJbR',
    endpoints: ['mnist'],
    description: "the shop's backend",
    created_by: 'alice',
    created_at: '2026-12-01T05:47:40.348882',
    revoked_by: null,
    revoked_at: null,
    last_used_at: '2026-12-01T05:49:02.118001',
    active: true
  };

  it('lists the active keys from maas/api/keys', async () => {
    const { api, calls } = fakeApi({ 'GET keys': { status: 200, body: { items: [listed] } } });
    await expect(api.listKeys()).resolves.toEqual([listed]);
    expect(calls.map(c => [c.method, c.url])).toEqual([['GET', 'http://localhost:8888/lab-base/maas/api/keys']]);
  });

  it('creates a key for named endpoints or for all, and hands back the answer with the key', async () => {
    const created = {
      ...listed,
      id: 4,
      prefix: 'maasik_Ab3x-',
      created_at: '2026-12-01T06:00:00.000001+00:00',
      last_used_at: null,
      key: 'maasik_Ab3x-Q2VzdC1sYS1jbGUtZGUtdGVzdC1xdWktbmUtc2VydC1h'
    };
    const { api, calls } = fakeApi({ 'POST keys': { status: 201, body: created } });
    await expect(api.createKey(['mnist'], "the shop's backend")).resolves.toEqual(created);
    await api.createKey('*', '');
    expect(calls.map(c => [c.method, JSON.parse(c.body!)])).toEqual([
      ['POST', { endpoints: ['mnist'], description: "the shop's backend" }],
      ['POST', { endpoints: '*' }] // no description: the server's default, not an empty one sent
    ]);
  });

  it('revokes a key by id, with a reason when given', async () => {
    const revoked = { ...listed, revoked_by: 'alice', revoked_at: '2026-12-01T06:10:00.5+00:00', active: false };
    const { api, calls } = fakeApi({
      'DELETE keys/3': { status: 200, body: revoked },
      'DELETE keys/3?reason=rotated%20monthly': { status: 200, body: revoked }
    });
    await expect(api.revokeKey(3)).resolves.toEqual(revoked);
    await api.revokeKey(3, 'rotated monthly');
    expect(calls.map(c => [c.method, c.url])).toEqual([
      ['DELETE', 'http://localhost:8888/lab-base/maas/api/keys/3'],
      ['DELETE', 'http://localhost:8888/lab-base/maas/api/keys/3?reason=rotated%20monthly']
    ]);
  });

  it('raises the message the server sent when it refuses a key', async () => {
    const { api } = fakeApi({
      'POST keys': {
        status: 400,
        body: { error: { code: 'invalid_input', message: 'name the endpoints the key may call (or "*" for all)' } }
      },
      'DELETE keys/99': {
        status: 404,
        body: { error: { code: 'not_found', message: 'inference key 99 does not exist' } }
      }
    });
    const refused: MaasApiError = await api.createKey([], '').catch(e => e);
    expect([refused.status, refused.code, refused.message]).toEqual([
      400,
      'invalid_input',
      'name the endpoints the key may call (or "*" for all)'
    ]);
    const missing: MaasApiError = await api.revokeKey(99).catch(e => e);
    expect([missing.status, missing.code, missing.message]).toEqual([
      404,
      'not_found',
      'inference key 99 does not exist'
    ]);
  });

  it('names the V2 inference URL of an endpoint under the base URL', () => {
    expect(fakeApi({}).api.inferUrl('mnist')).toBe('http://localhost:8888/lab-base/maas/v2/models/mnist/infer');
    expect(fakeApi({}).api.inferUrl('<endpoint>')).toBe(
      'http://localhost:8888/lab-base/maas/v2/models/<endpoint>/infer'
    );
  });

  it('builds the events WebSocket URL under the base URL, with the token when there is one', () => {
    expect(fakeApi({}).api.eventsUrl()).toBe('ws://localhost:8888/lab-base/maas/api/events');
    expect(fakeApi({}, 's3cr3t').api.eventsUrl()).toBe('ws://localhost:8888/lab-base/maas/api/events?token=s3cr3t');
  });
});

describe('parseMetrics', () => {
  it('reads a list of points with any of the usual key names', () => {
    expect(
      parseMetrics({
        points: [
          { t: 1, throughput: 10, p99_ms: 3.5 },
          { time: 2, rps: 12, p99: 4 }
        ]
      })
    ).toEqual([
      { t: 1, throughput: 10, p99: 3.5 },
      { t: 2, throughput: 12, p99: 4 }
    ]);
  });

  it('reads parallel arrays', () => {
    expect(parseMetrics({ t: [5, 6], throughput: [1, 2], latency_p99_ms: [9, null] })).toEqual([
      { t: 5, throughput: 1, p99: 9 },
      { t: 6, throughput: 2, p99: null }
    ]);
  });

  it("merges the monitor's per-version series: throughput adds up, p99 is the worst", () => {
    const body = {
      endpoint: 'ep',
      versions: {
        '1': { points: { t: [10, 11], throughput: [5, 6], p99_ms: [2.0, null] }, summary: {} },
        '2': { points: { t: [11, 12], throughput: [1, 2], p99_ms: [4.0, 3.0] }, summary: {} }
      }
    };
    expect(parseMetrics(body)).toEqual([
      { t: 10, throughput: 5, p99: 2 },
      { t: 11, throughput: 7, p99: 4 },
      { t: 12, throughput: 2, p99: 3 }
    ]);
  });

  it('returns nothing for shapes it does not know', () => {
    expect(parseMetrics(null)).toEqual([]);
    expect(parseMetrics('x')).toEqual([]);
    expect(parseMetrics({ something: 1 })).toEqual([]);
  });
});
