// Headless Chromium for the page tests: Debian's /usr/bin/chromium (or LLC_CHROMIUM),
// never a downloaded browser, with a fresh profile; and why a test must skip without it.
import { existsSync } from "node:fs";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env.LLC_CHROMIUM ?? "/usr/bin/chromium";

/** "" when Chromium is there, else what the test needs and how to get it. */
export const noChromium = existsSync(CHROMIUM) ? "" : `needs Chromium at ${CHROMIUM} (apt-get install chromium, or LLC_CHROMIUM=PATH)`;

export function launchChromium(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Page errors and console errors of every page of `context`, as they come. */
export function collectErrors(context: BrowserContext): string[] {
  const errors: string[] = [];
  context.on("page", (page) => {
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(`console.error: ${m.text()}`));
  });
  return errors;
}
