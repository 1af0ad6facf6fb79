import { IMaasApi } from '../api';
import { CanaryToasts } from '../canaryToasts';
import { SidebarActions } from '../components/actions';
import { MaasModel } from '../model';
import { toEndpointView } from '../records';
import { IDeployment } from '../types';

// JupyterLab's dialogs and notifications, as the actions see them: answers given, toasts recorded.
const mockToasts = new Map<string, { message: string; type: string }>();
let mockNextToast = 0;
jest.mock('@jupyterlab/apputils', () => ({
  Notification: {
    emit: (message: string, type: string) => {
      const id = `toast-${++mockNextToast}`;
      mockToasts.set(id, { message, type });
      return id;
    },
    update: (args: { id: string; message: string; type: string }) => {
      mockToasts.set(args.id, { message: args.message, type: args.type });
      return true;
    },
    dismiss: (id: string) => {
      mockToasts.delete(id);
    }
  },
  InputDialog: { getNumber: async () => ({ button: { accept: true }, value: 10 }) },
  showDialog: async () => ({ button: { accept: true } }),
  showErrorMessage: async () => undefined,
  Dialog: { cancelButton: (o: unknown) => o, warnButton: (o: unknown) => o }
}));

// The key dialogs are React views (tried in the browser test); these specs do not show them.
jest.mock('../components/keyDialogs', () => ({}));

const ep = (canary: { version: number; weight: number } | null, version = 1): IDeployment => ({
  name: 'ep',
  model: 'mnist',
  version,
  previous_version: null,
  canary,
  state: 'ready'
});

/** A server with endpoint "ep" on mnist v1, which the actions change. */
function serving(): { api: IMaasApi; set: (d: IDeployment) => void } {
  let deployment = ep(null);
  const api = {
    listModels: async () => [],
    listDeployments: async () => [deployment],
    listJobs: async () => [],
    deploymentMetrics: async () => [],
    canary: async (_e: string, _m: string, version: string, weight: number) =>
      (deployment = ep({ version: Number(version), weight })),
    promote: async () => (deployment = ep(null, deployment.canary ? Number(deployment.canary.version) : 1)),
    rollback: async () => (deployment = ep(null)),
    eventsUrl: () => 'ws://h/maas/api/events'
  };
  return { api: api as unknown as IMaasApi, set: d => (deployment = d) };
}

const onScreen = () => [...mockToasts.values()].map(t => t.message);

beforeEach(() => mockToasts.clear());

describe('canary toasts', () => {
  it.each([
    ['promoted', (a: SidebarActions) => a.promote('ep')],
    ['rolled back', (a: SidebarActions) => a.rollback('ep')]
  ])('"sends 10%% to v2" goes once the canary is %s from the sidebar', async (_what, act) => {
    const { api } = serving();
    const model = new MaasModel(api, null);
    await model.refreshDeployments();
    const actions = new SidebarActions(model);
    await actions.canary('mnist', 2);
    expect(onScreen()).toContain('"ep" sends 10% to v2');
    await act(actions);
    expect(onScreen()).not.toContain('"ep" sends 10% to v2');
    model.dispose();
  });

  it('goes when the canary is cleared elsewhere (the SLO guard, the CLI), seen on a reload', async () => {
    const { api, set } = serving();
    const model = new MaasModel(api, null);
    await model.refreshDeployments();
    const actions = new SidebarActions(model);
    await actions.canary('mnist', 2);
    await model.refreshDeployments();
    expect(onScreen()).toContain('"ep" sends 10% to v2'); // still true: it stays
    set(ep(null));
    await model.refreshDeployments();
    expect(onScreen()).not.toContain('"ep" sends 10% to v2');
    model.dispose();
  });

  it('replaces the toast of an earlier canary of the same endpoint, and only acts on its endpoint', () => {
    const dismissed: string[] = [];
    const tracker = new CanaryToasts(id => dismissed.push(id));
    const view = (name: string, canary: { version: number; weight: number } | null) =>
      toEndpointView({ ...ep(canary), name });
    tracker.track('ep', { version: '2', weight: 10 }, 'a');
    tracker.track('other', { version: '5', weight: 50 }, 'b');
    tracker.sync([view('ep', { version: 2, weight: 10 }), view('other', { version: 5, weight: 50 })]);
    expect(dismissed).toEqual([]);
    tracker.track('ep', { version: '3', weight: 10 }, 'c');
    expect(dismissed).toEqual(['a']);
    tracker.sync([view('ep', { version: 3, weight: 60 }), view('other', { version: 5, weight: 50 })]);
    expect(dismissed).toEqual(['a', 'c']); // re-weighed: "sends 10%" is no longer true
    tracker.sync([view('ep', null)]); // "other" undeployed
    expect(dismissed).toEqual(['a', 'c', 'b']);
  });
});
