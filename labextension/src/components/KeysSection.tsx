import * as React from 'react';

import { MaasModel } from '../model';
import { isAllEndpoints, shortUser } from '../records';
import { localTime, relativeTime } from '../sparkline';
import { IInferenceKey } from '../types';
import { SidebarActions } from './actions';
import { Section } from './Section';

/** Inference-only keys: which endpoints each opens, when it was last used, who made it; create and revoke. */
export function KeysSection(props: { model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { model, actions } = props;
  const tools = (
    <button
      className="maas-Button"
      data-action="new-key"
      title="Create a key that calls the inference routes of chosen endpoints, and nothing else"
      onClick={() => void actions.newKey()}>
      New key
    </button>
  );
  return (
    <Section
      title="Keys"
      count={model.keys.length}
      loaded={model.loaded.keys}
      error={model.errors.keys}
      tools={tools}
      empty="No inference keys. A key lets an application call endpoints, and nothing else.">
      {model.keys.map(k => (
        <KeyRow key={k.id} inferenceKey={k} model={model} actions={actions} />
      ))}
    </Section>
  );
}

function KeyRow(props: { inferenceKey: IInferenceKey; model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { inferenceKey: k, model, actions } = props;
  // Which of its endpoints are deployed is known only once the endpoints have loaded.
  const deployed = model.loaded.deployments ? new Set(model.endpoints.map(e => e.name)) : null;
  return (
    <li className="maas-Key" data-key-id={k.id} data-prefix={k.prefix}>
      <div className="maas-Row">
        <span className="maas-Name maas-Mono" title={`key ${k.prefix}… (only its first characters are kept)`}>
          {k.prefix}…
        </span>
        <span className="maas-Badges">
          {isAllEndpoints(k) ? (
            <span
              className="maas-Badge maas-Badge-all"
              data-endpoint="*"
              title="may call every endpoint, present and future">
              all endpoints
            </span>
          ) : (
            k.endpoints.map(name => {
              const missing = deployed !== null && !deployed.has(name);
              return (
                <span
                  key={name}
                  className={`maas-Badge ${missing ? 'maas-Badge-missing' : 'maas-Badge-endpoint'}`}
                  data-endpoint={name}
                  title={missing ? `${name}: not deployed now` : `may call ${name}`}>
                  {name}
                </span>
              );
            })
          )}
        </span>
        <span className="maas-Actions">
          <button
            className="maas-Button maas-Button-warn"
            data-action="revoke"
            title={`Revoke ${k.prefix}…`}
            onClick={() => void actions.revokeKey(k.id)}>
            Revoke
          </button>
        </span>
      </div>
      {k.description ? <div className="maas-Details maas-Key-description">{k.description}</div> : null}
      <div className="maas-Details">
        <span
          className="maas-Dim"
          data-field="last-used"
          title={
            k.last_used_at ? `last used ${localTime(k.last_used_at)} (noted at most once a minute)` : 'never used'
          }>
          used {k.last_used_at ? relativeTime(k.last_used_at) : 'never'}
        </span>
        <span
          className="maas-Dim"
          data-field="created"
          title={`created ${k.created_by ? `by ${k.created_by} ` : ''}${localTime(k.created_at)}`}>
          created {k.created_by ? `by ${shortUser(k.created_by)} ` : ''}
          {relativeTime(k.created_at)}
        </span>
      </div>
    </li>
  );
}
