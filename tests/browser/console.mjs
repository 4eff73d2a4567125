// Drives Debian's Chromium through the paypki console, as an officer would.
// Run by tests/console.rs, which starts the real server, fills its store and checks the
// results outside the browser (OCSP with `openssl ocsp`). Reads its inputs from the
// environment; exits non-zero with a message on the first failed check.
//
//   CONSOLE_URL       the server's base URL (http://127.0.0.1:PORT)
//   ADMIN_CREDENTIAL  an officer with every role
//   AUDITOR_CREDENTIAL an officer with the auditor role only
//   APPROVER_CREDENTIAL another officer with the ra-officer role
//   EXPECTED_FILE     JSON: { counts: {role: {valid, expired, on_hold, revoked}},
//                     report: <paypki report --format json>, search_text, search_serial,
//                     revoke_serial, forged_serial, held_serial, approval (a request
//                     the admin made) }
//   OUT_DIR           where the screenshots go
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';

const base = process.env.CONSOLE_URL;
const expected = JSON.parse(readFileSync(process.env.EXPECTED_FILE, 'utf8'));
const outDir = process.env.OUT_DIR;
const profile = mkdtempSync(join(tmpdir(), 'paypki-chromium-'));

const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] ?? await context.newPage();
page.setDefaultTimeout(10000);
const shot = (name) => page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });
const step = (name) => console.log(`step: ${name}`);

async function login(credential) {
  await page.goto(`${base}/console`);
  strictEqual(new URL(page.url()).pathname, '/console/login', 'without a session /console leads to the login page');
  await page.fill('#credential', credential);
  await Promise.all([page.waitForURL(`${base}/console`), page.click('button[type=submit]')]);
}

async function csrfOfPage() {
  return page.getAttribute('form[action="/console/logout"] input[name=csrf]', 'value');
}

try {
  step('log in');
  await login(process.env.ADMIN_CREDENTIAL);
  const cookies = await context.cookies(`${base}/console`);
  const session = cookies.find((c) => c.name === 'paypki_console');
  ok(session, 'a session cookie is set');
  ok(session.httpOnly, 'the session cookie is HttpOnly');
  strictEqual(session.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
  ok(session.expires > Date.now() / 1000, 'the session cookie expires');

  step('overview counts');
  for (const [role, counts] of Object.entries(expected.counts)) {
    for (const [status, key] of [['valid', 'valid'], ['expired', 'expired'], ['on-hold', 'on_hold'], ['revoked', 'revoked']]) {
      const shown = await page.textContent(`#counts tr[data-role="${role}"] td[data-status="${status}"]`);
      strictEqual(Number(shown), counts[key], `overview: ${role} ${status}`);
    }
  }
  step('overview chart data equals paypki report --format json');
  const chartData = JSON.parse(await page.textContent('#activity-data'));
  deepStrictEqual(chartData, expected.report, 'the chart data is the report');
  ok(await page.locator('#activity svg').count() === 1, 'the activity chart is drawn');
  ok(await page.locator('#expiring svg').count() === 1, 'the expiry chart is drawn');
  await shot('overview');

  step('search');
  await page.click('a[href="/console/certificates"]');
  await page.fill('#q', expected.search_text);
  await Promise.all([page.waitForURL(/\/console\/certificates\?/), page.click('form.search button')]);
  const found = await page.locator('#results td.serial').allTextContents();
  ok(found.map((s) => s.trim()).includes(expected.search_serial), `search for ${expected.search_text} finds ${expected.search_serial}: ${found}`);
  await shot('search');

  step('revoke from the detail page');
  await page.goto(`${base}/console/certificates/${expected.revoke_serial}`);
  strictEqual((await page.textContent('#status')).trim(), 'valid');
  await page.selectOption('#reason', 'keyCompromise');
  await Promise.all([page.waitForURL(`${base}/console/certificates/${expected.revoke_serial}`), page.click('#revoke')]);
  strictEqual((await page.textContent('#status')).trim(), 'revoked', 'the detail page shows it revoked');
  ok((await page.textContent('#details')).includes('keyCompromise'), 'the reason is shown');
  await shot('revoked');

  step('lift a hold, and search by status');
  await page.goto(`${base}/console/certificates?status=on-hold`);
  deepStrictEqual((await page.locator('#results td.serial').allTextContents()).map((t) => t.trim()), [expected.held_serial], 'the held certificate is found by status');
  await page.click(`#results a[href="/console/certificates/${expected.held_serial}"]`);
  strictEqual((await page.textContent('#status')).trim(), 'on-hold');
  await Promise.all([page.waitForURL(`${base}/console/certificates/${expected.held_serial}`), page.click('#unhold')]);
  strictEqual((await page.textContent('#status')).trim(), 'valid', 'the hold is lifted');
  await page.goto(`${base}/console/participants`);
  strictEqual((await page.textContent('h1')).trim(), 'Participants');

  step('a forged cross-site POST is refused');
  const csrf = await csrfOfPage();
  // A page of another site whose form posts to the console (the browser sends no
  // SameSite=Strict cookie with it, and an Origin that is not the console's).
  await page.route('http://evil.example/**', (route) => route.fulfill({
    contentType: 'text/html',
    body: `<form id="f" method="post" action="${base}/console/certificates/${expected.forged_serial}/revoke">
      <input name="csrf" value="${csrf}"><input name="reason" value="keyCompromise"></form>
      <script>document.getElementById('f').submit()</script>`,
  }));
  const forged = page.waitForResponse((r) => r.url().includes(`/certificates/${expected.forged_serial}/revoke`));
  await page.goto('http://evil.example/attack');
  const forgedResponse = await forged;
  ok([401, 403].includes(forgedResponse.status()), `the forged form post is refused: ${forgedResponse.status()}`);
  await page.waitForLoadState();
  await shot('forged-post');
  // Even with the session cookie and the right CSRF token, a foreign Origin is refused…
  const foreignOrigin = await context.request.post(`${base}/console/certificates/${expected.forged_serial}/revoke`, {
    form: { csrf, reason: 'keyCompromise' }, headers: { Origin: 'http://evil.example' }, maxRedirects: 0,
  });
  strictEqual(foreignOrigin.status(), 403, 'a foreign Origin is refused');
  // …and so is the console's own origin without the session's token.
  const noToken = await context.request.post(`${base}/console/certificates/${expected.forged_serial}/revoke`, {
    form: { csrf: 'f'.repeat(64), reason: 'keyCompromise' }, headers: { Origin: base }, maxRedirects: 0,
  });
  strictEqual(noToken.status(), 403, 'a wrong CSRF token is refused');
  await page.goto(`${base}/console/certificates/${expected.forged_serial}`);
  strictEqual((await page.textContent('#status')).trim(), 'valid', 'the forged posts changed nothing');

  step('approvals: never one\'s own');
  await page.goto(`${base}/console/approvals`);
  const own = page.locator('#approvals tr', { hasText: expected.approval });
  strictEqual(await own.locator('button').count(), 0, 'no approve or reject button on one\'s own request');
  ok((await own.textContent()).includes('your own request'));
  await shot('own-request');
  // The RA refuses it anyway when posted.
  const ownPost = await context.request.post(`${base}/console/approvals/${expected.approval}/approve`, {
    form: { csrf: await csrfOfPage() }, headers: { Origin: base }, maxRedirects: 0,
  });
  strictEqual(ownPost.status(), 403, 'approving one\'s own request is refused');

  step('log out');
  await Promise.all([page.waitForURL(`${base}/console/login`), page.click('#logout')]);
  ok(!(await context.cookies(`${base}/console`)).some((c) => c.name === 'paypki_console'), 'the cookie is gone');
  // The old cookie no longer opens a session on the server either.
  await context.addCookies([{ ...session }]);
  await page.goto(`${base}/console`);
  strictEqual(new URL(page.url()).pathname, '/console/login', 'the ended session is refused');
  await shot('logged-out');
  await context.clearCookies();

  step('another officer approves with one click');
  await login(process.env.APPROVER_CREDENTIAL);
  await page.goto(`${base}/console/approvals`);
  const row = page.locator('#approvals tr', { hasText: expected.approval });
  await Promise.all([page.waitForURL(`${base}/console/approvals`), row.locator('button', { hasText: 'Approve' }).click()]);
  ok((await page.locator('#approvals tr', { hasText: expected.approval }).textContent()).includes('executed'), 'the request is executed');
  await shot('approved');
  await Promise.all([page.waitForURL(`${base}/console/login`), page.click('#logout')]);

  step('an auditor sees no revoke button and is refused when posting one');
  await login(process.env.AUDITOR_CREDENTIAL);
  await page.goto(`${base}/console/certificates/${expected.forged_serial}`);
  strictEqual(await page.locator('#revoke').count(), 0, 'no revoke button for an auditor');
  strictEqual(await page.locator('#hold').count(), 0, 'no hold button for an auditor');
  await shot('auditor-detail');
  const auditorCsrf = await csrfOfPage();
  const auditorPost = await context.request.post(`${base}/console/certificates/${expected.forged_serial}/revoke`, {
    form: { csrf: auditorCsrf, reason: 'keyCompromise' }, headers: { Origin: base }, maxRedirects: 0,
  });
  strictEqual(auditorPost.status(), 403, 'the auditor is refused');
  ok((await auditorPost.text()).includes('revocation-officer'), 'the refusal names the role needed');
  await page.goto(`${base}/console/audit`);
  ok((await page.textContent('#chain')).includes('intact'), 'the audit page shows the chain check');
  await shot('audit');
  console.log('console browser test: all checks passed');
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
