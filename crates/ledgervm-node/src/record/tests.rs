use super::*;
use ledgervm_runtime::state::Caller;
use ledgervm_runtime::transcript::OracleEvent;

fn engine() -> EngineFingerprint {
    EngineFingerprint {
        wasmtime_version: "48.0.8".into(),
        config_hash: "cd".repeat(32),
    }
}

fn call() -> CallRecord {
    CallRecord {
        app: "sum.wasm".into(),
        code_hash: "ab".repeat(32),
        load_index: 1,
        func: "Sum".into(),
        args: vec![Value::U32(5), Value::U32(7)],
        caller: Caller::anonymous(),
        transcript: Transcript {
            events: vec![OracleEvent::Random { bytes: vec![1, 2] }],
            deadline_fuel: None,
        },
        outcome: Outcome::Ok(vec![Value::I32(12)]),
        fuel: 42,
        stdout: b"hi\n".to_vec(),
        stderr: vec![],
        write_set: vec![
            Write {
                key: b"k".to_vec(),
                value: Some(HexBytes(b"v".to_vec())),
            },
            Write {
                key: b"gone".to_vec(),
                value: None,
            },
        ],
        auth: None,
        state_digest: "5d".repeat(32),
    }
}

fn signed(target: Option<&str>) -> CallerAuth {
    CallerAuth::Ed25519(crate::signing::Ed25519Auth {
        key: "12".repeat(32),
        signature: "34".repeat(64),
        nonce: "n1".into(),
        timestamp_ms: 1_700_000_000_000,
        target: target.map(str::to_string),
        body_sha256: target.map(|_| "56".repeat(32)),
    })
}

fn samples() -> Vec<Record> {
    vec![
        Record::Config(Config {
            origin: "example.org/log".into(),
            vkey: "example.org/log+01020304+AQ".into(),
            engine: engine(),
        }),
        Record::Load(Load {
            name: "sum.wasm".into(),
            code_hash: "ab".repeat(32),
            cid: "bafk".into(),
            size: 10,
            app_kind: AppKind::CoreModule,
            exports: vec![ExportInfo {
                name: "Sum".into(),
                ty: FuncType {
                    params: vec![],
                    results: vec![],
                },
            }],
            limits: Limits::default(),
            policy: CallPolicy::Anonymous,
            engine: engine(),
            owner: None,
            auth: None,
            key_source: crate::secret::KeySource::Byok,
            key_id: "77".repeat(32),
            private: true,
            max_keys: 1000,
        }),
        Record::Load(Load {
            name: "owned".into(),
            code_hash: "ab".repeat(32),
            cid: "bafk".into(),
            size: 10,
            app_kind: AppKind::CoreModule,
            exports: vec![],
            limits: Limits::default(),
            policy: CallPolicy::AllowList(vec!["12".repeat(32)]),
            engine: engine(),
            owner: Some("12".repeat(32)),
            auth: Some(signed(Some("/v1/apps/owned?policy=allow_list"))),
            key_source: crate::secret::KeySource::Generated,
            key_id: "78".repeat(32),
            private: false,
            max_keys: 1000,
        }),
        Record::Unload(Unload {
            name: "sum.wasm".into(),
            code_hash: "ab".repeat(32),
            load_index: 1,
            auth: None,
        }),
        Record::Call(Box::new(CallRecord {
            caller: Caller::with_id("12".repeat(32)),
            auth: Some(signed(None)),
            ..call()
        })),
        Record::Call(Box::new(CallRecord {
            caller: Caller::with_id("debug:alice"),
            auth: Some(CallerAuth::Debug(crate::signing::DebugAuth {
                user: "alice".into(),
            })),
            ..call()
        })),
        Record::Call(Box::new(call())),
        Record::Call(Box::new(CallRecord {
            outcome: Outcome::Err(CallError::Deadline { fuel_consumed: 9 }),
            ..call()
        })),
        Record::Blob(BlobPointer {
            of: "call".into(),
            sha256: "ef".repeat(32),
            size: 70_000,
        }),
    ]
}

#[test]
fn every_kind_round_trips_byte_for_byte() {
    for r in samples() {
        let bytes = r.encode().unwrap();
        let back = Record::decode(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.encode().unwrap(), bytes, "{}", r.kind());
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.contains(&format!(r#""kind":"{}""#, r.kind())),
            "{text}"
        );
        assert!(
            text.ends_with(r#""v":3}"#) || text.contains(r#","v":3,"#),
            "{text}"
        );
    }
}

#[test]
fn call_record_shape_is_stable() {
    let text = String::from_utf8(Record::Call(Box::new(call())).encode().unwrap()).unwrap();
    let expected = format!(
        concat!(
            r#"{{"app":"sum.wasm","args":[{{"type":"u32","value":5}},{{"type":"u32","value":7}}],"#,
            r#""caller":{{"id":null}},"code_hash":"{h}","fuel":42,"func":"Sum","kind":"call","#,
            r#""load_index":1,"outcome":{{"ok":[{{"type":"i32","value":12}}]}},"state_digest":"{d}","#,
            r#""stderr":"","stdout":"68690a","transcript":{{"events":[{{"bytes":"0102","kind":"random"}}]}},"#,
            r#""v":3,"write_set":[{{"key":"6b","value":"76"}},{{"key":"676f6e65","value":null}}]}}"#
        ),
        h = "ab".repeat(32),
        d = "5d".repeat(32)
    );
    assert_eq!(text, expected);
}

#[test]
fn rejects_other_versions_unknown_fields_and_non_canonical_bytes() {
    let good = Record::Unload(Unload {
        name: "a".into(),
        code_hash: "ab".repeat(32),
        load_index: 3,
        auth: None,
    })
    .encode()
    .unwrap();
    let text = String::from_utf8(good.clone()).unwrap();

    // Format 2 (SHA-256 state digests) is refused by name, not mis-audited.
    let v2 = text.replace(r#""v":3"#, r#""v":2"#);
    assert_eq!(
        Record::decode(v2.as_bytes()).unwrap_err().code(),
        "unsupported_record_version"
    );
    let no_v = text.replace(r#","v":3"#, "");
    assert_eq!(
        Record::decode(no_v.as_bytes()).unwrap_err().code(),
        "unsupported_record_version"
    );

    let extra = text.replace(r#""name":"a""#, r#""name":"a","x":1"#);
    assert_eq!(
        Record::decode(extra.as_bytes()).unwrap_err().code(),
        "malformed_record"
    );

    let spaced = text.replace(',', ", ");
    assert_eq!(
        Record::decode(spaced.as_bytes()).unwrap_err().code(),
        "non_canonical_record"
    );

    for junk in [&b""[..], b"[]", b"null", b"{", b"\xff\xfe"] {
        assert!(Record::decode(junk).is_err(), "{junk:?}");
    }
}

#[test]
fn large_records_become_blob_pointers() {
    let small = Record::Call(Box::new(call()));
    let (entry, blob) = small.to_entry().unwrap();
    assert!(blob.is_none());
    assert_eq!(entry, small.encode().unwrap());

    let big = Record::Call(Box::new(CallRecord {
        stdout: vec![7; 40_000],
        ..call()
    }));
    let (entry, blob) = big.to_entry().unwrap();
    let blob = blob.expect("spilled");
    assert!(entry.len() < 300);
    assert_eq!(Record::decode(&blob).unwrap(), big);
    match Record::decode(&entry).unwrap() {
        Record::Blob(p) => {
            assert_eq!(p.of, "call");
            assert_eq!(p.sha256, crate::ids::sha256_hex(&blob));
            assert_eq!(p.size, blob.len() as u64);
        }
        other => panic!("{other:?}"),
    }
}
