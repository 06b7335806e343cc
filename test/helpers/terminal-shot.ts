/**
 * A picture of a command's real output as a terminal shows it (a dark window, a monospace font), rendered
 * by Chromium from the text the command printed: for the README's screenshot of `npx switchyard watch`.
 */
import type { Browser } from "playwright-core";

const html = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export async function renderTerminal(browser: Browser, command: string, output: string, path: string): Promise<void> {
  const context = await browser.newContext({ viewport: { width: 900, height: 200 }, deviceScaleFactor: 1 });
  try {
    const page = await context.newPage();
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">
<pre id="terminal" style="display:inline-block;margin:0;padding:14px 18px;background:#1e1e2e;color:#e5e7eb;border-radius:8px;
font:14px/1.45 'DejaVu Sans Mono',Menlo,Consolas,monospace"><span style="color:#86efac">$</span> ${html(command)}
${html(output.trimEnd())}</pre></body></html>`);
    await page.locator("#terminal").screenshot({ path });
  } finally {
    await context.close();
  }
}
