"""Drives ledgervm's framed protocol the way Enclave OS's Python example does: the
standard library's ssl + socket, 4-byte big-endian length-prefixed JSON frames, the
{"Data": [bytes]} envelope and bare requests.

Usage: frames_client.py HOST PORT MODULE.wasm
Prints one JSON object on stdout: what it saw (for the Rust test to check further,
e.g. the certificate's binding). Exits non-zero with a message on the first mismatch.
"""

import hashlib
import json
import socket
import ssl
import struct
import sys


def frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def connect(host, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # As in the Enclave OS example: the certificate is not checked by ssl; the Rust
    # side of this test checks its binding to the signed identity document.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(socket.create_connection((host, port), timeout=30),
                           server_hostname=host)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(sock):
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    return json.loads(recv_exact(sock, length))


def send_envelope(sock, req):
    inner = json.dumps(req).encode()
    sock.sendall(frame(json.dumps({"Data": list(inner)}).encode()))
    resp = recv_frame(sock)
    check("Data" in resp and len(resp) == 1, f"envelope answer expected, got {resp}")
    return json.loads(bytes(resp["Data"]))


def send_bare(sock, req):
    sock.sendall(frame(json.dumps(req).encode()))
    return recv_frame(sock)


def check(cond, msg):
    if not cond:
        print(f"FAIL: {msg}", file=sys.stderr)
        sys.exit(1)


def main():
    host, port, module = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    wasm = open(module, "rb").read()
    seen = {}

    sock = connect(host, port)
    seen["tls_version"] = sock.version()
    seen["cert_der_hex"] = sock.getpeercert(binary_form=True).hex()

    # 1. wasm_load in the envelope, exactly as the Enclave OS example sends it.
    loaded = send_envelope(sock, {"wasm_load": {"name": "sum", "bytes": list(wasm),
                                                "hostname": "sum.example.test"}})
    check(loaded.get("status") == "loaded", f"load: {loaded}")
    app = loaded["app"]
    check(app["name"] == "sum" and app["hostname"] == "sum.example.test", f"app: {app}")
    check(app["code_hash"] == hashlib.sha256(wasm).hexdigest(), f"code_hash: {app}")
    check(app.get("key_source") == "generated", f"key_source without a key: {app}")
    exports = {e["name"]: e for e in app["exports"]}
    check(exports.get("Sum") == {"name": "Sum", "param_count": 2, "result_count": 1},
          f"exports: {app['exports']}")
    seen["loaded"] = loaded

    # 2. wasm_call, bare, with typed params.
    ok = send_bare(sock, {"wasm_call": {"app": "sum", "function": "Sum", "params": [
        {"type": "u32", "value": 5}, {"type": "u32", "value": 7}]}})
    check(ok.get("status") == "ok" and ok.get("returns") == [{"type": "i32", "value": 12}],
          f"call: {ok}")
    seen["call"] = ok

    # 3. wasm_list, envelope.
    apps = send_envelope(sock, {"wasm_list": {}})
    check(apps.get("status") == "apps" and [a["name"] for a in apps["apps"]] == ["sum"],
          f"list: {apps}")

    # 4. Garbage inside a well-formed frame: an error frame, and the connection goes on.
    garbage = send_bare_raw(sock, b"\x00\xffnot json at all")
    check(garbage.get("status") == "error" and garbage.get("code") == "frame_not_json",
          f"garbage: {garbage}")
    bad = send_bare(sock, {"wasm_frobnicate": {}})
    check(bad.get("code") == "frame_bad_request", f"unknown request: {bad}")
    env = send_bare_raw(sock, json.dumps({"Data": [256, 1]}).encode())
    check(env.get("code") == "frame_bad_envelope", f"bad envelope: {env}")
    missing = send_bare(sock, {"wasm_call": {"app": "nope", "function": "Sum", "params": []}})
    check(missing.get("code") == "app_not_found", f"missing app: {missing}")
    wrong = send_bare(sock, {"wasm_call": {"app": "sum", "function": "Sum", "params": [
        {"type": "u32", "value": 5}]}})
    check(wrong.get("status") == "error" and wrong.get("code") == "bad_arguments"
          and isinstance(wrong.get("index"), int), f"bad arguments: {wrong}")
    byok = send_bare(sock, {"wasm_load": {"name": "x", "bytes": list(wasm),
                                          "encryption_key": "11" * 32}})
    check(byok.get("status") == "loaded" and byok["app"].get("key_source") == "byok",
          f"byok: {byok}")
    check("11" * 32 not in json.dumps(byok), f"the key must never be echoed: {byok}")
    badkey = send_bare(sock, {"wasm_load": {"name": "y", "bytes": list(wasm),
                                            "encryption_key": "zz"}})
    check(badkey.get("code") == "invalid_encryption_key", f"bad key: {badkey}")
    check(send_bare(sock, {"wasm_unload": {"name": "x"}}).get("status") == "unloaded",
          "unload x")
    again = send_bare(sock, {"wasm_list": {}})
    check(again.get("status") == "apps", f"still serving: {again}")

    # 5. Unload.
    gone = send_envelope(sock, {"wasm_unload": {"name": "sum"}})
    check(gone == {"status": "unloaded", "name": "sum", "index": gone.get("index")}
          and isinstance(gone.get("index"), int), f"unload: {gone}")
    seen["unloaded"] = gone
    sock.close()

    # 6. An oversized frame: refused at its header, then the connection closes.
    sock = connect(host, port)
    sock.sendall(struct.pack(">I", 0xFFFFFFF0) + b"{")
    big = recv_frame(sock)
    check(big.get("code") == "frame_too_large", f"oversized: {big}")
    check(sock.recv(1) == b"", "connection should close after an oversized frame")
    sock.close()

    # 7. A frame cut short: the server says so when the client stops sending.
    sock = connect(host, port)
    sock.sendall(struct.pack(">I", 100) + b'{"wasm_list"')
    # Half-close TCP but keep TLS: SSLSocket.shutdown would drop the TLS layer first.
    socket.socket.shutdown(sock, socket.SHUT_WR)
    cut = recv_frame(sock)
    check(cut.get("code") == "frame_truncated", f"truncated: {cut}")
    sock.close()

    # 8. The server still serves new connections.
    sock = connect(host, port)
    check(send_bare(sock, {"wasm_list": {}}) == {"status": "apps", "apps": []}, "final list")
    seen["cert_der_hex_after"] = sock.getpeercert(binary_form=True).hex()
    sock.close()

    print(json.dumps(seen))


def send_bare_raw(sock, payload):
    """Sends a raw payload. A frame that cannot be read as a request is answered the way
    the connection's last readable request was wrapped, so unwrap an envelope here."""
    sock.sendall(frame(payload))
    resp = recv_frame(sock)
    if isinstance(resp, dict) and list(resp) == ["Data"]:
        return json.loads(bytes(resp["Data"]))
    return resp


if __name__ == "__main__":
    main()
