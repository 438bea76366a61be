// Preloaded by test/run.mjs into every test process: uvu drops an error thrown in
// a before() hook (its runner returns from a `finally`), so the file would only
// print "(0 / N)". Here each before() hook prints its error first, and run.mjs
// counts the tests that did not run as failed.
import { test } from "uvu";

const before = test.before;
test.before = Object.assign(
  (hook) =>
    before(async (context) => {
      try {
        await hook(context);
      } catch (error) {
        console.error(`  FAIL before() hook: the tests of this file did not run\n    ${error?.stack ?? error}\n`);
        throw error;
      }
    }),
  { each: before.each },
);
