// Signs and verifies GitHub webhook payloads with GitHub's own library, @octokit/webhooks-methods,
// for generate.py. Reads a JSON array of requests on stdin, each {"op": "sign", secret, payload}
// or {"op": "verify", secret, payload, signature}, and writes a JSON array of the answers: the
// X-Hub-Signature-256 value for "sign", true/false for "verify" (false also when the library
// throws, as it does for an empty signature).
import { sign, verify } from "@octokit/webhooks-methods";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const answers = [];
for (const request of requests) {
  if (request.op === "sign") {
    answers.push(await sign(request.secret, request.payload));
  } else {
    answers.push(
      await verify(request.secret, request.payload, request.signature).catch(() => false),
    );
  }
}
process.stdout.write(JSON.stringify(answers));
