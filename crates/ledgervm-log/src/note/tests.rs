use super::*;

#[test]
fn placeholder_round_trip() {
    let s = Signer::generate("example.com/log").unwrap();
    let mut n = Note::new("hello\n").unwrap();
    s.sign_note(&mut n);
    let set = VerifierSet::new(vec![Box::new(s.verifier())]);
    Note::open(n.format().as_bytes(), &set).unwrap();
}
