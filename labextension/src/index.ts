import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

/**
 * The maas-jupyter front-end plugin: the "Models" sidebar.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'maas-jupyter:plugin',
  description: 'Model-as-a-Service sidebar: models, endpoints and jobs.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    console.log('maas-jupyter: sidebar extension activated');
  }
};

export default plugin;
