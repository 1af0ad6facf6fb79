import { Notification } from '@jupyterlab/apputils';
import { ReactWidget, refreshIcon, ToolbarButtonComponent, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { MaasModel } from '../model';
import { SidebarActions } from './actions';
import { EndpointsSection } from './EndpointsSection';
import { modelsIcon } from './icons';
import { JobsSection } from './JobsSection';
import { KeysSection } from './KeysSection';
import { ModelsSection } from './ModelsSection';

/**
 * The "Models" panel of the left sidebar: a view of a MaasModel, re-rendered when it changes.
 */
export class ModelsSidebar extends ReactWidget {
  constructor(readonly model: MaasModel) {
    super();
    this.id = 'maas-models-sidebar';
    this.addClass('maas-Sidebar');
    this.title.icon = modelsIcon;
    this.title.caption = 'Models';
    this._actions = new SidebarActions(model);
    model.notice.connect((_, notice) => {
      Notification.emit(notice.message, notice.kind, { autoClose: false });
    }, this);
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => <SidebarBody model={this.model} actions={this._actions} />}
      </UseSignal>
    );
  }

  // Load and open the events stream only once the panel is first shown: a closed sidebar costs nothing.
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._start();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._start();
  }

  private _start(): void {
    if (!this._started) {
      this._started = true;
      void this.model.start();
    }
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.model.dispose();
    }
    super.dispose();
  }

  private _actions: SidebarActions;
  private _started = false;
}

function SidebarBody(props: { model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { model, actions } = props;
  const status = model.streamStatus;
  const live = status === 'open';
  return (
    <div className="maas-Body">
      <div className="maas-Header">
        <span className="maas-Title">Models</span>
        <span
          className={`maas-Live ${live ? 'maas-Live-on' : 'maas-Live-off'}`}
          title={live ? 'Live updates from the server' : 'Reconnecting to the server; refreshing every few seconds'}>
          {live ? 'live' : status === 'none' ? '' : 'reconnecting'}
        </span>
        <ToolbarButtonComponent icon={refreshIcon} tooltip="Refresh" onClick={() => void model.refreshAll()} />
      </div>
      <div className="maas-Scroll">
        <ModelsSection model={model} actions={actions} />
        <EndpointsSection model={model} actions={actions} />
        <KeysSection model={model} actions={actions} />
        <JobsSection model={model} actions={actions} />
      </div>
    </div>
  );
}
