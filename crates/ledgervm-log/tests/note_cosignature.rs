//! C2SP tlog-checkpoint + tlog-cosignature: published vectors where they exist, and
//! independent constructions where they do not. No published vector pairs a cosigner
//! public key with a cosigned checkpoint (the C2SP examples omit the keys), so signature
//! checks use (a) a from-scratch Rust construction below and (b) a vector produced with
//! PyPI tlog-scales + pyca/cryptography (tests/vectors/tlog_scales_checkpoint.json).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use ledgervm_log::checkpoint::*;
use ledgervm_log::note::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/signed_note.json")).expect("valid JSON")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("missing {k}"))
}

fn sig_from_b64(b64: &str) -> NoteSignature {
    Note::parse(format!("t\n\n\u{2014} x {b64}\n").as_bytes())
        .unwrap()
        .signatures
        .remove(0)
}

#[test]
fn spec_example_checkpoint_with_cosignature() {
    let v = vectors();
    let c = &v["c2sp_cosignature"];
    let note = Note::parse(s(c, "note").as_bytes()).unwrap();
    let cp = Checkpoint::parse(&note.text).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(note.signatures.len(), 2);
    let w = &note.signatures[1];
    assert_eq!(w.name, "witness.example.com/w1");
    assert_eq!(w.signature.len(), 72);
    assert_eq!(
        cosignature_timestamp(w).unwrap(),
        c["witness_timestamp"].as_u64().unwrap()
    );
    // The log's own signature is a plain Ed25519 one: no timestamp inside.
    assert!(cosignature_timestamp(&note.signatures[0]).is_err());
    assert_eq!(
        cosigned_message(&note.text, 1679315147),
        s(c, "signed_message_example").as_bytes()
    );
    // Keys unknown: parses, but nothing is trusted.
    assert_eq!(
        Checkpoint::open(s(c, "note").as_bytes(), &cp.origin, &VerifierSet::default()).unwrap_err(),
        CheckpointError::Note(NoteError::NoVerifiedSignature)
    );
}

#[test]
fn transparency_dev_vectors() {
    let v = vectors();
    let t = &v["transparency_dev_formats"];
    // A native type-0x04 vkey: our key-ID derivation must reproduce its ID.
    let w = CosignatureVerifier::from_vkey(s(t, "native_cosig_vkey")).unwrap();
    assert_eq!(NoteVerifier::key_id(&w), 0xda77ade7);
    assert_eq!(w.vkey(), s(t, "native_cosig_vkey"));
    // A plain Ed25519 vkey can name a cosigner; the cosignature key ID is re-derived.
    let p = CosignatureVerifier::from_vkey(s(t, "ed25519_vkey_usable_as_cosigner")).unwrap();
    assert_ne!(NoteVerifier::key_id(&p), 0x7997405c);
    assert_eq!(NoteVerifier::name(&p), "TEST");
    assert!(
        Verifier::from_vkey(&p.vkey()).is_err(),
        "a 0x04 vkey is not a log key"
    );
    // Timestamp extraction.
    let ts = sig_from_b64(s(t, "timestamped_signature_b64"));
    assert_eq!(
        cosignature_timestamp(&ts).unwrap(),
        t["timestamp"].as_u64().unwrap()
    );
    assert!(cosignature_timestamp(&sig_from_b64(s(t, "plain_signature_b64"))).is_err());
    for bad in t["bad_vkeys"].as_array().unwrap() {
        assert!(CosignatureVerifier::from_vkey(bad.as_str().unwrap()).is_err());
    }
}

/// Build a cosignature line by hand from the spec text, with ed25519-dalek directly.
fn independent_cosignature(name: &str, key: &SigningKey, body: &str, ts: u64) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', 0x04]);
    h.update(key.verifying_key().as_bytes());
    let id = &h.finalize()[..4];
    let msg = format!("cosignature/v1\ntime {ts}\n{body}");
    let sig = ed25519_dalek::Signer::sign(key, msg.as_bytes()).to_bytes();
    let payload = [id, &ts.to_be_bytes(), &sig].concat();
    format!("\u{2014} {name} {}", B64.encode(payload))
}

#[test]
fn cosign_and_verify_alongside_the_log_key() {
    let log = Signer::generate("example.com/log").unwrap();
    let wkey = SigningKey::from_bytes(&[42u8; 32]);
    let witness = Cosigner::new("witness.example/w1", wkey.clone()).unwrap();
    let mut cp = Checkpoint::new("example.com/log", 1234, [9u8; 32]).unwrap();
    cp.extensions.push("ext line".into());

    let mut note = cp.to_note().unwrap();
    log.sign_note(&mut note);
    witness.cosign_note(&mut note, 1_700_000_000).unwrap();
    let signed = note.format();

    // Byte-identical to the hand-built line (Ed25519 is deterministic).
    let line = note.signatures[1].line();
    assert_eq!(
        line,
        independent_cosignature("witness.example/w1", &wkey, &cp.format(), 1_700_000_000)
    );
    assert_eq!(witness.cosign(&cp, 1_700_000_000).unwrap().line(), line);

    let mut known = VerifierSet::new(vec![Box::new(log.verifier()), Box::new(witness.verifier())]);
    let (got, opened) = Checkpoint::open(signed.as_bytes(), "example.com/log", &known).unwrap();
    assert_eq!(got, cp);
    assert_eq!(opened.verified.len(), 2);
    assert_eq!(
        cosignature_timestamp(&opened.verified[1]).unwrap(),
        1_700_000_000
    );

    // The witness alone is enough to open it (the caller decides its policy)...
    let only_w = VerifierSet::new(vec![Box::new(witness.verifier())]);
    Checkpoint::open(signed.as_bytes(), "example.com/log", &only_w).unwrap();
    // ...the wrong origin is refused...
    assert_eq!(
        Checkpoint::open(signed.as_bytes(), "example.com/other", &known)
            .unwrap_err()
            .code(),
        "checkpoint.wrong_origin"
    );
    // ...and a witness key from its published vkey works the same.
    known.push(Box::new(
        CosignatureVerifier::from_vkey(&witness.verifier().vkey()).unwrap(),
    ));
    assert!(
        Checkpoint::open(signed.as_bytes(), "example.com/log", &known).is_err(),
        "ambiguous"
    );
}

#[test]
fn cosignature_rejections() {
    let witness = Cosigner::new("w", SigningKey::from_bytes(&[1u8; 32])).unwrap();
    let wv = VerifierSet::new(vec![Box::new(witness.verifier())]);
    let mut cp = Checkpoint::new("o", 5, [1u8; 32]).unwrap();
    cp.extensions.push("ext".into());
    let mut note = cp.to_note().unwrap();
    witness.cosign_note(&mut note, 77).unwrap();
    let good = note.format();
    Note::open(good.as_bytes(), &wv).unwrap();

    // The signature covers the extension lines, the timestamp and every body byte.
    let tampered_ext = good.replacen("ext\n", "exu\n", 1);
    assert!(Note::open(tampered_ext.as_bytes(), &wv).is_err());
    let mut ts_changed = note.clone();
    ts_changed.signatures[0].signature[7] ^= 1;
    assert!(Note::open(ts_changed.format().as_bytes(), &wv).is_err());
    // A plain Ed25519 signature by the same key and name is not a cosignature (and
    // carries the 0x01 key ID, so it is simply unknown to the cosignature verifier).
    let plain = Signer::new("w", SigningKey::from_bytes(&[1u8; 32])).unwrap();
    let mut n2 = cp.to_note().unwrap();
    plain.sign_note(&mut n2);
    assert_eq!(
        Note::open(n2.format().as_bytes(), &wv).unwrap_err(),
        NoteError::NoVerifiedSignature
    );
    // Forged with the cosignature key ID but a wrong payload length: invalid, not ignored.
    let mut forged = n2.clone();
    forged.signatures[0].key_id = witness.key_id();
    assert_eq!(
        Note::open(forged.format().as_bytes(), &wv)
            .unwrap_err()
            .code(),
        "note.invalid_signature"
    );
    // Timestamps above 2^63-1 are refused on both sides.
    assert!(witness.cosign(&cp, 1 << 63).is_err());
    let mut big = note.clone();
    big.signatures[0].signature[0] = 0x80;
    assert!(Note::open(big.format().as_bytes(), &wv).is_err());
    assert!(cosignature_timestamp(&big.signatures[0]).is_err());
    // Only checkpoints are cosigned.
    let mut not_cp = Note::new("hello\n").unwrap();
    assert!(witness.cosign_note(&mut not_cp, 1).is_err());
    assert!(Cosigner::new("bad name", SigningKey::from_bytes(&[1u8; 32])).is_err());
}

/// A checkpoint signed by tlog-scales (log key) and cosigned through pyca/cryptography
/// following the spec text, both verified by tlog-scales when the vector was made.
#[test]
fn tlog_scales_cosigned_checkpoint() {
    let v: Value =
        serde_json::from_str(include_str!("vectors/tlog_scales_checkpoint.json")).unwrap();
    let known = VerifierSet::new(vec![
        Box::new(Verifier::from_vkey(s(&v, "log_vkey")).unwrap()),
        Box::new(CosignatureVerifier::from_vkey(s(&v, "witness_vkey")).unwrap()),
    ]);
    let (cp, opened) = Checkpoint::open(s(&v, "note").as_bytes(), s(&v, "origin"), &known).unwrap();
    assert_eq!(cp.size, 8);
    assert_eq!(opened.verified.len(), 2);
    assert_eq!(
        cosignature_timestamp(&opened.verified[1]).unwrap(),
        v["timestamp"].as_u64().unwrap()
    );

    // Our signer and cosigner, given the same seeds, write the very same note.
    let seed = |k: &str| -> [u8; 32] { hex::decode(s(&v, k)).unwrap().try_into().unwrap() };
    let log = Signer::new(
        s(&v, "origin"),
        SigningKey::from_bytes(&seed("log_seed_hex")),
    )
    .unwrap();
    let w = Cosigner::new(
        "witness.example/w1",
        SigningKey::from_bytes(&seed("witness_seed_hex")),
    )
    .unwrap();
    assert_eq!(log.verifier().vkey(), s(&v, "log_vkey"));
    assert_eq!(w.verifier().vkey(), s(&v, "witness_vkey"));
    let mut note = cp.to_note().unwrap();
    log.sign_note(&mut note);
    w.cosign_note(&mut note, v["timestamp"].as_u64().unwrap())
        .unwrap();
    assert_eq!(note.format(), s(&v, "note"));
}
