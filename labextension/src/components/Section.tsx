import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Availability } from '../model';

/**
 * A titled list of the sidebar that its title folds and unfolds, saying "not available" while its API
 * has not landed on the server. `tools` (buttons) sit at the right of the title.
 */
export function Section(props: {
  title: string;
  count: number;
  availability: Availability;
  error?: string;
  empty: string;
  tools?: React.ReactNode;
  children?: React.ReactNode;
}): JSX.Element {
  const { title, count, availability, error } = props;
  const [open, setOpen] = React.useState(true);
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
  const Caret = open ? caretDownIcon : caretRightIcon;
  return (
    <section className="maas-Section" data-section={title.toLowerCase()} data-open={open}>
      <header className="maas-Section-title">
        <button
          className="maas-Section-toggle"
          aria-expanded={open}
          title={open ? `Fold ${title}` : `Unfold ${title}`}
          onClick={() => setOpen(!open)}>
          <Caret.react tag="span" className="maas-Caret" />
          <span>{title}</span>
          {availability === 'available' ? <span className="maas-Count">{count}</span> : null}
        </button>
        {open && availability !== 'unavailable' && props.tools ? (
          <span className="maas-Actions">{props.tools}</span>
        ) : null}
      </header>
      {open && error ? (
        <div className="maas-Error" role="alert">
          {error}
        </div>
      ) : null}
      {open ? body : null}
    </section>
  );
}
