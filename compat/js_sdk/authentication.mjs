// Portal tokens through the JS SDK: appPortalAccess (with an inline application, read-only,
// session ids), the token used as an SDK token, expireAll and logout.
import assert from "node:assert/strict";
import { rejectsWith, runIfMain, unique } from "./lib.mjs";

export async function portal_token_reaches_its_own_application_only(t) {
  const uid = unique("portal");
  const other = await t.app();
  const access = await t.svix.authentication.appPortalAccess(uid, {
    application: { name: "Portal tenant" },
    expiry: 3600,
  });
  assert.ok(access.token.startsWith("appsk_"), access.token);
  assert.equal(access.url, `${t.url}/portal/login#token=${access.token}`);

  const portal = t.client(access.token);
  assert.equal((await portal.application.get(uid)).name, "Portal tenant");
  const endpoint = await portal.endpoint.create(uid, { url: "https://example.com/hook" });
  assert.deepEqual((await portal.endpoint.list(uid)).data.map((e) => e.id), [endpoint.id]);
  assert.ok(Array.isArray((await portal.eventType.list()).data), "the catalogue is readable");

  await rejectsWith(403, portal.endpoint.list(other.id), "another application's endpoints");
  await rejectsWith(403, portal.application.list(), "listing applications");
  await rejectsWith(403, portal.application.create({ name: "x" }), "creating an application");
}

export async function read_only_portal_token(t) {
  const app = await t.app();
  const access = await t.svix.authentication.appPortalAccess(app.id, { readOnly: true });
  const portal = t.client(access.token);
  assert.deepEqual((await portal.endpoint.list(app.id)).data, []);
  await rejectsWith(403, portal.endpoint.create(app.id, { url: "https://example.com/hook" }), "a write with a read-only token");
}

export async function expire_all_and_logout(t) {
  const app = await t.app();
  const first = await t.svix.authentication.appPortalAccess(app.id, { sessionId: "one" });
  const second = await t.svix.authentication.appPortalAccess(app.id, { sessionId: "two" });
  assert.equal(await t.svix.authentication.expireAll(app.id, { sessionIds: ["one"] }), undefined);
  await rejectsWith(401, t.client(first.token).application.get(app.id), "an expired session's token");
  const portal = t.client(second.token);
  assert.equal((await portal.application.get(app.id)).id, app.id);

  // logout is a POST without a body.
  assert.equal(await portal.authentication.logout(), undefined);
  await rejectsWith(401, portal.application.get(app.id), "a logged-out token");
  await rejectsWith(403, t.svix.authentication.logout(), "logging out the admin token");

  // expireAll with the SDK's default body `{}` ends every token of the application.
  const third = await t.svix.authentication.appPortalAccess(app.id);
  await t.svix.authentication.expireAll(app.id);
  await rejectsWith(401, t.client(third.token).application.get(app.id), "a token after expireAll");
  await rejectsWith(404, t.svix.authentication.expireAll("app_doesnotexist"), "an unknown application");
}

runIfMain(import.meta);
