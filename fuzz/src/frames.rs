//! Enclave OS frame decoding (`ledgervm_server::frames`): the 4-byte big-endian length
//! prefix, the `{"Data": [bytes]}` envelope and the four requests.

use ledgervm_server::frames::{
    FrameDecoder, FrameError, HEADER_LEN, encode, open_payload, parse_request, seal_payload,
};

/// The frame limit the body decodes under: small, so mutated headers hit it often.
pub const FUZZ_MAX_FRAME: usize = 4096;

/// Everything a decoder yields for a stream: the frames, then how it ended.
fn decode_all(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Result<(), FrameError>) {
    let mut d = FrameDecoder::new(FUZZ_MAX_FRAME);
    let mut frames = Vec::new();
    for chunk in chunks {
        d.push(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                // Oversized: the listener answers and closes; nothing after it counts.
                Err(e) => return (frames, Err(e)),
            }
        }
    }
    let end = d.finish();
    (frames, end)
}

/// Input: one byte choosing where the stream is split into reads, then the stream.
///
/// * Read boundaries never matter: the stream decodes to the same frames and the same
///   ending whether it arrives whole or in pieces.
/// * Decoding is exact: re-encoding the frames gives back the bytes they came from, and
///   an oversized or truncated ending is reported with the header's own length.
/// * Every frame payload either opens (bare or enveloped) or fails with one of the two
///   payload codes; requests parse or fail as `frame_bad_request`; an opened payload
///   sealed back the same way opens to the same value.
pub fn frames(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let (whole, whole_end) = decode_all(&[stream]);
    // Reads of `split + 1` bytes (1..=256): small reads cross headers and payloads.
    let pieces: Vec<&[u8]> = stream.chunks(split as usize + 1).collect();
    let (pieced, pieced_end) = decode_all(&pieces);
    assert_eq!(whole, pieced, "frames depend on read boundaries");
    assert_eq!(whole_end, pieced_end, "ending depends on read boundaries");

    let consumed: Vec<u8> = whole.iter().flat_map(|f| encode(f)).collect();
    assert_eq!(&stream[..consumed.len()], &consumed[..], "frames re-encode");
    let rest = &stream[consumed.len()..];
    match &whole_end {
        Ok(()) => assert!(rest.is_empty(), "bytes left after a clean end"),
        Err(FrameError::TooLarge { len, max }) => {
            assert_eq!(*max, FUZZ_MAX_FRAME);
            assert!(*len > FUZZ_MAX_FRAME);
            assert_eq!(*len as u64, u32::from_be_bytes(header(rest)) as u64);
        }
        Err(FrameError::Truncated { expected, got }) if rest.len() < HEADER_LEN => {
            assert_eq!((*expected, *got), (HEADER_LEN, rest.len()));
        }
        Err(FrameError::Truncated { expected, got }) => {
            assert_eq!(*expected, u32::from_be_bytes(header(rest)) as usize);
            assert_eq!(*got, rest.len() - HEADER_LEN);
            assert!(got < expected);
        }
        Err(e) => panic!("the decoder reported a payload error: {e}"),
    }
    if let Err(e) = &whole_end {
        assert!(e.is_fatal(), "{} ends a stream but is not fatal", e.code());
    }

    for payload in &whole {
        match open_payload(payload) {
            Ok((value, how)) => {
                // Answers go back wrapped like their request: whatever opened must seal
                // and open again to the same value and wrapping.
                let again = open_payload(&seal_payload(&value, how)).expect("sealed opens");
                assert_eq!(again, (value.clone(), how), "seal/open round trip");
                if let Err(e) = parse_request(value) {
                    assert_eq!(e.code(), "frame_bad_request");
                    assert!(!e.is_fatal());
                }
            }
            Err(e) => {
                assert!(
                    matches!(e.code(), "frame_not_json" | "frame_bad_envelope"),
                    "payload error {}",
                    e.code()
                );
                assert!(!e.is_fatal(), "a bad payload must not end the connection");
            }
        }
    }
}

fn header(rest: &[u8]) -> [u8; 4] {
    rest[..HEADER_LEN]
        .try_into()
        .expect("a whole header is left")
}
