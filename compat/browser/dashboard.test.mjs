// The dashboard in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core, against target/debug/hookd (or $HOOKD_BIN) and a scripted receiver on
// loopback. The scenarios run in order on one signed-in page, as an operator would, and take
// screenshots on the way (target/browser-screenshots; the README's docs/screenshots/*.png with
// HOOKD_UPDATE_SCREENSHOTS=1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const hookdBin = process.env.HOOKD_BIN ?? join(root, 'target/debug/hookd');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The README's copies are refreshed only when asked (HOOKD_UPDATE_SCREENSHOTS=1): their ids and
// times change on every run, and a test run must leave the tree as it found it.
const screenshots = process.env.HOOKD_UPDATE_SCREENSHOTS
  ? join(root, 'docs/screenshots')
  : join(root, 'target/browser-screenshots');
const adminToken = 'testsk_browser_admin';

let hookd, dataDir, base, receiver, receiverUrl, browser, page;
// What the receiver answers next: 'ok' or 'fail'.
let receiverMode = 'ok';
const received = [];

async function freePort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

async function api(method, path, body) {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

async function shot(name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

before(async () => {
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      if (receiverMode === 'ok') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ received: true, by: 'browser-test receiver' }));
      } else {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'the receiver is down' }));
      }
    });
  });
  await new Promise((done) => receiver.listen(0, '127.0.0.1', done));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}/webhooks`;

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dataDir = mkdtempSync(join(tmpdir(), 'hookd-browser-'));
  hookd = spawn(hookdBin, [
    'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir,
    '--admin-token', adminToken, '--allow-private-targets', '--retry-schedule=',
  ], { stdio: ['ignore', 'ignore', process.env.HOOKD_LOG ? 'inherit' : 'ignore'] });
  for (let tries = 0; ; tries += 1) {
    try {
      if ((await fetch(`${base}/api/v1/health`)).ok) break;
    } catch { /* not listening yet */ }
    if (tries > 200) throw new Error(`hookd (${hookdBin}) did not start on ${base}`);
    await new Promise((done) => setTimeout(done, 50));
  }
  await api('POST', '/event-type', {
    name: 'invoice.paid',
    description: 'An invoice was paid in full.',
    schemas: { 1: { type: 'object', properties: { invoiceId: { type: 'string' }, amount: { type: 'integer' } }, examples: [{ invoiceId: 'inv_1042', amount: 4900, currency: 'EUR' }] } },
  });
  await api('POST', '/event-type', { name: 'customer.created', description: 'A customer signed up.' });

  mkdirSync(screenshots, { recursive: true });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
});

after(async () => {
  await browser?.close();
  hookd?.kill('SIGTERM');
  await new Promise((done) => (hookd ? hookd.once('exit', done) : done()));
  receiver?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('a wrong token does not sign in, the admin token does', async () => {
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await shot('login');
  await page.fill('#token', 'not-the-token');
  await page.click('button[type=submit]');
  await page.getByText('That token is not valid here', { exact: false }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.fill('#token', adminToken);
  await page.click('button[type=submit]');
  await page.getByRole('heading', { name: 'Applications', exact: true }).waitFor();
  const cookies = await page.context().cookies();
  const session = cookies.find((cookie) => cookie.name === 'hookd_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict');
});

test('create an application and an endpoint, reveal its secret', async () => {
  await page.fill('input[name=name]', 'Acme Inc.');
  await page.fill('input[name=uid]', 'acme');
  await page.click('text=Create application');
  await page.getByRole('heading', { name: 'Acme Inc.' }).waitFor();
  await page.fill('input[name=url]', receiverUrl);
  await page.fill('input[name=description]', 'Acme production receiver');
  await page.click('text=Add endpoint');
  await page.getByRole('heading', { name: receiverUrl }).waitFor();
  assert.equal(await page.locator('[data-testid=secret]').count(), 0, 'the secret is hidden until asked for');
  await page.click('text=Reveal secret');
  const secret = await page.locator('[data-testid=secret]').textContent();
  assert.match(secret, /^whsec_/);
});

test('a bad input shows why and changes nothing', async () => {
  await page.goto(`${base}/apps/acme`);
  await page.fill('input[name=url]', 'ftp://example.com');
  await page.click('text=Add endpoint');
  await page.getByText('url scheme must be http or https').waitFor();
  const endpoints = await api('GET', '/app/acme/endpoint');
  assert.equal(endpoints.data.length, 1);
});

test('send a test event and see the attempt and its response', async () => {
  await page.goto(`${base}/apps/acme`);
  // The payload is prefilled from the schema's example.
  assert.match(await page.inputValue('#test-payload'), /inv_1042/);
  await page.selectOption('select[name=event_type]', 'customer.created');
  await page.waitForFunction(() => !document.querySelector('#test-payload').value.includes('inv_1042'));
  await page.selectOption('select[name=event_type]', 'invoice.paid');
  await page.waitForFunction(() => document.querySelector('#test-payload').value.includes('inv_1042'));
  await shot('application');
  await page.click('text=Send test event');
  await page.getByRole('heading', { name: 'invoice.paid' }).waitFor();
  // The attempts poll: the delivered attempt appears without a reload.
  const attempt = page.locator('[data-testid=attempt]', { hasText: 'HTTP 200' });
  await attempt.waitFor({ timeout: 20000 });
  await attempt.locator('summary').click();
  await attempt.getByText('browser-test receiver').waitFor();
  assert.equal(received.length, 1);
  assert.match(received[0].body, /inv_1042/);
  await shot('message');
});

test('a failing receiver makes a dead letter; fixed, a bulk replay delivers it', async () => {
  receiverMode = 'fail';
  await page.goto(`${base}/apps/acme`);
  await page.click('text=Send test event');
  await page.locator('[data-testid=attempt]', { hasText: 'HTTP 500' }).waitFor({ timeout: 20000 });
  const failedMessage = page.url();

  await page.goto(`${base}/apps/acme/dead-letters`);
  await page.locator('[data-testid=dead-letters] tbody tr').first().waitFor({ timeout: 20000 });
  assert.equal(await page.locator('[data-testid=dead-letters] tbody tr').count(), 1);
  await page.click('button:text-is("Dry run")');
  await page.locator('#replay-result .alert').waitFor();
  await page.locator('[data-testid=dry-run-count]', { hasText: '1' }).waitFor();
  await shot('dead-letters');

  receiverMode = 'ok';
  await page.click('button:text-is("Replay")');
  await page.locator('[data-testid=task-status]', { hasText: 'finished' }).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('[data-testid=task-sent]').textContent(), '1');
  await shot('background-task');

  await page.goto(failedMessage);
  await page.locator('[data-testid=attempt]', { hasText: 'HTTP 200' }).waitFor({ timeout: 20000 });
  await page.goto(`${base}/apps/acme/dead-letters`);
  await page.getByText('No dead letters').waitFor({ timeout: 20000 });
});

test('the endpoint page shows its success rate and latency', async () => {
  await page.goto(`${base}/apps/acme`);
  await page.click(`a:text-is("${receiverUrl}")`);
  await page.locator('.chart-svg').waitFor();
  // Three attempts: two delivered, one failed.
  await page.locator('.stat', { hasText: 'Success rate' }).getByText('66.7%').waitFor();
  // Custom headers: set, a credential hidden, a reserved name refused with why, removed.
  const headers = page.locator('[data-testid=custom-headers]');
  const setHeader = async (name, value) => {
    await headers.getByRole('textbox', { name: 'Header name' }).fill(name);
    await headers.getByRole('textbox', { name: 'Header value' }).fill(value);
    await headers.locator('button:text-is("Set header")').click();
  };
  await setHeader('X-Team', 'payments');
  await headers.locator('[data-testid=custom-header]', { hasText: 'X-Team' }).getByText('payments').waitFor();
  await setHeader('Authorization', 'Bearer browser-secret');
  await headers.locator('[data-testid=custom-header]', { hasText: 'Authorization' }).getByText('hidden').waitFor();
  assert.ok(!(await page.content()).includes('browser-secret'), 'a credential is never shown');
  await setHeader('X-Remove-Me', '1');
  await headers.locator('[data-testid=custom-header]', { hasText: 'X-Remove-Me' }).waitFor();
  await headers.locator('[data-testid=custom-header]', { hasText: 'X-Remove-Me' }).locator('button:text-is("Remove")').click();
  await headers.locator('[data-testid=custom-header]', { hasText: 'X-Remove-Me' }).waitFor({ state: 'detached' });
  await setHeader('Content-Type', 'text/plain');
  await headers.getByText('this header is set by hookd and cannot be customized').waitFor();
  const endpoint = (await api('GET', '/app/acme/endpoint')).data[0];
  const stored = await api('GET', `/app/acme/endpoint/${endpoint.id}/headers`);
  assert.deepEqual(stored, { headers: { 'X-Team': 'payments' }, sensitive: ['Authorization'] });
  await shot('endpoint');
  await page.goto(`${base}/`);
  await shot('applications');
  await page.goto(`${base}/event-types`);
  await shot('event-types');
});

test('the API reference opens from the navigation and renders under the CSP', async () => {
  const refused = [];
  const listener = (message) => { if (/Content Security Policy|Refused/.test(message.text())) refused.push(message.text()); };
  page.on('console', listener);
  await page.goto(`${base}/`);
  await page.click('a.nav-item:text-is("API reference")');
  await page.waitForURL(`${base}/docs`);
  const document = await (await fetch(`${base}/api/v1/openapi.json`)).json();
  const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
  assert.equal(await page.locator('.docs-operation').count(), operations.length);
  await page.locator('#post_api_v1_app_app_id_msg').getByText('Send a message').waitFor();
  await page.locator('#schema-MessageIn').getByText('eventType').first().waitFor();
  page.off('console', listener);
  assert.deepEqual(refused, []);
  // The page is long (every operation and schema): the first screen shows what it is.
  await page.screenshot({ path: join(screenshots, 'api-reference.png') });
});

test('an inbound source shows its ingest URL, secrets on a click, and its request log with replay', async () => {
  const ingest = async (method, path, body) => {
    const response = await fetch(`${base}/ingest/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(response.ok, `${method} ${path}: ${response.status}`);
    return response.json();
  };
  const secret = 'gh_webhook_secret_browser';
  const source = await ingest('POST', '/source', { name: 'GitHub (acme/api)', uid: 'github-acme', type: 'github', config: { secret } });
  await ingest('POST', `/source/${source.id}/endpoint`, { url: `${receiverUrl}/github` });
  const push = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/api' } });
  const signature = `sha256=${createHmac('sha256', secret).update(push).digest('hex')}`;
  const post = (headers) => fetch(source.ingestUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', ...headers }, body: push });
  assert.equal((await post({ 'x-github-delivery': 'delivery-1', 'x-hub-signature-256': signature })).status, 200);
  assert.equal((await post({ 'x-github-delivery': 'delivery-2', 'x-hub-signature-256': 'sha256=00' })).status, 401);
  const pushes = () => received.filter((request) => request.body === push).length;
  const waitForPushes = async (count) => {
    for (let tries = 0; pushes() < count && tries < 400; tries += 1) {
      await new Promise((done) => setTimeout(done, 50));
    }
    assert.equal(pushes(), count);
  };
  await waitForPushes(1); // the accepted request, forwarded to the ingest endpoint byte for byte

  await page.goto(`${base}/`);
  await page.click('a:text-is("Inbound sources")');
  await page.locator('[data-testid=sources]').getByText('GitHub (acme/api)').waitFor();
  await shot('sources');
  await page.click('a:text-is("GitHub (acme/api)")');
  assert.equal(await page.locator('[data-testid=ingest-url]').textContent(), source.ingestUrl);
  assert.ok(!(await page.content()).includes(secret), 'the secret is not on the page until asked for');
  await page.locator('[data-testid=source-request]', { hasText: 'accepted' }).waitFor();
  await page.locator('[data-testid=reject-reason]', { hasText: 'no_matching_signature' }).waitFor();
  await page.click('text=Reveal secrets');
  await page.locator('[data-testid=source-secrets]', { hasText: secret }).waitFor();
  await page.locator('[data-testid=source-request]', { hasText: 'accepted' }).locator('button:text-is("Replay")').click();
  await page.getByText('queued to 1 ingest endpoint.').waitFor();
  await waitForPushes(2); // and again by the replay
  await shot('source');
});

test('a state-changing request without the CSRF token is refused', async () => {
  const forged = await page.request.post(`${base}/apps`, { form: { name: 'Forged' } });
  assert.equal(forged.status(), 403);
  const foreign = await page.request.post(`${base}/apps`, {
    form: { name: 'Forged', csrf: 'x' },
    headers: { origin: 'http://evil.example' },
  });
  assert.equal(foreign.status(), 403);
  const apps = await api('GET', '/app');
  assert.deepEqual(apps.data.map((app) => app.name), ['Acme Inc.']);
});

test('signing out ends the session', async () => {
  const cookie = (await page.context().cookies()).find((c) => c.name === 'hookd_session');
  await page.goto(`${base}/`);
  await page.click('text=Sign out');
  await page.waitForURL(`${base}/login`);
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/login');
  // The old cookie opens nothing any more.
  const replayed = await fetch(`${base}/`, { headers: { cookie: `hookd_session=${cookie.value}` }, redirect: 'manual' });
  assert.equal(replayed.status, 303);
  assert.equal(replayed.headers.get('location'), '/login');
});

test('a portal link opens only its application, and the token leaves the URL', async () => {
  // Another tenant, with data of its own, that the portal must not show.
  await api('POST', '/app', { name: 'Globex Corp', uid: 'globex' });
  await api('POST', '/app/globex/endpoint', { url: `${receiverUrl}/globex` });
  const access = await api('POST', '/auth/app-portal-access/acme', {});
  assert.match(access.url, /\/portal\/login#token=appsk_/);

  // A fresh browser context: no admin session, as a customer opening the link.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const portal = await context.newPage();
  await portal.goto(access.url);
  await portal.waitForURL(/\/apps\//);
  assert.ok(!portal.url().includes('token'), `the token left the URL: ${portal.url()}`);
  assert.ok(!portal.url().includes('appsk_'));
  const visited = await portal.evaluate(() => history.length);
  assert.ok(visited >= 1);
  await portal.getByText('Acme Inc.').first().waitFor();
  const page_text = await portal.textContent('body');
  assert.ok(!page_text.includes('Globex'), 'the other application is not shown');
  assert.ok(!page_text.includes('Background tasks'), 'no admin navigation');
  await portal.screenshot({ path: join(screenshots, 'portal.png'), fullPage: true });

  // Forged requests to the other application's data are refused, reads and changes alike.
  const read = await portal.request.get(`${base}/apps/globex`);
  assert.equal(read.status(), 403);
  const csrf = await portal.locator('input[name=csrf]').first().getAttribute('value');
  const change = await portal.request.post(`${base}/apps/globex/endpoints`, {
    form: { url: 'https://example.com/forged', csrf },
  });
  assert.equal(change.status(), 403);
  const api_read = await portal.request.get(`${base}/api/v1/app/globex/endpoint`, {
    headers: { authorization: `Bearer ${access.token}` },
  });
  assert.equal(api_read.status(), 403);
  const globex = await api('GET', '/app/globex/endpoint');
  assert.equal(globex.data.length, 1, 'nothing was added to the other application');
  await context.close();
});
