//! The AMQP transport through a broker restart: a call in flight and a call during the
//! outage fail with a timeout (nothing hangs); after the restart the same bus calls,
//! casts and fans out again, its server listening again without being re-created.
//! Runs a broker of its own (scripts/rabbitmq-private), not the shared test broker.

mod support;

use std::time::{Duration, Instant};

use bus::{BusConfig, BusError, Client, Protocol, Server};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Serialize, Deserialize)]
enum Request {
    Ping,
    Sleep(u64),
    Note(String),
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Reply {
    Pong,
    Done,
}

struct Restart;
impl Protocol for Restart {
    const TOPIC: &'static str = "bus-test-restart";
    type Request = Request;
    type Reply = Reply;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_survives_broker_restart() {
    if support::amqp_url("amqp_survives_broker_restart").is_none() {
        return;
    }
    let broker = tokio::task::spawn_blocking(support::Broker::start).await.unwrap();
    let cfg = BusConfig {
        connect_timeout_secs: 2,
        heartbeat_secs: 2,
        ..support::amqp_config(&broker.url)
    };
    let bus = bus::connect(&cfg).await.unwrap();
    let (notes_tx, mut notes) = mpsc::unbounded_channel();
    let server = Server::<Restart>::listen(&*bus, Some("a")).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(
        move |req: Request| {
            let notes = notes_tx.clone();
            async move {
                match req {
                    Request::Ping => Ok(Reply::Pong),
                    Request::Sleep(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok(Reply::Done)
                    }
                    Request::Note(n) => {
                        let _ = notes.send(n);
                        Ok(Reply::Done)
                    }
                }
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    let client = Client::<Restart>::new(bus.clone()).with_timeout(Duration::from_secs(2));
    assert_eq!(client.call(&Request::Ping).await.unwrap(), Reply::Pong);

    // A call in flight when the broker goes away: its server answers after the broker
    // stopped (stopping takes 1-3 s), so the answer is lost and the call times out.
    let in_flight = tokio::spawn({
        let c = client.with_timeout(Duration::from_secs(4));
        async move { c.call(&Request::Sleep(3_500)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::task::block_in_place(|| broker.stop());
    let e = tokio::time::timeout(Duration::from_secs(6), in_flight)
        .await
        .expect("the call in flight ends")
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, BusError::Timeout { .. }), "{e:?}");

    // During the outage: a timeout, in its time.
    let started = Instant::now();
    let e = client
        .with_timeout(Duration::from_secs(1))
        .call(&Request::Ping)
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let e = client.cast(&Request::Note("lost".into())).await.unwrap_err();
    assert!(matches!(e, BusError::Unavailable(_)), "{e:?}");

    tokio::task::block_in_place(|| broker.restart());
    let back = Instant::now();
    loop {
        match client.with_timeout(Duration::from_millis(500)).call(&Request::Ping).await {
            Ok(r) => {
                assert_eq!(r, Reply::Pong);
                break;
            }
            Err(e) => assert!(
                back.elapsed() < Duration::from_secs(15),
                "no answer 15 s after the broker came back: {e}"
            ),
        }
    }
    eprintln!("bus answered {:?} after the broker came back", back.elapsed());
    client.to_server("a").cast(&Request::Note("cast".into())).await.unwrap();
    client.fanout(&Request::Note("fanout".into())).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(
            tokio::time::timeout(Duration::from_secs(5), notes.recv())
                .await
                .expect("a note")
                .unwrap(),
        );
    }
    got.sort();
    assert_eq!(got, ["cast", "fanout"]);
    let _ = stop.send(());
    task.await.unwrap();
    bus.close().await;
    tokio::task::spawn_blocking(move || drop(broker)).await.unwrap();
}
