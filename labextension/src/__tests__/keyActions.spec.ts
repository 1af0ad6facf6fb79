import { IMaasApi, MaasApiError } from '../api';
import { SidebarActions } from '../components/actions';
import { MaasModel } from '../model';
import { ICreatedKey, IInferenceKey } from '../types';

// JupyterLab's dialogs and notifications, as the actions see them: each dialog recorded and answered
// from a queue, each notification kept with its last text.
const mockToasts = new Map<string, string>();
const mockDialogs: Array<{ title: string; body: any }> = [];
const mockAnswers: Array<{ button: { accept: boolean }; value?: unknown }> = [];
let mockNextToast = 0;
jest.mock('@jupyterlab/apputils', () => ({
  Notification: {
    emit: (message: string) => {
      const id = `toast-${++mockNextToast}`;
      mockToasts.set(id, message);
      return id;
    },
    update: (args: { id: string; message: string }) => mockToasts.set(args.id, args.message),
    dismiss: (id: string) => mockToasts.delete(id)
  },
  showDialog: async (options: { title: string; body: unknown }) => {
    mockDialogs.push({ title: options.title, body: options.body });
    return mockAnswers.shift() ?? { button: { accept: true } };
  },
  showErrorMessage: async () => undefined,
  Dialog: { cancelButton: (o: unknown) => o, warnButton: (o: unknown) => o, okButton: (o: unknown) => o }
}));

// The dialogs' React views are tried in the browser test; here they are stand-ins that keep what they get.
const mockForms: Array<{ endpoints: string[]; chosen: string[] }> = [];
jest.mock('../components/keyDialogs', () => ({
  KeyForm: class {
    constructor(endpoints: string[], chosen: string[]) {
      mockForms.push({ endpoints, chosen });
    }
  },
  KeyShownOnce: function KeyShownOnce() {
    return null;
  }
}));

const SECRET = 'maasik_Ab3x-Q2VzdC1sYS1jbGUtZGUtdGVzdC1xdWktbmUtc2VydC1h';

/** The keys area of the server, with endpoints "ep" and "churn" deployed. */
function server() {
  const rows: IInferenceKey[] = [
    {
      id: 7,
      prefix: 'maasik_old7-',
      endpoints: ['churn', 'ep'],
      description: 'batch scoring',
      created_by: 'bob',
      created_at: '2026-11-30T10:00:00.000001',
      revoked_by: null,
      revoked_at: null,
      last_used_at: null,
      active: true
    }
  ];
  const calls: string[] = [];
  const api = {
    listModels: async () => [],
    listJobs: async () => [],
    deploymentMetrics: async () => [],
    listDeployments: async () => ['churn', 'ep'].map(name => ({ name, model: 'mnist', version: 1, state: 'ready' })),
    listKeys: async () => rows.filter(k => k.active).map(k => ({ ...k })),
    createKey: async (endpoints: string[] | '*', description: string): Promise<ICreatedKey> => {
      calls.push(`createKey ${JSON.stringify(endpoints)} ${description}`);
      if (endpoints !== '*' && endpoints.length === 0) {
        throw new MaasApiError(400, 'invalid_input', 'name the endpoints the key may call (or "*" for all)');
      }
      const row: IInferenceKey = {
        id: 8,
        prefix: SECRET.slice(0, 12),
        endpoints: endpoints === '*' ? ['*'] : endpoints,
        description,
        created_by: 'alice',
        created_at: '2026-12-01T06:00:00.000001+00:00',
        revoked_by: null,
        revoked_at: null,
        last_used_at: null,
        active: true
      };
      rows.push(row);
      return { ...row, key: SECRET };
    },
    revokeKey: async (id: number) => {
      calls.push(`revokeKey ${id}`);
      const row = rows.find(k => k.id === id)!;
      row.active = false;
      return { ...row };
    },
    inferUrl: (endpoint: string) => `http://h/lab/maas/v2/models/${endpoint}/infer`,
    eventsUrl: () => 'ws://h/lab/maas/api/events'
  };
  return { api: api as unknown as IMaasApi, calls };
}

async function setup() {
  const { api, calls } = server();
  const model = new MaasModel(api, null);
  await model.refreshAll();
  return { model, calls, actions: new SidebarActions(model) };
}

beforeEach(() => {
  mockToasts.clear();
  mockDialogs.length = 0;
  mockAnswers.length = 0;
  mockForms.length = 0;
});

describe('key actions', () => {
  it('asks for the endpoints, creates the key and hands it to the show-once dialog alone', async () => {
    const { model, calls, actions } = await setup();
    mockAnswers.push({ button: { accept: true }, value: { endpoints: ['ep'], description: "the shop's backend" } });
    await actions.newKey(['ep']);

    expect(mockForms).toEqual([{ endpoints: ['churn', 'ep'], chosen: ['ep'] }]); // the endpoint's own row ticks it
    expect(calls).toEqual([`createKey ["ep"] the shop's backend`]);
    expect(mockDialogs.map(d => d.title)).toEqual(['New key for "ep"', 'Key maasik_Ab3x-… created']);
    const shown = mockDialogs[1].body.props;
    expect(shown.created.key).toBe(SECRET);
    expect(shown.inferUrl).toBe('http://h/lab/maas/v2/models/ep/infer');
    // The list has the row; neither it nor any notification has the key.
    expect(model.keys.map(k => k.prefix)).toEqual(['maasik_old7-', 'maasik_Ab3x-']);
    expect(JSON.stringify(model.keys)).not.toContain(SECRET);
    expect([...mockToasts.values()]).toEqual(['Key created for ep']);
    model.dispose();
  });

  it('shows the message the server sent when it refuses, and no key dialog', async () => {
    const { model, actions } = await setup();
    mockAnswers.push({ button: { accept: true }, value: { endpoints: [], description: '' } });
    await actions.newKey();
    expect(mockDialogs.map(d => d.title)).toEqual(['New inference key']);
    expect([...mockToasts.values()]).toEqual(['New key failed: name the endpoints the key may call (or "*" for all)']);
    model.dispose();
  });

  it('creates nothing when the form is cancelled', async () => {
    const { model, calls, actions } = await setup();
    mockAnswers.push({ button: { accept: false } });
    await actions.newKey();
    expect(calls).toEqual([]);
    model.dispose();
  });

  it('revokes a key only once confirmed, naming its prefix and endpoints', async () => {
    const { model, calls, actions } = await setup();
    mockAnswers.push({ button: { accept: false } });
    await actions.revokeKey(7);
    expect(calls).toEqual([]);
    expect(mockDialogs[0].body).toContain('maasik_old7-…');
    expect(mockDialogs[0].body).toContain('churn, ep');

    await actions.revokeKey(7);
    expect(calls).toEqual(['revokeKey 7']);
    expect(model.keys).toEqual([]);
    expect([...mockToasts.values()]).toEqual(['Key maasik_old7-… revoked']);
    model.dispose();
  });
});
