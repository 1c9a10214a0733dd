//! The dedup stage's pure rules: how an article is remembered in Redis, what the store's answers
//! mean, and the event's AMQP properties (CloudEvents binary mode).
//!
//! # What Redis holds
//!
//! Keys are small hashes (Redis keeps a hash of ≤ 128 short entries as one compact listpack),
//! grouped by shard and by *epoch* (`unix time / window`), so that a whole key expires at once:
//!
//! - `P:dedup:r:{r<shard>}:<epoch>`: the **records**. Field: the article's *handle* (the first 8
//!   bytes of its id); value, told apart by length: a pending claim (13-digit deadline in ms,
//!   4-byte token, compact sketch: 49 bytes), an original (the other 24 bytes of its id, the
//!   token and its compact sketch: 60 bytes, and one byte `c` more once its event is confirmed), a
//!   duplicate (the 32 bytes of its original's id and its own compact sketch: 64 bytes) or a
//!   tombstone (a released claim: 1 byte). The token names the input message ([`input_token`]):
//!   the same message, redelivered, takes over its own claim at once; finding its own original
//!   record, it publishes the event again unless the record says the event was confirmed (the
//!   record is written before the event is published).
//! - `P:dedup:b:{b<shard>}:<epoch>`: the **bands**. Field: 6 bytes of an LSH band key; value: the
//!   handles of the articles that share it (at most 8).
//!
//! A key of epoch `e` expires at the end of epoch `e + 1`; lookups read epochs `e` and `e − 1`
//! together (the hash tag puts both in one slot, also on a Redis Cluster), so an article is
//! remembered for at least one window and at most two. About 265 bytes per article (BENCHMARKS.md).
//!
//! # The decision, in at most two rounds
//!
//! 1. One script per key, all sent at once: claim the article's record (or find it decided or
//!    pending) and append its handle to its 8 bands, each returning the handles already there.
//!    On one Redis (one script for all) an article no band connects to another is new: its final
//!    record is written right there, and nothing is left to record after the decision.
//! 2. Only when a band named another article: read those articles' records, at once.
//!
//! A candidate whose record says it is a near copy decides the article a duplicate of the
//! candidate's original; a near candidate still pending makes it wait. A candidate whose record is
//! not there yet is being claimed right now (its band entry was written before its record landed):
//! wait for it, a few times at most. Two near copies arriving at the same instant therefore never
//! both publish: the second to append to a shared band sees the first.

use shared::amqp::{AMQPValue, BasicProperties, FieldTable, LongString, json_properties};
use shared::message::{SCHEMA, site_key};
use shared::neardup::{BANDS, Compact, HASHES};
use shared::text::to_hex as hex;

/// Bytes of an article id that name it in the store.
pub const HANDLE: usize = 8;
/// Bytes of a band key stored as a field.
pub const BAND_FIELD: usize = 6;
/// Bytes of a claim's token.
pub const TOKEN: usize = 4;
/// Digits of a claim's deadline (milliseconds since 1970).
pub const DEADLINE_DIGITS: usize = 13;
/// Record lengths, by kind.
pub const PENDING_LEN: usize = DEADLINE_DIGITS + TOKEN + HASHES;
pub const ORIGINAL_LEN: usize = 32 - HANDLE + TOKEN + HASHES;
/// An original whose event the broker confirmed: the record and [`CONFIRMED`].
pub const CONFIRMED_LEN: usize = ORIGINAL_LEN + 1;
pub const CONFIRMED: &[u8] = b"c";
pub const DUPLICATE_LEN: usize = 32 + HASHES;
pub const TOMBSTONE: &[u8] = b"x";
/// Most handles kept per band entry: beyond that, the band already stands for its story.
pub const BAND_HANDLES: usize = 8;
/// Waits for a candidate whose record has not landed yet, after which it is ignored (it was
/// lost, or its key expired before its band's).
pub const MISSING_WAITS: u32 = 3;

/// The token of an input message: a hash of its [`INPUT_HEADER`] (or of its body, for an event
/// from elsewhere), the same on every redelivery and retry of the message, and different for
/// another handing-over of the same article. A word at a time: a body can be 100 KB.
///
/// [`INPUT_HEADER`]: shared::amqp::INPUT_HEADER
pub fn input_token(body: &[u8]) -> [u8; TOKEN] {
    const K: u64 = 0xff51_afd7_ed55_8ccd;
    let mut h = 0x9e37_79b9_7f4a_7c15 ^ body.len() as u64;
    let mut words = body.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(K).rotate_left(31);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 29;
    let mut token = [0u8; TOKEN];
    token.copy_from_slice(&h.to_le_bytes()[..TOKEN]);
    token
}

/// How long to wait before looking again at a claim that ends in `left_ms` at the latest: a claim
/// normally resolves within a publish's confirm (milliseconds) and lasts its whole TTL only when
/// its worker died, so look soon, then less often.
pub fn look_again_ms(waits: u32, left_ms: u64) -> u64 {
    (100u64 << waits.min(4)).min(1000).min(left_ms + 50)
}

/// An article id (64 hex digits) as its 32 bytes.
pub fn id_bytes(id: &str) -> Option<[u8; 32]> {
    if !valid_id(id) {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, i) in out.iter_mut().zip((0..64).step_by(2)) {
        *o = u8::from_str_radix(&id[i..i + 2], 16).ok()?;
    }
    Some(out)
}

/// Whether an article id is what the clean stage writes: 64 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where an article's keys are, for one deployment's sizing.
#[derive(Debug, Clone)]
pub struct Layout {
    pub prefix: String,
    pub window_secs: u64,
    pub record_shards: u64,
    pub band_shards: u64,
}

impl Layout {
    /// Shards sized so that each key holds about 64 entries when `capacity` articles arrive per
    /// window: small enough to stay a listpack, large enough that the per-key overhead is small.
    pub fn new(prefix: &str, window_secs: u64, capacity: u64) -> Layout {
        Layout {
            prefix: prefix.to_owned(),
            window_secs: window_secs.max(1),
            record_shards: (capacity / 64).max(1),
            band_shards: (capacity * BANDS as u64 / 64).max(1),
        }
    }

    pub fn epoch(&self, now_unix: u64) -> u64 {
        now_unix / self.window_secs
    }

    /// When the keys of `epoch` expire (unix seconds): the end of the next epoch.
    pub fn expire_at(&self, epoch: u64) -> u64 {
        (epoch + 2) * self.window_secs
    }

    /// The record keys of a handle: this epoch's and the previous one's.
    pub fn record_keys(&self, handle: &[u8; HANDLE], epoch: u64) -> [String; 2] {
        let shard = u64::from_be_bytes(*handle) % self.record_shards;
        let key = |e: u64| format!("{}:dedup:r:{{r{shard}}}:{e}", self.prefix);
        [key(epoch), key(epoch.saturating_sub(1))]
    }

    /// The band keys and field of a band key: this epoch's and the previous one's.
    pub fn band_keys(&self, band: u64, epoch: u64) -> ([String; 2], [u8; BAND_FIELD]) {
        let shard = band % self.band_shards;
        let key = |e: u64| format!("{}:dedup:b:{{b{shard}}}:{e}", self.prefix);
        let mut field = [0u8; BAND_FIELD];
        field.copy_from_slice(&band.to_be_bytes()[..BAND_FIELD]);
        ([key(epoch), key(epoch.saturating_sub(1))], field)
    }
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Pending { deadline_ms: u64, token: [u8; TOKEN], sketch: Compact },
    Original { rest: [u8; 32 - HANDLE], token: [u8; TOKEN], sketch: Compact, confirmed: bool },
    Duplicate { of: [u8; 32], sketch: Compact },
    Tombstone,
}

fn compact(bytes: &[u8]) -> Compact {
    Compact::from_bytes(bytes).expect("a slice of HASHES bytes")
}

impl Record {
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        match bytes.len() {
            PENDING_LEN => {
                let deadline_ms = std::str::from_utf8(&bytes[..DEADLINE_DIGITS]).ok()?.parse().ok()?;
                let mut token = [0u8; TOKEN];
                token.copy_from_slice(&bytes[DEADLINE_DIGITS..DEADLINE_DIGITS + TOKEN]);
                Some(Record::Pending { deadline_ms, token, sketch: compact(&bytes[DEADLINE_DIGITS + TOKEN..]) })
            }
            ORIGINAL_LEN | CONFIRMED_LEN => {
                let confirmed = bytes.len() == CONFIRMED_LEN;
                if confirmed && !bytes.ends_with(CONFIRMED) {
                    return None;
                }
                let (rest, bytes) = bytes.split_at(32 - HANDLE);
                let (token, sketch) = bytes.split_at(TOKEN);
                Some(Record::Original {
                    rest: rest.try_into().expect("the rest of an id"),
                    token: token.try_into().expect("a token"),
                    sketch: compact(&sketch[..HASHES]),
                    confirmed,
                })
            }
            DUPLICATE_LEN => {
                let mut of = [0u8; 32];
                of.copy_from_slice(&bytes[..32]);
                Some(Record::Duplicate { of, sketch: compact(&bytes[32..]) })
            }
            1 if bytes == TOMBSTONE => Some(Record::Tombstone),
            _ => None,
        }
    }

    /// The final record of an article published by the input message `token`.
    pub fn original(id: &[u8; 32], token: &[u8; TOKEN], sketch: &Compact) -> Vec<u8> {
        [&id[HANDLE..], token, sketch.as_bytes()].concat()
    }

    pub fn duplicate(of: &[u8; 32], sketch: &Compact) -> Vec<u8> {
        [&of[..], sketch.as_bytes()].concat()
    }
}

/// What the first round said about the article's own record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Own {
    /// The claim is ours.
    Claimed,
    /// Recorded as an original by this very input message, in a delivery whose publish is
    /// unknown (the record is written before it): publish it again (same `message_id`).
    Recorded,
    /// Recorded by this very input message, and its event confirmed: nothing left to do.
    Published,
    /// Another worker holds it for this long.
    Pending { left_ms: u64 },
    /// Decided before: the id of the article it repeats (its own for an original).
    Decided { original: String },
}

/// Reads the claim script's answer: the record that decided the article (empty when the claim
/// is ours), for the input message `token`, and the server's time.
pub fn own(id: &[u8; 32], token: &[u8; TOKEN], found: &[u8], now_ms: u64) -> Own {
    match Record::decode(found) {
        Some(Record::Pending { deadline_ms, .. }) => Own::Pending { left_ms: deadline_ms.saturating_sub(now_ms) },
        Some(Record::Original { rest, token: by, confirmed, .. }) if rest[..] == id[HANDLE..] && &by == token => {
            if confirmed {
                Own::Published
            } else {
                Own::Recorded
            }
        }
        Some(Record::Original { rest, .. }) if rest[..] == id[HANDLE..] => Own::Decided { original: hex(id) },
        Some(Record::Duplicate { of, .. }) => Own::Decided { original: hex(&of) },
        // Ours, or another article with the same handle (one in 2^64 pairs): treated as new.
        _ => Own::Claimed,
    }
}

/// The handles named in the bands' answers, other than the article's own, each once, in order.
pub fn candidates(own: &[u8; HANDLE], bands: &[Vec<u8>]) -> Vec<[u8; HANDLE]> {
    let mut out: Vec<[u8; HANDLE]> = Vec::new();
    for entry in bands {
        for chunk in entry.chunks_exact(HANDLE) {
            let mut h = [0u8; HANDLE];
            h.copy_from_slice(chunk);
            if &h != own && !out.contains(&h) {
                out.push(h);
            }
        }
    }
    out
}

/// The decision once the candidates' records are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// New: publish the article event, then record it as an original.
    Publish,
    /// A copy of this article (exact when it is the article's own id): publish a duplicate event.
    Duplicate { original: String, near: bool },
    /// Another worker is deciding this article or a near copy of it: look again after this long.
    Wait { ms: u64 },
    /// This very message published the article before (a redelivery): nothing to do.
    Published,
}

/// Decides an article that we claimed, given its candidates' records (`None`: not there).
pub fn decide_near(sketch: &Compact, records: &[([u8; HANDLE], Option<Vec<u8>>)], now_ms: u64, waits: u32) -> Decision {
    // The best match so far: its similarity and its original's id, spelled out only at the end.
    let mut best: Option<(f64, [u8; 32])> = None;
    let mut wait: Option<u64> = None;
    for (handle, found) in records {
        let record = match found {
            None if waits < MISSING_WAITS => {
                wait = Some(wait.unwrap_or(0).max(1000));
                continue;
            }
            None => continue,
            Some(bytes) => Record::decode(bytes),
        };
        let (similarity, original) = match record {
            Some(Record::Original { rest, sketch: other, .. }) => {
                let mut id = [0u8; 32];
                id[..HANDLE].copy_from_slice(handle);
                id[HANDLE..].copy_from_slice(&rest);
                (sketch.similarity(&other), id)
            }
            Some(Record::Duplicate { of, sketch: other }) => (sketch.similarity(&other), of),
            Some(Record::Pending { deadline_ms, sketch: other, .. }) => {
                if deadline_ms > now_ms && sketch.is_near_duplicate_of(&other) {
                    wait = Some(wait.unwrap_or(0).max(deadline_ms - now_ms));
                }
                continue;
            }
            Some(Record::Tombstone) | None => continue,
        };
        if similarity >= shared::neardup::THRESHOLD && best.as_ref().is_none_or(|(s, _)| similarity > *s) {
            best = Some((similarity, original));
        }
    }
    match (best, wait) {
        (Some((_, original)), _) => Decision::Duplicate { original: hex(&original), near: true },
        (None, Some(left)) => Decision::Wait { ms: look_again_ms(waits, left) },
        (None, None) => Decision::Publish,
    }
}

/// The routing key on `P.articles`: `<kind>.<language>.<site>` (see [`ArticleEvent::routing_key`]).
///
/// [`ArticleEvent::routing_key`]: shared::message::ArticleEvent::routing_key
pub fn routing_key(kind: &str, language: Option<&str>, site: Option<&str>) -> String {
    let language = language.filter(|l| !l.is_empty()).unwrap_or("und");
    format!("{kind}.{language}.{}", site_key(site))
}

/// The event's AMQP properties: `message_id` = id, `type`, `timestamp`, the CloudEvents
/// attributes as `cloudEvents_` headers (the trace context is added by the publish itself).
pub fn properties(id: &str, time: &str, source: &str, now_unix: u64) -> BasicProperties {
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    let mut headers = FieldTable::default();
    headers.insert("cloudEvents_specversion".into(), text("1.0"));
    headers.insert("cloudEvents_id".into(), text(id));
    headers.insert("cloudEvents_source".into(), text(source));
    headers.insert("cloudEvents_type".into(), text(SCHEMA));
    headers.insert("cloudEvents_time".into(), text(time));
    json_properties().with_message_id(id.into()).with_type(SCHEMA.into()).with_timestamp(now_unix).with_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::neardup::Sketch;

    const ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    fn sketch(text: &str) -> Compact {
        Sketch::of(text).compact()
    }

    fn handle(id: &str) -> [u8; HANDLE] {
        id_bytes(id).unwrap()[..HANDLE].try_into().unwrap()
    }

    const STORY: &str = "The harbour ferry will run every twenty minutes from Monday, the council said, \
        after a year of complaints about crowded boats and missed connections at the north pier.";

    #[test]
    fn records_round_trip_by_length() {
        let id = id_bytes(ID).unwrap();
        let s = sketch(STORY);
        assert_eq!(
            Record::decode(&Record::original(&id, b"tokn", &s)),
            Some(Record::Original { rest: id[8..].try_into().unwrap(), token: *b"tokn", sketch: s, confirmed: false })
        );
        let confirmed = [Record::original(&id, b"tokn", &s), CONFIRMED.to_vec()].concat();
        assert_eq!(
            Record::decode(&confirmed),
            Some(Record::Original { rest: id[8..].try_into().unwrap(), token: *b"tokn", sketch: s, confirmed: true })
        );
        assert_eq!(Record::decode(&Record::duplicate(&id, &s)), Some(Record::Duplicate { of: id, sketch: s }));
        let pending = [b"1790000000000".as_slice(), b"tokn", s.as_bytes()].concat();
        assert_eq!(
            Record::decode(&pending),
            Some(Record::Pending { deadline_ms: 1_790_000_000_000, token: *b"tokn", sketch: s })
        );
        assert_eq!(Record::decode(TOMBSTONE), Some(Record::Tombstone));
        assert_eq!(Record::decode(b"garbage"), None);
        // Every stored value stays within a listpack's 64-byte entries.
        const { assert!(PENDING_LEN <= 64 && CONFIRMED_LEN < DUPLICATE_LEN && DUPLICATE_LEN <= 64) };
    }

    #[test]
    fn the_own_record_decides_exact_copies() {
        let id = id_bytes(ID).unwrap();
        let s = sketch(STORY);
        let mine = b"mine";
        assert_eq!(own(&id, mine, b"", 0), Own::Claimed);
        // Published by another message: an exact copy. By this one: published again.
        assert_eq!(own(&id, mine, &Record::original(&id, b"tokn", &s), 0), Own::Decided { original: ID.into() });
        assert_eq!(own(&id, mine, &Record::original(&id, mine, &s), 0), Own::Recorded);
        let confirmed = [Record::original(&id, mine, &s), CONFIRMED.to_vec()].concat();
        assert_eq!(own(&id, mine, &confirmed, 0), Own::Published);
        let theirs = [Record::original(&id, b"tokn", &s), CONFIRMED.to_vec()].concat();
        assert_eq!(own(&id, mine, &theirs, 0), Own::Decided { original: ID.into() });
        let other = id_bytes(OTHER).unwrap();
        assert_eq!(own(&id, mine, &Record::duplicate(&other, &s), 0), Own::Decided { original: OTHER.into() });
        let pending = [b"0000000005000".as_slice(), b"tokn", s.as_bytes()].concat();
        assert_eq!(own(&id, mine, &pending, 4000), Own::Pending { left_ms: 1000 });
        // Same handle, another article: not a repeat.
        let mut twin = id;
        twin[31] ^= 1;
        assert_eq!(own(&id, mine, &Record::original(&twin, mine, &s), 0), Own::Claimed);
    }

    #[test]
    fn candidates_skip_our_own_handle_and_repeats() {
        let (a, b) = (handle(ID), handle(OTHER));
        let bands = vec![[a, b].concat(), b.to_vec(), vec![], a.to_vec()];
        assert_eq!(candidates(&a, &bands), vec![b]);
    }

    #[test]
    fn near_records_decide_the_article() {
        let copy = sketch(&format!("{STORY} Read more at Example News."));
        let unrelated =
            sketch("Shares fell sharply in early trading on Wednesday as investors weighed new data on inflation.");
        let (h, other) = (handle(OTHER), id_bytes(OTHER).unwrap());
        let original = Record::original(&other, b"tokn", &sketch(STORY));
        assert_eq!(
            decide_near(&copy, &[(h, Some(original.clone()))], 0, 0),
            Decision::Duplicate { original: OTHER.into(), near: true }
        );
        assert_eq!(decide_near(&unrelated, &[(h, Some(original))], 0, 0), Decision::Publish);
        // A duplicate's record points at its original.
        let first = id_bytes(ID).unwrap();
        let dup = Record::duplicate(&first, &sketch(STORY));
        assert_eq!(
            decide_near(&copy, &[(h, Some(dup))], 0, 0),
            Decision::Duplicate { original: ID.into(), near: true }
        );
        // A near copy being published elsewhere: wait for it; an expired claim is ignored.
        let pending = [b"0000000005000".as_slice(), b"tokn", sketch(STORY).as_bytes()].concat();
        assert_eq!(decide_near(&copy, &[(h, Some(pending.clone()))], 4500, 0), Decision::Wait { ms: 100 });
        assert_eq!(decide_near(&copy, &[(h, Some(pending.clone()))], 4500, 3), Decision::Wait { ms: 550 });
        assert_eq!(decide_near(&copy, &[(h, Some(pending))], 6000, 0), Decision::Publish);
        // A record not there yet: wait a few times, then ignore it.
        assert_eq!(decide_near(&copy, &[(h, None)], 0, 1), Decision::Wait { ms: 200 });
        assert_eq!(decide_near(&copy, &[(h, None)], 0, MISSING_WAITS), Decision::Publish);
        assert_eq!(decide_near(&copy, &[(h, Some(TOMBSTONE.to_vec()))], 0, 0), Decision::Publish);
    }

    #[test]
    fn keys_share_a_slot_across_epochs_and_expire_after_the_next() {
        let layout = Layout::new("p", 100, 6400);
        assert_eq!((layout.record_shards, layout.band_shards), (100, 800));
        let [now, before] = layout.record_keys(&handle(ID), 7);
        assert!(now.ends_with(":7") && before.ends_with(":6"));
        assert_eq!(now.split(':').nth(3), before.split(':').nth(3), "one hash tag");
        assert!(now.starts_with("p:dedup:r:{r"));
        let ([b, _], field) = layout.band_keys(0x0102_0304_0506_0708, 7);
        assert!(b.starts_with("p:dedup:b:{b"));
        assert_eq!(field, [1, 2, 3, 4, 5, 6]);
        assert_eq!(layout.epoch(750), 7);
        assert_eq!(layout.expire_at(7), 900);
    }

    #[test]
    fn waits_grow_and_end_with_the_claim() {
        assert_eq!(look_again_ms(0, 30_000), 100);
        assert_eq!(look_again_ms(2, 30_000), 400);
        assert_eq!(look_again_ms(9, 30_000), 1000);
        assert_eq!(look_again_ms(9, 10), 60);
    }

    #[test]
    fn routing_keys_follow_the_contract() {
        assert_eq!(
            routing_key("article", Some("zh"), Some("www.finance.sina.com.cn")),
            "article.zh.finance_sina_com_cn"
        );
        assert_eq!(routing_key("duplicate", None, None), "duplicate.und.unknown");
    }

    #[test]
    fn input_tokens_follow_the_whole_body() {
        let body = br#"{"id":"ab","text":"The harbour ferry","processed_at":"2026-11-28T06:00:00.123Z"}"#;
        let copy = body.to_vec();
        assert_eq!(input_token(body), input_token(copy.as_slice()));
        let mut later = body.to_vec();
        let at = later.len() - 4;
        later[at] = b'4';
        assert_ne!(input_token(body), input_token(&later));
        assert_ne!(input_token(b""), input_token(b"\0"));
        assert_ne!(input_token(&body[..body.len() - 1]), input_token(body));
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_id(&"a1".repeat(32)));
        assert!(!valid_id("A1"));
        assert!(!valid_id(&"g".repeat(64)));
        assert_eq!(id_bytes(ID).map(|b| hex(&b)), Some(ID.to_owned()));
    }
}
