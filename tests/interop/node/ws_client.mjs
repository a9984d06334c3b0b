// Drives ledgervm's WebSocket JSON-RPC with the `ws` package, as a NodeVMS client would.
//
// Usage: node ws_client.mjs wss://HOST:PORT APP VKEY
// Prints one JSON object on stdout (the certificate it saw, a receipt) for the Rust test
// to check further; exits non-zero with a message on the first mismatch.
import WebSocket from "ws";

const [base, app, vkey] = process.argv.slice(2);

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}

// The certificate is self-signed: the Rust side of the test checks its binding to the
// signed identity document, so the handshake here does not verify it.
const ws = new WebSocket(`${base}/v1/ws?app=${encodeURIComponent(app)}`, {
  rejectUnauthorized: false,
});
let nextId = 1;
const pending = new Map();
ws.on("message", (data) => {
  const msg = JSON.parse(data.toString());
  const p = pending.get(msg.id);
  check(p, `answer to unknown id: ${data}`);
  pending.delete(msg.id);
  p(msg);
});
ws.on("error", (e) => fail(`websocket: ${e.message}`));

function call(method, params) {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
}

ws.on("open", async () => {
  const seen = { cert_der_hex: ws._socket.getPeerCertificate(true).raw.toString("hex") };

  const hs = await call("rpc.handshake", {});
  check(hs.result, `handshake: ${JSON.stringify(hs)}`);
  check(hs.result.vkey === vkey, `vkey ${hs.result.vkey} != ${vkey}`);
  check(hs.result.app === app, `app: ${hs.result.app}`);
  const names = hs.result.methods.map((m) => m.name);
  check(names.includes("Sum"), `methods: ${names}`);
  seen.handshake = hs.result;

  // Plain params, read against the export's signature.
  const plain = await call("Sum", [5, 7]);
  check(plain.result && plain.result.returns[0].value === 12, `Sum(5,7): ${JSON.stringify(plain)}`);
  // Typed params.
  const typed = await call("Sum", [{ type: "u32", value: 40 }, { type: "u32", value: 2 }]);
  check(typed.result && typed.result.returns[0].value === 42, `typed: ${JSON.stringify(typed)}`);
  check(typed.result.index > plain.result.index, "indexes grow");

  // Errors: wrong arity, bad value, unknown method, bad JSON.
  const arity = await call("Sum", [1]);
  check(arity.error && arity.error.code === -32602, `arity: ${JSON.stringify(arity)}`);
  const badv = await call("Sum", ["x", 1]);
  check(badv.error && badv.error.code === -32602, `bad value: ${JSON.stringify(badv)}`);
  const none = await call("Nope", []);
  check(none.error && none.error.code === -32601, `unknown: ${JSON.stringify(none)}`);

  // Receipts on demand.
  const r = await call("rpc.receipt", { index: plain.result.index });
  check(r.result && r.result.format && r.result.proof, `receipt: ${JSON.stringify(r)}`);
  seen.receipt = r.result;
  seen.receipt_index = plain.result.index;

  // Garbage: an error answer with id null, and the session goes on.
  const garbage = await new Promise((resolve) => {
    pending.set(null, resolve);
    ws.send("{not json");
  });
  check(garbage.error && garbage.error.code === -32700, `garbage: ${JSON.stringify(garbage)}`);
  const after = await call("Sum", [1, 2]);
  check(after.result && after.result.returns[0].value === 3, "still serving");

  console.log(JSON.stringify(seen));
  ws.close();
});
