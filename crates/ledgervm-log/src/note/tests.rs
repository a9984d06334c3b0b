use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

fn signed(text: &str, s: &Signer) -> Note {
    let mut n = Note::new(text).unwrap();
    s.sign_note(&mut n);
    n
}

#[test]
fn format_parse_round_trip() {
    let a = Signer::generate("a.example/log").unwrap();
    let b = Signer::generate("b.example/log").unwrap();
    let mut n = signed("hello\n\nworld\n", &a);
    b.sign_note(&mut n);
    let text = n.format();
    assert_eq!(Note::parse(text.as_bytes()).unwrap(), n);
    // Replacing a signature by the same key keeps one line per key.
    a.sign_note(&mut n);
    assert_eq!(n.signatures.len(), 2);
    assert_eq!(n.signatures[1].name, "a.example/log");
}

#[test]
fn signature_line_syntax() {
    let sig = B64.encode([1, 2, 3, 4, 5]);
    let ok = format!("t\n\n\u{2014} n {sig}\n");
    let n = Note::parse(ok.as_bytes()).unwrap();
    assert_eq!(n.signatures[0].key_id, 0x01020304);
    assert_eq!(n.signatures[0].signature, vec![5]);
    let short = B64.encode([1, 2, 3, 4]);
    for bad in [
        format!("t\n\n\u{2014} n {short}\n"),
        format!("t\n\n- n {sig}\n"),
        format!("t\n\n\u{2014}n {sig}\n"),
        format!("t\n\n\u{2014} n  {sig}\n"),
        format!("t\n\n\u{2014} n {sig} \n"),
        format!("t\n\n\u{2014} n+x {sig}\n"),
        format!("t\n\n\u{2014}  {sig}\n"),
        "t\n\n\u{2014} n\n".to_string(),
        format!("t\n\n\u{2014} n {sig}\n\n"),
        format!("t\n\n\u{2014} n {sig}\r\n"),
        "t\n\n\u{2014} n AQIDBAU\n".to_string(),
        "t\n\n".to_string(),
    ] {
        assert!(Note::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn text_rules() {
    assert!(Note::new("").is_err());
    assert!(Note::new("no newline").is_err());
    assert!(Note::new("tab\there\n").is_err());
    assert!(Note::new("nul\0\n").is_err());
    assert!(Note::new("\n").is_ok());
    assert!(Note::new("del \u{7f} is allowed by the spec\n").is_ok());
}

#[test]
fn verifier_set_lookup() {
    let a = Signer::generate("a").unwrap();
    let set = VerifierSet::new(vec![Box::new(a.verifier())]);
    assert!(set.find("a", a.key_id()).unwrap().is_some());
    assert!(set.find("a", a.key_id() ^ 1).unwrap().is_none());
    assert!(set.find("b", a.key_id()).unwrap().is_none());
    let n = signed("x\n", &a);
    let opened = Note::open(n.format().as_bytes(), &set).unwrap();
    assert_eq!(opened.verified, n.signatures);
    assert_eq!(format!("{a:?}"), format!("Signer(a+{:08x})", a.key_id()));
}
