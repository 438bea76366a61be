// Headless Chromium for the page tests: Debian's /usr/bin/chromium (or LLC_CHROMIUM),
// never a downloaded browser, with a fresh profile; and why a test must skip without it.
// Whether a test runs, skips or (under CI=true) fails without it is testNeeding's rule (helpers.ts).
import { chromium, type BrowserContext } from "playwright-core";
import { CHROMIUM_ARGS, chromiumProgram } from "./helpers.ts";

export const CHROMIUM = chromiumProgram();

export function launchChromium(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM.path, headless: true, args: CHROMIUM_ARGS });
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
