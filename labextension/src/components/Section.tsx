import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

/**
 * A titled list of the sidebar that its title folds and unfolds: "Loading…" until its area has loaded
 * once, then its rows and their count; why its last load failed above them, until a load succeeds.
 * `tools` (buttons) sit at the right of the title.
 */
export function Section(props: {
  title: string;
  count: number;
  loaded: boolean;
  error?: string;
  empty: string;
  tools?: React.ReactNode;
  children?: React.ReactNode;
}): JSX.Element {
  const { title, count, loaded, error } = props;
  const [open, setOpen] = React.useState(true);
  let body: React.ReactNode;
  if (!loaded && !error) {
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
          {loaded ? <span className="maas-Count">{count}</span> : null}
        </button>
        {open && props.tools ? <span className="maas-Actions">{props.tools}</span> : null}
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
