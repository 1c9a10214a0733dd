//! The dedup store in Redis: the I/O of the rules in [`crate::stage`]. Every script touches the
//! keys of one hash slot (one shard, two epochs), so it runs on one Redis and on a Redis Cluster.

use std::sync::LazyLock;
use std::time::Duration;

use shared::neardup::{Compact, Sketch};
use shared::redis::{Redis, RedisResult, Script};

use crate::stage::{self, Decision, HANDLE, Layout, Own, Record, TOKEN};

/// Claims an article's record unless it is decided or claimed by a live worker. Returns the
/// server's time (13 digits) followed by the record that decided it (nothing when the claim is
/// now ours). KEYS: this epoch's record key, the previous one's. ARGV: handle, compact sketch,
/// token, claim TTL (ms), expiry of this epoch's key (unix s).
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function decides(v)
  if not v then return nil end
  if #v == {pending} then
    if tonumber(string.sub(v, 1, {digits})) > now then return v end
    return nil
  end
  if #v == {original} or #v == {duplicate} then return v end
  return nil
end
local found = decides(redis.call('HGET', KEYS[1], ARGV[1])) or decides(redis.call('HGET', KEYS[2], ARGV[1]))
if not found then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%0{digits}d', now + tonumber(ARGV[4])) .. ARGV[3] .. ARGV[2])
  redis.call('EXPIREAT', KEYS[1], ARGV[5], 'NX')
  found = ''
end
return string.format('%0{digits}d', now) .. found",
        pending = stage::PENDING_LEN,
        original = stage::ORIGINAL_LEN,
        duplicate = stage::DUPLICATE_LEN,
        digits = stage::DEADLINE_DIGITS,
    ))
});

/// Adds a handle to a band entry (unless there or full) and returns the handles that were there,
/// in both epochs. KEYS: this epoch's band key, the previous one's. ARGV: field, handle, expiry.
static BAND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local before = redis.call('HGET', KEYS[2], ARGV[1]) or ''
local now = redis.call('HGET', KEYS[1], ARGV[1]) or ''
for i = 1, #now, {handle} do
  if string.sub(now, i, i + {handle} - 1) == ARGV[2] then return before .. now end
end
if #now < {handle} * {most} then
  redis.call('HSET', KEYS[1], ARGV[1], now .. ARGV[2])
  redis.call('EXPIREAT', KEYS[1], ARGV[3], 'NX')
end
return before .. now",
        handle = HANDLE,
        most = stage::BAND_HANDLES,
    ))
});

/// A record, from this epoch or the previous one ('' when neither has it). KEYS: both record
/// keys. ARGV: handle.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new("return redis.call('HGET', KEYS[1], ARGV[1]) or redis.call('HGET', KEYS[2], ARGV[1]) or ''")
});

/// Writes an article's final record. KEYS: record key. ARGV: handle, record, expiry.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new("redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) redis.call('EXPIREAT', KEYS[1], ARGV[3], 'NX') return 1")
});

/// Replaces our pending claim by a tombstone (so that nobody waits for it). KEYS: record key.
/// ARGV: handle, token.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and #v == {pending} and string.sub(v, {from}, {to}) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], '{tombstone}')
  return 1
end
return 0",
        pending = stage::PENDING_LEN,
        from = stage::DEADLINE_DIGITS + 1,
        to = stage::DEADLINE_DIGITS + TOKEN,
        tombstone = std::str::from_utf8(stage::TOMBSTONE).expect("ASCII"),
    ))
});

/// Our claim on an article's record, to complete or release.
#[derive(Debug, Clone)]
pub struct Claim {
    key: String,
    handle: [u8; HANDLE],
    token: [u8; TOKEN],
    expire_at: u64,
}

/// The store's answer for one article.
#[derive(Debug)]
pub struct Check {
    pub decision: Decision,
    /// Held when the decision is ours to carry out (publish or near duplicate).
    pub claim: Option<Claim>,
    /// Round trips to Redis the decision took (1 or 2).
    pub rounds: u32,
}

#[derive(Clone)]
pub struct Store {
    pub redis: Redis,
    pub layout: Layout,
    pub pending_ttl: Duration,
}

impl Store {
    /// Decides an article: new, a copy (exact or near) of an earlier one, or to be looked at again
    /// while another worker decides it or a near copy.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached or answers nonsense: the article is retried.
    pub async fn check(&self, id: &[u8; 32], sketch: &Sketch, waits: u32) -> RedisResult<Check> {
        let handle: [u8; HANDLE] = id[..HANDLE].try_into().expect("HANDLE bytes");
        let compact = sketch.compact();
        let epoch = self.layout.epoch(chrono::Utc::now().timestamp().max(0) as u64);
        let expire_at = self.layout.expire_at(epoch);
        let token: [u8; TOKEN] = std::array::from_fn(|_| fastrand::u8(..));
        let [record_key, record_before] = self.layout.record_keys(&handle, epoch);

        // Round 1: the claim and the eight bands, at once.
        let mut round = Vec::with_capacity(1 + shared::neardup::BANDS);
        let mut claim = CLAIM.prepare_invoke();
        claim
            .key(&record_key)
            .key(&record_before)
            .arg(&handle[..])
            .arg(compact.as_bytes())
            .arg(&token[..])
            .arg(self.pending_ttl.as_millis() as u64)
            .arg(expire_at);
        round.push(claim);
        for band in sketch.bands() {
            let ([now, before], field) = self.layout.band_keys(band, epoch);
            let mut invocation = BAND.prepare_invoke();
            invocation.key(now).key(before).arg(&field[..]).arg(&handle[..]).arg(expire_at);
            round.push(invocation);
        }
        let answers: Vec<Vec<u8>> = self.redis.invoke_round(&round).await?;
        let (first, bands) = answers.split_first().expect("one answer per script");
        let digits = stage::DEADLINE_DIGITS;
        let now_ms = first
            .get(..digits)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| shared::redis::protocol_error("the claim script answered without the time"))?;
        let ours = Claim { key: record_key, handle, token, expire_at };
        match stage::own(id, &first[digits..], now_ms) {
            Own::Decided { original } => {
                return Ok(Check { decision: Decision::Duplicate { original, near: false }, claim: None, rounds: 1 });
            }
            Own::Pending { left_ms } => {
                let ms = stage::look_again_ms(waits, left_ms);
                return Ok(Check { decision: Decision::Wait { ms }, claim: None, rounds: 1 });
            }
            Own::Claimed => {}
        }
        let candidates = stage::candidates(&handle, bands);
        if candidates.is_empty() {
            return Ok(Check { decision: Decision::Publish, claim: Some(ours), rounds: 1 });
        }

        // Round 2: the candidates' records, at once.
        let round: Vec<_> = candidates
            .iter()
            .map(|h| {
                let [now, before] = self.layout.record_keys(h, epoch);
                let mut invocation = READ.prepare_invoke();
                invocation.key(now).key(before).arg(&h[..]);
                invocation
            })
            .collect();
        let records: Vec<Vec<u8>> = self.redis.invoke_round(&round).await?;
        let records: Vec<_> =
            candidates.into_iter().zip(records).map(|(h, r)| (h, (!r.is_empty()).then_some(r))).collect();
        match stage::decide_near(&compact, &records, now_ms, waits) {
            Decision::Wait { ms } => {
                // Out of the way of the article we wait for (it may be waiting for us).
                let store = self.clone();
                tokio::spawn(async move { store.release(&ours).await });
                Ok(Check { decision: Decision::Wait { ms: ms + fastrand::u64(0..=ms / 2) }, claim: None, rounds: 2 })
            }
            decision => Ok(Check { decision, claim: Some(ours), rounds: 2 }),
        }
    }

    /// Records the article as decided, once its event is out: an original, or a duplicate of
    /// `original`.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn complete(
        &self,
        claim: &Claim,
        id: &[u8; 32],
        original: Option<&[u8; 32]>,
        sketch: &Compact,
    ) -> RedisResult<()> {
        let record = match original {
            None => Record::original(id, sketch),
            Some(of) => Record::duplicate(of, sketch),
        };
        let mut invocation = COMPLETE.prepare_invoke();
        invocation.key(&claim.key).arg(&claim.handle[..]).arg(record).arg(claim.expire_at);
        self.redis.invoke::<i64>(&invocation).await.map(|_| ())
    }

    /// Gives up our claim (the event could not be published), so that neither a retry nor a near
    /// copy waits for it.
    pub async fn release(&self, claim: &Claim) {
        let mut invocation = RELEASE.prepare_invoke();
        invocation.key(&claim.key).arg(&claim.handle[..]).arg(&claim.token[..]);
        let _ = self.redis.invoke::<i64>(&invocation).await;
    }
}
