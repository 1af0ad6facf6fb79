#!/usr/bin/env node
/*
 * Run a notebook of %maas cells in a running JupyterLab, in Debian's Chromium via playwright-core, and
 * report every console error and page error the page logged meanwhile.
 *
 *   node widgets.js '{"url": "http://127.0.0.1:PORT/", "token": "T", "notebook": "widgets.ipynb", ...}'
 *
 * The lab must expose its application (LabApp.expose_app_in_browser), so cells run through its own
 * "Run All Cells" command. The scenario opens the notebook, waits for its kernel, runs every cell, waits
 * until every cell ran and each {text, count} of config.waitForText is on the page that many times (live
 * views that stop by themselves say so), then reads what the widgets drew (axes, legends, tables).
 * Prints one JSON object on the last line of stdout: {"ok": true, "errors": [...], ...}; exits 1 with
 * {"ok": false, "error": ...} when the scenario itself could not run, or not within config.deadlineMs
 * (the browser is then closed here rather than left behind by a killed node). Console errors are not a
 * failure of this script: the pytest test (tests/browser/test_widget_console.py) judges them.
 */
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const config = JSON.parse(process.argv[2] || '{}');
const timeout = config.timeoutMs || 90000;
const deadlineMs = config.deadlineMs || 90000;
const log = (...args) => console.error('[widgets]', ...args);

/** Every console error and uncaught page error, in order, with where it came from. */
function collectErrors(page) {
  const errors = [];
  page.on('console', msg => {
    if (msg.type() === 'error') {
      const where = msg.location();
      const at = where && where.url ? `${where.url}:${where.lineNumber}` : '';
      errors.push({ kind: 'console.error', text: msg.text(), at });
      log('console error:', msg.text(), at);
    }
  });
  page.on('pageerror', err => {
    errors.push({ kind: 'pageerror', text: String(err && err.stack || err) });
    log('page error:', err.message);
  });
  return errors;
}

async function openNotebook(page) {
  page.setDefaultTimeout(timeout);
  const url = `${config.url}lab/tree/${config.notebook}?token=${encodeURIComponent(config.token)}`;
  await page.goto(url);
  await page.waitForFunction(() => window.jupyterapp && window.jupyterapp.shell, null, { timeout });
  // The notebook is the current widget, its kernel started and idle: only then do its cells run.
  await page.waitForFunction(
    name => {
      const widget = window.jupyterapp.shell.currentWidget;
      const context = widget && widget.sessionContext;
      return Boolean(widget && widget.context && widget.context.path.endsWith(name) && context &&
        context.session && context.session.kernel && context.kernelDisplayStatus === 'idle');
    },
    config.notebook,
    { timeout }
  );
}

/** Every code cell has run (an execution count and no queued or running mark) and the kernel is idle. */
async function waitForCells(page) {
  await page.waitForFunction(
    () => {
      const widget = window.jupyterapp.shell.currentWidget;
      const cells = widget.content.widgets.filter(cell => cell.model.type === 'code');
      const ran = cells.every(cell => cell.model.executionCount !== null &&
        !(cell.promptNode && cell.promptNode.textContent.includes('*')));
      return ran && widget.sessionContext.kernelDisplayStatus === 'idle';
    },
    null,
    { timeout, polling: 250 }
  );
  for (const { text, count } of config.waitForText || []) {
    await page.waitForFunction(
      ([wanted, times]) => document.body.innerText.split(wanted).length - 1 >= times,
      [text, count || 1],
      { timeout, polling: 250 }
    );
  }
  // Let the last widget messages render (bqplot draws in promise callbacks and animation frames).
  await page.evaluate(() => new Promise(resolve =>
    requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(resolve, 0)))));
}

/** What each cell left: output types and their text, so the test can tell a failed cell from a quiet one. */
async function cellOutputs(page) {
  return page.evaluate(() => {
    const widget = window.jupyterapp.shell.currentWidget;
    return widget.content.widgets.filter(cell => cell.model.type === 'code').map(cell =>
      cell.model.outputs.toJSON().map(output => ({
        type: output.output_type,
        text: output.output_type === 'stream' ? String(output.text)
          : output.output_type === 'error' ? `${output.ename}: ${output.evalue}`
            : String((output.data && output.data['text/plain']) || '')
      })));
  });
}

/** Per bqplot figure in the page: its axes (label and tick texts), legend boxes drawn inside it, marks. */
async function figures(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('.bqplot.figure')).map(figure => ({
    axes: Array.from(figure.querySelectorAll('g.axis')).map(axis => ({
      label: (axis.querySelector('.axislabel') || { textContent: '' }).textContent,
      ticks: Array.from(axis.querySelectorAll('.tick text')).map(text => text.textContent)
    })).filter(axis => axis.label),
    legendsInside: figure.querySelectorAll('.g_legend .legend').length,
    lines: figure.querySelectorAll('path.line').length,
    toolbarShown: Array.from(figure.querySelectorAll('.toolbar_div')).some(bar => bar.style.display !== 'none')
  })));
}

async function main() {
  const userDataDir = config.userDataDir || fs.mkdtempSync('/tmp/maas-chromium-');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: config.executablePath || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: config.width || 1400, height: config.height || 1000 },
    colorScheme: 'light'
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = collectErrors(page);
  let timer;
  const deadline = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${deadlineMs} ms`)), deadlineMs);
  });
  const run = (async () => {
    await openNotebook(page);
    await page.evaluate(() => window.jupyterapp.commands.execute('notebook:run-all-cells'));
    await waitForCells(page);
  })();
  run.catch(() => undefined); // past the deadline, its waits fail as the browser closes: already reported
  try {
    await Promise.race([deadline, run]);
    const result = {
      outputs: await cellOutputs(page),
      figures: await figures(page),
      legends: await page.locator('.maas-legend').allInnerTexts(),
      tables: await page.locator('.maas-monitor-table').allInnerTexts()
    };
    if (config.screenshot) {
      fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
      await page.screenshot({ path: config.screenshot, fullPage: true });
    }
    console.log(JSON.stringify({ ok: true, errors, ...result }));
  } catch (error) {
    if (config.failureScreenshot) {
      await page.screenshot({ path: config.failureScreenshot }).catch(() => undefined);
    }
    console.log(JSON.stringify({ ok: false, errors, error: String(error && error.stack || error) }));
    process.exitCode = 1;
  } finally {
    clearTimeout(timer);
    await context.close();
  }
}

main().catch(error => {
  console.log(JSON.stringify({ ok: false, errors: [], error: String(error && error.stack || error) }));
  process.exitCode = 1;
});
