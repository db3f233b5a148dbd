// The app portal embedded in another site, in a real browser: a hookd started with
// --portal-frame-ancestors naming a parent page on another loopback origin (127.0.0.2, another
// site than hookd's 127.0.0.1), and with a portal name, logo file and primary colour. The parent
// frames a portal link; inside the frame the portal signs in and is used; a form the parent
// posts to hookd on its own (without the CSRF token) is refused. Screenshots as in
// dashboard.test.mjs (portal-embedded.png, portal-branded.png, portal-capabilities.png: a session
// restricted to ViewBase and ViewEndpointSecret, without the buttons it may not use).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const hookdBin = process.env.HOOKD_BIN ?? join(root, 'target/debug/hookd');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const screenshots = process.env.HOOKD_UPDATE_SCREENSHOTS
  ? join(root, 'docs/screenshots')
  : join(root, 'target/browser-screenshots');
const adminToken = 'testsk_browser_portal_admin';
const brandColor = '#0a7d5a';
const logoSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="56" height="56" viewBox="0 0 56 56">
  <rect width="56" height="56" rx="14" fill="${brandColor}"/>
  <path d="M14 40 L28 14 L42 40 Z" fill="#fff"/></svg>`;

let hookd, dataDir, base, parent, parentBase, browser;
// The page the parent site serves at /: set by each test before it navigates.
let parentHtml = '';

async function freePort(host) {
  const server = createServer();
  await new Promise((done) => server.listen(0, host, done));
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

before(async () => {
  // The embedding SaaS: another origin, and another site (an IP address is its own site).
  parent = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(parentHtml);
  });
  const parentPort = await freePort('127.0.0.2');
  await new Promise((done) => parent.listen(parentPort, '127.0.0.2', done));
  parentBase = `http://127.0.0.2:${parentPort}`;

  const port = await freePort('127.0.0.1');
  base = `http://127.0.0.1:${port}`;
  dataDir = mkdtempSync(join(tmpdir(), 'hookd-portal-'));
  const logo = join(dataDir, 'acme-logo.svg');
  writeFileSync(logo, logoSvg);
  hookd = spawn(hookdBin, [
    'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', join(dataDir, 'data'),
    '--admin-token', adminToken, '--allow-private-targets', '--retry-schedule=',
    '--portal-frame-ancestors', parentBase,
    '--portal-name', 'Acme Cloud', '--portal-logo-url', logo, '--portal-primary-color', brandColor,
  ], { stdio: ['ignore', 'ignore', process.env.HOOKD_LOG ? 'inherit' : 'ignore'] });
  for (let tries = 0; ; tries += 1) {
    try {
      if ((await fetch(`${base}/api/v1/health`)).ok) break;
    } catch { /* not listening yet */ }
    if (tries > 200) throw new Error(`hookd (${hookdBin}) did not start on ${base}`);
    await new Promise((done) => setTimeout(done, 50));
  }
  await api('POST', '/app', { name: 'Acme Cloud customer 42', uid: 'customer-42' });
  await api('POST', '/app/customer-42/endpoint', { url: 'http://127.0.0.1:9/existing', description: 'Existing receiver' });
  mkdirSync(screenshots, { recursive: true });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  hookd?.kill('SIGTERM');
  await new Promise((done) => (hookd ? hookd.once('exit', done) : done()));
  parent?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function portalFrame(page) {
  return page.frames().find((frame) => frame.name() === 'portal');
}

test('another site embeds the portal in an iframe and uses it', async () => {
  const access = await api('POST', '/auth/app-portal-access/customer-42', {});
  parentHtml = `<!doctype html><html><head><title>Acme Cloud settings</title></head>
    <body style="margin:0;font-family:sans-serif;background:#e8ecef">
      <header style="padding:14px 24px;background:#fff;border-bottom:1px solid #ccd">
        <strong>Acme Cloud</strong> · Settings › Webhooks <span style="color:#789">(the SaaS's own page, on another site)</span>
      </header>
      <iframe name="portal" src="${access.url}" style="display:block;margin:18px 24px;width:1230px;height:720px;border:1px solid #bbc;border-radius:8px;background:#fff"></iframe>
    </body></html>`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 780 } });
  const page = await context.newPage();
  await page.goto(`${parentBase}/`);
  let frame;
  for (let tries = 0; tries < 200; tries += 1) {
    frame = portalFrame(page);
    if (frame && /\/apps\//.test(frame.url())) break;
    await page.waitForTimeout(50);
  }
  assert.match(frame.url(), /\/apps\//, `the frame signed in: ${frame.url()}`);
  assert.ok(!frame.url().includes('appsk_'), 'the token left the frame\'s URL');
  await frame.getByText('Existing receiver').waitFor();
  assert.equal(await frame.locator('[data-testid=brand-name]').textContent(), 'Acme Cloud');

  const cookies = await context.cookies();
  const session = cookies.find((cookie) => cookie.name === 'hookd_session');
  assert.ok(session, 'the framed portal has its session cookie');
  assert.equal(session.sameSite, 'None');
  assert.ok(session.secure && session.httpOnly);
  assert.equal(session.partitionKey, 'http://127.0.0.2', 'kept for the embedding site only');

  // Using it: add an endpoint from inside the frame (a same-origin POST with the CSRF token).
  await frame.fill('input[name=url]', 'http://127.0.0.1:9/added-in-the-frame');
  await frame.fill('input[name=description]', 'Added in the embedded portal');
  await frame.click('text=Add endpoint');
  await frame.getByRole('heading', { name: 'http://127.0.0.1:9/added-in-the-frame' }).waitFor();
  const endpoints = await api('GET', '/app/customer-42/endpoint');
  assert.ok(endpoints.data.some((endpoint) => endpoint.url.endsWith('/added-in-the-frame')));
  await frame.goto(`${base}/apps/customer-42`);
  await frame.getByText('Added in the embedded portal').waitFor();
  await page.screenshot({ path: join(screenshots, 'portal-embedded.png') });

  // The admin's login may not be framed: a frame sent there stays blank.
  const adminLogin = await frame.goto(`${base}/login`).catch((error) => error);
  const blocked = adminLogin instanceof Error
    || (await adminLogin.headerValue('content-security-policy')).includes("frame-ancestors 'none'");
  assert.ok(blocked, 'the admin login answers frame-ancestors \'none\'');
  await context.close();
});

test('a form the embedding site forges without the CSRF token is refused', async () => {
  const access = await api('POST', '/auth/app-portal-access/customer-42', {});
  // The parent frames the portal (so the frame's partitioned cookie exists for this site),
  // then posts a form of its own to hookd: the browser sends the session cookie with it.
  parentHtml = `<!doctype html><html><body>
    <iframe name="portal" src="${access.url}" width="800" height="400"></iframe>
    <iframe name="sink" width="400" height="200"></iframe>
    <form id="forged" method="post" action="${base}/apps/customer-42/endpoints" target="sink">
      <input name="url" value="http://127.0.0.1:9/forged">
    </form></body></html>`;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${parentBase}/`);
  for (let tries = 0; tries < 200; tries += 1) {
    const frame = portalFrame(page);
    if (frame && /\/apps\//.test(frame.url())) break;
    await page.waitForTimeout(50);
  }
  assert.ok(/\/apps\//.test(portalFrame(page).url()), 'the portal signed in inside the frame');
  const answered = page.waitForResponse((response) => response.url().endsWith('/apps/customer-42/endpoints'));
  await page.evaluate(() => document.getElementById('forged').submit());
  const response = await answered;
  assert.equal(response.status(), 403);

  // A script's cross-site fetch with the session's cookie is refused too.
  const status = await page.evaluate(async (url) => {
    try {
      const answer = await fetch(url, { method: 'POST', credentials: 'include', mode: 'no-cors',
        body: new URLSearchParams({ url: 'http://127.0.0.1:9/forged-by-fetch' }) });
      return answer.type;
    } catch (error) { return String(error); }
  }, `${base}/apps/customer-42/endpoints`);
  assert.equal(status, 'opaque');
  const endpoints = await api('GET', '/app/customer-42/endpoint');
  assert.ok(!endpoints.data.some((endpoint) => endpoint.url.includes('forged')), 'nothing was created');
  await context.close();
});

test('the portal wears the brand: name, logo and colour', async () => {
  const access = await api('POST', '/auth/app-portal-access/customer-42', {});
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(access.url);
  await page.waitForURL(/\/apps\//);
  assert.equal(await page.locator('.sidebar [data-testid=brand-name]').textContent(), 'Acme Cloud');
  const logoWidth = await page.locator('.sidebar img.brand-logo').evaluate((img) => img.naturalWidth);
  assert.ok(logoWidth > 0, 'the logo loaded under the CSP');
  const primary = await page.locator('button.primary').first()
    .evaluate((button) => getComputedStyle(button).backgroundColor);
  assert.equal(primary, 'rgb(10, 125, 90)');
  assert.ok((await page.title()).endsWith('· Acme Cloud'));
  await page.screenshot({ path: join(screenshots, 'portal-branded.png'), fullPage: true });

  // The admin's dashboard keeps hookd's own look.
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  await adminPage.goto(`${base}/login`);
  await adminPage.fill('#token', adminToken);
  await adminPage.click('button[type=submit]');
  await adminPage.getByRole('heading', { name: 'Applications', exact: true }).waitFor();
  assert.equal(await adminPage.locator('.sidebar [data-testid=brand-name]').textContent(), 'hookd');
  const adminPrimary = await adminPage.locator('button.primary').first()
    .evaluate((button) => getComputedStyle(button).backgroundColor);
  assert.notEqual(adminPrimary, 'rgb(10, 125, 90)');
  await admin.close();
  await context.close();
});

test('a restricted portal session sees only the buttons its capabilities allow', async () => {
  // ViewBase and ViewEndpointSecret: it reads and may reveal a secret, nothing else.
  const access = await api('POST', '/auth/app-portal-access/customer-42', {
    capabilities: ['ViewBase', 'ViewEndpointSecret'],
  });
  const application = await api('GET', '/app/customer-42');
  const endpoints = await api('GET', '/app/customer-42/endpoint');
  const endpoint = endpoints.data.find((each) => each.description === 'Existing receiver');
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(access.url);
  await page.waitForURL(/\/apps\//);
  await page.getByText('Existing receiver').waitFor();
  const button = (name) => page.getByRole('button', { name, exact: true });
  for (const absent of ['Add endpoint', 'Send test event']) {
    assert.equal(await button(absent).count(), 0, `no "${absent}" on the application page`);
  }
  await page.goto(`${base}/apps/${application.id}/endpoints/${endpoint.id}`);
  await button('Reveal secret').waitFor();
  for (const absent of ['Rotate secret', 'Save changes', 'Disable endpoint', 'Set header']) {
    assert.equal(await button(absent).count(), 0, `no "${absent}" on the endpoint page`);
  }
  // What it shows works: the secret is revealed.
  await button('Reveal secret').click();
  await page.locator('[data-testid=secret]', { hasText: 'whsec_' }).waitFor();
  await page.screenshot({ path: join(screenshots, 'portal-capabilities.png'), fullPage: true });
  await page.goto(`${base}/apps/${application.id}/dead-letters`);
  await button('Dry run').waitFor();
  assert.equal(await button('Replay').count(), 0, 'no "Replay" without CreateAttempts');
  await context.close();
});
