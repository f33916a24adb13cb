// Helpers of the web page tests and bench: build the page with Vite, serve it with `stemscope serve`'s
// server, and drive it in headless Chromium (Debian's /usr/bin/chromium via playwright-core).
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";

export const CHROMIUM = "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);

/** Builds web/ into a fresh temporary folder (so a stale web/dist is never what is tested). */
export async function buildPage(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), "stemscope-web-"));
  await build({
    configFile: join("web", "vite.config.ts"),
    logLevel: "error",
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}

/** Headless Chromium with the flags of the developers' guide (playwright gives it a fresh temporary profile). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/** What the page shows after an analysis. */
export interface PageOutcome {
  instruments: { name: string; probability: number }[];
  stems: string[];
  totalMs: number;
}

/**
 * Chooses `file` in the page's file input and waits for the result (or the error message).
 * @returns the result, or `{ error }` with the message the page shows
 */
export async function analyseInPage(
  page: Page,
  file: string,
  timeoutMs = 120_000,
): Promise<PageOutcome | { error: string }> {
  await page.locator("#results").evaluate((el) => el.setAttribute("hidden", ""));
  await page.locator("#error").evaluate((el) => el.setAttribute("hidden", ""));
  await page.setInputFiles("#file", file);
  await page.waitForSelector("#results:not([hidden]), #error:not([hidden])", { timeout: timeoutMs });
  if (await page.locator("#error").isVisible())
    return { error: (await page.locator("#error").textContent()) ?? "" };
  // Element types come from the DOM lib, which the Node-side tsconfig leaves out; the callbacks run in the page.
  const instruments = await page.$$eval("#instruments li", (items) =>
    items.map((li) => ({
      name: li.getAttribute("data-instrument") ?? "",
      probability: Number(li.getAttribute("data-probability")),
    })),
  );
  const stems = await page.$$eval("#stems li", (items) =>
    items.map((li) => li.getAttribute("data-stem") ?? ""),
  );
  const totalMs = Number(await page.locator("#results").getAttribute("data-total-ms"));
  return { instruments, stems, totalMs };
}

/** Waits until the page has loaded its model; returns the status line. */
export async function waitForModel(page: Page, timeoutMs = 60_000): Promise<string> {
  await page.waitForSelector('#model-status[data-state="ready"]', { timeout: timeoutMs });
  return (await page.locator("#model-status").textContent()) ?? "";
}
