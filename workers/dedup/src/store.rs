//! The dedup store in Redis: the I/O of the rules in [`crate::stage`]. On one Redis each round is
//! one script call; on a Redis Cluster it is split into one call per hash slot (one shard, two
//! epochs), all sent at once.

use std::sync::LazyLock;
use std::time::Duration;

use shared::neardup::{Compact, Sketch};
use shared::redis::{Redis, RedisResult, Script};
use tokio::sync::{mpsc, oneshot};

use crate::stage::{self, Decision, HANDLE, Layout, Own, Record, TOKEN};

/// The first round, for any part of it: claims an article's record unless it is decided or
/// claimed by a live worker for another input message (a claim with our token is ours: this
/// message's earlier delivery died holding it), and adds its handle to band entries (unless
/// there or full). When the claim and all the bands are in the call (one Redis) and no band names
/// another article, the article is new: its final record is written at once, instead of a
/// pending claim to be completed by another call.
///
/// KEYS: when ARGV[1] is not `0`, this epoch's and the previous epoch's record keys; then, per
/// band, this epoch's and the previous epoch's band keys. ARGV: the flag (`0`: bands only; `1`:
/// claim; `2`: claim, and write the final record when no band names another article), the
/// handle, the compact sketch, a token, the claim's TTL (ms), the expiry of this epoch's keys
/// (unix s), the final record, then one field per band. Returns, in order: for the claim, the
/// server's time (13 digits) followed by the record that decided the article (nothing when the
/// claim is now ours), then `1` when the final record was written (else nothing); per band, the
/// handles that were there, in both epochs.
///
/// On one Redis the whole round is one call; on a cluster, one call per slot (the claim alone,
/// each band alone).
static FIRST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local out = {{}}
local k = 1
local claim = false
local now = 0
if ARGV[1] ~= '0' then
  local t = redis.call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
  local function decides(v)
    if not v then return nil end
    if #v == {pending} then
      if string.sub(v, {digits} + 1, {digits} + {token}) == ARGV[4] then return nil end
      if tonumber(string.sub(v, 1, {digits})) > now then return v end
      return nil
    end
    if #v == {original} or #v == {confirmed} or #v == {duplicate} then return v end
    return nil
  end
  local found = decides(redis.call('HGET', KEYS[1], ARGV[2])) or decides(redis.call('HGET', KEYS[2], ARGV[2]))
  claim = not found
  out[1] = string.format('%0{digits}d', now) .. (found or '')
  out[2] = ''
  k = 3
end
local f = 8
local others = false
while k < #KEYS do
  local before = redis.call('HGET', KEYS[k + 1], ARGV[f]) or ''
  local current = ''
  -- The common case, a band value nobody had: one write, and the expiry only for a new key.
  if redis.call('HSETNX', KEYS[k], ARGV[f], ARGV[2]) == 1 then
    if redis.call('HLEN', KEYS[k]) == 1 then redis.call('EXPIREAT', KEYS[k], ARGV[6]) end
  else
    current = redis.call('HGET', KEYS[k], ARGV[f])
    local present = false
    for i = 1, #current, {handle} do
      if string.sub(current, i, i + {handle} - 1) == ARGV[2] then present = true end
    end
    if not present and #current < {handle} * {most} then
      redis.call('HSET', KEYS[k], ARGV[f], current .. ARGV[2])
    end
  end
  local seen = before .. current
  for i = 1, #seen, {handle} do
    if string.sub(seen, i, i + {handle} - 1) ~= ARGV[2] then others = true end
  end
  out[#out + 1] = seen
  k = k + 2
  f = f + 1
end
if claim then
  if ARGV[1] == '2' and not others then
    redis.call('HSET', KEYS[1], ARGV[2], ARGV[7])
    out[2] = '1'
  else
    redis.call('HSET', KEYS[1], ARGV[2], string.format('%0{digits}d', now + tonumber(ARGV[5])) .. ARGV[4] .. ARGV[3])
  end
  redis.call('EXPIREAT', KEYS[1], ARGV[6], 'NX')
end
return out",
        pending = stage::PENDING_LEN,
        original = stage::ORIGINAL_LEN,
        confirmed = stage::CONFIRMED_LEN,
        duplicate = stage::DUPLICATE_LEN,
        digits = stage::DEADLINE_DIGITS,
        handle = HANDLE,
        token = TOKEN,
        most = stage::BAND_HANDLES,
    ))
});

/// Records, each from this epoch or the previous one ('' when neither has it). KEYS: per
/// record, both record keys. ARGV: the handles. Returns one answer per handle.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for i = 1, #ARGV do
  out[i] = redis.call('HGET', KEYS[2 * i - 1], ARGV[i]) or redis.call('HGET', KEYS[2 * i], ARGV[i]) or ''
end
return out",
    )
});

/// Writes an article's final record over our pending claim, and only over it: a claim released
/// or taken over meanwhile (by another copy of the article) is not ours to overwrite, and then
/// nothing is written (answer 0). KEYS: record key. ARGV: handle, record, expiry, token.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or #v ~= {pending} or string.sub(v, {from}, {to}) ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3], 'NX')
return 1",
        pending = stage::PENDING_LEN,
        from = stage::DEADLINE_DIGITS + 1,
        to = stage::DEADLINE_DIGITS + TOKEN,
    ))
});

/// Marks originals as confirmed, each if the input message named by its token recorded it. KEYS:
/// per article, the record keys of this epoch and the previous one. ARGV: per article, its handle
/// and token.
static CONFIRM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
for m = 1, #ARGV / 2 do
  local handle, token = ARGV[2 * m - 1], ARGV[2 * m]
  for i = 2 * m - 1, 2 * m do
    local v = redis.call('HGET', KEYS[i], handle)
    if v and #v == {original} and string.sub(v, {from}, {to}) == token then
      redis.call('HSET', KEYS[i], handle, v .. '{mark}')
      break
    end
  end
end
return 1",
        original = stage::ORIGINAL_LEN,
        from = 32 - HANDLE + 1,
        to = 32 - HANDLE + TOKEN,
        mark = std::str::from_utf8(stage::CONFIRMED).expect("ASCII"),
    ))
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

/// Writes the confirmed marks of many articles at once ([`Store::confirm`]): each call takes every
/// mark that queued up while the previous one ran, so a busy worker makes one call for a burst of
/// confirms instead of one per article. Cheap to clone; its task ends with the last clone.
#[derive(Clone)]
pub struct Marker {
    queue: mpsc::UnboundedSender<Mark>,
}

type Mark = ([u8; 32], [u8; TOKEN], oneshot::Sender<RedisResult<()>>);

/// Most marks in one call.
const MOST_MARKS: usize = 256;

impl Marker {
    pub fn start(store: Store) -> Marker {
        let (queue, mut marks) = mpsc::unbounded_channel::<Mark>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MOST_MARKS);
            while marks.recv_many(&mut batch, MOST_MARKS).await > 0 {
                let articles: Vec<_> = batch.iter().map(|(id, token, _)| (*id, *token)).collect();
                let written = store.confirm(&articles).await;
                for (_, _, reply) in batch.drain(..) {
                    let _ = reply.send(written.clone());
                }
            }
        });
        Marker { queue }
    }

    /// Marks one article confirmed ([`Store::confirm`]), with whatever else is waiting.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn mark(&self, id: &[u8; 32], token: [u8; TOKEN]) -> RedisResult<()> {
        let stopped = || shared::redis::protocol_error("the confirmed marks' writer has stopped");
        let (reply, written) = oneshot::channel();
        self.queue.send((*id, token, reply)).map_err(|_| stopped())?;
        written.await.unwrap_or_else(|_| Err(stopped()))
    }
}

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
    /// Held when the decision is ours to carry out (publish or near duplicate) and its record is
    /// still to be written ([`Store::complete`]); `None` for a new article on one Redis, whose
    /// final record the first round wrote.
    pub claim: Option<Claim>,
    /// Round trips to Redis the decision took (1 or 2).
    pub rounds: u32,
    /// This very input message recorded the article before, and its event is not marked
    /// confirmed: the event is published again (a possible repeat, same `message_id`).
    pub again: bool,
}

#[derive(Clone)]
pub struct Store {
    pub redis: Redis,
    pub layout: Layout,
    pub pending_ttl: Duration,
}

impl Store {
    /// Decides an article brought by the input message `token` ([`stage::input_token`]): new, a
    /// copy (exact or near) of an earlier one, or to be looked at again while another worker
    /// decides it or a near copy.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached or answers nonsense: the article is retried.
    pub async fn check(&self, id: &[u8; 32], token: [u8; TOKEN], sketch: &Sketch, waits: u32) -> RedisResult<Check> {
        let handle: [u8; HANDLE] = id[..HANDLE].try_into().expect("HANDLE bytes");
        let compact = sketch.compact();
        let epoch = self.layout.epoch(chrono::Utc::now().timestamp().max(0) as u64);
        let expire_at = self.layout.expire_at(epoch);
        let [record_key, record_before] = self.layout.record_keys(&handle, epoch);

        // Round 1: the claim and the eight bands, at once.
        let bands: Vec<([String; 2], [u8; stage::BAND_FIELD])> =
            sketch.bands().iter().map(|b| self.layout.band_keys(*b, epoch)).collect();
        let record = Record::original(id, &token, &compact);
        let first_call = |flag: &str, bands: &[([String; 2], [u8; stage::BAND_FIELD])]| {
            let mut invocation = FIRST.prepare_invoke();
            invocation.arg(flag).arg(&handle[..]).arg(compact.as_bytes()).arg(&token[..]);
            invocation.arg(self.pending_ttl.as_millis() as u64).arg(expire_at).arg(&record[..]);
            if flag != "0" {
                invocation.key(&record_key).key(&record_before);
            }
            for ([now, before], field) in bands {
                invocation.key(now).key(before).arg(&field[..]);
            }
            invocation
        };
        let round = if self.redis.is_cluster() {
            std::iter::once(first_call("1", &[])).chain(bands.chunks(1).map(|b| first_call("0", b))).collect()
        } else {
            vec![first_call("2", &bands)]
        };
        let answers: Vec<Vec<u8>> =
            self.redis.invoke_round::<Vec<Vec<u8>>>(&round).await?.into_iter().flatten().collect();
        if answers.len() != 2 + bands.len() {
            return Err(shared::redis::protocol_error("the first round's answers do not match its questions"));
        }
        let (first, rest) = answers.split_first().expect("the claim's answer");
        let (recorded, bands) = rest.split_first().expect("the claim's second answer");
        let digits = stage::DEADLINE_DIGITS;
        let now_ms = first
            .get(..digits)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| shared::redis::protocol_error("the claim script answered without the time"))?;
        let ours = Claim { key: record_key, handle, token, expire_at };
        match stage::own(id, &token, &first[digits..], now_ms) {
            Own::Recorded => return Ok(Check { decision: Decision::Publish, claim: None, rounds: 1, again: true }),
            Own::Published => return Ok(Check { decision: Decision::Published, claim: None, rounds: 1, again: false }),
            Own::Decided { original } => {
                return Ok(Check {
                    decision: Decision::Duplicate { original, near: false },
                    claim: None,
                    rounds: 1,
                    again: false,
                });
            }
            Own::Pending { left_ms } => {
                let ms = stage::look_again_ms(waits, left_ms);
                return Ok(Check { decision: Decision::Wait { ms }, claim: None, rounds: 1, again: false });
            }
            Own::Claimed => {}
        }
        let candidates = stage::candidates(&handle, bands);
        if candidates.is_empty() {
            // New; on one Redis its final record is written already.
            let claim = (recorded.as_slice() != b"1").then_some(ours);
            return Ok(Check { decision: Decision::Publish, claim, rounds: 1, again: false });
        }

        // Round 2: the candidates' records, at once.
        let read_call = |handles: &[[u8; HANDLE]]| {
            let mut invocation = READ.prepare_invoke();
            for h in handles {
                let [now, before] = self.layout.record_keys(h, epoch);
                invocation.key(now).key(before).arg(&h[..]);
            }
            invocation
        };
        let round = if self.redis.is_cluster() {
            candidates.chunks(1).map(read_call).collect()
        } else {
            vec![read_call(&candidates)]
        };
        let records: Vec<Vec<u8>> =
            self.redis.invoke_round::<Vec<Vec<u8>>>(&round).await?.into_iter().flatten().collect();
        if records.len() != candidates.len() {
            return Err(shared::redis::protocol_error("the second round's answers do not match its questions"));
        }
        let records: Vec<_> =
            candidates.into_iter().zip(records).map(|(h, r)| (h, (!r.is_empty()).then_some(r))).collect();
        match stage::decide_near(&compact, &records, now_ms, waits) {
            Decision::Wait { ms } => {
                // Out of the way of the article we wait for (it may be waiting for us).
                let store = self.clone();
                tokio::spawn(async move { store.release(&ours).await });
                Ok(Check {
                    decision: Decision::Wait { ms: ms + fastrand::u64(0..=ms / 2) },
                    claim: None,
                    rounds: 2,
                    again: false,
                })
            }
            decision => Ok(Check { decision, claim: Some(ours), rounds: 2, again: false }),
        }
    }

    /// Records the article as `decision` decided it, before its event is published: an original
    /// (with the claim's token, so that a redelivery of the same message publishes it again), or
    /// a duplicate of the original the decision names. `false` when the claim is no longer ours
    /// (released, or taken by another copy): nothing was written, and the event must not be
    /// published; a later look finds whoever holds the article now.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn complete(
        &self,
        claim: &Claim,
        id: &[u8; 32],
        decision: &Decision,
        sketch: &Compact,
    ) -> RedisResult<bool> {
        let record = match decision {
            Decision::Duplicate { original, .. } => match stage::id_bytes(original) {
                Some(of) => Record::duplicate(&of, sketch),
                None => return Err(shared::redis::protocol_error("a duplicate's original is not an article id")),
            },
            _ => Record::original(id, &claim.token, sketch),
        };
        let mut invocation = COMPLETE.prepare_invoke();
        invocation.key(&claim.key).arg(&claim.handle[..]).arg(record).arg(claim.expire_at).arg(&claim.token[..]);
        self.redis.invoke::<i64>(&invocation).await.map(|written| written == 1)
    }

    /// Notes that the events of these articles, each published by the input message its token
    /// names, were confirmed: a redelivery of that message then publishes nothing. One call on
    /// one Redis; on a cluster one per article, all sent at once.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn confirm(&self, articles: &[([u8; 32], [u8; TOKEN])]) -> RedisResult<()> {
        let epoch = self.layout.epoch(chrono::Utc::now().timestamp().max(0) as u64);
        let call = |articles: &[([u8; 32], [u8; TOKEN])]| {
            let mut invocation = CONFIRM.prepare_invoke();
            for (id, token) in articles {
                let handle: [u8; HANDLE] = id[..HANDLE].try_into().expect("HANDLE bytes");
                let [now, before] = self.layout.record_keys(&handle, epoch);
                invocation.key(now).key(before).arg(&handle[..]).arg(&token[..]);
            }
            invocation
        };
        let round: Vec<_> =
            if self.redis.is_cluster() { articles.chunks(1).map(call).collect() } else { vec![call(articles)] };
        self.redis.invoke_round::<i64>(&round).await.map(|_| ())
    }

    /// Gives up our claim (the event could not be published), so that neither a retry nor a near
    /// copy waits for it.
    pub async fn release(&self, claim: &Claim) {
        let mut invocation = RELEASE.prepare_invoke();
        invocation.key(&claim.key).arg(&claim.handle[..]).arg(&claim.token[..]);
        let _ = self.redis.invoke::<i64>(&invocation).await;
    }
}
