import * as React from 'react';

import { MaasModel } from '../model';
import { isJobActive } from '../records';
import { SidebarActions } from './actions';
import { Section } from './Section';
import { Sparkline } from './Sparkline';

/** Background training jobs: state and live loss. */
export function JobsSection(props: { model: MaasModel; actions: SidebarActions }): JSX.Element {
  const { model, actions } = props;
  return (
    <Section
      title="Jobs"
      count={model.jobs.length}
      loaded={model.loaded.jobs}
      error={model.errors.jobs}
      empty="No jobs. Start one with %%maas job in a notebook.">
      {model.jobs.map(j => (
        <li key={j.id} className="maas-Job" data-job={j.id} data-state={j.state}>
          <div className="maas-Row">
            <span className="maas-Name" title={`job ${j.id}`}>
              {j.name}
            </span>
            <span className={`maas-State maas-State-${j.state.toLowerCase()}`} title={j.error ?? j.state}>
              {j.state.toLowerCase()}
            </span>
            <span className="maas-Actions">
              {isJobActive(j.state) ? (
                <button
                  className="maas-Button maas-Button-warn"
                  data-action="cancel"
                  title="Cancel this job"
                  onClick={() => void actions.cancelJob(j.id, j.name)}>
                  Cancel
                </button>
              ) : null}
            </span>
          </div>
          <div className="maas-Details maas-Sparks">
            <Sparkline values={j.loss} label="loss" width={120} />
          </div>
          {j.error ? <div className="maas-Error maas-Error-inline">{j.error}</div> : null}
        </li>
      ))}
    </Section>
  );
}
