/**
 * The chat page in a real browser: Debian's Chromium, driven by playwright-core, against the real
 * app process. .ci/run installs Chromium; without it this test fails and says so.
 */
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../testkit/browser';
import { createDatabase, serverForFile, startPostgres } from '../../testkit/dependency-servers';
import { waitFor } from '../../testkit/wait-for';
import { AGENT_EVENT_TYPES, RESUME_HISTORY_LIMIT } from '../../common/chat-protocol';
import { type AppProcess, startApp } from '../../testkit/app-process';
import { messages, openChat } from '../../testkit/chat-client';
import { slowModel } from '../../testkit/model-stub';

jest.setTimeout(60_000);

let app: AppProcess;
let browser: Browser;
const postgres = serverForFile(startPostgres);

beforeAll(async () => {
  // The paging test sends more than the default limit of 60 messages a minute.
  app = await startApp({ APP_RATE_LIMIT_PER_MINUTE: '1000' });
  await app.waitForState('ready');
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

/** Opens the chat page, sends `text` and waits for the reply; returns the page. */
async function chatFromPage(text: string, on: AppProcess = app) {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${on.port}/`);
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

it('shows a message the server could not store, and resends it with one click once the database is back', async () => {
  const withDatabase = await startApp({ DATABASE_URL: await createDatabase(postgres()) });
  try {
    await withDatabase.waitForState('ready');
    const page = await chatFromPage('stored', withDatabase);
    await postgres().stop();
    await page.getByLabel('Message').fill('refused');
    await page.getByRole('button', { name: 'Send' }).click();
    const error = page.locator('#log li.error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/^unavailable: /);
    await postgres().start();
    const healthy = async () => ((await (await fetch(`http://127.0.0.1:${withDatabase.port}/healthz`)).json()) as { status: string }).status === 'ok';
    await waitFor('the database to be back', healthy);
    const retry = page.getByRole('button', { name: 'Retry', exact: true });
    await retry.click();
    await page.locator('#log li.reply').nth(1).waitFor();
    expect(await page.locator('#log li.user').allTextContents()).toEqual(['stored', 'refused', 'refused']);
    expect(await page.locator('#log li.reply').nth(1).textContent()).toContain('You said: "refused"');
    await expect(retry.isDisabled()).resolves.toBe(true);
    await page.close();
  } finally {
    await withDatabase.stop();
  }
});

it('offers older messages when the thread is longer than one page, and shows them above', async () => {
  const page = await chatFromPage('the oldest message');
  const thread = JSON.parse((await page.evaluate(() => sessionStorage.getItem('thread'))) ?? 'null') as { threadId: string; threadToken: string };
  // Another client with the token makes the thread longer than one page: 2 + 2 x 55 messages.
  const ws = await openChat(app);
  const inbox = messages(ws);
  for (let i = 0; i < 55; i += 1) {
    ws.send(JSON.stringify({ type: 'user_message', text: `later ${i}`, ...thread }));
    await inbox.take(AGENT_EVENT_TYPES.length + 1);
  }
  ws.close();
  await page.reload();
  const older = page.getByRole('button', { name: 'Load older messages' });
  await older.waitFor();
  expect(await page.locator('#log li').count()).toBe(RESUME_HISTORY_LIMIT);
  await older.click();
  await older.waitFor({ state: 'hidden' });
  const shown = await page.locator('#log li').allTextContents();
  expect(shown).toHaveLength(112);
  expect(shown.slice(0, 3)).toEqual(['the oldest message', expect.stringContaining('You said: "the oldest message"'), 'later 0']);
  expect(shown.at(-2)).toBe('later 54');
  await page.close();
});

describe('with a slow model', () => {
  const others: AppProcess[] = [];
  const models: { close(): Promise<unknown> }[] = [];
  afterEach(async () => {
    await Promise.all(others.splice(0).map((other) => other.stop()));
    await Promise.all(models.splice(0).map((model) => model.close()));
  });

  async function slowApp(delayMs: number, env: Record<string, string> = {}): Promise<AppProcess> {
    const model = await slowModel(delayMs);
    models.push(model);
    const slow = await startApp({ LLM_BASE_URL: model.url, ...env });
    others.push(slow);
    await slow.waitForState('ready');
    return slow;
  }

  it('sends each message with its own clientMessageId and resends it after a reconnect: the thread holds it once, with its reply', async () => {
    const slow = await slowApp(1500);
    const page = await browser.newPage();
    const sent: { type: string; clientMessageId?: string }[] = [];
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => sent.push(JSON.parse(String(payload)) as { type: string })));
    await page.goto(`http://127.0.0.1:${slow.port}/`);
    await page.getByText('Connected').waitFor();
    await page.getByLabel('Message').fill('said once');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#log li.event', { hasText: 'tool_completed' }).waitFor();
    // The connection drops mid-run; the page reconnects, resumes and sends the message again.
    await page.evaluate('socket.close()');
    await page.locator('#log li.reply').waitFor();
    const messagesSent = sent.filter((frame) => frame.type === 'user_message');
    expect(messagesSent).toHaveLength(2);
    expect(messagesSent[0]?.clientMessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(messagesSent[1]?.clientMessageId).toBe(messagesSent[0]?.clientMessageId);
    await page.reload();
    await page.getByText('Connected (thread').waitFor();
    await page.locator('#log li.reply').waitFor();
    expect(await page.locator('#log li').allTextContents()).toEqual(['said once', 'slow answer']);
    await page.close();
  });

  it('shows a run cut off by a restart as interrupted, with a Retry button', async () => {
    const slow = await slowApp(60_000, { APP_SHUTDOWN_DEADLINE_MS: '200' });
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${slow.port}/`);
    await page.getByText('Connected').waitFor();
    await page.getByLabel('Message').fill('cut off');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#log li.event', { hasText: 'tool_completed' }).waitFor();
    slow.child.kill('SIGTERM');
    const interrupted = page.locator('#log li.error', { hasText: 'interrupted' });
    await interrupted.waitFor();
    expect(await interrupted.getByRole('button', { name: 'Retry' }).count()).toBe(1);
    await page.close();
  });
});
