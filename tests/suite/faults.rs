//! Faults during a stream, on throwaway services of the test's own: nothing accepted is lost,
//! and a repeat, when there is one, carries an existing `message_id`.

use std::time::Duration;

use crate::pipeline::bulk_job;
use crate::support::{Tally, TestEnv, ThrowawayRedis};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_stream_loses_nothing() {
    let mut redis = ThrowawayRedis::start().await;
    let url = redis.url();
    let mut env = TestEnv::new(&[("COPYDESK_REDIS_URL", url.as_str()), ("COPYDESK_MAX_ATTEMPTS", "12")]).await;
    env.start_workers();
    let n = 600;
    for i in 0..n {
        env.publish_job("clean", &bulk_job(i)).await;
    }
    let mut tally = Tally::default();
    let mut killed = false;
    while tally.jobs.len() < n {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(60)).await else { break };
        tally.add(&m);
        if !killed && tally.raw == n / 4 {
            redis.kill9();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            redis.restart().await;
            killed = true;
        }
    }
    assert!(killed);
    assert_eq!(tally.jobs.len(), n, "every job yields its event");
    assert_eq!(tally.ids.len(), n);
    let repeats = tally.repeats();
    // A decision is recorded before its event is published, and a lost one (AOF everysec) is
    // only missed by a later copy of the article (there are none here): nothing repeats.
    assert_eq!(repeats, 0, "{repeats} repeats");
    assert!(env.next_on(&env.names.dead(), Duration::from_millis(300)).await.is_none(), "nothing dead-lettered");
    eprintln!(
        "redis kill -9 mid-stream: {n} jobs, {} events, {repeats} repeats (each an existing message_id)",
        tally.raw
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_killed_and_restarted_mid_stream_loses_nothing() {
    use crate::support::ThrowawayRabbit;

    let mut rabbit = ThrowawayRabbit::start().await;
    let url = rabbit.url();
    let mut env = TestEnv::new(&[("COPYDESK_AMQP_URL", url.as_str()), ("COPYDESK_MAX_ATTEMPTS", "12")]).await;
    env.start_workers();
    let n = 400;
    for i in 0..n {
        env.publish_job("clean", &bulk_job(i)).await;
    }
    // A quorum queue killed within seconds of its declaration can stay leaderless on 3.10
    // (TESTING.md): let the fresh topology settle first.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let mut tally = Tally::default();
    let mut killed = false;
    while tally.jobs.len() < n {
        let m = match env.next_on_checked(Duration::from_secs(90)).await {
            Some(m) => m,
            None => break,
        };
        tally.add(&m);
        if !killed && tally.raw == n / 4 {
            rabbit.kill9();
            tokio::time::sleep(Duration::from_secs(1)).await;
            rabbit.restart().await;
            env.reconnect().await;
            killed = true;
        }
    }
    assert!(killed);
    assert_eq!(tally.jobs.len(), n, "every job yields its event after the broker's return");
    let repeats = tally.repeats();
    eprintln!("broker kill -9 mid-stream: {n} jobs, {} events, {repeats} repeats", tally.raw);
    // Events stored whose confirm the kill swallowed are published again: at most the prefetch.
    assert!(repeats <= 32, "{repeats} repeats");
    assert_eq!(tally.ids.len(), n);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_stream_lose_nothing_and_repeat_only_existing_ids() {
    use std::process::{Child, Command};

    let env = TestEnv::new(&[]).await;
    let names = ["copydesk-fetch", "copydesk-clean", "copydesk-dedup"];
    let mut children: Vec<Child> = names.iter().map(|n| env.spawn_worker(n)).collect();
    let n = 2000;
    for i in 0..n {
        env.publish_job("clean", &bulk_job(i)).await;
    }
    let mut tally = Tally::default();
    let mut kills = 0;
    while tally.jobs.len() < n {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(60)).await else { break };
        tally.add(&m);
        // SIGKILL the clean and dedup workers twice during the stream, restarting them at once.
        if kills < 2 && tally.raw == (kills + 1) * n / 4 {
            for i in [1, 2] {
                let _ = children[i].kill();
                let _ = children[i].wait();
                children[i] = env.spawn_worker(names[i]);
            }
            kills += 1;
        }
    }
    for mut c in children {
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        assert_eq!(c.wait().unwrap().code(), Some(0));
    }
    assert_eq!(kills, 2);
    assert_eq!(tally.jobs.len(), n, "every job yields its event");
    let repeats = tally.repeats();
    eprintln!("workers killed mid-stream: {n} jobs, {} events, {repeats} repeats", tally.raw);
    // A killed clean worker's second copy of an article becomes a duplicate event; a killed dedup
    // worker repeats the events the broker stored but whose confirm it had not yet marked in
    // Redis: at most its prefetch (32) per kill, always with an existing message_id.
    assert!(repeats <= 2 * 32, "{repeats} repeats");
    assert!(env.next_on(&env.names.dead(), Duration::from_millis(300)).await.is_none());
    env.cleanup().await;
}

/// The clean and dedup workers in this process, talking to the broker and Redis through fault
/// proxies (the test's own connection goes straight to the broker).
struct Proxied {
    amqp: crate::support::FaultProxy,
    redis: crate::support::FaultProxy,
}

/// Streams `n` clean jobs through workers behind fault proxies, calling `fault(step, proxies)`
/// for each of `steps` steps, spread over the stream; returns the tally once every job's event
/// arrived (or nothing came for 90 s) and the workers stopped cleanly.
async fn stream_through_faults(
    env: &TestEnv,
    n: usize,
    steps: usize,
    mut fault: impl AsyncFnMut(usize, &Proxied),
) -> Tally {
    use crate::support::FaultProxy;
    let port_of =
        |url: &str| -> u16 { shared::config::Settings::host_of(url).rsplit(':').next().unwrap().parse().unwrap() };
    let proxies = Proxied {
        amqp: FaultProxy::start(port_of(&env.settings.amqp_url)).await,
        redis: FaultProxy::start(port_of(&env.settings.redis_url)).await,
    };
    let mut workers = env.settings.clone();
    workers.amqp_url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxies.amqp.port);
    workers.redis_url = format!("redis://127.0.0.1:{}/", proxies.redis.port);
    let stop = tokio_util::sync::CancellationToken::new();
    let tasks = vec![
        tokio::spawn(copydesk_clean::worker::run(workers.clone(), stop.clone())),
        tokio::spawn(copydesk_dedup::run(workers.clone(), stop.clone())),
    ];
    for i in 0..n {
        env.publish_job("clean", &bulk_job(i)).await;
    }
    let mut tally = Tally::default();
    let mut step = 0;
    while tally.jobs.len() < n {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(90)).await else { break };
        tally.add(&m);
        if step < steps && tally.raw == (step + 1) * n / (steps + 2) {
            fault(step, &proxies).await;
            step += 1;
        }
    }
    stop.cancel();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(step, steps, "every fault was applied");
    assert_eq!(tally.jobs.len(), n, "every job yields its event");
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_reset_links_to_the_broker_and_redis_lose_nothing() {
    let env = TestEnv::new(&[("COPYDESK_MAX_ATTEMPTS", "20")]).await;
    let n = 600;
    let tally = stream_through_faults(&env, n, 4, async |step, p: &Proxied| {
        match step {
            0 => p.redis.stall(true),
            1 => p.amqp.stall(true),
            2 => p.redis.reset(),
            _ => p.amqp.reset(),
        }
        if step < 2 {
            tokio::time::sleep(Duration::from_secs(8)).await;
            p.redis.stall(false);
            p.amqp.stall(false);
        }
    })
    .await;
    let repeats = tally.repeats();
    // A cut broker link loses the confirms in flight: those events are published again (at most
    // the prefetch, 32).
    assert!(repeats <= 32, "{repeats} repeats");
    eprintln!("stalls and resets: {n} jobs, {} events, {repeats} repeats", tally.raw);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_throttled_links_to_the_broker_and_redis_lose_nothing_and_repeat_nothing() {
    let env = TestEnv::new(&[("COPYDESK_MAX_ATTEMPTS", "20")]).await;
    let tally = stream_through_faults(&env, 300, 3, async |step, p: &Proxied| match step {
        // Redis a satellite link away: 300 ms each way, under the 3 s response timeout.
        0 => p.redis.delay(300),
        // The broker's link slow and narrow: 200 ms per chunk, 64 KB/s.
        1 => {
            p.redis.delay(0);
            p.amqp.delay(200);
            p.amqp.throttle(64 * 1024);
        }
        // Both slow at once.
        _ => {
            p.redis.delay(100);
            p.redis.throttle(16 * 1024);
        }
    })
    .await;
    assert_eq!(tally.repeats(), 0, "a slow link is no crash: nothing repeats");
    assert!(env.next_on(&env.names.dead(), Duration::from_millis(300)).await.is_none(), "nothing dead-lettered");
    env.cleanup().await;
}

/// A three-node RabbitMQ cluster: the quorum queues' leader node killed mid-stream, then a second
/// node too (the majority gone), then both back. Nothing is lost: with the majority gone nothing
/// is confirmed, so nothing is acked, and everything completes when the nodes return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_cluster_loses_nothing_to_a_dead_leader_or_a_lost_majority() {
    use crate::support::ThrowawayRabbit;

    let mut nodes = ThrowawayRabbit::cluster().await;
    // The topology is declared through node 0, so the quorum queues' leaders start there; the
    // workers and the test talk to node 1.
    let prefix = format!("test-{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
    let (url0, url1) = (nodes[0].url(), nodes[1].url());
    let declare = shared::config::Settings::from_vars([
        ("COPYDESK_AMQP_URL".to_owned(), url0),
        ("COPYDESK_PREFIX".to_owned(), prefix.clone()),
    ])
    .unwrap();
    shared::amqp::Broker::connect(&declare, "copydesk-tests").await.expect("node 0").close().await;
    let leaders = nodes[1].ctl(&["list_queues", "name", "leader"]);
    eprintln!("quorum queue leaders:\n{leaders}");
    let mut env = TestEnv::new(&[
        ("COPYDESK_AMQP_URL", url1.as_str()),
        ("COPYDESK_PREFIX", prefix.as_str()),
        ("COPYDESK_MAX_ATTEMPTS", "20"),
    ])
    .await;
    env.start_workers();
    // A third of the jobs now, a third after the leader's death (through the new leaders), a
    // third just before the majority goes.
    let n = 600;
    for i in 0..n / 3 {
        env.publish_job("clean", &bulk_job(i)).await;
    }
    // Events produced so far: read by the test, or waiting in its queue (on node 1).
    let produced = |env: &TestEnv, raw: usize| {
        let (channel, out) = (env.channel.clone(), env.out.clone());
        async move {
            let options = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
            let q = channel.queue_declare(out.as_str().into(), options, Default::default()).await.unwrap();
            raw + q.message_count() as usize
        }
    };
    let mut tally = Tally::default();
    let (mut step, mut stall, mut minority) = (0, Duration::ZERO, (0, 0));
    while tally.jobs.len() < n {
        let Some(m) = env.next_on_checked(Duration::from_secs(120)).await else { break };
        tally.add(&m);
        if step == 0 && tally.raw == n / 4 {
            let before = produced(&env, tally.raw).await;
            nodes[0].kill9();
            let killed = std::time::Instant::now();
            for i in n / 3..2 * n / 3 {
                env.publish_job("clean", &bulk_job(i)).await;
            }
            while produced(&env, tally.raw).await <= before.max(n / 3) && killed.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stall = killed.elapsed();
            step = 1;
        } else if step == 1 && tally.raw == n / 2 {
            // The last third at once (confirms awaited together), so that it is still in the
            // pipeline when the majority goes.
            let ch = env.broker.connection.create_channel().await.unwrap();
            ch.confirm_select(Default::default()).await.unwrap();
            let mut confirms = Vec::new();
            for i in 2 * n / 3..n {
                let (jobs, body) = (env.names.jobs(), bulk_job(i));
                let properties = shared::amqp::json_properties().with_delivery_mode(2);
                confirms.push(
                    ch.basic_publish(jobs.as_str().into(), "clean".into(), Default::default(), &body, properties)
                        .await
                        .unwrap(),
                );
            }
            for c in confirms {
                assert!(matches!(c.await.unwrap(), lapin::Confirmation::Ack(_)));
            }
            // Node 1 alone is a minority: no quorum queue can make progress, nothing is
            // confirmed, so nothing is acked.
            nodes[2].kill9();
            let at_loss = produced(&env, tally.raw).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            minority = (at_loss, produced(&env, tally.raw).await);
            nodes[0].restart().await;
            nodes[2].restart().await;
            step = 2;
        }
    }
    assert_eq!(step, 2, "both faults were applied");
    assert_eq!(tally.jobs.len(), n, "every job yields its event");
    eprintln!(
        "cluster: {n} jobs, {} events, {} repeats; the first new event {:.2} s after the leader's death; \
         events produced when the majority went {}, 5 s later {}",
        tally.raw,
        tally.repeats(),
        stall.as_secs_f64(),
        minority.0,
        minority.1
    );
    assert!(minority.0 < n, "work was pending when the majority went");
    // Publishes whose confirm the lost majority swallowed are retried: a repeat, never a loss.
    assert!(tally.repeats() <= 2 * 32, "{} repeats", tally.repeats());
    assert!(stall < Duration::from_secs(15), "the leader's death stalls the stream for seconds at most");
    env.cleanup().await;
}
