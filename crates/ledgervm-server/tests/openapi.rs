//! The OpenAPI document against the running router: every documented operation is
//! routed (probing it never gives `route_not_found` or 405), and on every documented
//! path the methods it does not document are refused with 405.

mod common;

use common::*;
use reqwest::Method;

fn sample(path: &str) -> String {
    path.replace("{name}", "sum.wasm")
        .replace("{app}", "sum.wasm")
        .replace("{func}", "Sum")
        .replace("{index}", "0")
        .replace("{sha256}", &"0".repeat(64))
        .replace("{path}", "0/000.p/1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_matches_the_router() {
    let s = start().await;
    let (st, doc) = s.get_json("/v1/openapi.json").await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 13, "{}", paths.len());
    let all = ["GET", "PUT", "POST", "DELETE", "PATCH"];
    let mut probed = 0;
    for (path, ops) in paths {
        assert!(!path.contains('*'), "{path}");
        let url = s.url(&sample(path));
        let documented: Vec<String> = ops
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for m in all {
            let resp = s
                .http
                .request(Method::from_bytes(m.as_bytes()).unwrap(), &url)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            if documented.iter().any(|d| d == m) {
                probed += 1;
                assert_ne!(status, 405, "{m} {path} documented but 405");
                assert_ne!(
                    body["code"], "route_not_found",
                    "{m} {path} documented but not routed"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{m} {path} is not documented but answered {status}: {body}"
                );
                assert_eq!(body["code"], "method_not_allowed");
            }
        }
    }
    let ops: usize = paths.values().map(|o| o.as_object().unwrap().len()).sum();
    assert_eq!(probed, ops);
    // Every contract route is documented.
    for (m, p) in [
        ("put", "/v1/apps/{name}"),
        ("get", "/v1/apps"),
        ("get", "/v1/apps/{name}"),
        ("delete", "/v1/apps/{name}"),
        ("post", "/v1/apps/{name}/calls/{func}"),
        ("get", "/v1/apps/{name}/kv/{key}"),
        ("get", "/v1/records/{index}"),
        ("get", "/v1/receipts/{index}"),
        ("get", "/v1/proofs/inclusion"),
        ("get", "/v1/proofs/consistency"),
        ("get", "/v1/log"),
        ("get", "/v1/openapi.json"),
        ("get", "/blobs/{sha256}"),
        ("get", "/log/checkpoint"),
        ("get", "/log/tile/{path}"),
        ("get", "/immutable/{app}"),
    ] {
        assert!(
            paths.get(p).and_then(|o| o.get(m)).is_some(),
            "{m} {p} missing"
        );
    }
}
