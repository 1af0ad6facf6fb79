#!/usr/bin/env node
/*
 * Drive the "Models" sidebar of a running JupyterLab in Debian's Chromium via playwright-core.
 *
 *   node sidebar.js '{"url": "http://127.0.0.1:PORT/", "token": "T", "scenario": "show", ...}'
 *
 * Scenarios: "show" (open the sidebar, see the model, its versions and aliases), "deploy-rollback"
 * (deploy v1, swap to v2, roll back and see v1 serving again; a bad endpoint name gives a notification
 * with the server's reason), "screenshot" (the sidebar in the light theme, to config.screenshot),
 * "live-registry" (models, version counts and aliases written by a notebook's magics or by another
 * process appear within 2 s of the write, with no click), "keys" (an inference key made from an endpoint's
 * row, shown once and copied, then revoked; the test uses the key between the two).
 * Prints one JSON object on the last line of stdout; exits 1 with {"error": ...} on failure.
 * The pytest test tests/browser/test_sidebar.py starts the server and calls this.
 */
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const config = JSON.parse(process.argv[2] || '{}');
const timeout = config.timeoutMs || 60000;
const log = (...args) => console.error('[sidebar]', ...args);

/** Every console message and page error of the page, for scenarios that check what was logged. */
const consoleTexts = [];

async function openLab(page) {
  page.setDefaultTimeout(timeout);
  page.on('console', msg => {
    consoleTexts.push(msg.text());
    if (msg.type() === 'error') {
      log('console error:', msg.text());
    }
  });
  page.on('pageerror', err => {
    consoleTexts.push(err.message);
    log('page error:', err.message);
  });
  // config.open: a file (under the server's root) JupyterLab opens at start, as a link to it would.
  const where = config.open ? `lab/tree/${config.open}` : 'lab';
  await page.goto(`${config.url}${where}?token=${encodeURIComponent(config.token)}`);
  if (config.scenario === 'reconnect') {
    // JupyterLab's own "Server Connection Error" dialog may appear while the server is down: not ours.
    page.on('dialog', dialog => dialog.dismiss().catch(() => undefined));
  }
  await page.waitForSelector('#jp-main-dock-panel');
  const tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="maas-models-sidebar"]');
  await tab.waitFor();
  const panel = page.locator('#maas-models-sidebar');
  if (!(await panel.isVisible())) {
    await tab.click();
  }
  await panel.waitFor({ state: 'visible' });
  return panel;
}

async function expandModel(panel, model) {
  const row = panel.locator(`.maas-Model[data-model="${model}"]`);
  await row.waitFor();
  const head = row.locator('.maas-Model-head');
  if ((await head.getAttribute('aria-expanded')) !== 'true') {
    await head.click();
  }
  await row.locator('.maas-Version').first().waitFor();
  return row;
}

async function endpointServes(panel, endpoint, version) {
  const row = panel.locator(`.maas-Endpoint[data-endpoint="${endpoint}"][data-state="ready"]`);
  await row.locator(`.maas-Primary[data-version="${version}"]`).waitFor();
  return row;
}

async function acceptDialog(page, text) {
  const dialog = page.locator('.jp-Dialog');
  await dialog.waitFor();
  if (text !== undefined) {
    const input = dialog.locator('input');
    await input.fill(text);
  }
  const body = (await dialog.locator('.jp-Dialog-body').innerText()).trim();
  await dialog.locator('.jp-mod-accept').click();
  await dialog.waitFor({ state: 'detached' });
  return body;
}

async function deploy(page, modelRow, version, endpoint) {
  await modelRow.locator(`.maas-Version[data-version="${version}"] button[data-action="deploy"]`).click();
  const dialog = page.locator('.jp-Dialog');
  await dialog.waitFor();
  const proposed = await dialog.locator('input').inputValue();
  await acceptDialog(page, endpoint);
  return proposed;
}

/** Wait for one line on stdin (the pytest side says what it did). */
function nextLine() {
  return new Promise(resolve => {
    let buffer = '';
    const onData = chunk => {
      buffer += chunk;
      const at = buffer.indexOf('\n');
      if (at >= 0) {
        process.stdin.off('data', onData);
        process.stdin.pause();
        resolve(buffer.slice(0, at).trim());
      }
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', onData);
    process.stdin.resume();
  });
}

/**
 * Wait until the model's row shows `expect.alias` among its badges and `expect.versions` as its count,
 * at most until `deadlineMs` after `completedAt` (the write's completion, epoch ms): the sidebar must
 * follow a change with no click. Returns how long after the write it was seen.
 */
async function seeModelWithin(page, panel, expect, completedAt, deadlineMs) {
  const budget = completedAt + deadlineMs - Date.now();
  try {
    await page.waitForFunction(({ model, alias, versions }) => {
      const head = document.querySelector(`#maas-models-sidebar .maas-Model[data-model="${model}"] .maas-Model-head`);
      if (!head) {
        return false;
      }
      const badges = [...head.querySelectorAll('.maas-Badge-alias')].map(b => b.textContent.trim());
      const count = (head.querySelector('.maas-Right') || {}).textContent;
      return badges.includes(alias) && (count || '').trim() === versions;
    }, expect, { timeout: Math.max(1, budget), polling: 50 });
  } catch (error) {
    const shown = await panel.locator('[data-section="models"]').innerText().catch(() => '?');
    throw new Error(`${expect.model} with ${expect.alias} and ${expect.versions} was not shown within `
      + `${deadlineMs} ms of the write (budget left when asked: ${budget} ms); the list shows:\n${shown}`);
  }
  return { ...expect, seenAfterMs: Date.now() - completedAt };
}

/**
 * Run the notebook's selected cell (Shift+Enter, which selects the next one) and wait for its execution
 * count; fails unless its output includes `output`. Returns when it completed (epoch ms).
 */
async function runCell(page, notebook, index, output) {
  const cell = notebook.locator('.jp-Cell').nth(index);
  await page.keyboard.press('Shift+Enter');
  await page.waitForFunction(
    el => /^\[\d+\]:$/.test(((el.querySelector('.jp-InputPrompt') || {}).textContent || '').trim()),
    await cell.elementHandle(), { timeout: 180000, polling: 20 });
  const completedAt = Date.now();
  const shown = (await cell.locator('.jp-OutputArea').innerText().catch(() => '')).trim();
  if (output && !shown.includes(output)) {
    throw new Error(`cell ${index} did not print "${output}"; its output:\n${shown}`);
  }
  return completedAt;
}

const scenarios = {
  async show(page, panel) {
    const model = config.model;
    const row = await expandModel(panel, model);
    const versions = await row.locator('.maas-Version').evaluateAll(els => els.map(e => e.dataset.version));
    const aliases = await row.locator('.maas-Model-head .maas-Badge-alias').allInnerTexts();
    // Every section has loaded once it shows a count or an error instead of "Loading…".
    await page.waitForFunction(() => {
      const all = [...document.querySelectorAll('.maas-Section')];
      return all.length > 0 && all.every(e => e.querySelector('.maas-Count, .maas-Error'));
    });
    const sections = await panel.locator('.maas-Section').evaluateAll(els =>
      els.map(e => {
        const error = e.querySelector('.maas-Error');
        const count = e.querySelector('.maas-Count');
        return [e.dataset.section, error ? { error: error.textContent } : { count: Number(count.textContent) }];
      }));
    return { versions, aliases, sections: Object.fromEntries(sections) };
  },

  async 'deploy-rollback'(page, panel) {
    const { model, endpoint } = config;
    const row = await expandModel(panel, model);
    const steps = [];
    const firstProposal = await deploy(page, row, 1, endpoint);
    await endpointServes(panel, endpoint, 1);
    steps.push({ deployed: 1, proposed: firstProposal });
    // The version row shows which endpoint serves it.
    await row.locator(`.maas-Version[data-version="1"] .maas-Badge-serving`).waitFor();

    const secondProposal = await deploy(page, row, 2, endpoint);
    const ep = await endpointServes(panel, endpoint, 2);
    steps.push({ swapped: 2, proposed: secondProposal });

    await ep.locator('button[data-action="rollback"]').click();
    const question = await acceptDialog(page);
    await endpointServes(panel, endpoint, 1);
    steps.push({ rolledBack: 1, question });

    // Set an alias from the version's row; the model's badges follow.
    await row.locator('.maas-Version[data-version="2"] button[data-action="alias"]').click();
    await acceptDialog(page, 'staging');
    await row.locator('.maas-Model-head .maas-Badge-alias', { hasText: 'staging:v2' }).waitFor();
    await row.locator('.maas-Version[data-version="2"] .maas-Badge-alias', { hasText: 'staging' }).waitFor();
    steps.push({ alias: 'staging:v2' });

    // A failure shows the server's reason as a notification.
    await row.locator('.maas-Version[data-version="2"] button[data-action="deploy"]').click();
    await acceptDialog(page, 'bad/name');
    const toast = page.locator('.Toastify__toast', { hasText: 'Deploy failed' }).last();
    await toast.waitFor();
    steps.push({ failureNotification: (await toast.innerText()).trim() });
    return { steps };
  },

  async screenshot(page, panel) {
    const row = await expandModel(panel, config.model);
    let sparkPoints = 0;
    let canary = null;
    if (config.job) {
      // Running, with a loss curve of a few points.
      const job = panel.locator(`.maas-Job[data-job="${config.job}"][data-state="RUNNING"]`);
      await job.waitFor({ timeout: 120000 });
      await page.waitForFunction(
        id => {
          const path = document.querySelector(`.maas-Job[data-job="${id}"] .maas-Spark-svg path`);
          return path && (path.getAttribute('d').match(/L/g) || []).length >= 8;
        },
        config.job,
        { timeout: 120000 }
      );
    }
    if (config.endpoint) {
      const ep = panel.locator(`.maas-Endpoint[data-endpoint="${config.endpoint}"][data-state="ready"]`);
      await ep.waitFor();
      if (config.waitForSpark) {
        // Let the live series gather points: the metrics window fills one point per second.
        const sparkPath = `.maas-Endpoint[data-endpoint="${config.endpoint}"] .maas-Spark-svg path`;
        await page.waitForFunction(
          selector => {
            const path = document.querySelector(selector);
            return path && (path.getAttribute('d').match(/L/g) || []).length >= 15;
          },
          sparkPath,
          { timeout: 120000 }
        ).catch(async error => {
          const d = await page.locator(sparkPath).first().getAttribute('d', { timeout: 1000 }).catch(() => null);
          const drawn = d === null ? 'no sparkline' : `${(d.match(/L/g) || []).length} segments`;
          throw new Error(`the live series of ${config.endpoint} never reached 15 segments (${drawn}): ${error.message}`);
        });
        canary = await ep.locator('.maas-Canary').getAttribute('data-version').catch(() => null);
        const d = await ep.locator('.maas-Spark-svg path').first().getAttribute('d').catch(() => '');
        sparkPoints = ((d || '').match(/[ML]/g) || []).length;
      }
    }
    await page.mouse.move(600, 700); // no hover highlight in the picture
    await page.waitForTimeout(300);
    const bar = await page.locator('.jp-SideBar.jp-mod-left').boundingBox();
    const box = await panel.boundingBox();
    const x = Math.min(bar.x, box.x);
    // Down to the end of the last section (plus a margin), not the empty rest of the panel.
    const last = await panel.locator('.maas-Section').last().boundingBox();
    const height = Math.min(box.height, last.y + last.height - box.y + 24);
    const clip = { x, y: box.y, width: box.x + box.width - x, height };
    fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
    await page.screenshot({ path: config.screenshot, clip });
    return { screenshot: config.screenshot, clip, sparkPoints, canary, versions: await row.locator('.maas-Version').count() };
  },

  /** The server restarts under an open page: the panel says so, comes back live, and is current again. */
  async reconnect(page, panel) {
    await panel.locator('.maas-Live-on').waitFor();
    console.log(JSON.stringify({ phase: 'live' }));
    await nextLine(); // the server has been stopped
    await panel.locator('.maas-Live-off').waitFor();
    console.log(JSON.stringify({ phase: 'offline' }));
    await nextLine(); // the server is back, and an alias moved while the page was cut off
    await panel.locator('.maas-Live-on').waitFor({ timeout: 90000 });
    const badge = panel.locator(`.maas-Model[data-model="${config.model}"] .maas-Model-head .maas-Badge-alias`,
      { hasText: config.expectAlias });
    await badge.waitFor({ timeout: 60000 });
    return { alias: (await badge.innerText()).trim() };
  },

  /** Promote the endpoint's canary, then undeploy the endpoint; both confirmed first. */
  async 'promote-undeploy'(page, panel) {
    const { endpoint } = config;
    const ep = panel.locator(`.maas-Endpoint[data-endpoint="${endpoint}"]`);
    await ep.locator('.maas-Canary').waitFor();
    await ep.locator('button[data-action="promote"]').click();
    const promoteQuestion = await acceptDialog(page);
    await endpointServes(panel, endpoint, config.expectPromoted);
    await ep.locator('.maas-Canary').waitFor({ state: 'detached' });
    await ep.locator('button[data-action="undeploy"]').click();
    const undeployQuestion = await acceptDialog(page);
    await ep.waitFor({ state: 'detached' });
    return { promoteQuestion, undeployQuestion };
  },

  /**
   * The list follows the registry with no click. First the notebook config.open (already open): cell i
   * must print config.cells[i].output, and the list show config.cells[i].shows once it ran. Then another
   * process writes: it says {"expect", "completedAt"} on stdin after each write, {"done": true} at the end.
   */
  async 'live-registry'(page, panel) {
    await panel.locator('.maas-Live-on').waitFor();
    await panel.locator(`.maas-Model[data-model="${config.model}"]`).waitFor(); // the first load is done
    const notebookPanel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const notebook = notebookPanel.locator('.jp-Notebook');
    await notebook.locator('.jp-Cell').first().waitFor();
    // A cell run before its kernel is connected is not run at all: wait for "<kernel name> | Idle".
    await page.locator('.jp-StatusBar-TextItem', { hasText: / \| Idle$/ }).filter({ hasNotText: 'No Kernel' })
      .first().waitFor({ timeout: 180000 });
    await notebook.locator('.jp-Cell').first().locator('.jp-InputArea-editor').click();
    const steps = [];
    for (const [index, cell] of config.cells.entries()) {
      const completedAt = await runCell(page, notebook, index, cell.output);
      if (cell.shows) {
        const seen = await seeModelWithin(page, panel, cell.shows, completedAt, config.deadlineMs);
        steps.push({ by: 'notebook', ...seen });
      }
    }
    console.log(JSON.stringify({ phase: 'live' }));
    for (;;) {
      const line = JSON.parse(await nextLine());
      if (line.done) {
        break;
      }
      const seen = await seeModelWithin(page, panel, line.expect, line.completedAt, config.deadlineMs);
      steps.push({ by: 'process', ...seen });
      console.log(JSON.stringify({ phase: 'seen', ...seen }));
    }
    return { steps };
  },

  /**
   * Inference keys. A refused creation shows the server's reason; a key made from config.endpoint's row is
   * shown once (read, copied) and listed by its prefix; the key goes to stdout as {"phase": "created"} and
   * the test answers on stdin once it has used it; then the row shows its last use, and the key is revoked
   * from the sidebar ({"phase": "revoked"}). config.screenshot: a picture of the Keys section.
   */
  async keys(page, panel) {
    const { endpoint } = config;
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(config.url).origin });
    const section = panel.locator('[data-section="keys"]');
    await section.locator('.maas-Count').waitFor(); // loaded
    const row = panel.locator(`.maas-Endpoint[data-endpoint="${endpoint}"][data-state="ready"]`);
    await row.waitFor();
    const dialog = page.locator('.jp-Dialog');

    // The title folds the section and unfolds it.
    const toggle = section.locator('.maas-Section-toggle');
    await toggle.click();
    await section.locator('.maas-List, .maas-Pad').first().waitFor({ state: 'detached' });
    const folded = (await section.getAttribute('data-open')) === 'false'
      && (await section.locator('button[data-action="new-key"]').count()) === 0;
    await toggle.click();
    await section.locator('button[data-action="new-key"]').waitFor();

    // Nothing chosen: the server refuses, and its reason is what the notification says.
    await section.locator('header button[data-action="new-key"]').click();
    await dialog.locator('.maas-KeyForm').waitFor();
    const choices = await dialog.locator('.maas-KeyForm input[type="checkbox"]').evaluateAll(els =>
      els.map(e => [e.dataset.choice, e.checked]));
    await dialog.locator('.jp-mod-accept').click();
    const toast = page.locator('.Toastify__toast', { hasText: 'New key failed' }).last();
    await toast.waitFor();
    const refused = (await toast.innerText()).trim();
    await dialog.waitFor({ state: 'detached' });

    // From the endpoint's row: that endpoint is ticked already.
    await row.locator('button[data-action="new-key"]').click();
    await dialog.locator('.maas-KeyForm').waitFor();
    const ticked = await dialog.locator('.maas-KeyForm input[type="checkbox"]:checked').evaluateAll(els =>
      els.map(e => e.dataset.choice));
    await dialog.locator('input[name="description"]').fill(config.description);
    await dialog.locator('.jp-mod-accept').click();
    const once = dialog.locator('.maas-KeyOnce');
    await once.waitFor();
    const key = (await once.locator('.maas-KeyOnce-secret').innerText()).trim();
    const shown = (await dialog.innerText()).trim();
    await once.locator('button[data-action="copy"]').click();
    await once.locator('button[data-action="copy"]', { hasText: 'Copied' }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (config.dialogScreenshot) {
      await dialog.locator('.jp-Dialog-content').screenshot({ path: config.dialogScreenshot });
    }
    await dialog.locator('.jp-mod-accept').click();
    await dialog.waitFor({ state: 'detached' });

    // Gone with the dialog: nowhere in the page, its storage or its console.
    const prefix = key.slice(0, 12);
    const keyRow = section.locator(`.maas-Key[data-prefix="${prefix}"]`);
    await keyRow.waitFor();
    const kept = await page.evaluate(secret => {
      const places = [];
      if (document.documentElement.outerHTML.includes(secret)) {
        places.push('document');
      }
      if ([...document.querySelectorAll('input, textarea')].some(e => e.value.includes(secret))) {
        places.push('inputs');
      }
      for (const [name, storage] of [['localStorage', localStorage], ['sessionStorage', sessionStorage]]) {
        for (let i = 0; i < storage.length; i++) {
          if ((storage.getItem(storage.key(i)) || '').includes(secret)) {
            places.push(name);
          }
        }
      }
      return places;
    }, key);
    if (consoleTexts.some(text => text.includes(key))) {
      kept.push('console');
    }
    const listed = {
      endpoints: await keyRow.locator('.maas-Badge').evaluateAll(els => els.map(e => e.dataset.endpoint)),
      text: (await keyRow.innerText()).trim(),
      lastUsed: (await keyRow.locator('[data-field="last-used"]').innerText()).trim()
    };
    if (config.screenshot) {
      await page.mouse.move(600, 700); // no hover highlight in the picture
      fs.mkdirSync(path.dirname(config.screenshot), { recursive: true });
      await section.screenshot({ path: config.screenshot });
    }
    console.log(JSON.stringify({ phase: 'created', key, copied: copied === key, refused, choices, ticked, shown,
      listed, kept, folded }));

    await nextLine(); // the test has called the endpoint with the key
    await panel.locator('.maas-Header .jp-ToolbarButtonComponent').click(); // Refresh: the last use shows
    await keyRow.locator('[data-field="last-used"]', { hasNotText: 'never' }).waitFor();
    const usedAfter = (await keyRow.locator('[data-field="last-used"]').innerText()).trim();
    await keyRow.locator('button[data-action="revoke"]').click();
    const question = await acceptDialog(page);
    await keyRow.waitFor({ state: 'detached' });
    return { phase: 'revoked', question, usedAfter };
  },

  async 'cancel-job'(page, panel) {
    const job = panel.locator(`.maas-Job[data-job="${config.job}"]`);
    // The job was submitted a moment ago: on a loaded machine its row and its worker take a while.
    await job.waitFor({ timeout: 120000 });
    await job.locator('button[data-action="cancel"]').click({ timeout: 120000 });
    const question = await acceptDialog(page);
    await panel.locator(`.maas-Job[data-job="${config.job}"][data-state="CANCELLED"]`).waitFor({ timeout: 180000 });
    return { question };
  }
};

async function main() {
  const scenario = scenarios[config.scenario];
  if (!scenario) {
    throw new Error(`unknown scenario ${config.scenario}`);
  }
  const userDataDir = config.userDataDir || fs.mkdtempSync('/tmp/maas-chromium-');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: config.executablePath || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: config.width || 1200, height: config.height || 760 },
    colorScheme: 'light'
  });
  const page = context.pages()[0] || (await context.newPage());
  try {
    const panel = await openLab(page);
    const result = await scenario(page, panel);
    console.log(JSON.stringify({ ok: true, ...result }));
  } catch (error) {
    if (config.failureScreenshot) {
      await page.screenshot({ path: config.failureScreenshot }).catch(() => undefined);
    }
    console.log(JSON.stringify({ ok: false, error: String(error && error.stack || error) }));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
}

main().catch(error => {
  console.log(JSON.stringify({ ok: false, error: String(error && error.stack || error) }));
  process.exitCode = 1;
});
