//! Property tests: parsers of hostile text never panic, and whatever parses is canonical
//! (re-encoding gives back the exact input).

use ledgervm_log::checkpoint::{Checkpoint, CosignatureVerifier};
use ledgervm_log::note::{Note, Signer, Verifier, VerifierSet};
use proptest::prelude::*;

/// Strings built from the characters that matter to these grammars.
fn grammarish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\n".to_string()),
            Just("\u{2014} ".to_string()),
            Just(" ".to_string()),
            Just("+".to_string()),
            Just("=".to_string()),
            Just("0".to_string()),
            "[A-Za-z0-9/+]{1,8}",
            Just("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string()),
            Just("\t".to_string()),
            Just("é".to_string()),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn note_parse_is_total_and_canonical(s in grammarish()) {
        if let Ok(n) = Note::parse(s.as_bytes()) {
            prop_assert_eq!(n.format(), s.clone());
            prop_assert!(n.text.ends_with('\n'));
        }
        let _ = Note::open(s.as_bytes(), &VerifierSet::default());
    }

    #[test]
    fn note_parse_random_bytes(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(n) = Note::parse(&b) {
            prop_assert_eq!(n.format().into_bytes(), b);
        }
    }

    #[test]
    fn checkpoint_parse_is_total_and_canonical(s in grammarish()) {
        if let Ok(c) = Checkpoint::parse(&s) {
            prop_assert_eq!(c.format(), s);
        }
    }

    #[test]
    fn key_parsers_are_total(s in grammarish()) {
        if let Ok(v) = Verifier::from_vkey(&s) {
            prop_assert_eq!(v.vkey(), s.clone());
        }
        let _ = CosignatureVerifier::from_vkey(&s);
        let _ = Signer::from_private_key(&s);
        let _ = Signer::from_private_key(&format!("PRIVATE+KEY+{s}"));
    }

    #[test]
    fn sign_open_round_trip(lines in proptest::collection::vec("[ -~é]{0,30}", 1..6), key in any::<[u8; 32]>()) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let signer = Signer::new("p.example/log", ed25519_dalek::SigningKey::from_bytes(&key)).unwrap();
        let mut n = Note::new(text.clone()).unwrap();
        signer.sign_note(&mut n);
        let set = VerifierSet::new(vec![Box::new(signer.verifier())]);
        let o = Note::open(n.format().as_bytes(), &set).unwrap();
        prop_assert_eq!(o.note.text, text);
    }
}
