import { Dialog, InputDialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import * as React from 'react';

import { CanaryToasts } from '../canaryToasts';
import { MaasModel } from '../model';
import { describe, keyEndpointsText } from '../records';
import { ICreatedKey } from '../types';
import { KeyForm, KeyShownOnce } from './keyDialogs';

/**
 * The sidebar's user actions: ask (confirm what cannot be undone silently), call the model,
 * and report the outcome as a JupyterLab notification carrying the server's reason on failure.
 */
export class SidebarActions {
  constructor(readonly model: MaasModel) {
    // A toast saying where a canary sends traffic must not outlive that canary.
    model.changed.connect(() => this._canaryToasts.sync(model.endpoints), this);
  }

  async deploy(model: string, version: number): Promise<void> {
    const existing = this.model.endpoints.find(e => e.model === model);
    const result = await InputDialog.getText({
      title: `Deploy ${model} v${version}`,
      label: existing ? `Endpoint name (deploying to "${existing.name}" swaps it to v${version})` : 'Endpoint name',
      text: existing ? existing.name : model,
      okLabel: 'Deploy'
    });
    const endpoint = result.button.accept ? (result.value ?? '').trim() : '';
    if (!endpoint) {
      return;
    }
    await this._run(
      'Deploy',
      `Deploying ${model} v${version} as "${endpoint}"`,
      `"${endpoint}" serves ${model} v${version}`,
      () => this.model.deploy(endpoint, model, String(version))
    );
  }

  async canary(model: string, version: number): Promise<void> {
    const endpoint = this.model.endpoints.find(e => e.model === model && e.primary !== String(version));
    if (!endpoint) {
      return;
    }
    const result = await InputDialog.getNumber({
      title: `Canary ${model} v${version} on "${endpoint.name}"`,
      label: `Percent of traffic for v${version} (the rest stays on v${endpoint.primary})`,
      value: endpoint.canary?.weight ?? 10,
      okLabel: 'Start canary'
    });
    const weight = result.button.accept ? result.value : null;
    if (weight === null || weight === undefined || isNaN(weight)) {
      return;
    }
    const run = await this._run(
      'Canary',
      `Starting canary v${version} on "${endpoint.name}"`,
      `"${endpoint.name}" sends ${weight}% to v${version}`,
      () => this.model.canary(endpoint.name, model, String(version), weight)
    );
    const canary = this.model.endpoints.find(e => e.name === endpoint.name)?.canary;
    if (run !== null && canary) {
      this._canaryToasts.track(endpoint.name, canary, run.id);
    }
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
    await this._run('Set alias', `Setting ${model}@${alias}`, `${model}@${alias} is v${version}`, () =>
      this.model.setAlias(model, alias, version)
    );
  }

  async deleteAlias(model: string, alias: string): Promise<void> {
    if (await this._confirm('Remove alias', `Remove the alias "${alias}" from ${model}?`, 'Remove')) {
      await this._run('Remove alias', `Removing ${model}@${alias}`, `${model}@${alias} removed`, () =>
        this.model.deleteAlias(model, alias)
      );
    }
  }

  async promote(endpoint: string): Promise<void> {
    const e = this.model.endpoints.find(x => x.name === endpoint);
    const text = e?.canary
      ? `Send all traffic of "${endpoint}" to its canary v${e.canary.version} (now v${e.primary})?`
      : `Promote the canary of "${endpoint}"?`;
    if (await this._confirm('Promote canary', text, 'Promote')) {
      await this._run('Promote', `Promoting "${endpoint}"`, `"${endpoint}" promoted`, () =>
        this.model.promote(endpoint)
      );
    }
  }

  async rollback(endpoint: string): Promise<void> {
    const e = this.model.endpoints.find(x => x.name === endpoint);
    const text = e?.canary
      ? `Drop the canary v${e.canary.version} of "${endpoint}" and send all traffic to v${e.primary}?`
      : `Roll "${endpoint}" back from v${e?.primary ?? '?'} to v${e?.previous ?? '?'}?`;
    if (await this._confirm('Roll back', text, 'Roll back')) {
      await this._run('Rollback', `Rolling back "${endpoint}"`, `"${endpoint}" rolled back`, () =>
        this.model.rollback(endpoint)
      );
    }
  }

  async undeploy(endpoint: string): Promise<void> {
    if (await this._confirm('Undeploy', `Stop serving "${endpoint}" and forget it?`, 'Undeploy')) {
      await this._run('Undeploy', `Undeploying "${endpoint}"`, `"${endpoint}" undeployed`, () =>
        this.model.undeploy(endpoint)
      );
    }
  }

  async cancelJob(id: string, name: string): Promise<void> {
    if (await this._confirm('Cancel job', `Cancel the job "${name}"?`, 'Cancel job', 'Keep running')) {
      await this._run('Cancel', `Cancelling "${name}"`, `"${name}" cancelled`, () => this.model.cancelJob(id));
    }
  }

  /** Ask for a key's endpoints (`chosen` ticked) and description, create it, and show it once. */
  async newKey(chosen: string[] = []): Promise<void> {
    const form = new KeyForm(
      this.model.endpoints.map(e => e.name),
      chosen
    );
    const asked = await showDialog({
      title: chosen.length === 1 ? `New key for "${chosen[0]}"` : 'New inference key',
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Create key' })],
      focusNodeSelector: 'input[name="description"]'
    });
    if (!asked.button.accept || !asked.value) {
      return;
    }
    const request = asked.value;
    const what = keyEndpointsText({ endpoints: request.endpoints === '*' ? ['*'] : request.endpoints });
    // The answer carries the key: it goes from here to the dialog and nowhere else (no state, no log).
    const run = await this._run(
      'New key',
      `Creating a key for ${what || 'no endpoint'}`,
      `Key created for ${what}`,
      () => this.model.createKey(request.endpoints, request.description)
    );
    if (run !== null) {
      await this._showOnce(run.result);
    }
  }

  private async _showOnce(created: ICreatedKey): Promise<void> {
    const only = created.endpoints.length === 1 && created.endpoints[0] !== '*' ? created.endpoints[0] : '<endpoint>';
    await showDialog({
      title: `Key ${created.prefix}… created`,
      body: React.createElement(KeyShownOnce, { created, inferUrl: this.model.api.inferUrl(only) }),
      buttons: [Dialog.okButton({ label: 'Done' })]
    });
  }

  async revokeKey(id: number): Promise<void> {
    const key = this.model.keys.find(k => k.id === id);
    if (!key) {
      return;
    }
    const label = `${key.prefix}…${key.description ? ` ("${key.description}")` : ''}`;
    const text =
      `Revoke the key ${label} for ${keyEndpointsText(key)}? ` +
      'Whatever sends it is refused within seconds; this cannot be undone.';
    if (await this._confirm('Revoke key', text, 'Revoke')) {
      await this._run('Revoke', `Revoking ${key.prefix}…`, `Key ${key.prefix}… revoked`, () =>
        this.model.revokeKey(id)
      );
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

  /**
   * Run `fn` under an "in progress" notification, then say how it went: the outcome's notification id and
   * `fn`'s result when it succeeded (it says `done`), null when it failed (it says the server's reason).
   * The outcome is a new notification, not an update of the first: a toast updated within milliseconds
   * of its creation keeps showing "in progress" (its update is lost while it is being drawn).
   */
  private async _run<T>(
    verb: string,
    pending: string,
    done: string,
    fn: () => Promise<T>
  ): Promise<{ id: string; result: T } | null> {
    const progress = Notification.emit(`${pending}…`, 'in-progress', { autoClose: false });
    try {
      const result = await fn();
      Notification.dismiss(progress);
      return { id: Notification.emit(done, 'success', { autoClose: 4000 }), result };
    } catch (error) {
      // A notification shows 140 characters: the verb, then the server's reason; "Details" has all of it.
      const reason = describe(error);
      Notification.dismiss(progress);
      Notification.emit(`${verb} failed: ${reason}`, 'error', {
        autoClose: false,
        actions: [
          {
            label: 'Details',
            callback: () => void showErrorMessage(`${pending} failed`, reason)
          }
        ]
      });
      return null;
    }
  }

  private _canaryToasts = new CanaryToasts(id => Notification.dismiss(id));
}
