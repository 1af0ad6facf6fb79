import { LabIcon } from '@jupyterlab/ui-components';

// A stack of three layers (a registry of versions); jp-icon3 takes the theme's icon colour.
const modelsSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2 2 7l10 5 10-5-10-5zm0 7.8L6.5 7 12 4.2 17.5 7 12 9.8z"/>
    <path d="m2 12 10 5 10-5-1.8-.9L12 15.2 3.8 11.1 2 12z"/>
    <path d="m2 17 10 5 10-5-1.8-.9L12 20.2 3.8 16.1 2 17z"/>
  </g>
</svg>`;

export const modelsIcon = new LabIcon({ name: 'maas-jupyter:models', svgstr: modelsSvg });
