//! Property tests (bounded, in the normal suite): the job decoder never panics, whatever the
//! bytes, and always answers with a job or a reason.

use proptest::prelude::*;
use shared::message::{Job, Stage};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 2000, ..ProptestConfig::default() }
}

/// JSON-ish text: valid jobs with random field types, truncated or with bytes flipped.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("null".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-z<>/ ]{0,20}".prop_map(|s| format!("\"{s}\"")),
        Just("[1, \"x\", {}]".to_owned()),
        Just("{\"title\": 5}".to_owned()),
        Just("true".to_owned()),
    ];
    let field =
        prop_oneof![Just("url"), Just("content"), Just("content_type"), Just("id"), Just("metadata"), Just("zz")];
    (proptest::collection::vec((field, value), 0..6), any::<usize>(), any::<u8>()).prop_map(|(fields, cut, flip)| {
        let body = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect::<Vec<_>>().join(", ");
        let mut bytes = format!("{{{body}}}").into_bytes();
        if flip % 3 == 0 && !bytes.is_empty() {
            let i = cut % bytes.len();
            bytes[i] ^= flip;
        } else if flip % 3 == 1 {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        bytes
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for stage in [Stage::Fetch, Stage::Clean] {
            if let Err(e) = Job::parse(&bytes, stage) {
                prop_assert!(!e.to_string().is_empty());
                prop_assert!(!e.kind().is_empty());
            }
        }
    }

    #[test]
    fn jsonish_jobs_are_decoded_or_refused_with_a_reason(bytes in jsonish()) {
        for stage in [Stage::Fetch, Stage::Clean] {
            match Job::parse(&bytes, stage) {
                Ok(job) => {
                    match stage {
                        Stage::Fetch => prop_assert!(job.url.is_some()),
                        Stage::Clean => prop_assert!(job.content.is_some()),
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
