// Signs and verifies Shopify webhook requests with Shopify's own library, @shopify/shopify-api,
// for generate.py. Reads a JSON array of requests on stdin, each {"op": "sign", secret, body}
// or {"op": "verify", secret, headers, body}, and writes a JSON array of the answers: the
// X-Shopify-Hmac-Sha256 value for "sign" (the library's createSHA256HMAC, the helper its
// validation computes with), and for "verify" whether shopify.webhooks.validate, the call an
// app makes on each webhook, found the request valid (false also when it throws).
import "@shopify/shopify-api/adapters/node";
import { ApiVersion, LogSeverity, shopifyApi } from "@shopify/shopify-api";
import { HashFormat, createSHA256HMAC } from "@shopify/shopify-api/runtime";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));

// One app per secret: the library validates with its app's secret key only. Nothing here
// reaches the network; the app is configured, never used against a shop.
const apps = new Map();
function app(secret) {
  if (!apps.has(secret)) {
    apps.set(
      secret,
      shopifyApi({
        apiKey: "hookd-compat",
        apiSecretKey: secret,
        apiVersion: ApiVersion.October24,
        hostName: "hooks.example.com",
        isEmbeddedApp: false,
        logger: { level: LogSeverity.Error },
      }),
    );
  }
  return apps.get(secret);
}

const answers = [];
for (const request of requests) {
  if (request.op === "sign") {
    answers.push(await createSHA256HMAC(request.secret, request.body, HashFormat.Base64));
  } else {
    const rawRequest = { method: "POST", url: "/webhooks", headers: request.headers };
    const result = await app(request.secret)
      .webhooks.validate({ rawBody: request.body, rawRequest, rawResponse: {} })
      .catch(() => ({ valid: false }));
    answers.push(result.valid === true);
  }
}
process.stdout.write(JSON.stringify(answers));
