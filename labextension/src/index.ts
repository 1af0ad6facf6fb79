import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { MaasApi } from './api';
import { ModelsSidebar } from './components/Sidebar';
import { EventStream } from './events';
import { MaasModel } from './model';

/**
 * The maas-jupyter front-end plugin: the "Models" panel in the left sidebar.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'maas-jupyter:sidebar',
  description: 'Model-as-a-Service sidebar: models, versions, endpoints and jobs.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const api = new MaasApi(app.serviceManager.serverSettings);
    const stream = new EventStream({ url: () => api.eventsUrl() });
    const model = new MaasModel(api, stream);
    const sidebar = new ModelsSidebar(model);
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, sidebar.id);
  }
};

export default plugin;
