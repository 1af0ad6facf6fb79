#!/usr/bin/env node
/*
 * Run the README's tour notebook in a real JupyterLab in Debian's Chromium (playwright-core from
 * labextension/ui-tests) and screenshot the live widgets while they work:
 *   docs/loss-curve.png  the %maas train widget once training has finished
 *   docs/monitor.png     the %maas monitor dashboard while the load loop runs
 *
 *   node scripts/readme_screenshots.js '{"url": "...", "token": "...", "notebook": "tour.ipynb", "out": "docs"}'
 * scripts/readme_screenshots.py starts the server, writes the notebook and calls this.
 */
const path = require('path');
const fs = require('fs');
const { chromium } = require(path.join(__dirname, '..', 'labextension', 'ui-tests', 'node_modules', 'playwright-core'));

const config = JSON.parse(process.argv[2] || '{}');
const log = (...args) => console.error('[screenshots]', ...args);

async function main() {
  const userDataDir = fs.mkdtempSync('/tmp/maas-chromium-');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 1000 },
    colorScheme: 'light'
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(240000);
  page.on('pageerror', err => log('page error:', err.message));
  try {
    await page.goto(`${config.url}lab/tree/${config.notebook}?token=${encodeURIComponent(config.token)}&reset`);
    await page.waitForSelector('.jp-Notebook');
    await page.waitForFunction(() => window.jupyterapp !== undefined);
    // A new notebook may ask which kernel to start: take the one it names (Python 3).
    const accept = page.locator('.jp-Dialog .jp-Dialog-button.jp-mod-accept');
    if (await accept.waitFor({ timeout: 20000 }).then(() => true, () => false)) {
      await accept.click();
      log('kernel selected');
    }
    // Wait for the kernel, then run every cell as a user would (Run > Run All Cells).
    await page.waitForSelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', { timeout: 120000 })
      .catch(() => log('no idle indicator; running anyway'));
    // Not awaited inside the page: run-all-cells resolves only once every cell has run.
    await page.evaluate(() => { window.jupyterapp.commands.execute('application:toggle-left-area'); });
    await page.evaluate(() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); });
    log('running all cells');
    const cells = page.locator('.jp-Notebook .jp-CodeCell');

    // 1. The loss curve: wait for the run to finish (its header says so), then shoot that output.
    const train = cells.nth(config.trainCell);
    await train.locator('.jp-OutputArea-output:has-text("finished")').first().waitFor({ timeout: 300000 });
    await page.waitForTimeout(1500);
    await train.scrollIntoViewIfNeeded();
    await train.locator('.jp-Cell-outputArea').screenshot({ path: path.join(config.out, 'loss-curve.png') });
    log('loss curve done');

    // 2. The monitor: wait until the dashboard has drawn some seconds of load, then shoot it.
    const monitor = cells.nth(config.monitorCell);
    // The table has rows once requests were served in the window.
    await monitor.locator('.jp-OutputArea-output:has-text("throughput (req/s)")').first().waitFor({ timeout: 300000 });
    await page.waitForTimeout((config.monitorWaitS || 15) * 1000);
    await monitor.scrollIntoViewIfNeeded();
    await monitor.locator('.jp-Cell-outputArea').screenshot({ path: path.join(config.out, 'monitor.png') });
    log('monitor done');
    console.log(JSON.stringify({ ok: true }));
  } catch (error) {
    await page.screenshot({ path: path.join(config.out, 'screenshot-failure.png') }).catch(() => undefined);
    console.log(JSON.stringify({ ok: false, error: String(error && error.stack || error) }));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
}

main();
