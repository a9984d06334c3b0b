//! Egress: https only, refused address ranges (at the policy layer and through the
//! guest), caps, TLS trust, and replay of failures. Every refusal happens before a
//! connection: the tests only ever connect to the local test server on 127.0.0.1, and
//! refused non-loopback destinations are IP literals, so not even DNS leaves the host.

mod support;

use ledgervm_runtime::http::client::{exchange, resolve_checked};
use ledgervm_runtime::http::policy::{BlockedRange, EgressPolicy};
use ledgervm_runtime::http::record::parse_https_url;
use ledgervm_runtime::http::{EgressConfig, HttpError};
use ledgervm_runtime::state::{MemoryState, SharedState, shared};
use ledgervm_runtime::transcript::{HttpRequestRecord, OracleEvent};
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{CallOutcome, CallRequest, LoadedApp};
use std::time::Duration;
use support::https_server::TestServer;
use support::*;

fn get(url: &str) -> HttpRequestRecord {
    HttpRequestRecord {
        method: "GET".into(),
        url: url.into(),
        headers: vec![],
        body: vec![],
    }
}

const REFUSED: [(&str, BlockedRange); 8] = [
    ("https://10.0.0.1/", BlockedRange::Private),
    ("https://192.168.1.1:8443/x", BlockedRange::Private),
    ("https://172.16.5.4/", BlockedRange::Private),
    (
        "https://169.254.169.254/latest/meta-data/",
        BlockedRange::Metadata,
    ),
    ("https://[::ffff:127.0.0.1]/", BlockedRange::Ipv4Mapped),
    ("https://[::1]/", BlockedRange::Loopback),
    ("https://100.64.0.1/", BlockedRange::SharedAddressSpace),
    ("https://[fd00::1]/", BlockedRange::UniqueLocal),
];

#[tokio::test]
async fn policy_layer_refuses_every_private_range_before_connecting() {
    let policy = EgressPolicy::default();
    for (url, range) in REFUSED {
        let t = parse_https_url(url).unwrap();
        match resolve_checked(&policy, &t).await {
            Err(HttpError::Blocked { range: r, .. }) => assert_eq!(r, range, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    // localhost resolves (from /etc/hosts) to loopback: refused without a rule.
    let t = parse_https_url("https://localhost:8443/").unwrap();
    assert!(matches!(
        resolve_checked(&policy, &t).await,
        Err(HttpError::Blocked {
            range: BlockedRange::Loopback,
            ..
        })
    ));
    // exchange() applies the same check, and https-only, before anything else.
    let cfg = EgressConfig::default();
    for (url, _) in REFUSED {
        let e = exchange(&cfg, &get(url), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "egress.blocked_address", "{url}");
    }
    let e = exchange(&cfg, &get("http://127.0.0.1:1/"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "egress.not_https");
}

async fn fetch_with(app: &LoadedApp, state: &SharedState, url: &str) -> CallOutcome {
    app.call(
        CallRequest::live(
            "kv-store",
            vec![
                Value::String("headlines-url".into()),
                Value::String(url.into()),
            ],
        ),
        state.clone(),
    )
    .await;
    app.call(CallRequest::live("fetch-headlines", vec![]), state.clone())
        .await
}

fn only_http_error(out: &CallOutcome) -> String {
    match out.transcript.events.as_slice() {
        [
            OracleEvent::Http {
                response: Err(e), ..
            },
        ] => e.clone(),
        other => panic!("{other:?}"),
    }
}

fn guest_text(out: &CallOutcome) -> String {
    match out.result.as_deref() {
        Ok([Value::String(s)]) => s.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_requests_to_refused_destinations_never_connect() {
    let server = TestServer::start().await;
    let rt = runtime();
    // Trusts the server's CA but has no allow rule: loopback stays refused.
    let strict = EgressConfig::default()
        .with_roots(std::slice::from_ref(&server.ca_der), false)
        .unwrap();
    let app = load_enclave(&rt, strict);
    let state = shared(MemoryState::new());
    let port = server.addr.port();

    let out = fetch_with(&app, &state, &format!("http://127.0.0.1:{port}/feed")).await;
    assert_eq!(guest_text(&out), "error: HttpRequestDenied");
    assert!(only_http_error(&out).starts_with("egress.not_https: "));

    for url in [server.url("/feed"), server.localhost_url("/feed")] {
        let out = fetch_with(&app, &state, &url).await;
        assert_eq!(guest_text(&out), "error: DestinationIpProhibited", "{url}");
        let e = only_http_error(&out);
        // localhost may resolve to ::1 first: either way it is loopback.
        assert!(
            e.starts_with("egress.blocked_address: ") && e.contains("is a loopback address"),
            "{e}"
        );
    }
    for (url, range) in REFUSED {
        let out = fetch_with(&app, &state, url).await;
        assert_eq!(guest_text(&out), "error: DestinationIpProhibited", "{url}");
        let e = only_http_error(&out);
        assert!(
            e.contains(&format!("is a {} address", range.name())),
            "{url}: {e}"
        );
        // The refusal replays identically (from the transcript, no policy, no network).
        let replayed = app
            .call(
                CallRequest::replay("fetch-headlines", vec![], out.transcript.clone()),
                state.clone(),
            )
            .await;
        assert_eq!(replayed, out);
    }
    assert_eq!(server.connections(), 0, "nothing reached the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_rule_is_port_specific() {
    let server = TestServer::start().await;
    let rt = runtime();
    let other_port = if server.addr.port() == 65535 {
        1
    } else {
        server.addr.port() + 1
    };
    let cfg = EgressConfig::new(EgressPolicy::new(vec![
        format!("127.0.0.1:{other_port}").parse().unwrap(),
    ]))
    .with_roots(std::slice::from_ref(&server.ca_der), false)
    .unwrap();
    let app = load_enclave(&rt, cfg);
    let state = shared(MemoryState::new());
    let out = fetch_with(&app, &state, &server.url("/feed")).await;
    assert_eq!(guest_text(&out), "error: DestinationIpProhibited");
    assert_eq!(server.connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_a_recorded_tls_failure() {
    let server = TestServer::start().await;
    let rt = runtime();
    // Allowed address, but only Mozilla's roots: the test CA is not trusted.
    let cfg = EgressConfig::new(EgressPolicy::new(vec![
        format!("127.0.0.1:{}", server.addr.port()).parse().unwrap(),
    ]));
    let app = load_enclave(&rt, cfg);
    let state = shared(MemoryState::new());
    let out = fetch_with(&app, &state, &server.url("/feed")).await;
    assert_eq!(guest_text(&out), "error: TlsProtocolError");
    assert!(
        only_http_error(&out).starts_with("http.tls: "),
        "{}",
        only_http_error(&out)
    );
    assert!(
        server.seen().is_empty(),
        "no request was sent over the untrusted connection"
    );
    let replayed = app
        .call(
            CallRequest::replay("fetch-headlines", vec![], out.transcript.clone()),
            state.clone(),
        )
        .await;
    assert_eq!(replayed, out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_cap_is_enforced_and_recorded() {
    let server = TestServer::start().await;
    let rt = runtime();
    let mut cfg = egress_for(&server);
    cfg.max_response_bytes = 64 * 1024;
    let app = load_enclave(&rt, cfg);
    let state = shared(MemoryState::new());
    let out = fetch_with(&app, &state, &server.url("/big")).await;
    assert_eq!(guest_text(&out), "error: HttpResponseBodySize(None)");
    assert_eq!(
        only_http_error(&out),
        "http.response_too_large: response body exceeds 65536 bytes"
    );
    // A non-200 answer is recorded as a response, and the guest reports the status.
    let out = fetch_with(&app, &state, &server.url("/nope")).await;
    assert_eq!(guest_text(&out), "error: HTTP status 404");
    assert!(
        matches!(out.transcript.events.as_slice(), [OracleEvent::Http { response: Ok(r), .. }] if r.status == 404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_a_recorded_connect_failure() {
    // Bind then drop a listener to find a port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rt = runtime();
    let cfg = EgressConfig::new(EgressPolicy::new(vec![
        format!("127.0.0.1:{port}").parse().unwrap(),
    ]));
    let app = load_enclave(&rt, cfg);
    let state = shared(MemoryState::new());
    let out = fetch_with(&app, &state, &format!("https://127.0.0.1:{port}/feed")).await;
    assert_eq!(guest_text(&out), "error: ConnectionRefused");
    assert!(only_http_error(&out).starts_with("http.connect: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_never_followed() {
    // The allowed server answers 302 to a private address, to itself over loopback (which
    // the allow rule would permit) and to plain http. The host hands each 302 to the guest
    // as the response; it never opens a second connection, so a redirect cannot reach a
    // destination the policy did not check.
    let server = TestServer::start().await;
    let rt = runtime();
    let app = load_enclave(&rt, egress_for(&server));
    let state = shared(MemoryState::new());
    for path in ["/to-private", "/to-loopback", "/to-http"] {
        let before = server.connections();
        let out = fetch_with(&app, &state, &server.url(path)).await;
        assert_eq!(guest_text(&out), "error: HTTP status 302", "{path}");
        assert!(
            matches!(out.transcript.events.as_slice(), [OracleEvent::Http { response: Ok(r), .. }] if r.status == 302),
            "{path}: {:?}",
            out.transcript.events
        );
        assert_eq!(
            server.connections(),
            before + 1,
            "{path}: one connection, no follow-up"
        );
    }
    let paths: Vec<String> = server.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/to-private", "/to-loopback", "/to-http"]);
}

#[tokio::test]
async fn names_are_resolved_once_and_checked_on_the_resolved_address() {
    // DNS rebinding needs a second lookup that returns a private address. The client
    // resolves once, checks every resolved address, and connects to the checked
    // address itself, so there is no second lookup; what a name resolves to is what is
    // checked: `localhost` is a name that resolves to loopback, and is refused even with
    // an allow rule for another name on the same port.
    let policy = EgressPolicy::new(vec!["example.com:443".parse().unwrap()]);
    let t = parse_https_url("https://localhost/").unwrap();
    match resolve_checked(&policy, &t).await {
        Err(HttpError::Blocked { range, .. }) => assert_eq!(range, BlockedRange::Loopback),
        other => panic!("{other:?}"),
    }
    // IPv4-mapped and IPv4-compatible spellings of loopback and private addresses, and
    // the cloud metadata address, as URL hosts.
    for (url, range) in [
        ("https://[::ffff:10.0.0.1]/", BlockedRange::Ipv4Mapped),
        (
            "https://[::ffff:169.254.169.254]/",
            BlockedRange::Ipv4Mapped,
        ),
        ("https://[::127.0.0.1]/", BlockedRange::Ipv4Compatible),
        ("https://169.254.169.254/", BlockedRange::Metadata),
        ("https://169.254.10.10/", BlockedRange::LinkLocal),
        ("https://[fe80::1]/", BlockedRange::LinkLocal),
        ("https://0.0.0.0/", BlockedRange::Unspecified),
    ] {
        let t = parse_https_url(url).unwrap();
        match resolve_checked(&EgressPolicy::default(), &t).await {
            Err(HttpError::Blocked { range: r, .. }) => assert_eq!(r, range, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}
