import * as React from 'react';

import { Availability } from '../model';

/** A titled list of the sidebar, saying "not available" while its API has not landed on the server. */
export function Section(props: {
  title: string;
  count: number;
  availability: Availability;
  error?: string;
  empty: string;
  children?: React.ReactNode;
}): JSX.Element {
  const { title, count, availability, error } = props;
  let body: React.ReactNode;
  if (availability === 'unavailable') {
    body = <div className="maas-Dim maas-Pad maas-Unavailable">Not available on this server.</div>;
  } else if (availability === 'unknown' && !error) {
    body = <div className="maas-Dim maas-Pad">Loading…</div>;
  } else if (count === 0 && !error) {
    body = <div className="maas-Dim maas-Pad">{props.empty}</div>;
  } else {
    body = <ul className="maas-List">{props.children}</ul>;
  }
  return (
    <section className="maas-Section" data-section={title.toLowerCase()}>
      <header className="maas-Section-title">
        <span>{title}</span>
        {availability === 'available' ? <span className="maas-Count">{count}</span> : null}
      </header>
      {error ? <div className="maas-Error" role="alert">{error}</div> : null}
      {body}
    </section>
  );
}
