//! One suite, run against both transports: every test is a function taking the bus,
//! and `suite!` makes an in-process and an AMQP test of each. Then the AMQP transport
//! through a restart of its broker.

mod support;

use std::{sync::Arc, time::Duration};

use bus::{BusError, Client, Protocol, RemoteError, Server, Transport};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Request {
    /// Answer with the server's name.
    Who,
    /// Answer after this many milliseconds.
    Sleep(u64),
    /// Answer with a remote error of this kind.
    Fail(String),
    /// One-way: the server reports it on its channel.
    Note(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Reply {
    Server(String),
    Slept,
    Noted,
}

/// Each test talks on a topic of its own (queues are shared by the whole broker).
macro_rules! protocols {
    ($($name:ident = $topic:literal),* $(,)?) => {$(
        struct $name;
        impl Protocol for $name {
            const TOPIC: &'static str = $topic;
            type Request = Request;
            type Reply = Reply;
        }
    )*};
}

protocols! {
    Routing = "bus-test-routing",
    OneWay = "bus-test-one-way",
    Errors = "bus-test-errors",
    Timeouts = "bus-test-timeouts",
    Nobody = "bus-test-nobody",
    Mismatch = "bus-test-mismatch",
    Shutdown = "bus-test-shutdown",
    Concurrent = "bus-test-concurrent",
}

/// A running server: the notes it received, and how to stop it.
struct Running {
    notes: mpsc::UnboundedReceiver<String>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn note(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(5), self.notes.recv())
            .await
            .expect("a note within 5 s")
            .expect("server running")
    }
    async fn no_note(&mut self) {
        let late = tokio::time::timeout(Duration::from_millis(300), self.notes.recv()).await;
        assert!(late.is_err(), "unexpected note {late:?}");
    }
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task");
    }
}

async fn serve<P: Protocol<Request = Request, Reply = Reply>>(
    bus: &Arc<dyn Transport>,
    name: &str,
) -> Running {
    let server = Server::<P>::listen(&**bus, Some(name))
        .await
        .expect("listen");
    let (notes_tx, notes) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let name = name.to_owned();
    let handler = move |req: Request| {
        let name = name.clone();
        let notes = notes_tx.clone();
        async move {
            match req {
                Request::Who => Ok(Reply::Server(name)),
                Request::Sleep(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(Reply::Slept)
                }
                Request::Fail(kind) => Err(RemoteError::new(kind, "asked to fail")),
                Request::Note(n) => {
                    let _ = notes.send(format!("{name}:{n}"));
                    Ok(Reply::Noted)
                }
            }
        }
    };
    let task = tokio::spawn(server.run(handler, async {
        let _ = stopped.await;
    }));
    Running { notes, stop, task }
}

fn client<P: Protocol>(bus: &Arc<dyn Transport>) -> Client<P> {
    Client::new(bus.clone()).with_timeout(Duration::from_secs(5))
}

/// `topic.server` reaches that server; `topic` reaches them in turn.
async fn call_routes_to_server_and_round_robin(bus: Arc<dyn Transport>) {
    let a = serve::<Routing>(&bus, "a").await;
    let b = serve::<Routing>(&bus, "b").await;
    let c = client::<Routing>(&bus);
    for name in ["a", "b", "b", "a"] {
        let reply = c.to_server(name).call(&Request::Who).await.unwrap();
        assert_eq!(reply, Reply::Server(name.into()));
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(c.call(&Request::Who).await.unwrap());
    }
    for name in ["a", "b"] {
        let n = seen
            .iter()
            .filter(|r| **r == Reply::Server(name.into()))
            .count();
        assert!(n >= 2, "{name} answered {n} of 6 calls: {seen:?}");
    }
    a.stop().await;
    b.stop().await;
}

/// `cast` reaches one server; `fanout` reaches every server.
async fn cast_and_fanout(bus: Arc<dyn Transport>) {
    let mut a = serve::<OneWay>(&bus, "a").await;
    let mut b = serve::<OneWay>(&bus, "b").await;
    let c = client::<OneWay>(&bus);
    c.to_server("b")
        .cast(&Request::Note("cast".into()))
        .await
        .unwrap();
    assert_eq!(b.note().await, "b:cast");
    a.no_note().await;
    c.fanout(&Request::Note("all".into())).await.unwrap();
    assert_eq!(a.note().await, "a:all");
    assert_eq!(b.note().await, "b:all");
    c.cast(&Request::Note("any".into())).await.unwrap();
    tokio::select! {
        n = a.note() => assert_eq!(n, "a:any"),
        n = b.note() => assert_eq!(n, "b:any"),
    }
    a.stop().await;
    b.stop().await;
}

/// A handler's error comes back as an error, at once.
async fn remote_error_is_an_error(bus: Arc<dyn Transport>) {
    let s = serve::<Errors>(&bus, "a").await;
    let started = std::time::Instant::now();
    let e = client::<Errors>(&bus)
        .call(&Request::Fail("NotFound".into()))
        .await
        .unwrap_err();
    match e {
        BusError::Remote { target, error } => {
            assert_eq!(target, "bus-test-errors");
            assert_eq!(error, RemoteError::new("NotFound", "asked to fail"));
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    s.stop().await;
}

/// A slow server makes a call time out; the server keeps serving afterwards.
async fn slow_call_times_out(bus: Arc<dyn Transport>) {
    let s = serve::<Timeouts>(&bus, "a").await;
    let c = client::<Timeouts>(&bus);
    let started = std::time::Instant::now();
    let e = c
        .with_timeout(Duration::from_millis(200))
        .call(&Request::Sleep(1_000))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Timeout { .. }), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(c.call(&Request::Sleep(1)).await.unwrap(), Reply::Slept);
    s.stop().await;
}

/// A call nobody serves fails (in-process at once, over AMQP by its timeout).
async fn call_without_server_fails(bus: Arc<dyn Transport>) {
    let e = client::<Nobody>(&bus)
        .with_timeout(Duration::from_millis(300))
        .call(&Request::Who)
        .await
        .unwrap_err();
    assert!(
        matches!(e, BusError::NoListener(_) | BusError::Timeout { .. }),
        "{e:?}"
    );
}

/// A request that does not fit the server's protocol is answered with an error.
async fn mismatched_request_is_refused(bus: Arc<dyn Transport>) {
    struct Other;
    impl Protocol for Other {
        const TOPIC: &'static str = Mismatch::TOPIC;
        type Request = String;
        type Reply = String;
    }
    let s = serve::<Mismatch>(&bus, "a").await;
    let e = client::<Other>(&bus)
        .call(&"hello".to_owned())
        .await
        .unwrap_err();
    match e {
        BusError::Remote { error, .. } => assert_eq!(error.kind, "InvalidRequest"),
        other => panic!("expected a remote error, got {other:?}"),
    }
    s.stop().await;
}

/// A stopped server finishes the request it holds, then takes no more.
async fn shutdown_finishes_in_flight(bus: Arc<dyn Transport>) {
    let s = serve::<Shutdown>(&bus, "a").await;
    let c = client::<Shutdown>(&bus);
    let slow = tokio::spawn({
        let c = c.clone();
        async move { c.call(&Request::Sleep(300)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.stop().await;
    assert_eq!(slow.await.unwrap().unwrap(), Reply::Slept);
    let e = c
        .with_timeout(Duration::from_millis(300))
        .to_server("a")
        .call(&Request::Who)
        .await
        .unwrap_err();
    assert!(
        matches!(e, BusError::NoListener(_) | BusError::Timeout { .. }),
        "{e:?}"
    );
}

/// Many calls at once are all answered, each with its own reply.
async fn concurrent_calls(bus: Arc<dyn Transport>) {
    let s = serve::<Concurrent>(&bus, "a").await;
    let c = client::<Concurrent>(&bus);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..100u64 {
        let c = c.clone();
        calls.spawn(async move { (i, c.call(&Request::Sleep(i % 20)).await) });
    }
    let mut n = 0;
    while let Some(done) = calls.join_next().await {
        let (_, reply) = done.unwrap();
        assert_eq!(reply.unwrap(), Reply::Slept);
        n += 1;
    }
    assert_eq!(n, 100);
    s.stop().await;
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let bus = crate::support::in_process().await;
                    super::$test(bus.clone()).await;
                    bus.close().await;
                }
            )*
        }
        mod amqp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(url) = crate::support::amqp_url(stringify!($test)) else { return };
                    let bus = crate::support::amqp(&url).await;
                    super::$test(bus.clone()).await;
                    bus.close().await;
                }
            )*
        }
    };
}

suite! {
    call_routes_to_server_and_round_robin,
    cast_and_fanout,
    remote_error_is_an_error,
    slow_call_times_out,
    call_without_server_fails,
    mismatched_request_is_refused,
    shutdown_finishes_in_flight,
    concurrent_calls,
}

/// The AMQP transport through a broker restart: a call in flight and a call during the
/// outage fail with a timeout (nothing hangs); after the restart the same bus calls,
/// casts and fans out again, its server listening again without being re-created.
/// Runs a broker of its own (scripts/rabbitmq-private), not the shared test broker.
mod broker_restart {
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
        if crate::support::amqp_url("amqp_survives_broker_restart").is_none() {
            return;
        }
        let broker = tokio::task::spawn_blocking(crate::support::Broker::start)
            .await
            .unwrap();
        let cfg = BusConfig {
            connect_timeout_secs: 2,
            heartbeat_secs: 2,
            ..crate::support::amqp_config(&broker.url)
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
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let e = client
            .cast(&Request::Note("lost".into()))
            .await
            .unwrap_err();
        assert!(matches!(e, BusError::Unavailable(_)), "{e:?}");

        tokio::task::block_in_place(|| broker.restart());
        let back = Instant::now();
        loop {
            match client
                .with_timeout(Duration::from_millis(500))
                .call(&Request::Ping)
                .await
            {
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
        eprintln!(
            "bus answered {:?} after the broker came back",
            back.elapsed()
        );
        client
            .to_server("a")
            .cast(&Request::Note("cast".into()))
            .await
            .unwrap();
        client
            .fanout(&Request::Note("fanout".into()))
            .await
            .unwrap();
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
        tokio::task::spawn_blocking(move || drop(broker))
            .await
            .unwrap();
    }
}

/// Two clouds on one broker, each with its control exchange: the same topic, server
/// names and fanouts, and neither sees the other's messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_control_exchanges_keep_clouds_apart() {
    let Some(url) = support::amqp_url("amqp_control_exchanges_keep_clouds_apart") else {
        return;
    };
    let one = support::amqp(&url).await;
    let two = support::amqp(&url).await;
    let mut a1 = serve::<Routing>(&one, "a").await;
    let mut a2 = serve::<Routing>(&two, "a").await;
    let c1 = client::<Routing>(&one);
    for _ in 0..4 {
        assert_eq!(
            c1.to_server("a")
                .call(&Request::Note("x".into()))
                .await
                .unwrap(),
            Reply::Noted
        );
        assert_eq!(
            c1.call(&Request::Note("y".into())).await.unwrap(),
            Reply::Noted
        );
    }
    c1.fanout(&Request::Note("f".into())).await.unwrap();
    for _ in 0..9 {
        a1.note().await;
    }
    a2.no_note().await;
    a1.stop().await;
    a2.stop().await;
}
