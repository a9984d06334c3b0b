//! `enclave-example`: the Enclave OS `wasm-app-example` component, ported to ledgervm.
//!
//! Six exports, each exercising one host capability (see `wit/enclave-example.wit`):
//! `hello` (none), `get-random` (wasi:random), `get-time` (wasi:clocks/wall-clock),
//! `kv-store` / `kv-read` (wasi:keyvalue), `fetch-headlines` (wasi:http outgoing-handler),
//! plus `whoami` (ledgervm:host/caller), which the seed does not have.
//!
//! `fetch-headlines` keeps the seed's zero-argument signature: the URL it fetches is read
//! from the app's own key-value state under `headlines-url` (set it with
//! `kv-store("headlines-url", "https://…")`), falling back to the Le Monde RSS feed.
//!
//! Every host wait is written as "block on the pollable, then take the value", never
//! "poll, and block only if not ready": the first form runs the same guest instructions
//! whether the host answers at once (replay) or later (live network), so fuel is the
//! same in both modes.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "ledgervm:guests/enclave-example",
        generate_all,
    });
}

use ::wasi::http::outgoing_handler;
use ::wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};
use ::wasi::io::streams::StreamError;
use bindings::Guest;
use bindings::wasi::keyvalue::store as kv;

/// The state key holding the URL `fetch-headlines` reads.
const URL_KEY: &str = "headlines-url";
/// Used when `headlines-url` is not set, as in the original example.
const DEFAULT_URL: &str = "https://www.lemonde.fr/rss/une.xml";
/// The seed's limit: "numbered list (1-10 items)".
const MAX_HEADLINES: usize = 10;
/// Refuse to buffer more than this from the network.
const MAX_BODY: usize = 4 << 20;

struct App;

impl Guest for App {
    fn hello() -> String {
        "Hello, World!".to_string()
    }

    fn get_random() -> u32 {
        let bytes = ::wasi::random::random::get_random_bytes(4);
        let mut word = [0u8; 4];
        for (dst, src) in word.iter_mut().zip(bytes.iter()) {
            *dst = *src;
        }
        u32::from_le_bytes(word) % 100 + 1
    }

    fn get_time() -> String {
        let now = ::wasi::clocks::wall_clock::now();
        format!("{}.{:09}", now.seconds, now.nanoseconds)
    }

    fn kv_store(key: String, value: String) -> String {
        match open().and_then(|b| b.set(&key, value.as_bytes()).map_err(kv_error)) {
            Ok(()) => format!("stored: {key}"),
            Err(e) => format!("error: {e}"),
        }
    }

    fn kv_read(key: String) -> String {
        match read(&key) {
            Ok(Some(v)) => v,
            Ok(None) => format!("error: key not found: {key}"),
            Err(e) => format!("error: {e}"),
        }
    }

    fn fetch_headlines() -> String {
        match fetch_headlines() {
            Ok(list) => list,
            Err(e) => format!("error: {e}"),
        }
    }

    fn whoami() -> String {
        bindings::ledgervm::host::caller::id().unwrap_or_else(|| "anonymous".to_string())
    }
}

bindings::export!(App with_types_in bindings);

fn open() -> Result<kv::Bucket, String> {
    // "" is the app's own bucket: the host maps it to the app's namespace.
    kv::open("").map_err(kv_error)
}

fn read(key: &str) -> Result<Option<String>, String> {
    let bucket = open()?;
    match bucket.get(key).map_err(kv_error)? {
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("value of {key} is not UTF-8")),
        None => Ok(None),
    }
}

fn kv_error(e: kv::Error) -> String {
    match e {
        kv::Error::NoSuchStore => "no such store".to_string(),
        kv::Error::AccessDenied => "access denied".to_string(),
        kv::Error::Other(s) => s,
    }
}

fn fetch_headlines() -> Result<String, String> {
    let url = read(URL_KEY)?.unwrap_or_else(|| DEFAULT_URL.to_string());
    let body = http_get(&url)?;
    let text = String::from_utf8_lossy(&body);
    let titles = item_titles(&text);
    if titles.is_empty() {
        return Err("no headlines found".to_string());
    }
    let lines: Vec<String> = titles
        .iter()
        .take(MAX_HEADLINES)
        .enumerate()
        .map(|(i, t)| format!("{}. {}", i + 1, t))
        .collect();
    Ok(lines.join("\n"))
}

/// Splits `scheme://authority/path?query`. The scheme is passed on as given so the host,
/// not the guest, is what refuses plain `http://`.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(format!("unsupported URL: {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("URL has no host: {url}"));
    }
    Ok((scheme, authority, path))
}

fn http_get(url: &str) -> Result<Vec<u8>, String> {
    let (scheme, authority, path) = split_url(url)?;
    let headers = Fields::new();
    headers
        .append("accept", b"application/rss+xml, text/xml")
        .map_err(|e| format!("header: {e:?}"))?;
    let request = OutgoingRequest::new(headers);
    request.set_method(&Method::Get).map_err(|()| "method")?;
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| format!("bad authority: {authority}"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| format!("bad path: {path}"))?;

    let pending = outgoing_handler::handle(request, None).map_err(|e| http_error(&e))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("response not ready after block")?
        .map_err(|()| "response already taken")?
        .map_err(|e| http_error(&e))?;
    let status = response.status();
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let body = response.consume().map_err(|()| "body already taken")?;
    let stream = body.stream().map_err(|()| "body stream already taken")?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                out.extend_from_slice(&chunk);
                if out.len() > MAX_BODY {
                    return Err("response too large".to_string());
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading body: {}", e.to_debug_string()));
            }
        }
    }
    Ok(out)
}

/// A `wasi:http` error code as its variant name, e.g. `DestinationIpProhibited`.
fn http_error(e: &::wasi::http::types::ErrorCode) -> String {
    format!("{e:?}").replacen("ErrorCode::", "", 1)
}

/// Titles of the `<item>` elements of an RSS document, in order, with CDATA unwrapped
/// and the five XML entities decoded. A deliberately small parser: enough for RSS 2.0.
fn item_titles(xml: &str) -> Vec<String> {
    let mut titles = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<item") {
        rest = &rest[start..];
        let end = rest.find("</item>").unwrap_or(rest.len());
        let item = &rest[..end];
        if let Some(t) = element_text(item, "title") {
            let t = t.trim();
            if !t.is_empty() {
                titles.push(t.to_string());
            }
        }
        rest = &rest[end..];
        if rest.is_empty() {
            break;
        }
        rest = &rest["</item>".len().min(rest.len())..];
    }
    titles
}

fn element_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    let raw = &xml[start..start + len];
    let raw = raw.trim();
    if let Some(inner) = raw
        .strip_prefix("<![CDATA[")
        .and_then(|r| r.strip_suffix("]]>"))
    {
        return Some(inner.to_string());
    }
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}
