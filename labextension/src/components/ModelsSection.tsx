import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { MaasModel } from '../model';
import { formatNumber, relativeTime } from '../sparkline';
import { IModelSummary, IModelVersion } from '../types';
import { SidebarActions } from './actions';
import { Section } from './Section';

/** Registered models, each expandable into its versions. */
export function ModelsSection(props: { model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { model, actions } = props;
  return (
    <Section
      title="Models"
      count={model.models.length}
      loaded={model.loaded.models}
      error={model.errors.models}
      empty="No models registered yet. Use %maas register in a notebook.">
      {model.models.map(m => (
        <ModelRow key={m.name} summary={m} model={model} actions={actions} />
      ))}
    </Section>
  );
}

function ModelRow(props: { summary: IModelSummary; model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { summary, model, actions } = props;
  const open = model.expanded.has(summary.name);
  const versions = model.versions.get(summary.name);
  const Caret = open ? caretDownIcon : caretRightIcon;
  return (
    <li className="maas-Model" data-model={summary.name}>
      <div
        className="maas-Row maas-Model-head"
        role="button"
        tabIndex={0}
        aria-expanded={open}
        onClick={() => void model.toggle(summary.name)}
        onKeyDown={ev => (ev.key === 'Enter' || ev.key === ' ') && void model.toggle(summary.name)}
        title={`${summary.description || summary.name} (latest v${summary.latest_version ?? '–'})`}>
        <Caret.react tag="span" className="maas-Caret" />
        <span className="maas-Name">{summary.name}</span>
        <span className="maas-Badges">
          {Object.entries(summary.aliases ?? {})
            .sort()
            .map(([alias, v]) => (
              <span key={alias} className="maas-Badge maas-Badge-alias" title={`${alias} → v${v}`}>
                {alias}:v{v}
              </span>
            ))}
        </span>
        <span className="maas-Dim maas-Right">
          {summary.version_count === 1 ? '1 version' : `${summary.version_count} versions`}
        </span>
      </div>
      {open ? (
        <ul className="maas-Versions">
          {versions === undefined ? <li className="maas-Dim maas-Pad">Loading…</li> : null}
          {versions?.length === 0 ? <li className="maas-Dim maas-Pad">No versions.</li> : null}
          {versions?.map(v => (
            <VersionRow key={v.version} version={v} model={model} actions={actions} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

function VersionRow(props: { version: IModelVersion; model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { version: v, model, actions } = props;
  const serving = model.servingEndpoints(v.name, v.version);
  const metrics = Object.entries(v.metrics ?? {})
    .filter(([, x]) => typeof x === 'number')
    .slice(0, 3);
  const lineage: string[] = [];
  if (v.run_id) {
    lineage.push(`run ${String(v.run_id).slice(0, 8)}`);
  }
  if (v.parent_version !== null && v.parent_version !== undefined) {
    lineage.push(`from v${v.parent_version}`);
  }
  // A canary needs an endpoint of this model that serves another version.
  const canaryable = model.endpoints.some(
    e => e.model === v.name && e.primary !== String(v.version) && e.canary?.version !== String(v.version)
  );
  return (
    <li className="maas-Version" data-version={v.version}>
      <div className="maas-Row">
        <span className="maas-Name">v{v.version}</span>
        <span className="maas-Badges">
          {(v.aliases ?? []).map(a => (
            <span
              key={a}
              className="maas-Badge maas-Badge-alias"
              title={`Remove alias "${a}"`}
              onClick={() => void actions.deleteAlias(v.name, a)}>
              {a}
            </span>
          ))}
          {serving.map(e => (
            <span key={e} className="maas-Badge maas-Badge-serving" title={`served by endpoint ${e}`}>
              ▶ {e}
            </span>
          ))}
        </span>
        <span className="maas-Actions">
          <button
            className="maas-Button"
            data-action="deploy"
            title={`Deploy v${v.version} to an endpoint`}
            onClick={() => void actions.deploy(v.name, v.version)}>
            Deploy
          </button>
          {canaryable ? (
            <button
              className="maas-Button"
              data-action="canary"
              title={`Send part of the traffic to v${v.version}`}
              onClick={() => void actions.canary(v.name, v.version)}>
              Canary
            </button>
          ) : null}
          <button
            className="maas-Button"
            data-action="alias"
            title={`Set an alias on v${v.version}`}
            onClick={() => void actions.setAlias(v.name, v.version)}>
            Alias
          </button>
        </span>
      </div>
      <div className="maas-Details">
        {metrics.map(([k, x]) => (
          <span key={k} className="maas-Metric">
            {k} <b>{formatNumber(x as number)}</b>
          </span>
        ))}
        {v.created_at ? (
          <span className="maas-Dim" title={v.created_at}>
            {relativeTime(v.created_at)}
          </span>
        ) : null}
        {lineage.length ? (
          <span className="maas-Dim" title={v.run_id ? `run ${v.run_id}` : ''}>
            {lineage.join(' · ')}
          </span>
        ) : null}
        {v.source ? <span className="maas-Dim">{v.source}</span> : null}
        {v.sha256 ? (
          <span className="maas-Dim maas-Mono" title={`sha256 ${v.sha256}`}>
            {v.sha256.slice(0, 10)}
          </span>
        ) : null}
      </div>
    </li>
  );
}
