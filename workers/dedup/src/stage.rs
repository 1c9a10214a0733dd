//! The dedup stage's pure rules: the key an article is remembered by, what a claim's answer
//! means, and the event's AMQP properties (CloudEvents binary mode).

use shared::amqp::{AMQPValue, BasicProperties, FieldTable, LongString, json_properties};
use shared::message::{SCHEMA, site_key};
use shared::redis::Claim;

/// What to do with an article, given what its claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// New: publish the article event, then mark the key done.
    Publish,
    /// Seen before: publish a duplicate event.
    Duplicate,
    /// Another worker is publishing it now: look again when its claim expires.
    Wait,
}

pub fn decide(claim: &Claim) -> Decision {
    match claim {
        Claim::Acquired => Decision::Publish,
        Claim::Done(_) => Decision::Duplicate,
        Claim::Pending(_) => Decision::Wait,
    }
}

/// The Redis key of an article's exact identity, under the prefix.
pub fn exact_key(prefix: &str, id: &str) -> String {
    format!("{prefix}:dedup:exact:{id}")
}

/// Whether an article id is what the clean stage writes: 64 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
    use std::time::Duration;

    #[test]
    fn claims_map_to_decisions() {
        assert_eq!(decide(&Claim::Acquired), Decision::Publish);
        assert_eq!(decide(&Claim::Done("done".into())), Decision::Duplicate);
        assert_eq!(decide(&Claim::Pending(Duration::from_secs(3))), Decision::Wait);
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
    fn ids_are_checked() {
        assert!(valid_id(&"a1".repeat(32)));
        assert!(!valid_id("A1"));
        assert!(!valid_id(&"g".repeat(64)));
        assert_eq!(exact_key("p", "x"), "p:dedup:exact:x");
    }
}
