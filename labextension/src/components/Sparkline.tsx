import * as React from 'react';

import { formatNumber, sparkline } from '../sparkline';

/** A small inline line chart of a live series, with its last value and unit. */
export function Sparkline(props: {
  values: number[];
  label: string;
  unit?: string;
  width?: number;
  height?: number;
}): JSX.Element {
  const width = props.width ?? 64;
  const height = props.height ?? 18;
  const g = sparkline(props.values, width, height);
  const title =
    g.last === null
      ? `${props.label}: no data yet`
      : `${props.label}: ${formatNumber(g.last)}${props.unit ?? ''} (min ${formatNumber(g.min)}, max ${formatNumber(g.max)})`;
  return (
    <span className="maas-Spark" title={title} data-label={props.label}>
      <span className="maas-Spark-label">{props.label}</span>
      <svg
        className="maas-Spark-svg"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={title}>
        {g.path ? (
          <path d={g.path} />
        ) : (
          <line x1={0} x2={width} y1={height / 2} y2={height / 2} className="maas-Spark-empty" />
        )}
      </svg>
      <span className="maas-Spark-value">
        {formatNumber(g.last)}
        {g.last !== null && props.unit ? <span className="maas-Spark-unit">{props.unit}</span> : null}
      </span>
    </span>
  );
}
