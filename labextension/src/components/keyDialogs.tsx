import { Clipboard, Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { keyEndpointsText } from '../records';
import { ICreatedKey } from '../types';

/** What the "New key" form asks the server for. */
export interface IKeyRequest {
  endpoints: string[] | '*';
  description: string;
}

/**
 * The body of the "New key" dialog: the endpoints the key opens (some of those deployed, or all,
 * including later ones) and an optional description. The server judges the answer (an empty choice
 * included), so its rules live in one place.
 */
export class KeyForm extends ReactWidget implements Dialog.IBodyWidget<IKeyRequest> {
  constructor(
    private readonly _endpoints: string[],
    chosen: string[]
  ) {
    super();
    this.addClass('maas-KeyForm');
    this._value = { all: false, chosen: new Set(chosen), description: '' };
  }

  getValue(): IKeyRequest {
    const { all, chosen, description } = this._value;
    return {
      endpoints: all ? '*' : this._endpoints.filter(name => chosen.has(name)),
      description: description.trim()
    };
  }

  protected render(): JSX.Element {
    return <KeyFormView endpoints={this._endpoints} initial={this._value} onChange={value => (this._value = value)} />;
  }

  private _value: IKeyFormValue;
}

interface IKeyFormValue {
  all: boolean;
  chosen: Set<string>;
  description: string;
}

function KeyFormView(props: {
  endpoints: string[];
  initial: IKeyFormValue;
  onChange: (value: IKeyFormValue) => void;
}): JSX.Element {
  const [value, setValue] = React.useState(props.initial);
  const update = (next: IKeyFormValue) => {
    setValue(next);
    props.onChange(next);
  };
  const toggle = (name: string) => {
    const chosen = new Set(value.chosen);
    if (!chosen.delete(name)) {
      chosen.add(name);
    }
    update({ ...value, chosen });
  };
  return (
    <div className="maas-KeyForm-body">
      <p className="maas-Dim">
        The key calls the V2 inference routes (REST and gRPC) of the endpoints chosen, and nothing else.
      </p>
      <fieldset className="maas-KeyForm-endpoints">
        <legend>Endpoints</legend>
        <label className="maas-KeyForm-choice">
          <input
            type="checkbox"
            data-choice="*"
            checked={value.all}
            onChange={() => update({ ...value, all: !value.all })}
          />
          All endpoints, including those deployed later
        </label>
        {props.endpoints.map(name => (
          <label key={name} className="maas-KeyForm-choice">
            <input
              type="checkbox"
              data-choice={name}
              disabled={value.all}
              checked={value.all || value.chosen.has(name)}
              onChange={() => toggle(name)}
            />
            <span className="maas-Mono">{name}</span>
          </label>
        ))}
        {props.endpoints.length === 0 ? (
          <div className="maas-Dim">No endpoint is deployed: a key for all endpoints opens those to come.</div>
        ) : null}
      </fieldset>
      <label className="maas-KeyForm-description">
        Description (optional)
        <input
          type="text"
          name="description"
          className="jp-mod-styled"
          value={value.description}
          placeholder="what will use it, e.g. the shop's backend"
          onChange={event => update({ ...value, description: event.target.value })}
        />
      </label>
    </div>
  );
}

/** Put text on the system clipboard; resolves to whether the browser took it. */
async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    try {
      Clipboard.copyToSystem(text); // the copy-event route, for pages that are not a secure context
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * The body of the dialog that shows a new key, the only time anyone sees it: the key with a copy
 * button, that it will not be shown again, and how to send it. It lives as long as the dialog does.
 */
export function KeyShownOnce(props: { created: ICreatedKey; inferUrl: string }): JSX.Element {
  const { created, inferUrl } = props;
  const [copied, setCopied] = React.useState<boolean | null>(null);
  return (
    <div className="maas-KeyOnce">
      <p className="maas-KeyOnce-warning" role="alert">
        <b>Copy this key now: it will not be shown again.</b> Only its hash is kept; a lost key cannot be recovered,
        only revoked and replaced.
      </p>
      <div className="maas-KeyOnce-value">
        <code className="maas-KeyOnce-secret" aria-label="The new inference key" tabIndex={0}>
          {created.key}
        </code>
        <button
          className="jp-mod-styled jp-mod-reject maas-KeyOnce-copy"
          data-action="copy"
          title="Copy the key to the clipboard"
          onClick={() => void copyText(created.key).then(setCopied)}>
          {copied === null ? 'Copy' : copied ? 'Copied' : 'Copy failed: select it'}
        </button>
      </div>
      <p>
        It may call <b>{keyEndpointsText(created)}</b>: the V2 inference routes only.
      </p>
      <dl className="maas-KeyOnce-usage">
        <dt>REST</dt>
        <dd>
          send the header <code>Authorization: Bearer &lt;key&gt;</code>, e.g. to <code>POST {inferUrl}</code>
        </dd>
        <dt>gRPC</dt>
        <dd>
          send the metadata <code>authorization</code> with the value <code>Bearer &lt;key&gt;</code>
        </dd>
      </dl>
    </div>
  );
}
