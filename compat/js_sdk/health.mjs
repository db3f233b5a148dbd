// `health.get` through the JS SDK.
import assert from "node:assert/strict";
import { runIfMain } from "./lib.mjs";

export async function health_get(t) {
  assert.equal(await t.svix.health.get(), undefined);
}

runIfMain(import.meta);
