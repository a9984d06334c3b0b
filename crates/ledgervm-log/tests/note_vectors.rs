//! C2SP signed-note against published vectors (tests/vectors/signed_note.json) and
//! hostile input.

use ledgervm_log::note::*;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/signed_note.json")).expect("valid JSON")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("missing {k}"))
}

fn set(vs: Vec<Verifier>) -> VerifierSet {
    VerifierSet::new(
        vs.into_iter()
            .map(|v| Box::new(v) as Box<dyn NoteVerifier>)
            .collect(),
    )
}

#[test]
fn go_keys_parse_and_round_trip() {
    let v = vectors();
    let g = &v["go_sumdb_note"];
    let signer = Signer::from_private_key(s(g, "peter_skey")).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.to_private_key(), s(g, "peter_skey"));
    assert_eq!(signer.verifier().vkey(), s(g, "peter_vkey"));
    let ver = Verifier::from_vkey(s(g, "peter_vkey")).unwrap();
    assert_eq!(ver, signer.verifier());
    assert_eq!(ver.vkey(), s(g, "peter_vkey"));
    let enoch = Verifier::from_vkey(s(g, "enoch_vkey")).unwrap();
    assert_eq!(NoteVerifier::key_id(&enoch), 0xaf0cfe78);
    // Key ID = SHA-256(name || "\n" || 0x01 || pk)[:4], computed here from scratch.
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"PeterNeumann\n\x01");
    h.update(ver.public_key().as_bytes());
    assert_eq!(h.finalize()[..4], 0xc74f20a3u32.to_be_bytes());
}

#[test]
fn go_key_manglings_rejected() {
    // As Go's TestNewVerifier / TestNewSigner: every proper substring and every
    // single-byte increment of a valid key string must be rejected.
    let v = vectors();
    let g = &v["go_sumdb_note"];
    let vkey = s(g, "peter_vkey").as_bytes().to_vec();
    let skey = s(g, "peter_skey").as_bytes().to_vec();
    let mut tried = 0;
    for (key, parse) in [
        (
            &vkey,
            &(|k: &str| Verifier::from_vkey(k).is_ok()) as &dyn Fn(&str) -> bool,
        ),
        (&skey, &|k: &str| Signer::from_private_key(k).is_ok()),
    ] {
        for i in 0..=key.len() {
            for j in i + 1..=key.len() {
                if i == 0 && j == key.len() {
                    continue;
                }
                let sub = String::from_utf8_lossy(&key[i..j]);
                assert!(!parse(&sub), "accepted substring {sub:?}");
                tried += 1;
            }
        }
        for i in 0..key.len() {
            let mut b = key.clone();
            b[i] = b[i].wrapping_add(1);
            let m = String::from_utf8_lossy(&b);
            assert!(!parse(&m), "accepted mangled {m:?}");
            tried += 1;
        }
    }
    for bad in g["bad_vkeys"].as_array().unwrap() {
        assert!(Verifier::from_vkey(bad.as_str().unwrap()).is_err());
    }
    assert!(tried > 5000);
}

#[test]
fn go_sign_is_byte_identical() {
    let v = vectors();
    let g = &v["go_sumdb_note"];
    let signer = Signer::from_private_key(s(g, "peter_skey")).unwrap();
    let mut note = Note::new(s(g, "text")).unwrap();
    signer.sign_note(&mut note);
    let want = format!("{}\n{}", s(g, "text"), s(g, "peter_sig"));
    assert_eq!(note.format(), want);
    // Re-signing replaces the earlier signature by the same key.
    signer.sign_note(&mut note);
    assert_eq!(note.format(), want);
    assert!(Note::new("abc").is_err());
}

#[test]
fn go_open_cases() {
    let v = vectors();
    let g = &v["go_sumdb_note"];
    let text = s(g, "text");
    let (peter_sig, enoch_sig) = (s(g, "peter_sig"), s(g, "enoch_sig"));
    let peter = || Verifier::from_vkey(s(g, "peter_vkey")).unwrap();
    let enoch = || Verifier::from_vkey(s(g, "enoch_vkey")).unwrap();
    let both = format!("{text}\n{peter_sig}{enoch_sig}");

    // One known key verifies, the unknown one is kept but not verified.
    let o = Note::open(both.as_bytes(), &set(vec![peter()])).unwrap();
    assert_eq!(o.note.text, text);
    assert_eq!(o.note.signatures.len(), 2);
    assert_eq!(o.verified.len(), 1);
    assert_eq!(o.verified[0].name, "PeterNeumann");
    assert_eq!(o.note.format(), both);

    let o = Note::open(both.as_bytes(), &set(vec![peter(), enoch()])).unwrap();
    assert_eq!(o.verified.len(), 2);
    assert_eq!(o.verified[1].key_id, 0xaf0cfe78);

    assert_eq!(
        Note::open(both.as_bytes(), &set(vec![])).unwrap_err(),
        NoteError::NoVerifiedSignature
    );
    // Same name and ID but a different key is still "known": its signature must verify.
    let impostor = Signer::generate("PeterNeumann").unwrap().verifier();
    assert!(Note::open(both.as_bytes(), &set(vec![impostor])).is_err());

    let e = Note::open(
        format!("{text}\n{enoch_sig}").as_bytes(),
        &set(vec![enoch(), peter(), enoch()]),
    )
    .unwrap_err();
    assert_eq!(e.code(), "note.ambiguous_key");
    Note::open(
        format!("{text}\n{peter_sig}").as_bytes(),
        &set(vec![enoch(), peter(), enoch()]),
    )
    .unwrap();

    // Too many signatures.
    let many = format!("{text}\n{}", peter_sig.repeat(101));
    assert_eq!(
        Note::open(many.as_bytes(), &set(vec![peter()])).unwrap_err(),
        NoteError::TooManySignatures
    );
    let hundred = format!("{text}\n{}", peter_sig.repeat(100));
    assert!(Note::open(hundred.as_bytes(), &set(vec![peter()])).is_ok());

    // A corrupted signature by a known key is an error, not ignored.
    let bad = format!("{text}\n{}ABCD{}", &peter_sig[..60], &peter_sig[60..]);
    assert_eq!(
        Note::open(bad.as_bytes(), &set(vec![peter()])).unwrap_err(),
        NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        }
    );
    // …but the same corruption in an unknown key's signature is ignored.
    let enoch_abcd = format!("{}ABCD{}", &enoch_sig[..60], &enoch_sig[60..]);
    let mixed = format!("{text}\n{peter_sig}{peter_sig}{enoch_sig}{enoch_sig}{enoch_abcd}");
    let o = Note::open(mixed.as_bytes(), &set(vec![peter()])).unwrap();
    assert_eq!(o.verified.len(), 2);

    // Malformed encodings (Go's badMsgs).
    let bad_msgs: Vec<Vec<u8>> = vec![
        text.into(),
        format!("{text}\n").into(),
        format!("{text}\n{}", &peter_sig[..peter_sig.len() - 1]).into(),
        format!("\x01{text}\n{peter_sig}").into(),
        [b"\xff".as_slice(), format!("{text}\n{peter_sig}").as_bytes()].concat(),
        format!("{text}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=").into(),
        format!("{text}\n{peter_sig}Unexpected line.\n").into(),
    ];
    for m in bad_msgs {
        let e = Note::open(&m, &set(vec![peter()])).unwrap_err();
        assert_eq!(
            e.code(),
            "note.malformed",
            "{:?}",
            String::from_utf8_lossy(&m)
        );
    }
}

#[test]
fn c2sp_example_parses() {
    let v = vectors();
    let c = &v["c2sp_signed_note"];
    let n = Note::parse(s(c, "note").as_bytes()).unwrap();
    // The text may hold blank lines: it ends at the *last* blank line.
    assert_eq!(n.text, s(c, "text"));
    assert_eq!(n.signatures.len(), 1);
    assert_eq!(n.signatures[0].name, "quasimodo.example/salvatore");
    assert_eq!(n.signatures[0].signature.len(), 64);
    assert_eq!(n.format(), s(c, "note"));
    // Unknown key only: parsed, but not trusted.
    assert_eq!(
        Note::open(s(c, "note").as_bytes(), &set(vec![])).unwrap_err(),
        NoteError::NoVerifiedSignature
    );
}

#[test]
fn names_and_limits() {
    for bad in [
        "",
        "a+b",
        "a b",
        "a\tb",
        "a\u{a0}b",
        "a\u{2003}b",
        "a\nb",
        "x\u{7f}",
    ] {
        assert!(!is_valid_name(bad), "{bad:?}");
        assert!(Signer::generate(bad).is_err(), "{bad:?}");
    }
    for good in ["a", "example.com/log", "oid/1.3.6.1.4.1", "ünïcödé"] {
        assert!(is_valid_name(good));
        let s = Signer::generate(good).unwrap();
        let back = Signer::from_private_key(&s.to_private_key()).unwrap();
        assert_eq!(back.verifier(), s.verifier());
        assert_eq!(
            Verifier::from_vkey(&s.verifier().vkey()).unwrap(),
            s.verifier()
        );
    }
    // Size limit, checked before any other work.
    let huge = vec![b'a'; MAX_NOTE_SIZE + 1];
    assert_eq!(Note::parse(&huge).unwrap_err(), NoteError::TooLarge);
    assert_eq!(
        Note::new("a".repeat(MAX_NOTE_SIZE) + "\n").unwrap_err(),
        NoteError::TooLarge
    );
    // Key strings with a non-Ed25519 algorithm byte, wrong key length, uppercase hex.
    let s = Signer::generate("k").unwrap();
    let vk = s.verifier().vkey();
    assert!(Verifier::from_vkey(&vk.to_uppercase()).is_err());
    let (prefix, _) = vk.rsplit_once('+').unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    for raw in [vec![2u8; 33], vec![1u8; 32], vec![1u8; 34], vec![]] {
        assert!(Verifier::from_vkey(&format!("{prefix}+{}", b64.encode(&raw))).is_err());
    }
}

#[test]
fn tampering_any_byte_of_a_signed_note_is_detected() {
    let signer = Signer::generate("example.com/log").unwrap();
    let mut note = Note::new("line one\nline two\n").unwrap();
    signer.sign_note(&mut note);
    let good = note.format().into_bytes();
    let known = set(vec![signer.verifier()]);
    Note::open(&good, &known).unwrap();
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut m = good.clone();
            m[i] ^= 1 << bit;
            // Text, key name, key ID, signature, separators, base64 padding: every bit
            // matters (non-canonical base64 is rejected too).
            assert!(Note::open(&m, &known).is_err(), "byte {i} bit {bit}");
        }
    }
}
