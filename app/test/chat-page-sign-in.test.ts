/**
 * The chat page signing in, in a real browser (Debian's Chromium via playwright-core), against the
 * real app process and a real OpenID issuer on loopback, as `npm start` runs them: the page asks
 * for a user name, gets a token from the issuer's sign-in endpoint and authenticates with it. Two
 * browser profiles as two users never see each other's threads; a reload shows one's own.
 */
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../testkit/browser';
import { type AppProcess, startApp } from '../../testkit/app-process';
import { startTestIssuer, type TestIssuer } from '../../testkit/oidc-issuer';

jest.setTimeout(60_000);

let app: AppProcess;
let test: TestIssuer;
let browser: Browser;

beforeAll(async () => {
  test = await startTestIssuer({ audience: 'local-chat', signIn: true });
  app = await startApp({ APP_AUTH_ISSUER: test.issuer.url, APP_AUTH_AUDIENCE: 'local-chat' });
  await app.waitForState('ready');
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await test?.issuer.stop();
});

/** A new browser profile (its own storage), signed in as `name`. */
async function signedIn(name: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${app.port}/`);
  await page.getByLabel('User name').fill(name);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${name}`).waitFor();
  await page.getByText('Connected').waitFor();
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  const replies = await page.locator('#log li.reply').count();
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#log li.reply').nth(replies).waitFor();
}

const listed = (page: Page) => page.locator('#thread-list button').allTextContents();

it('signs two users in through the issuer; each sees only their own threads, also after a reload', async () => {
  const alice = await signedIn('alice');
  await say(alice, 'alice private note');
  await alice.getByRole('button', { name: 'alice private note' }).waitFor();

  const bob = await signedIn('bob');
  await say(bob, 'bob thoughts');
  await bob.getByRole('button', { name: 'bob thoughts' }).waitFor();
  expect(await listed(bob)).toEqual(['bob thoughts']);

  // A reload signs in again as the same user and lists the same thread, and opening it shows its history.
  await alice.reload();
  await alice.getByText('Signed in as alice').waitFor();
  await alice.getByRole('button', { name: 'alice private note' }).waitFor();
  expect(await listed(alice)).toEqual(['alice private note']);
  await alice.getByRole('button', { name: 'New thread' }).click();
  await alice.getByRole('button', { name: 'alice private note' }).click();
  await alice.locator('#log li.reply').waitFor();
  expect(await alice.locator('#log li.user').allTextContents()).toEqual(['alice private note']);

  // No token in any log line of the app, and no subject in clear.
  expect(app.logs.join('\n')).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  expect(app.logs.join('\n')).not.toMatch(/"subject":"(alice|bob)"/);
});

it('authenticates in the first frame, then sends each message from its pending queue with its own clientMessageId', async () => {
  const frames: { type: string; clientMessageId?: string; token?: string }[] = [];
  const page = await (await browser.newContext()).newPage();
  page.on('websocket', (ws) => ws.on('framesent', (frame) => frames.push(JSON.parse(String(frame.payload)))));
  await page.goto(`http://127.0.0.1:${app.port}/`);
  await page.getByLabel('User name').fill('carol');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Connected').waitFor();
  await say(page, 'first');
  await say(page, 'second');
  expect(frames[0]).toMatchObject({ type: 'authenticate', token: expect.any(String) });
  const sent = frames.filter((frame) => frame.type === 'user_message');
  expect(sent).toHaveLength(2);
  expect(new Set(sent.map((frame) => frame.clientMessageId)).size).toBe(2);
  // Both answered: nothing is left waiting in the tab.
  expect(await page.evaluate(() => sessionStorage.getItem('pending'))).toBe('[]');
});
