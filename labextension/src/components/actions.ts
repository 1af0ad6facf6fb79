import { Dialog, InputDialog, Notification, showDialog } from '@jupyterlab/apputils';

import { describe, MaasModel } from '../model';

/**
 * The sidebar's user actions: ask (confirm what cannot be undone silently), call the model,
 * and report the outcome as a JupyterLab notification carrying the server's reason on failure.
 */
export class SidebarActions {
  constructor(readonly model: MaasModel) {}

  async deploy(model: string, version: number): Promise<void> {
    const existing = this.model.endpoints.find(e => e.model === model);
    const result = await InputDialog.getText({
      title: `Deploy ${model} v${version}`,
      label: existing
        ? `Endpoint name (deploying to "${existing.name}" swaps it to v${version})`
        : 'Endpoint name',
      text: existing ? existing.name : model,
      okLabel: 'Deploy'
    });
    const endpoint = result.button.accept ? (result.value ?? '').trim() : '';
    if (!endpoint) {
      return;
    }
    await this._run(`Deploying ${model} v${version} as "${endpoint}"`, `"${endpoint}" serves ${model} v${version}`,
      () => this.model.deploy(endpoint, model, String(version)));
  }

  async setAlias(model: string, version: number): Promise<void> {
    const result = await InputDialog.getText({
      title: `Set an alias on ${model} v${version}`,
      label: 'Alias (moves it here if it points elsewhere)',
      placeholder: 'production',
      okLabel: 'Set alias'
    });
    const alias = result.button.accept ? (result.value ?? '').trim() : '';
    if (!alias) {
      return;
    }
    await this._run(`Setting ${model}@${alias}`, `${model}@${alias} is v${version}`,
      () => this.model.setAlias(model, alias, version));
  }

  async deleteAlias(model: string, alias: string): Promise<void> {
    if (await this._confirm('Remove alias', `Remove the alias "${alias}" from ${model}?`, 'Remove')) {
      await this._run(`Removing ${model}@${alias}`, `${model}@${alias} removed`,
        () => this.model.deleteAlias(model, alias));
    }
  }

  async promote(endpoint: string): Promise<void> {
    const e = this.model.endpoints.find(x => x.name === endpoint);
    const text = e?.canary
      ? `Send all traffic of "${endpoint}" to its canary v${e.canary.version} (now v${e.primary})?`
      : `Promote the canary of "${endpoint}"?`;
    if (await this._confirm('Promote canary', text, 'Promote')) {
      await this._run(`Promoting "${endpoint}"`, `"${endpoint}" promoted`, () => this.model.promote(endpoint));
    }
  }

  async rollback(endpoint: string): Promise<void> {
    const e = this.model.endpoints.find(x => x.name === endpoint);
    const text = e?.canary
      ? `Drop the canary v${e.canary.version} of "${endpoint}" and send all traffic to v${e.primary}?`
      : `Roll "${endpoint}" back from v${e?.primary ?? '?'} to v${e?.previous ?? '?'}?`;
    if (await this._confirm('Roll back', text, 'Roll back')) {
      await this._run(`Rolling back "${endpoint}"`, `"${endpoint}" rolled back`, () => this.model.rollback(endpoint));
    }
  }

  async undeploy(endpoint: string): Promise<void> {
    if (await this._confirm('Undeploy', `Stop serving "${endpoint}" and forget it?`, 'Undeploy')) {
      await this._run(`Undeploying "${endpoint}"`, `"${endpoint}" undeployed`, () => this.model.undeploy(endpoint));
    }
  }

  async cancelJob(id: string, name: string): Promise<void> {
    if (await this._confirm('Cancel job', `Cancel the job "${name}"?`, 'Cancel job', 'Keep running')) {
      await this._run(`Cancelling "${name}"`, `"${name}" cancelled`, () => this.model.cancelJob(id));
    }
  }

  private async _confirm(title: string, body: string, label: string, cancel = 'Cancel'): Promise<boolean> {
    const result = await showDialog({
      title,
      body,
      buttons: [Dialog.cancelButton({ label: cancel }), Dialog.warnButton({ label })]
    });
    return result.button.accept;
  }

  private async _run(pending: string, done: string, fn: () => Promise<unknown>): Promise<void> {
    const id = Notification.emit(`${pending}…`, 'in-progress', { autoClose: false });
    try {
      await fn();
      Notification.update({ id, message: done, type: 'success', autoClose: 4000 });
    } catch (error) {
      // Notifications truncate long messages: the server's reason goes first.
      Notification.update({ id, message: `${describe(error)} (${pending.toLowerCase()} failed)`, type: 'error',
        autoClose: false });
    }
  }
}
