import * as React from 'react';

import { MaasModel } from '../model';
import { IEndpointView } from '../records';
import { SidebarActions } from './actions';
import { Section } from './Section';
import { Sparkline } from './Sparkline';

/** Deployed endpoints: state, what they serve, live throughput and p99 latency. */
export function EndpointsSection(props: { model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { model, actions } = props;
  return (
    <Section
      title="Endpoints"
      count={model.endpoints.length}
      loaded={model.loaded.deployments}
      error={model.errors.deployments}
      empty="Nothing deployed. Deploy a version from the list above.">
      {model.endpoints.map(e => (
        <EndpointRow key={e.name} endpoint={e} actions={actions} />
      ))}
    </Section>
  );
}

function EndpointRow(props: { endpoint: IEndpointView; actions: SidebarActions }): JSX.Element {
  const { endpoint: e, actions } = props;
  return (
    <li className="maas-Endpoint" data-endpoint={e.name} data-state={e.state}>
      <div className="maas-Row">
        <span className="maas-Name" title={`endpoint ${e.name}`}>
          {e.name}
        </span>
        <span className={`maas-State maas-State-${e.state}`} title={e.error ?? e.state}>
          {e.state}
        </span>
        <span className="maas-Actions">
          {e.canary ? (
            <button
              className="maas-Button"
              data-action="promote"
              title="Make the canary the primary version"
              onClick={() => void actions.promote(e.name)}>
              Promote
            </button>
          ) : null}
          {e.canary || e.previous ? (
            <button
              className="maas-Button"
              data-action="rollback"
              title={e.canary ? 'Drop the canary' : `Go back to v${e.previous}`}
              onClick={() => void actions.rollback(e.name)}>
              Rollback
            </button>
          ) : null}
          <button
            className="maas-Button"
            data-action="new-key"
            title={`New inference key for "${e.name}"`}
            onClick={() => void actions.newKey([e.name])}>
            New key
          </button>
          <button
            className="maas-Button maas-Button-warn"
            data-action="undeploy"
            title="Stop serving this endpoint"
            onClick={() => void actions.undeploy(e.name)}>
            Undeploy
          </button>
        </span>
      </div>
      <div className="maas-Details">
        <span className="maas-Serving" title="primary version">
          {e.model}{' '}
          <b className="maas-Primary" data-version={e.primary ?? ''}>
            v{e.primary ?? '?'}
          </b>
          <span className="maas-Dim"> {e.canary ? 100 - e.canary.weight : 100}%</span>
        </span>
        {e.canary ? (
          <span className="maas-Canary" data-version={e.canary.version} title="canary version and its share of traffic">
            canary <b>v{e.canary.version}</b> {e.canary.weight}%
          </span>
        ) : null}
        {e.previous && !e.canary ? <span className="maas-Dim">prev v{e.previous}</span> : null}
      </div>
      {e.error ? <div className="maas-Error maas-Error-inline">{e.error}</div> : null}
      <div className="maas-Details maas-Sparks">
        <Sparkline values={e.throughput} label="req/s" />
        <Sparkline values={e.p99} label="p99" unit="ms" />
      </div>
    </li>
  );
}
