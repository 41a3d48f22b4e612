/**
 * The chat page in a real browser: Debian's Chromium, driven by playwright-core, against the real
 * app process. .ci/run installs Chromium; without it this test fails and says so.
 */
import fs from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { type AppProcess, startApp } from '../../testkit/app-process';

const CHROMIUM = '/usr/bin/chromium';

jest.setTimeout(60_000);

let app: AppProcess;
let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  app = await startApp();
  await app.waitForState('ready');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Without these Chromium keeps calling Google's hosts, which this machine's network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

/** Opens the chat page, sends `text` and waits for the reply; returns the page. */
async function chatFromPage(text: string) {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${app.port}/`);
  await page.getByText('Connected').waitFor();
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#log li.reply').waitFor();
  return page;
}

it('connects, sends a message and shows the five agent events and the reply', async () => {
  const page = await chatFromPage('hello from the browser');
  expect(await page.locator('#log li.reply').textContent()).toContain('hello from the browser');
  const events = await page.locator('#log li.event').allTextContents();
  expect(events.map((text) => text.split(/[ :(]/)[0])).toEqual([...AGENT_EVENT_TYPES]);
  await page.close();
});

it('shows the thread again after a reload: the page resumes it and renders the history', async () => {
  const page = await chatFromPage('remember me');
  await page.reload();
  await page.getByText('Connected (thread').waitFor();
  await page.locator('#log li.reply').waitFor();
  expect(await page.locator('#log li').allTextContents()).toEqual(['remember me', expect.stringContaining('You said: "remember me"')]);
  await page.close();
});
